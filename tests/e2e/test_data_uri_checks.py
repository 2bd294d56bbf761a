"""``data:`` URI images get the downloader's checks on every path, end to end: a client's image
in a chat message (400, before any provider sees it), a provider's image answered as a data URI
(502, whatever ``response_format``), a chat image the proxy stores as a link (502); and the
reason given is the one the downloader gives for the same bytes behind a URL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.responses import Response

from tests.conftest import MASTER_KEY
from tests.fakes.data_uris import BAD, BIG, GOOD, PAGE, PNG, b64
from tests.fakes.server import FakeUpstream

HEADERS = {"authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture(scope="module")
def proxy(
    proxy_factory: Any, upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    base, key = upstream.base, "k"
    return proxy_factory(
        {
            "model_list": [
                {
                    "model_name": "chat-model",
                    "litellm_params": {
                        "model": "openai/gpt-4o-mini",
                        "api_key": key,
                        "api_base": f"{base}/v1",
                    },
                },
                {
                    "model_name": "sd-urls",
                    "litellm_params": {
                        "model": "openai/sd-server",
                        "api_key": key,
                        "api_base": f"{base}/sd/v1",
                    },
                },
                {
                    "model_name": "nano-banana",
                    "litellm_params": {
                        "model": "openrouter/google/gemini-2.5-flash-image",
                        "api_key": key,
                        "api_base": base,
                    },
                },
            ],
            "general_settings": {
                "image_store": {"path": str(tmp_path_factory.mktemp("image-store"))},
                "image_fetch": {
                    "allowed_hosts": ["127.0.0.1"],
                    "allow_private_cidrs": ["127.0.0.1/32"],
                    "max_bytes": 4096,
                },
            },
        }
    )


def post(proxy: Any, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{proxy.base_url}/v1/{path}", json=body, headers=HEADERS)


def chat_answer(uri: str) -> dict[str, Any]:
    message = {
        "role": "assistant",
        "content": "",
        "images": [{"type": "image_url", "image_url": {"url": uri}}],
    }
    return {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def error_of(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert isinstance(error, dict)
    return error


@pytest.mark.parametrize("case", BAD)
def test_a_clients_bad_data_uri_is_a_400_naming_the_part(
    proxy: Any, fake: FakeUpstream, case: str
) -> None:
    uri, reason = BAD[case]
    content = [
        {"type": "text", "text": "edit this"},
        {"type": "image_url", "image_url": {"url": uri}},
    ]
    body = {"model": "chat-model", "messages": [{"role": "user", "content": content}]}
    error = error_of(post(proxy, "chat/completions", body), 400)
    assert error["message"] == f"'messages[0].content[1].image_url': {reason}."
    assert error["param"] == "messages[0].content[1].image_url"
    assert error["code"] == "invalid_image"
    assert fake.received() == []


def test_a_clients_good_data_uri_and_images_sent_back_pass(proxy: Any, fake: FakeUpstream) -> None:
    fake.route("POST", "/v1/chat/completions", lambda r: chat_answer(GOOD))
    messages = [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": GOOD}}]},
        {
            "role": "assistant",
            "content": "",
            "images": [{"type": "image_url", "image_url": {"url": GOOD}}],
        },
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": "https://example.com/a.png"}],
        },
    ]
    r = post(proxy, "chat/completions", {"model": "chat-model", "messages": messages})
    assert r.status_code == 200, r.text
    assert fake.received()[0].json()["messages"] == messages  # relayed untouched


def test_an_image_sent_back_is_checked_too(proxy: Any, fake: FakeUpstream) -> None:
    uri, reason = BAD["bytes not of the declared type"]
    messages = [
        {"role": "user", "content": "draw"},
        {"role": "assistant", "content": "", "image": {"url": uri}},
        {"role": "user", "content": "again"},
    ]
    error = error_of(
        post(proxy, "chat/completions", {"model": "chat-model", "messages": messages}), 400
    )
    assert error["param"] == "messages[1].image" and reason in error["message"]
    assert fake.received() == []


@pytest.mark.parametrize("response_format", [None, "b64_json", "url"])
@pytest.mark.parametrize("case", BAD)
def test_a_providers_bad_data_uri_is_a_502_whatever_was_asked(
    proxy: Any, fake: FakeUpstream, case: str, response_format: str | None
) -> None:
    uri, reason = BAD[case]
    fake.route(
        "POST", "/sd/v1/images/generations", lambda r: {"created": 1, "data": [{"url": uri}]}
    )
    body = {"model": "sd-urls", "prompt": "x"}
    if response_format:
        body["response_format"] = response_format
    error = error_of(post(proxy, "images/generations", body), 502)
    assert (
        error["message"] == f"openai returned a data: URI image the proxy would not take: {reason}"
    )
    assert error["code"] == "image_download_failed"


def test_a_providers_good_data_uri_becomes_base64(proxy: Any, fake: FakeUpstream) -> None:
    fake.route(
        "POST", "/sd/v1/images/generations", lambda r: {"created": 1, "data": [{"url": GOOD}]}
    )
    r = post(proxy, "images/generations", {"model": "sd-urls", "prompt": "x"})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == [{"b64_json": b64(PNG)}]


def test_openrouters_data_urls_get_the_same_checks(proxy: Any, fake: FakeUpstream) -> None:
    uri, reason = BAD["not an image type"]
    fake.route("POST", "/chat/completions", lambda r: chat_answer(uri))
    error = error_of(
        post(proxy, "images/generations", {"model": "nano-banana", "prompt": "x"}), 502
    )
    assert error["message"].endswith(reason)
    fake.route("POST", "/chat/completions", lambda r: chat_answer(GOOD))
    r = post(proxy, "images/generations", {"model": "nano-banana", "prompt": "x"})
    assert r.status_code == 200, r.text
    assert r.json()["data"][0]["b64_json"] == b64(PNG)


@pytest.mark.parametrize("case", BAD)
def test_a_chat_image_stored_as_a_link_is_checked(
    proxy: Any, fake: FakeUpstream, case: str
) -> None:
    uri, reason = BAD[case]
    fake.route("POST", "/v1/chat/completions", lambda r: chat_answer(uri))
    body = {
        "model": "chat-model",
        "messages": [{"role": "user", "content": "draw"}],
        "image_response_format": "url",
    }
    error = error_of(post(proxy, "chat/completions", body), 502)
    assert error["message"].endswith(f"would not take: {reason}")


@pytest.mark.parametrize(
    ("served", "case"),
    [(PAGE, "not an image at all"), (BIG, "too big")],
    ids=["not-an-image", "too-big"],
)
def test_the_downloader_gives_the_same_reason_for_the_same_bytes(
    proxy: Any, fake: FakeUpstream, served: bytes, case: str
) -> None:
    fake.route("GET", "/blob/img.png", lambda r: Response(served, media_type="image/png"))
    url = f"{fake.base}/blob/img.png"
    fake.route(
        "POST", "/sd/v1/images/generations", lambda r: {"created": 1, "data": [{"url": url}]}
    )
    body = {"model": "sd-urls", "prompt": "x", "response_format": "b64_json"}
    error = error_of(post(proxy, "images/generations", body), 502)
    assert error["code"] == "image_download_failed"
    assert error["message"].endswith(f": {BAD[case][1]}")
