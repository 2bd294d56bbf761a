"""Table-driven translation tests for the OpenAI-family adapters (no network)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxy.configure import parse_config
from proxy.errors import (
    ContentPolicyError,
    InvalidRequestError,
    ProviderAuthError,
    UpstreamBadRequestError,
    UpstreamError,
    UpstreamNotFoundError,
    UpstreamRateLimitError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from proxy.providers.registry import PROVIDERS
from proxy.providers.upstream_errors import map_http_error
from proxy.schemas import ImageRequest
from proxy.upstream_request import UpstreamResponse


def deployment(model: str, **params: Any) -> Any:
    (dep,) = parse_config(
        {"model_list": [{"model_name": "g", "litellm_params": {"model": model, **params}}]},
        env={"OPENAI_API_KEY": "sk-env", "NSCALE_API_KEY": "ns-env"},
    ).deployments
    return dep


def build(model: str, body: dict[str, Any], **params: Any) -> tuple[Any, dict[str, Any]]:
    dep = deployment(model, **params)
    req = ImageRequest.from_body({"model": "g", **body})
    adapter = PROVIDERS[dep.provider].images
    assert adapter is not None
    (upstream,) = adapter.build(req, dep)
    assert upstream.body is not None
    return upstream, orjson.loads(upstream.body)


@pytest.mark.parametrize(
    ("model", "params", "body", "url", "expected"),
    [
        (
            "openai/gpt-image-1",
            {},
            {"prompt": "p", "response_format": "b64_json", "x": 1},
            "https://api.openai.com/v1/images/generations",
            {"model": "gpt-image-1", "prompt": "p", "x": 1},
        ),
        (
            "dall-e-2",
            {"api_base": "http://h/v1/"},
            {"prompt": "p", "response_format": "url"},
            "http://h/v1/images/generations",
            {"model": "dall-e-2", "prompt": "p", "response_format": "url"},
        ),
        (
            "nscale/flux",
            {},
            {"prompt": "p"},
            "https://inference.api.nscale.com/v1/images/generations",
            {"model": "flux", "prompt": "p", "size": "1024x1024", "response_format": "b64_json"},
        ),
        (
            "nscale/flux",
            {},
            {"prompt": "p", "size": "512x512"},
            "https://inference.api.nscale.com/v1/images/generations",
            {"model": "flux", "prompt": "p", "size": "512x512", "response_format": "b64_json"},
        ),
        (
            "xinference/u",
            {"api_base": "http://x:9997/v1"},
            {"prompt": "p", "size": "1024x768", "n": 2, "user": "u1", "guidance_scale": 3},
            "http://x:9997/v1/images/generations",
            {
                "model": "u",
                "prompt": "p",
                "n": 2,
                "size": "1024*768",
                "response_format": "b64_json",
                "user": "u1",
                "kwargs": '{"guidance_scale":3}',
            },
        ),
    ],
)
def test_request_translation(
    model: str, params: dict[str, Any], body: dict[str, Any], url: str, expected: dict[str, Any]
) -> None:
    upstream, payload = build(model, body, **params)
    assert upstream.url == url
    assert payload == expected


@pytest.mark.parametrize(
    ("api_base", "url", "query", "has_model"),
    [
        (
            "https://r.openai.azure.com",
            "https://r.openai.azure.com/openai/deployments/dep/images/generations",
            {"api-version": "2024-10-21"},
            False,
        ),
        (
            "https://r.openai.azure.com/openai/deployments/other",
            "https://r.openai.azure.com/openai/deployments/other/images/generations",
            {"api-version": "2024-10-21"},
            False,
        ),
        (
            "https://r.openai.azure.com/openai/v1",
            "https://r.openai.azure.com/openai/v1/images/generations",
            None,
            True,
        ),
    ],
)
def test_azure_urls(api_base: str, url: str, query: Any, has_model: bool) -> None:
    upstream, payload = build(
        "azure/dep", {"prompt": "p"}, api_base=api_base, api_version="2024-10-21", api_key="k"
    )
    assert upstream.url == url and upstream.params == query
    assert ("model" in payload) is has_model


def test_gpt_image_behind_an_azure_deployment_name_gets_no_response_format() -> None:
    (dep,) = parse_config(
        {
            "model_list": [
                {
                    "model_name": "g",
                    "model_info": {"base_model": "azure/gpt-image-1"},
                    "litellm_params": {
                        "model": "azure/my-images",
                        "api_base": "https://r.openai.azure.com",
                        "api_key": "k",
                    },
                }
            ]
        }
    ).deployments
    req = ImageRequest.from_body({"model": "g", "prompt": "p", "response_format": "url"})
    adapter = PROVIDERS["azure"].images
    assert adapter is not None
    (upstream,) = adapter.build(req, dep)
    assert upstream.body is not None
    assert "response_format" not in orjson.loads(upstream.body)
    _, dalle = build(
        "azure/my-images",
        {"prompt": "p", "response_format": "url"},
        api_base="https://r.openai.azure.com",
        api_key="k",
    )
    assert dalle["response_format"] == "url"  # without base_model: a dall-e deployment


def test_provider_400_keeps_param_and_code() -> None:
    raw = orjson.dumps(
        {
            "error": {
                "message": "bad",
                "type": "invalid_request_error",
                "param": "size",
                "code": "invalid_value",
            }
        }
    )
    err = map_http_error(400, {}, raw, "openai")
    assert (err.param, err.code) == ("size", "invalid_value")
    bare = map_http_error(
        400,
        {},
        orjson.dumps({"error": {"message": "bad", "type": "invalid_request_error"}}),
        "openai",
    )
    assert (bare.param, bare.code) == (None, None)


def test_xinference_refuses_unsupported_and_bad_size() -> None:
    with pytest.raises(InvalidRequestError, match="style"):
        build("xinference/u", {"prompt": "p", "style": "vivid"})
    with pytest.raises(InvalidRequestError, match="size"):
        build("xinference/u", {"prompt": "p", "size": "big"})


@pytest.mark.parametrize(
    ("status", "headers", "body", "cls", "out_status"),
    [
        (400, {}, {"error": {"message": "bad size"}}, UpstreamBadRequestError, 400),
        (422, {}, {"detail": "bad"}, UpstreamBadRequestError, 400),
        (
            400,
            {},
            {"error": {"code": "content_policy_violation", "message": "no"}},
            ContentPolicyError,
            400,
        ),
        (400, {}, {"error": {"code": "contentFilter", "message": "no"}}, ContentPolicyError, 400),
        (401, {}, {"error": {"message": "bad key"}}, ProviderAuthError, 502),
        (403, {}, b"forbidden", ProviderAuthError, 502),
        (404, {}, {"error": {"message": "no model"}}, UpstreamNotFoundError, 502),
        (408, {}, b"", UpstreamTimeoutError, 504),
        (429, {"retry-after": "3"}, {"error": {"message": "slow"}}, UpstreamRateLimitError, 429),
        (500, {}, b"<html>oops</html>", UpstreamError, 502),
        (503, {}, {"error": {"message": "busy"}}, UpstreamUnavailableError, 503),
        (504, {}, b"", UpstreamTimeoutError, 504),
    ],
)
def test_error_mapping(
    status: int, headers: dict[str, str], body: Any, cls: type, out_status: int
) -> None:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    err = map_http_error(status, headers, raw, "openai")
    assert type(err) is cls and err.status == out_status
    if status == 429:
        assert err.retry_after == 3 and err.headers["retry-after"] == "3"


def test_error_messages_never_carry_base64_or_keys() -> None:
    blob = "A" * 5000
    raw = orjson.dumps({"error": {"message": f"bad image {blob} key sk-abcdefghijklmnop1234"}})
    err = map_http_error(400, {}, raw, "openai")
    assert blob not in err.message and "sk-abcdefghijklmnop1234" not in err.message
    assert "1234" in err.message


def test_parse_drops_azure_annotations_and_nulls() -> None:
    dep = deployment("azure/d", api_base="https://r", api_key="k")
    adapter = PROVIDERS["azure"].images
    assert adapter is not None
    req = ImageRequest.from_body({"model": "g", "prompt": "p"})
    body = {
        "created": 5,
        "data": [
            {
                "url": None,
                "b64_json": "QQ==",
                "content_filter_results": {},
                "prompt_filter_results": {},
            }
        ],
    }
    result = adapter.parse(UpstreamResponse(200, {}, orjson.dumps(body)), req, dep)
    assert result.data == [{"b64_json": "QQ=="}] and result.created == 5
