"""Wildcard routing as LiteLLM does it: patterns in model_name, concrete deployments per
requested name, exact names first, longer patterns first; key model lists with patterns."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from proxy.attempt.caller import Caller
from proxy.config import ConfigError, ProxyConfig
from proxy.config.wildcards import MAX_REMEMBERED
from proxy.configure import parse_config
from proxy.context import KeyInfo, RequestContext
from proxy.errors import NotFoundError
from proxy.pipeline import credentials_for
from proxy.pricing.cost import Pricer
from proxy.routing.router import Router
from proxy.transport import Transport
from proxy.upstream_request import UpstreamRequest

ENV = {"OPENAI_API_KEY": "sk-openai", "GEMINI_API_KEY": "g-key"}


def make_router(config: ProxyConfig) -> Router:
    return Router(config, Caller(Transport(), {}))  # the caller is unused: no request is sent


def route(name: str, model: str, **params: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": model, **params}}


def router(*entries: dict[str, Any], env: dict[str, str] | None = None) -> Router:
    return make_router(parse_config({"model_list": list(entries)}, env=ENV if env is None else env))


def served(r: Router, name: str) -> list[tuple[str, str, str]]:
    return [(d.provider, d.model, d.model_name) for d in r.group(name)]


def test_a_provider_wildcard_calls_the_requested_model_at_that_provider() -> None:
    r = router(route("openai/*", "openai/*"))
    assert served(r, "openai/gpt-image-2") == [("openai", "gpt-image-2", "openai/gpt-image-2")]
    (dep,) = r.group("openai/gpt-image-2")
    assert dep.params.api_key == "sk-openai"  # LiteLLM's variable, as for any deployment
    with pytest.raises(NotFoundError):
        r.group("gemini/imagen-4.0-generate-001")


def test_a_star_route_serves_any_name_at_the_provider_its_prefix_names() -> None:
    r = router(route("*", "*"))
    assert served(r, "gemini/gemini-2.5-flash-image") == [
        ("gemini", "gemini-2.5-flash-image", "gemini/gemini-2.5-flash-image")
    ]
    assert served(r, "gpt-image-1") == [("openai", "gpt-image-1", "gpt-image-1")]
    with pytest.raises(NotFoundError, match=r"provider 'anthropic' is not served"):
        r.group("anthropic/claude-sonnet-4-5")
    with pytest.raises(
        NotFoundError, match=r"is neither an image model image-proxy knows nor a chat model"
    ):
        r.group("text-embedding-3-small")


def test_a_star_route_to_one_provider_and_litellms_substitution() -> None:
    r = router(route("*", "openai/*"), route("my-org/*/x", "openai/*"))
    assert served(r, "gpt-image-1") == [("openai", "gpt-image-1", "gpt-image-1")]
    assert served(r, "my-org/dall-e-3/x")[0][1] == "dall-e-3"


def test_exact_names_win_then_longer_patterns() -> None:
    r = router(
        route("*", "openai/*"),
        route("openai/*", "openai/*"),
        route("openai/gpt-image-*", "gemini/gemini-2.5-flash-image", api_key="g"),
        route("openai/dall-e-3", "openai/dall-e-3"),
    )
    assert served(r, "openai/dall-e-3") == [("openai", "dall-e-3", "openai/dall-e-3")]
    assert served(r, "openai/gpt-image-2")[0][0] == "gemini"  # the longer pattern
    assert served(r, "openai/sora-image")[0][:2] == ("openai", "sora-image")
    assert served(r, "flux")[0][:2] == ("openai", "flux")
    assert r.model_names() == ["openai/dall-e-3"]  # patterns are not listed as names
    assert r.wildcard_patterns() == ["openai/gpt-image-*", "openai/*", "*"]


def test_routes_list_the_known_models_they_serve_as_themselves() -> None:
    known = ["openai/gpt-image-1", "gemini/imagen-4.0-generate-001", "recraft/recraftv3"]
    r = router(route("*", "*"), env={"OPENAI_API_KEY": "k", "GEMINI_API_KEY": "g"})
    assert r.wildcard_models(known) == ["openai/gpt-image-1", "gemini/imagen-4.0-generate-001"]
    r = router(route("*", "openai/*"))  # every name would call OpenAI with the whole name
    assert r.wildcard_models(known) == []
    r = router(route("openai/*", "openai/*"), route("openai/gpt-image-1", "openai/gpt-image-1"))
    assert r.wildcard_models(known) == []  # an exact group is listed as a group already


def test_a_provider_wildcard_without_a_key_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigError, match=r"model_list\[0\]\.litellm_params\.api_key: required"):
        parse_config({"model_list": [route("openai/*", "openai/*")]}, env={})


def test_the_concrete_deployment_is_remembered_priced_and_authorized() -> None:
    config = parse_config({"model_list": [route("openai/*", "openai/*")]}, env=ENV)
    r = make_router(config)
    (first,) = r.group("openai/gpt-image-1")
    (again,) = r.group("openai/gpt-image-1")
    assert first is again and r.deployment(first.id) is first
    pricer = Pricer(config)
    assert pricer.entry(first).key is not None  # the concrete model's prices
    ctx = RequestContext(endpoint="images", deployment_id=first.id, images=1)
    ctx.usage = {"input_tokens": 10, "output_tokens": 1000, "total_tokens": 1010}
    assert pricer.cost(ctx).usd is not None


async def test_a_deployment_in_flight_outlives_a_flood_of_other_names() -> None:
    """Past ``MAX_REMEMBERED`` names the memo starts over; a deployment a request still holds
    keeps its price and credentials (before, its id was forgotten with the memo: cost unknown,
    and a KeyError for its credentials)."""
    config = parse_config({"model_list": [route("openai/*", "openai/*")]}, env=ENV)
    r = make_router(config)
    (held,) = r.group("openai/gpt-image-2")
    ctx = RequestContext(endpoint="images", deployment_id=held.id, images=1)
    ctx.deployment = held  # what the router sets
    table = credentials_for(config)
    for i in range(MAX_REMEMBERED + 1):
        r.group(f"openai/flood-{i}")
    assert r.deployment(held.id) is held
    ctx.usage = {"input_tokens": 10, "output_tokens": 1000, "total_tokens": 1010}
    assert Pricer(config).cost(ctx).usd is not None
    request = UpstreamRequest.post_json("https://upstream/x", {})
    await table[held.id].authorize(request)
    assert request.headers["authorization"] == "Bearer sk-openai"
    held_id = held.id
    del held, ctx
    gc.collect()
    assert r.deployment(held_id) is None  # once nothing holds it, it is not kept


async def test_a_concrete_deployment_gets_its_credentials_when_it_first_calls() -> None:
    config = parse_config({"model_list": [route("*", "*")]}, env=ENV)
    (dep,) = make_router(config).group("gemini/gemini-2.5-flash-image")
    table = credentials_for(config)
    request = UpstreamRequest.post_json("https://upstream/x", {})
    await table[dep.id].authorize(request)
    assert request.headers.get("x-goog-api-key") == "g-key"
    with pytest.raises(KeyError):
        table["no-such-deployment"]


@pytest.mark.parametrize(
    ("models", "group", "allowed"),
    [
        (("openai/*",), "openai/gpt-image-2", True),
        (("openai/*",), "gemini/gemini-2.5-flash-image", False),
        (("openai/*",), "openai", False),
        (("*",), "anything/at-all", True),
        (("gpt-image-*", "dall-e-3"), "gpt-image-1", True),
        (("gpt-image-*",), "xgpt-image-1", False),
        (("dall-e-3",), "dall-e-3", True),
        (("dall-e-3",), "dall-e-2", False),
    ],
)
def test_key_model_lists_take_patterns(models: tuple[str, ...], group: str, allowed: bool) -> None:
    assert KeyInfo(key_hash="h", models=models).may_use(group) is allowed


def test_a_star_route_never_serves_a_provider_without_its_key() -> None:
    """The catch-all's provider is known per request: a provider whose key is nowhere is not
    served (a 404 naming the missing key), so no unauthenticated call leaves."""
    r = router(route("*", "*"), env={"GEMINI_API_KEY": "g-key"})
    assert served(r, "gemini/gemini-2.5-flash-image")[0][0] == "gemini"
    with pytest.raises(NotFoundError, match=r"api_key: required for openai"):
        r.group("gpt-image-1")


def test_bedrock_wildcards_route_image_families_and_skip_chat_models() -> None:
    r = router(route("bedrock/*", "bedrock/*"), env={"AWS_REGION_NAME": "us-east-1"})
    assert served(r, "bedrock/amazon.nova-canvas-v1:0")[0][:2] == (
        "bedrock",
        "amazon.nova-canvas-v1:0",
    )
    with pytest.raises(NotFoundError, match=r"is a chat model, and bedrock is served for"):
        r.group("bedrock/anthropic.claude-3-haiku-20240307-v1:0")
