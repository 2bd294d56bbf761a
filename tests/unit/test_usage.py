"""``Usage``: a provider's usage object, its token counts typed and every field kept."""

from __future__ import annotations

from typing import Any

from proxy.providers.base import (
    ChatResult,
    ImageResult,
    Usage,
    merge_chat_results,
    merge_image_results,
)
from proxy.providers.google.response import chat_usage, image_usage

IMAGE_USAGE: dict[str, Any] = {
    "input_tokens": 50,
    "input_tokens_details": {"text_tokens": 40, "image_tokens": 10},
    "output_tokens": 4160,
    "total_tokens": 4210,
}
CHAT_USAGE: dict[str, Any] = {
    "prompt_tokens": 12,
    "completion_tokens": 30,
    "total_tokens": 42,
    "prompt_tokens_details": {"cached_tokens": 2},
    "completion_tokens_details": {"reasoning_tokens": 10, "image_tokens": 20},
    "cost": 0.001,
}
GEMINI_BODY: dict[str, Any] = {
    "usageMetadata": {
        "promptTokenCount": 7,
        "candidatesTokenCount": 1290,
        "totalTokenCount": 1297,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 7}],
        "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1290}],
    }
}


def test_openai_image_usage() -> None:
    usage = Usage.of(IMAGE_USAGE)
    assert usage is not None
    assert usage.raw is IMAGE_USAGE  # the answer body and ctx.usage get exactly this
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (50, 4160, 4210)
    # gpt-image-1 bills every output token without a split as an image token
    assert (usage.image_tokens, usage.text_tokens) == (10 + 4160, 40)


def test_openai_chat_usage() -> None:
    usage = Usage.of(CHAT_USAGE)
    assert usage is not None
    assert usage.raw == CHAT_USAGE and usage.raw["cost"] == 0.001
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (12, 30, 42)
    assert (usage.image_tokens, usage.text_tokens) == (20, 12 + 10)


def test_gemini_usage_metadata_derived_usage() -> None:
    for raw in (image_usage(GEMINI_BODY, images_only=True), chat_usage(GEMINI_BODY)):
        usage = Usage.of(raw)
        assert usage is not None and usage.raw is raw
        assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (7, 1290, 1297)
        assert (usage.image_tokens, usage.text_tokens) == (1290, 7)
    native = Usage.of(GEMINI_BODY["usageMetadata"])
    assert native is not None
    assert (native.input_tokens, native.output_tokens, native.image_tokens) == (7, 1290, 1290)


def test_no_usage_and_unknown_shapes() -> None:
    assert Usage.of(None) is None
    assert Usage.of({}) == Usage(raw={})
    unknown = Usage.of({"cost": 0.5, "credits": 3})
    assert unknown is not None and unknown.raw == {"cost": 0.5, "credits": 3}
    assert unknown.total_tokens == 0 and unknown.image_tokens == 0


def test_merge_image_results_sums_the_raw_usage() -> None:
    results = [
        ImageResult(data=[{"b64_json": "a"}], usage=Usage.of(IMAGE_USAGE), created=1),
        ImageResult(data=[{"b64_json": "b"}]),
        ImageResult(data=[{"b64_json": "c"}], usage=Usage.of(IMAGE_USAGE)),
    ]
    body = merge_image_results(results)
    assert body["created"] == 1 and len(body["data"]) == 3
    assert body["usage"] == {
        "input_tokens": 100,
        "input_tokens_details": {"text_tokens": 80, "image_tokens": 20},
        "output_tokens": 8320,
        "total_tokens": 8420,
    }
    assert IMAGE_USAGE["input_tokens"] == 50  # the parts are not changed
    single = merge_image_results([results[0]])
    assert single["usage"] == IMAGE_USAGE
    assert "usage" not in merge_image_results([results[1]])


def test_merge_chat_results_builds_a_typed_usage() -> None:
    def one(usage: dict[str, Any] | None) -> ChatResult:
        body: dict[str, Any] = {"choices": [{"index": 0, "message": {"content": "x"}}]}
        if usage is not None:
            body["usage"] = usage
        return ChatResult(body=body, usage=Usage.of(usage))

    merged = merge_chat_results([one(CHAT_USAGE), one(None), one(CHAT_USAGE)])
    assert [c["index"] for c in merged.body["choices"]] == [0, 1, 2]
    assert merged.usage is not None
    assert merged.body["usage"] == merged.usage.raw
    assert merged.usage.raw["cost"] == 0.002
    assert merged.usage.raw["completion_tokens_details"] == {
        "reasoning_tokens": 20,
        "image_tokens": 40,
    }
    assert (merged.usage.input_tokens, merged.usage.output_tokens) == (24, 60)
    assert (merged.usage.total_tokens, merged.usage.image_tokens) == (84, 40)
    assert merge_chat_results([one(None), one(None)]).usage is None
