"""Guardrail configuration at start-up, key-pinned guardrails and registering a new kind,
in process against the ASGI app (the fake upstream is still a real HTTP server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from proxy.app import create_app
from proxy.auth import hash_key
from proxy.config import ConfigError
from proxy.configure import parse_config
from proxy.context import KeyInfo
from proxy.guardrails import Guardrail, GuardSubject, Verdict, register
from proxy.guardrails.base import GUARDRAILS, PromptPart
from proxy.guardrails.keywords import KeywordGuardrail, KeywordParams
from tests.conftest import MASTER_KEY
from tests.fakes.proxy_process import run_cli
from tests.fakes.server import FakeUpstream

PINNED_KEY = "sk-pinned-virtual-key-31d7"


def entry(**params: Any) -> dict[str, Any]:
    return {"guardrail_name": "g", "litellm_params": params}


@pytest.mark.parametrize(
    ("guardrails", "problem"),
    [
        ("nope", "guardrails: must be a list"),
        ([entry(guardrail="nope")], "guardrails[0].litellm_params.guardrail: unknown guardrail"),
        (
            [entry(guardrail="keywords", blocked=["/[unclosed/"])],
            "guardrails[0].litellm_params.blocked: entry 0 ('/[unclosed/') is not a valid regex",
        ),
        ([entry(guardrail="keywords", blocked=[])], "guardrails[0].litellm_params.blocked:"),
        (
            [entry(guardrail="keywords", blocked=["x"], mode="post_call")],
            "guardrails[0].litellm_params.mode: only 'pre_call' is supported",
        ),
        ([entry(guardrail="keywords", blockd=["x"])], "guardrails[0].litellm_params.blocked"),
        (
            [entry(guardrail="openai_moderation", categories=["violense"])],
            "guardrails[0].litellm_params.categories: unknown moderation category 'violense'",
        ),
        ([entry(guardrail="webhook")], "guardrails[0].litellm_params.api_base: Field required"),
        (
            [entry(guardrail="webhook", api_base="ftp://x")],
            "guardrails[0].litellm_params.api_base: must be an http",
        ),
        (
            [entry(guardrail="webhook", api_base="http://x", on_error="maybe")],
            "guardrails[0].litellm_params.on_error",
        ),
        (
            [entry(guardrail="max_prompt_length", max_length=0)],
            "guardrails[0].litellm_params.max_length",
        ),
        (
            [
                entry(guardrail="max_prompt_length", max_length=5),
                entry(guardrail="max_prompt_length", max_length=5),
            ],
            "guardrails[1].guardrail_name: duplicate guardrail name 'g'",
        ),
        (
            [{"litellm_params": {"guardrail": "keywords", "blocked": ["x"]}}],
            "guardrails[0].guardrail_name: must be a non-empty string",
        ),
    ],
)
def test_bad_guardrail_config_names_the_field(guardrails: Any, problem: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"guardrails": guardrails}, env={})
    assert str(exc.value).startswith(problem), str(exc.value)


def test_guardrail_env_secret_is_resolved_and_missing_one_stops_start_up() -> None:
    g = [entry(guardrail="openai_moderation", api_key="os.environ/MOD_KEY_FOR_TEST")]
    config = parse_config({"guardrails": g}, env={"MOD_KEY_FOR_TEST": "k"})
    assert config.raw["guardrails"][0]["litellm_params"]["api_key"] == "k"
    with pytest.raises(ConfigError, match="MOD_KEY_FOR_TEST is not set"):
        parse_config({"guardrails": g}, env={})


def test_cli_exits_2_on_a_bad_guardrail(tmp_path: Any) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "general_settings: {master_key: sk-x}\nguardrails:\n"
        "  - guardrail_name: g\n    litellm_params: {guardrail: keywords}\n"
    )
    result = run_cli(["--config", str(path), "--check-config"])
    assert result.returncode == 2
    assert "guardrails[0].litellm_params.blocked: Field required" in result.stderr


async def test_keywords_match_words_regexes_and_folded_spellings() -> None:
    params = KeywordParams(guardrail="keywords", blocked=["acme", "/bad\\d+/", "/caps/i"])
    http = httpx.AsyncClient()
    g = KeywordGuardrail("k", params, http)

    async def verdict(text: str) -> bool:
        subject = GuardSubject(
            parts=(PromptPart("prompt", text),), endpoint="images", model="m", request_id="r"
        )
        return (await g.check(subject)).allowed

    assert not await verdict("ACME corp")
    assert not await verdict("\uff41\uff43\uff4d\uff45")  # full-width
    assert not await verdict("bad42")
    assert not await verdict("CAPS")
    assert await verdict("acmeological BAD42")  # /bad\d+/ is case-sensitive
    await http.aclose()


# --- in process: key pins and a registered kind ---------------------------------------


class Counting(Guardrail):
    """A kind registered by a test: refuses prompts containing 'zebra'."""

    calls = 0

    async def check(self, subject: GuardSubject) -> Verdict:
        Counting.calls += 1
        if any("zebra" in t for t in subject.texts):
            return Verdict.deny("no zebras")
        return Verdict.allow()


@pytest.fixture
def counting_kind() -> Any:
    register("test_counting")(Counting)
    yield Counting
    GUARDRAILS.pop("test_counting", None)


@pytest.fixture
async def app_client(fake: FakeUpstream, counting_kind: Any) -> AsyncIterator[httpx.AsyncClient]:
    fake.route(
        "POST",
        "/v1/images/generations",
        lambda r: {"created": 1, "data": [{"url": "https://x/1.png"}]},
    )
    config = parse_config(
        {
            "model_list": [
                {
                    "model_name": "img",
                    "litellm_params": {
                        "model": "openai/dall-e-2",
                        "api_key": "sk-upstream-unit-1",
                        "api_base": f"{fake.base}/v1",
                    },
                }
            ],
            "general_settings": {"master_key": MASTER_KEY},
            "guardrails": [
                {
                    "guardrail_name": "short",
                    "litellm_params": {"guardrail": "max_prompt_length", "max_length": 10},
                },
                {"guardrail_name": "zebras", "litellm_params": {"guardrail": "test_counting"}},
            ],
        },
        env={},
    )
    app = create_app(config)

    async def lookup(key_hash: str) -> KeyInfo | None:  # the Authenticator looks up by hash
        if key_hash == hash_key(PINNED_KEY):
            return KeyInfo(key_hash="h", alias="pinned", guardrails=("short",))
        return None

    assert app.services is not None
    app.services.pipeline.auth.lookup = lookup
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
            yield client


async def post(client: httpx.AsyncClient, key: str, **body: Any) -> httpx.Response:
    return await client.post(
        "/v1/images/generations",
        json={"model": "img", **body},
        headers={"authorization": f"Bearer {key}"},
    )


async def test_key_pinned_guardrail_always_runs(
    app_client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    long_prompt = "a very long prompt"
    r = await post(app_client, PINNED_KEY, prompt=long_prompt)
    assert r.status_code == 400 and r.json()["error"]["guardrail"] == "short"
    r = await post(app_client, PINNED_KEY, prompt=long_prompt, guardrails={"short": False})
    assert r.status_code == 400 and r.json()["error"]["code"] == "guardrail_required"
    r = await post(app_client, PINNED_KEY, prompt=long_prompt, guardrails=[])
    assert r.status_code == 400 and r.json()["error"]["guardrail"] == "short"
    # the master key has no pin: the same prompt goes through
    r = await post(app_client, MASTER_KEY, prompt=long_prompt)
    assert r.status_code == 200, r.text
    assert "x-applied-guardrails" not in r.headers
    assert len(fake.received("/v1/images/generations")) == 1


async def test_registered_kind_runs_when_opted_in(
    app_client: httpx.AsyncClient, fake: FakeUpstream, counting_kind: Any
) -> None:
    before = counting_kind.calls
    r = await post(app_client, MASTER_KEY, prompt="zebra")
    assert r.status_code == 200  # not default-on, not requested
    assert r.json()["data"] == [{"url": "https://x/1.png"}]
    assert "x-applied-guardrails" not in r.headers
    r = await post(app_client, MASTER_KEY, prompt="zebra", guardrails=["zebras"])
    assert r.status_code == 400 and r.json()["error"]["reason"] == "no zebras"
    assert counting_kind.calls == before + 1
    sent = fake.received("/v1/images/generations")
    assert len(sent) == 1 and "guardrails" not in sent[0].json()


async def test_key_pinning_an_unknown_guardrail_fails_closed(
    app_client: httpx.AsyncClient, fake: FakeUpstream
) -> None:
    # The ASGI app behind the client
    app = app_client._transport.app  # type: ignore[attr-defined]

    async def lookup(key_hash: str) -> KeyInfo | None:
        return KeyInfo(key_hash="h", alias="odd", guardrails=("gone",))

    app.services.pipeline.auth.lookup = lookup
    r = await post(app_client, "sk-any-other-key-0000", prompt="hi")
    assert r.status_code == 503 and r.json()["error"]["code"] == "guardrail_unavailable"
    assert fake.received() == []
