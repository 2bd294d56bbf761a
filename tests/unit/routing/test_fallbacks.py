"""Fallback chains: configured, default, content policy, per request, bounded, explained."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.config import ConfigError
from proxy.context import KeyInfo
from proxy.errors import (
    ContentPolicyError,
    InvalidRequestError,
    PermissionDeniedError,
    ProviderAuthError,
    UpstreamBadRequestError,
    UpstreamError,
)
from proxy.routing.errors import GroupAtCapacityError, GroupCooledDownError
from proxy.routing.fallbacks import FallbackPlan
from proxy.schemas import ImageRequest
from tests.unit.routing.helpers import Script, ctx, make_config, make_router

GROUPS: dict[str, list[dict[str, Any]]] = {"a": [{}], "b": [{}], "c": [{}], "d": [{}], "safe": [{}]}


def plan(**router: Any) -> FallbackPlan:
    cfg = make_config(GROUPS, **router)
    return FallbackPlan(cfg.router, set(cfg.groups()))


def test_chain_rules() -> None:
    p = plan(
        fallbacks=[{"a": ["b", "c", "a", "b"]}],
        default_fallbacks=["d"],
        content_policy_fallbacks=[{"a": ["safe"]}],
        max_fallbacks=5,
    )
    assert p.chain("a", UpstreamError("x")) == ["b", "c"]  # itself and repeats dropped
    assert p.chain("b", UpstreamError("x")) == ["d"]  # default for groups without an entry
    assert p.chain("a", ProviderAuthError("x")) == ["b", "c"]
    assert p.chain("a", GroupCooledDownError("x")) == ["b", "c"]
    assert p.chain("a", GroupAtCapacityError("x")) == ["b", "c"]
    assert p.chain("a", ContentPolicyError("x")) == ["safe"]  # only the content-policy list
    assert p.chain("b", ContentPolicyError("x")) == []
    assert p.chain("a", UpstreamBadRequestError("x")) == []  # the caller must change it
    assert p.chain("a", UpstreamError("x"), ("c", "d")) == ["c", "d"]  # the request's own
    assert plan(fallbacks=[{"a": ["b", "c", "d"]}], max_fallbacks=2).chain(
        "a", UpstreamError("x")
    ) == ["b", "c"]


def test_unknown_fallback_groups_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"router_settings.fallbacks\[0\].a: unknown fallback"):
        make_config(GROUPS, fallbacks=[{"a": ["nope"]}])
    with pytest.raises(ConfigError, match="unknown model group 'zz'"):
        make_config(GROUPS, fallbacks=[{"zz": ["a"]}])
    with pytest.raises(ConfigError, match=r"default_fallbacks\[0\]"):
        make_config(GROUPS, default_fallbacks=["nope"])


async def test_dead_group_falls_back_and_headers_say_so() -> None:
    router, _ = make_router({"a": [{}, {}], "b": [{}]}, num_retries=1, fallbacks=[{"a": ["b"]}])
    script = Script({"a-0": [UpstreamError("x")], "a-1": [UpstreamError("x")], "b-0": [{"b": 1}]})
    c = ctx()
    assert await router.execute(c, "a", script) == {"b": 1}
    assert script.calls[-1] == "b-0" and len(script.calls) == 3
    assert c.fallbacks == 1 and c.retries == 1
    headers = c.response_headers()
    assert headers["x-model-group"] == "b" and headers["x-model-id"] == "b-0"
    assert headers["x-attempted-fallbacks"] == "1" and headers["x-attempted-retries"] == "1"
    assert c.requested_model == "a"


async def test_fallback_groups_get_retries_and_the_chain_goes_on() -> None:
    router, _ = make_router(
        {"a": [{}], "b": [{}], "c": [{}]}, num_retries=1, fallbacks=[{"a": ["b", "c"]}]
    )
    script = Script({"a-0": [UpstreamError("x")], "b-0": [UpstreamError("y")], "c-0": [{"c": 1}]})
    c = ctx()
    assert await router.execute(c, "a", script) == {"c": 1}
    assert script.calls == ["a-0", "a-0", "b-0", "b-0", "c-0"]
    assert c.fallbacks == 2 and c.retries == 2


async def test_everything_failing_returns_the_first_error_listing_all_attempts() -> None:
    router, _ = make_router({"a": [{}], "b": [{}]}, fallbacks=[{"a": ["b"]}])
    script = Script({"a-0": [UpstreamError("a broke")], "b-0": [UpstreamBadRequestError("bad")]})
    c = ctx()
    with pytest.raises(UpstreamError) as info:
        await router.execute(c, "a", script)
    assert info.value.message.startswith("a broke")
    assert "a/a-0: 502 upstream_error" in info.value.message
    assert "b/b-0: 400 invalid_request_error" in info.value.message
    assert (c.model_group, c.deployment_id) == ("a", "a-0")  # headers match the error


async def test_all_cooled_group_falls_back_without_calling_it() -> None:
    router, _ = make_router({"a": [{}, {}], "b": [{}]}, allowed_fails=0, fallbacks=[{"a": ["b"]}])
    for dep in router.groups["a"]:
        await router.cooldowns.cool(dep, 60, "x", 502)
    script = Script()
    c = ctx()
    await router.execute(c, "a", script)
    assert script.calls == ["b-0"] and c.fallbacks == 1


async def test_content_policy_uses_only_content_policy_fallbacks() -> None:
    router, _ = make_router(
        {"a": [{}], "b": [{}], "safe": [{}]},
        num_retries=2,
        fallbacks=[{"a": ["b"]}],
        content_policy_fallbacks=[{"a": ["safe"]}],
    )
    script = Script({"a-0": [ContentPolicyError("refused")]})
    await router.execute(ctx(), "a", script)
    assert script.calls == ["a-0", "safe-0"]  # no retry, no general fallback


async def test_request_fallbacks_replace_configured_ones_and_disable_works() -> None:
    router, _ = make_router({"a": [{}], "b": [{}], "c": [{}]}, fallbacks=[{"a": ["b"]}])
    script = Script({"a-0": [UpstreamError("x")]})
    c = ctx()
    request = ImageRequest.from_body({"model": "a", "prompt": "p", "fallbacks": ["c"]})
    await router.fallbacks.take_from_request(c, request)
    assert "fallbacks" not in request.body  # never reaches a provider
    await router.execute(c, "a", script)
    assert script.calls == ["a-0", "c-0"]

    c = ctx()
    request = ImageRequest.from_body({"model": "a", "prompt": "p", "disable_fallbacks": True})
    await router.fallbacks.take_from_request(c, request)
    assert "disable_fallbacks" not in request.body
    with pytest.raises(UpstreamError):
        await router.execute(c, "a", script)


@pytest.mark.parametrize(
    ("fallbacks", "error", "param"),
    [
        ("b", InvalidRequestError, "fallbacks"),
        ([1], InvalidRequestError, "fallbacks[0]"),
        (["b", "nope"], InvalidRequestError, "fallbacks[1]"),
        ([{"model": "b", "api_base": "http://evil"}], InvalidRequestError, "fallbacks[0]"),
    ],
)
async def test_request_fallbacks_are_validated(
    fallbacks: Any, error: type[InvalidRequestError], param: str
) -> None:
    router, _ = make_router({"a": [{}], "b": [{}]})
    request = ImageRequest.from_body({"model": "a", "prompt": "p", "fallbacks": fallbacks})
    with pytest.raises(error) as info:
        await router.fallbacks.take_from_request(ctx(), request)
    assert info.value.param == param


async def test_request_fallbacks_respect_the_keys_models() -> None:
    router, _ = make_router({"a": [{}], "b": [{}]})
    c = ctx()
    c.key = KeyInfo(key_hash="h", models=("a",))
    request = ImageRequest.from_body({"model": "a", "prompt": "p", "fallbacks": [{"model": "b"}]})
    with pytest.raises(PermissionDeniedError):
        await router.fallbacks.take_from_request(c, request)


def test_the_chain_holds_only_groups_the_key_may_use() -> None:
    p = plan(
        fallbacks=[{"a": ["b", "c", "d"]}],
        default_fallbacks=["d"],
        content_policy_fallbacks=[{"a": ["safe"]}],
        max_fallbacks=1,
    )
    only_a = KeyInfo(key_hash="h", models=("a",))
    a_and_c = KeyInfo(key_hash="h", models=("a", "c"))
    assert p.chain("a", UpstreamError("x"), key=only_a) == []
    assert p.chain("a", UpstreamError("x"), key=a_and_c) == ["c"]  # the cap counts usable ones
    assert p.chain("b", UpstreamError("x"), key=KeyInfo(key_hash="h", models=("b",))) == []
    assert p.chain("a", ContentPolicyError("x"), key=only_a) == []
    assert p.chain("a", UpstreamError("x"), ("c",), key=only_a) == []
    # a key without models, and the master key, may use every group
    assert p.chain("a", UpstreamError("x"), key=KeyInfo(key_hash="h")) == ["b"]
    master = KeyInfo(key_hash="m", is_master=True)
    assert p.chain("a", ContentPolicyError("x"), key=master) == ["safe"]


@pytest.mark.parametrize(
    ("models", "calls"),
    [
        (("a",), ["a-0", "a-0"]),  # restricted: the group's own error, no fallback
        (("a", "c"), ["a-0", "a-0", "c-0"]),  # b skipped, c served
        ((), ["a-0", "a-0", "b-0"]),  # every group allowed
    ],
)
async def test_a_key_is_never_served_by_a_fallback_it_may_not_use(
    models: tuple[str, ...], calls: list[str]
) -> None:
    router, _ = make_router(
        {"a": [{}], "b": [{}], "c": [{}]}, num_retries=1, fallbacks=[{"a": ["b", "c"]}]
    )
    script = Script({"a-0": [UpstreamError("a broke")]})
    c = ctx()
    c.key = KeyInfo(key_hash="h", models=models)
    if calls[-1] == "a-0":
        with pytest.raises(UpstreamError) as info:
            await router.execute(c, "a", script)
        assert info.value.message.startswith("a broke")
        assert (c.model_group, c.deployment_id, c.fallbacks) == ("a", "a-0", 0)
    else:
        await router.execute(c, "a", script)
        assert c.model_group == calls[-1][0] and c.fallbacks == 1
    assert script.calls == calls
