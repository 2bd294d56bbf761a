"""Reading a ``GenerateContentResponse``: parts, blocks and usage.

Shared by the image and chat adapters. Thought parts (``thought: true``, the interim images
and reasoning of thinking models) are never returned as answers.

Google answers in lowerCamelCase with standard base64; bodies written with google-genai's own
types (``model_dump(mode="json")``, as some servers and test doubles do) use snake_case keys and
URL-safe base64. ``camel_keys`` and ``standard_b64`` accept both, so neither an image nor a
block reason nor the usage is lost to the spelling.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")

# finishReason values that mean the output was withheld for policy reasons.
POLICY_FINISH = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
    }
)
OK_FINISH = frozenset({"STOP", "FINISH_REASON_UNSPECIFIED"})


@functools.lru_cache(maxsize=512)
def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def camel_keys(value: Any) -> Any:
    """``value`` with every snake_case object key spelled lowerCamelCase (strings untouched)."""
    if isinstance(value, dict):
        return {
            (_camel(k) if isinstance(k, str) and "_" in k.strip("_") else k): camel_keys(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


def standard_b64(data: str) -> str:
    """Standard, padded base64 from standard or URL-safe base64 (line breaks dropped)."""
    if "-" in data or "_" in data:
        data = data.translate(_URLSAFE_TO_STANDARD)
    if "\n" in data or "\r" in data or " " in data:
        data = "".join(data.split())
    pad = -len(data) % 4
    return data + "=" * pad if pad else data


@dataclass(slots=True)
class InlineImage:
    mime_type: str
    data: str  # base64, as Google sent it

    @property
    def data_uri(self) -> str:
        return f"data:{self.mime_type};base64,{self.data}"

    @property
    def format(self) -> str:
        return self.mime_type.rpartition("/")[2] or "png"


@dataclass(slots=True)
class CandidateOutput:
    texts: list[str] = field(default_factory=list)
    images: list[InlineImage] = field(default_factory=list)
    finish_reason: str | None = None
    finish_message: str | None = None


def prompt_block(body: dict[str, Any]) -> tuple[str, str | None] | None:
    """``(blockReason, blockReasonMessage)`` when the prompt itself was blocked."""
    feedback = body.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason"):
        message = feedback.get("blockReasonMessage")
        return str(feedback["blockReason"]), str(message) if message else None
    return None


def first_candidate(body: dict[str, Any]) -> CandidateOutput | None:
    candidates = body.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        return None
    candidate = candidates[0]
    if not isinstance(candidate, dict):
        return None
    return read_candidate(candidate)


def read_candidate(candidate: dict[str, Any]) -> CandidateOutput:
    out = CandidateOutput(
        finish_reason=candidate.get("finishReason"), finish_message=candidate.get("finishMessage")
    )
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict) or part.get("thought"):
            continue
        inline = part.get("inlineData")
        if isinstance(inline, dict) and isinstance(inline.get("data"), str):
            mime = inline.get("mimeType") or "image/png"
            out.images.append(InlineImage(str(mime), standard_b64(inline["data"])))
        elif isinstance(part.get("text"), str):
            out.texts.append(part["text"])
    return out


def _by_modality(details: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in details if isinstance(details, list) else ():
        if isinstance(item, dict) and isinstance(item.get("tokenCount"), int):
            key = str(item.get("modality", "MODALITY_UNSPECIFIED")).lower() + "_tokens"
            out[key] = out.get(key, 0) + item["tokenCount"]
    return out


@dataclass(slots=True)
class TokenCounts:
    prompt: int
    output: int
    total: int
    thoughts: int
    cached: int
    prompt_by_modality: dict[str, int]
    output_by_modality: dict[str, int]


def token_counts(body: dict[str, Any], *, images_only: bool = False) -> TokenCounts | None:
    """``usageMetadata`` summed up. ``candidatesTokensDetails`` may be absent; when the answer
    held images and no text (``images_only``) the output tokens are then all image tokens."""
    meta = body.get("usageMetadata")
    if not isinstance(meta, dict):
        return None

    def count(name: str) -> int:
        value = meta.get(name)
        return value if isinstance(value, int) else 0

    prompt = count("promptTokenCount") + count("toolUsePromptTokenCount")
    thoughts = count("thoughtsTokenCount")
    output = count("candidatesTokenCount") + thoughts
    output_by_modality = _by_modality(meta.get("candidatesTokensDetails"))
    if not output_by_modality and images_only and count("candidatesTokenCount"):
        output_by_modality = {"image_tokens": count("candidatesTokenCount")}
    return TokenCounts(
        prompt=prompt,
        output=output,
        total=count("totalTokenCount") or prompt + output,
        thoughts=thoughts,
        cached=count("cachedContentTokenCount"),
        prompt_by_modality=_by_modality(meta.get("promptTokensDetails")),
        output_by_modality=output_by_modality,
    )


def image_usage(body: dict[str, Any], *, images_only: bool = False) -> dict[str, Any] | None:
    """``usageMetadata`` as the usage object of an OpenAI ``ImagesResponse``."""
    counts = token_counts(body, images_only=images_only)
    if counts is None:
        return None
    output_details = dict(counts.output_by_modality)
    if counts.thoughts:
        output_details["reasoning_tokens"] = counts.thoughts
    return {
        "input_tokens": counts.prompt,
        "output_tokens": counts.output,
        "total_tokens": counts.total,
        "input_tokens_details": {
            "text_tokens": counts.prompt_by_modality.get("text_tokens", 0),
            "image_tokens": counts.prompt_by_modality.get("image_tokens", 0),
        },
        "output_tokens_details": {
            "text_tokens": output_details.pop("text_tokens", 0),
            "image_tokens": output_details.pop("image_tokens", 0),
            **output_details,
        },
    }


def chat_usage(body: dict[str, Any], *, images_only: bool = False) -> dict[str, Any] | None:
    """``usageMetadata`` as an OpenAI chat ``usage`` object, image tokens broken out."""
    counts = token_counts(body, images_only=images_only)
    if counts is None:
        return None
    return {
        "prompt_tokens": counts.prompt,
        "completion_tokens": counts.output,
        "total_tokens": counts.total,
        "prompt_tokens_details": {
            "cached_tokens": counts.cached,
            "text_tokens": counts.prompt_by_modality.get("text_tokens", 0),
            "image_tokens": counts.prompt_by_modality.get("image_tokens", 0),
        },
        "completion_tokens_details": {
            "reasoning_tokens": counts.thoughts,
            "text_tokens": counts.output_by_modality.get("text_tokens", 0),
            "image_tokens": counts.output_by_modality.get("image_tokens", 0),
        },
    }
