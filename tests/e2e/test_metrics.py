"""GET /metrics after a scripted set of requests shows exactly those counts, in one worker
and aggregated across several (Prometheus multiprocess mode)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.responses import JSONResponse

from proxy.app import create_app
from proxy.auth import hash_key
from proxy.configure import parse_config
from proxy.context import KeyInfo, RequestContext
from proxy.pricing import Pricer
from tests.conftest import MASTER_KEY
from tests.fakes.server import FakeUpstream

UPSTREAM_KEY = "sk-metrics-upstream-4c4c"
VIRTUAL_KEY = "sk-metrics-virtual-key-8d8d"
PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\nmetrics").decode()
IMAGES = "/v1/images/generations"


def sample(text: str, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def config(base: str, **extra: Any) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": "img",
                "litellm_params": {
                    "model": "openai/gpt-image-1",
                    "api_key": UPSTREAM_KEY,
                    "api_base": f"{base}/v1",
                },
                "model_info": {"id": "img-dep"},
            },
            {
                "model_name": "broken",
                "litellm_params": {
                    "model": "openai/gpt-image-1",
                    "api_key": UPSTREAM_KEY,
                    "api_base": f"{base}/broken/v1",
                },
                "model_info": {"id": "broken-dep"},
            },
        ],
        "guardrails": [
            {
                "guardrail_name": "no-brands",
                "litellm_params": {
                    "guardrail": "keywords",
                    "default_on": True,
                    "blocked": ["acme"],
                },
            }
        ],
        **extra,
    }


def route_images(fake: FakeUpstream) -> None:
    fake.route(
        "POST",
        IMAGES,
        lambda r: {
            "created": 1,
            "data": [{"b64_json": PNG_B64} for _ in range(r.json().get("n", 1))],
        },
    )
    fake.route(
        "POST",
        "/broken/v1/images/generations",
        lambda r: JSONResponse({"error": {"message": "boom"}}, 500),
    )


def script(base_url: str) -> None:
    """3 good image requests (1 + 2 + 3 images), 1 upstream failure, 1 guardrail block,
    1 unknown model, 1 bad key."""
    auth = {"authorization": f"Bearer {MASTER_KEY}"}
    with httpx.Client(base_url=base_url, headers=auth, timeout=10) as c:
        for n in (1, 2, 3):
            r = c.post(IMAGES, json={"model": "img", "prompt": "a cat", "n": n})
            assert r.status_code == 200
        assert c.post(IMAGES, json={"model": "broken", "prompt": "a cat"}).status_code == 502
        assert c.post(IMAGES, json={"model": "img", "prompt": "acme"}).status_code == 400
        r = c.post(IMAGES, json={"model": "made-up-model-xyz", "prompt": "a cat"})
        assert r.status_code == 404
        r = c.post(
            IMAGES,
            json={"model": "img", "prompt": "a cat"},
            headers={"authorization": "Bearer sk-wrong-key-0000"},
        )
        assert r.status_code == 401


def check_scripted_counts(text: str) -> None:
    req = "image_proxy_requests_total"
    assert sample(text, req) == 7
    assert (
        sample(text, req, model_group="img", deployment="img-dep", endpoint="images", status="200")
        == 3
    )
    assert sample(text, req, model_group="broken", deployment="broken-dep", status="502") == 1
    assert sample(text, req, model_group="img", deployment="", status="400") == 1
    assert sample(text, req, model_group="unknown", status="404") == 1  # no made-up labels
    assert "made-up-model-xyz" not in text
    assert sample(text, req, model_group="", status="401") == 1
    assert (
        sample(text, "image_proxy_images_generated_total", model_group="img", deployment="img-dep")
        == 6
    )
    assert (
        sample(text, "image_proxy_guardrail_blocks_total", guardrail="no-brands", endpoint="images")
        == 1
    )
    assert sample(text, "image_proxy_request_duration_seconds_count") == 7
    assert sample(text, "image_proxy_upstream_duration_seconds_count") == 4  # routed ones
    assert sample(text, "image_proxy_upstream_duration_seconds_count", deployment="img-dep") == 3
    assert sample(text, "image_proxy_gateway_overhead_seconds_count", endpoint="images") == 4
    assert sample(text, "image_proxy_in_flight_requests") == 0
    # gpt-image-1 answering without usage: priced per image at the highest tier, 6 x $0.167
    assert sample(text, "image_proxy_spend_usd_total") == pytest.approx(6 * 0.167)


def test_metrics_count_exactly_the_scripted_requests(
    proxy_factory: Any, fake: FakeUpstream
) -> None:
    proxy = proxy_factory(config(fake.base))
    route_images(fake)
    script(proxy.base_url)
    text = httpx.get(f"{proxy.base_url}/metrics", timeout=10).text
    check_scripted_counts(text)


def test_metrics_aggregate_across_workers(proxy_factory: Any, fake: FakeUpstream) -> None:
    proxy = proxy_factory(config(fake.base), args=["--workers", "2"], name="proxy-workers")
    route_images(fake)
    script(proxy.base_url)
    texts = [httpx.get(f"{proxy.base_url}/metrics", timeout=10).text for _ in range(4)]
    for text in texts:  # whichever worker answers, the totals are the same
        check_scripted_counts(text)


# --- in process: spend, retries, fallbacks, cooldowns, auth on /metrics -------------------


class FlatPricer(Pricer):
    """25 cents an image, whatever the deployment."""

    def __call__(self, ctx: RequestContext) -> None:
        if ctx.images:
            ctx.cost = 0.25 * ctx.images


@pytest.fixture
async def app(fake: FakeUpstream) -> AsyncIterator[Any]:
    route_images(fake)
    cfg = config(
        fake.base,
        general_settings={"master_key": MASTER_KEY},
        litellm_settings={"require_auth_for_metrics_endpoint": True},
    )
    parsed = parse_config(cfg, env={})
    application = create_app(parsed)
    services = application.services
    assert services is not None
    gateway = services.pipeline

    async def routing_facts(ctx: RequestContext, request: Any) -> None:
        # what the routing engine records on a real retry / fallback / cooldown
        if getattr(request, "prompt", "") == "retry me":
            ctx.retries, ctx.fallbacks = 2, 1
            ctx.cooldowns = ["img-dep", "broken-dep"]

    # The gateway is frozen: the test's own pricer and stage go into a copy of it.
    hooks = replace(gateway.hooks, pre_call=(*gateway.hooks.pre_call, routing_facts))
    gateway = replace(
        gateway,
        hooks=hooks,
        pricer=FlatPricer(parsed),
    )
    application.services = replace(services, pipeline=gateway)

    async def lookup(key_hash: str) -> KeyInfo | None:  # the Authenticator looks up by hash
        return KeyInfo(key_hash="v", alias="team-a") if key_hash == hash_key(VIRTUAL_KEY) else None

    gateway.auth.lookup = lookup
    async with application.router.lifespan_context(application):
        yield application


async def test_spend_retries_fallbacks_cooldowns_and_metrics_auth(app: Any) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as c:
        master = {"authorization": f"Bearer {MASTER_KEY}"}
        for prompt, n in (("a cat", 2), ("retry me", 1)):
            r = await c.post(
                IMAGES, headers=master, json={"model": "img", "prompt": prompt, "n": n}
            )
            assert r.status_code == 200, r.text
        r = await c.get("/metrics")
        assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"
        r = await c.get("/metrics", headers={"authorization": f"Bearer {VIRTUAL_KEY}"})
        assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
        assert "image_proxy_" not in r.text
        r = await c.get("/metrics", headers=master)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert sample(text, "image_proxy_spend_usd_total", model_group="img") == 0.75
    assert sample(text, "image_proxy_retries_total", model_group="img") == 2
    assert sample(text, "image_proxy_fallbacks_total", model_group="img") == 1
    assert sample(text, "image_proxy_cooldowns_total", deployment="img-dep") == 1
    assert sample(text, "image_proxy_cooldowns_total", deployment="broken-dep") == 1
    # the scrapes (two refused, one answered) are not model requests
    assert sample(text, "image_proxy_requests_total") == 2


async def test_a_scrape_counts_requests_whose_observers_wait_for_a_quiet_loop(app: Any) -> None:
    quiet = app.services.pipeline.hooks.pacer
    # As in a burst: every probe tick counts as late, so the loop never looks quiet and the
    # observers wait (the probe's own ticks included, which would otherwise run them).
    quiet.lag = -1.0
    quiet.max_delay = 3600.0
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as c:
        master = {"authorization": f"Bearer {MASTER_KEY}"}
        for _ in range(3):
            r = await c.post(IMAGES, headers=master, json={"model": "img", "prompt": "a cat"})
            assert r.status_code == 200, r.text
        assert len(quiet.pending) >= 2  # the first started the probe and ran at once
        text = (await c.get("/metrics", headers=master)).text
    assert not quiet.pending
    assert sample(text, "image_proxy_requests_total") == 3


# --- real routing events: retries, fallbacks and cooldowns counted where they happened ------


def test_routing_metrics_from_real_retries_fallbacks_and_cooldowns(
    proxy_factory: Any, fake: FakeUpstream
) -> None:
    base = fake.base

    def dep(name: str, path: str, dep_id: str) -> dict[str, Any]:
        return {
            "model_name": name,
            "model_info": {"id": dep_id},
            "litellm_params": {
                "model": "openai/gpt-image-1",
                "api_key": UPSTREAM_KEY,
                "api_base": f"{base}{path}",
            },
        }

    proxy = proxy_factory(
        {
            "model_list": [
                dep("dead", "/dead-a/v1", "dead-a"),
                dep("dead", "/dead-b/v1", "dead-b"),
                dep("good", "/v1", "good-1"),
            ],
            "router_settings": {
                "num_retries": 0,
                "allowed_fails": 0,
                "cooldown_time": 60,
                "fallbacks": [{"dead": ["good"]}],
            },
        }
    )
    route_images(fake)
    for path in ("/dead-a/v1/images/generations", "/dead-b/v1/images/generations"):
        fake.route("POST", path, lambda r: JSONResponse({"error": {"message": "down"}}, 503))
    auth = {"authorization": f"Bearer {MASTER_KEY}"}
    with httpx.Client(base_url=proxy.base_url, headers=auth, timeout=10) as c:
        first = c.post(IMAGES, json={"model": "dead", "prompt": "a cat"})
        # both dead deployments failed once (failover), rest, and "good" served the fallback
        assert first.status_code == 200 and first.headers["x-model-id"] == "good-1"
        assert first.headers["x-attempted-retries"] == "1"
        assert first.headers["x-attempted-fallbacks"] == "1"
        second = c.post(IMAGES, json={"model": "dead", "prompt": "a cat"})
        assert second.headers["x-attempted-retries"] == "0"  # resting: straight to "good"
        assert second.headers["x-attempted-fallbacks"] == "1"
        text = c.get("/metrics").text
    assert len(fake.received("/dead-a/v1/images/generations")) == 1
    assert sample(text, "image_proxy_retries_total") == 1
    assert sample(text, "image_proxy_retries_total", model_group="dead") == 1
    assert sample(text, "image_proxy_fallbacks_total") == 2
    assert sample(text, "image_proxy_fallbacks_total", model_group="dead") == 2  # asked for
    assert sample(text, "image_proxy_cooldowns_total") == 2
    for dep_id in ("dead-a", "dead-b"):  # labelled with the deployment's own group
        assert (
            sample(text, "image_proxy_cooldowns_total", model_group="dead", deployment=dep_id) == 1
        )
    assert (
        sample(
            text,
            "image_proxy_requests_total",
            model_group="good",
            deployment="good-1",
            status="200",
        )
        == 2
    )
    assert sample(text, "image_proxy_images_generated_total", model_group="good") == 2


def test_sdk_script_with_streams_counts_exactly_right_after(
    proxy_factory: Any, fake: FakeUpstream
) -> None:
    import openai
    from starlette.responses import StreamingResponse

    from tests.fakes.server import sse

    cfg = config(fake.base)
    cfg["model_list"].append(
        {
            "model_name": "chat",
            "model_info": {"id": "chat-dep"},
            "litellm_params": {
                "model": "openai/gpt-4o-mini",
                "api_key": UPSTREAM_KEY,
                "api_base": f"{fake.base}/v1",
            },
        }
    )
    proxy = proxy_factory(cfg)
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}],
    }
    done = {
        "type": "image_generation.completed",
        "b64_json": PNG_B64,
        "created_at": 1,
        "size": "1024x1024",
        "quality": "low",
        "background": "opaque",
        "output_format": "png",
        "usage": {"total_tokens": 2, "input_tokens": 1, "output_tokens": 1},
    }

    def images(r: Any) -> Any:
        if r.json().get("stream"):
            return StreamingResponse(
                iter([sse([("image_generation.completed", done)])]), media_type="text/event-stream"
            )
        return {"created": 1, "data": [{"b64_json": PNG_B64}]}

    fake.route("POST", IMAGES, images)
    fake.route(
        "POST",
        "/v1/chat/completions",
        lambda r: StreamingResponse(
            iter([sse([(None, chunk)], done=True)]), media_type="text/event-stream"
        ),
    )
    client = openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)
    scrape = f"{proxy.base_url}/metrics"

    client.images.generate(model="img", prompt="a cat")
    assert list(client.images.generate(model="img", prompt="a cat", stream=True))
    text = httpx.get(scrape, timeout=10).text  # right after the stream: already counted
    assert sample(text, "image_proxy_requests_total", endpoint="images", status="200") == 2
    assert sample(text, "image_proxy_images_generated_total", model_group="img") == 2
    assert sample(text, "image_proxy_in_flight_requests") == 0

    assert list(
        client.chat.completions.create(
            model="chat", stream=True, messages=[{"role": "user", "content": "hi"}]
        )
    )
    with pytest.raises(openai.BadRequestError):
        list(client.images.generate(model="img", prompt="acme rockets", stream=True))
    text = httpx.get(scrape, timeout=10).text
    assert sample(text, "image_proxy_requests_total") == 4
    assert (
        sample(
            text,
            "image_proxy_requests_total",
            model_group="chat",
            deployment="chat-dep",
            endpoint="chat",
            status="200",
        )
        == 1
    )
    assert sample(text, "image_proxy_requests_total", model_group="img", status="400") == 1
    assert sample(text, "image_proxy_guardrail_blocks_total", guardrail="no-brands") == 1
    assert sample(text, "image_proxy_request_duration_seconds_count") == 4
    assert sample(text, "image_proxy_upstream_duration_seconds_count") == 3
    assert sample(text, "image_proxy_in_flight_requests") == 0
