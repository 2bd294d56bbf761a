"""xAI and Together AI end to end through the official SDK, against fake upstreams that speak
their wire formats (JSON only, flat xAI errors) and check what they receive."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import openai
import pytest
from starlette.responses import JSONResponse

from proxy.providers.mock.png import render_png
from tests.conftest import MASTER_KEY
from tests.fakes.server import FakeUpstream, Received

XAI_KEY = "xai-upstream-key-5b1e"
XAI_ENV_KEY = "xai-env-key-77c3"
OUT_B64 = base64.b64encode(render_png(8, 8, (9, 8, 7))).decode()
XAI_URL = "https://imgen.x.ai/xai-imgen/xai-tmp-imgen-0b6c.jpeg"
TOGETHER_KEY = "tg-upstream-key-3d9a"
TOGETHER_ENV_KEY = "tg-env-key-51f0"
TOGETHER_URL = "https://api.together.ai/shrt/UKUn8Zz7EjXegsLh"


def png(width: int, height: int, shade: int = 40) -> bytes:
    return render_png(width, height, (shade, shade + 1, shade + 2))


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    base = upstream.base
    return proxy_factory(
        {
            "model_list": [
                {
                    "model_name": "grok",
                    "litellm_params": {
                        "model": "xai/grok-imagine-image",
                        "api_key": XAI_KEY,
                        "api_base": f"{base}/xai/v1",
                    },
                },
                {
                    "model_name": "grok-env",  # key and base from XAI_API_KEY / XAI_API_BASE
                    "litellm_params": {"model": "xai/grok-imagine-image-2.0"},
                },
                {
                    "model_name": "grok-badkey",
                    "litellm_params": {
                        "model": "xai/grok-imagine-image",
                        "api_key": "xai-wrong-key-0000",
                        "api_base": f"{base}/xai/v1",
                    },
                },
                {
                    "model_name": "flux-schnell",
                    "litellm_params": {
                        "model": "together_ai/black-forest-labs/FLUX.1-schnell",
                        "api_key": TOGETHER_KEY,
                        "api_base": f"{base}/together/v1",
                    },
                },
                {
                    "model_name": "kontext",  # key from TOGETHERAI_API_KEY
                    "litellm_params": {
                        "model": "together_ai/black-forest-labs/FLUX.1-kontext-pro",
                        "api_base": f"{base}/together/v1",
                    },
                },
                {
                    "model_name": "flux2",
                    "litellm_params": {
                        "model": "together_ai/black-forest-labs/FLUX.2-pro",
                        "api_key": TOGETHER_KEY,
                        "api_base": f"{base}/together/v1",
                    },
                },
                {
                    "model_name": "flux-badkey",
                    "litellm_params": {
                        "model": "together_ai/black-forest-labs/FLUX.1-schnell",
                        "api_key": "tg-wrong-key-0000",
                        "api_base": f"{base}/together/v1",
                    },
                },
            ]
        },
        env={
            "XAI_API_KEY": XAI_ENV_KEY,
            "XAI_API_BASE": f"{base}/xai-env/v1",
            "TOGETHERAI_API_KEY": TOGETHER_ENV_KEY,
        },
    )


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


def error(exc: pytest.ExceptionInfo[openai.APIStatusError]) -> dict[str, Any]:
    body = exc.value.body
    assert isinstance(body, dict)
    return body


# --- fake xAI ---------------------------------------------------------------------------


def xai_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": "Client specified an invalid argument", "error": message}, status)


def xai_checked(req: Received, keys: tuple[str, ...] = (XAI_KEY, XAI_ENV_KEY)) -> Any:
    """What real xAI refuses; None when the request is well formed."""
    if req.headers.get("authorization") not in {f"Bearer {k}" for k in keys}:
        return xai_error(400, "Incorrect API key provided: xa***00. Obtain one at console.x.ai.")
    if not req.headers.get("content-type", "").startswith("application/json"):
        return xai_error(415, "Expected a JSON body")
    body = req.json()
    for name in ("size", "style"):
        if name in body:
            return xai_error(400, f"Argument not supported: {name}")
    if not isinstance(body.get("prompt"), str) or not body.get("model"):
        return xai_error(422, "prompt and model are required")
    return None


def xai_images(req: Received) -> Any:
    body = req.json()
    items = []
    for i in range(body.get("n", 1)):
        item: dict[str, Any] = {"mime_type": "image/jpeg", "revised_prompt": f"revised {i}"}
        if body.get("response_format") == "b64_json":
            item["b64_json"] = OUT_B64
        else:
            item["url"] = XAI_URL
        items.append(item)
    return {"data": items, "usage": {"cost_in_usd_ticks": 200_000_000 * len(items)}}


def fake_xai_generation(req: Received) -> Any:
    return xai_checked(req) or xai_images(req)


def fake_xai_edit(req: Received) -> Any:
    if (problem := xai_checked(req)) is not None:
        return problem
    body = req.json()
    if ("image" in body) == ("images" in body):
        return xai_error(400, "Provide exactly one of image or images")
    refs = body.get("images") or [body["image"]]
    if len(refs) > 3 or not all(r["url"].startswith("data:image/") for r in refs):
        return xai_error(400, "bad image references")
    response = xai_images(req)
    response["usage"]["cost_in_usd_ticks"] += 20_000_000 * len(refs)  # $0.002 per input
    return response


XAI_GEN = "/xai/v1/images/generations"
XAI_EDIT = "/xai/v1/images/edits"


def test_xai_size_becomes_aspect_ratio_and_resolution(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", XAI_GEN, fake_xai_generation)
    raw = client.images.with_raw_response.generate(
        model="grok", prompt="a lighthouse", size="1024x1024", n=2, response_format="b64_json"
    )
    result = raw.parse()
    assert result.data is not None
    assert [d.b64_json for d in result.data] == [OUT_B64, OUT_B64]
    assert [d.revised_prompt for d in result.data] == ["revised 0", "revised 1"]
    assert all("mime_type" not in (d.model_extra or {}) for d in result.data)
    assert raw.headers["x-response-cost"] == "0.04"  # xAI's own ticks: 2 x 200,000,000
    (req,) = fake.received()
    assert req.json() == {
        "model": "grok-imagine-image",
        "prompt": "a lighthouse",
        "n": 2,
        "response_format": "b64_json",
        "aspect_ratio": "1:1",
        "resolution": "1k",
    }
    assert req.headers["authorization"] == f"Bearer {XAI_KEY}"
    assert MASTER_KEY not in str(req.headers)


def test_xai_wide_sizes_and_urls(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route("POST", XAI_GEN, fake_xai_generation)
    for size, ratio, resolution in (("1280x720", "16:9", "1k"), ("1920x1080", "16:9", "2k")):
        result = client.images.generate(
            model="grok",
            prompt="x",
            size=size,
            response_format="url",
        )
        assert result.data is not None and result.data[0].url == XAI_URL
        sent = fake.received()[-1].json()
        assert (sent["aspect_ratio"], sent["resolution"]) == (ratio, resolution)
        assert "size" not in sent


def test_xai_size_it_cannot_make_is_400_without_a_call(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", XAI_GEN, fake_xai_generation)
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(model="grok", prompt="x", size="1792x1024")
    assert error(err)["param"] == "size"
    assert "16:9" in err.value.message and "1024x1024" in err.value.message
    with pytest.raises(openai.BadRequestError) as unsupported:
        client.images.generate(model="grok", prompt="x", background="transparent")
    assert "'background' is not supported by xAI" in unsupported.value.message
    assert fake.requests == []


def test_xai_edit_one_and_two_images_as_data_urls(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", XAI_EDIT, fake_xai_edit)
    first, second = png(8, 8, 10), png(8, 8, 90)
    raw = client.images.with_raw_response.edit(
        model="grok", image=("a.png", first), prompt="make it blue", response_format="b64_json"
    )
    edited = raw.parse().data
    assert edited is not None and edited[0].b64_json == OUT_B64
    assert raw.headers["x-response-cost"] == "0.022"  # one output + one input image
    sent = fake.received()[-1].json()
    assert sent["image"] == {"url": "data:image/png;base64," + base64.b64encode(first).decode()}
    assert "images" not in sent and "mask" not in sent
    result = client.images.edit(
        model="grok",
        image=[("a.png", first), ("b.png", second)],
        prompt="<IMAGE_0> in the style of <IMAGE_1>",
        size="1280x720",
    )
    assert result.data is not None and result.data[0].url == XAI_URL
    sent = fake.received()[-1].json()
    assert [i["url"] for i in sent["images"]] == [
        "data:image/png;base64," + base64.b64encode(data).decode() for data in (first, second)
    ]
    assert (sent["aspect_ratio"], sent["model"]) == ("16:9", "grok-imagine-image")


def test_xai_edit_limits_without_a_call(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route("POST", XAI_EDIT, fake_xai_edit)
    small = png(8, 8)
    with pytest.raises(openai.BadRequestError) as four:
        client.images.edit(model="grok", image=[("a.png", small)] * 4, prompt="x")
    assert "at most 3" in four.value.message and error(four)["code"] == "too_many_images"
    with pytest.raises(openai.BadRequestError) as mask:
        client.images.edit(model="grok", image=("a.png", small), mask=("m.png", small), prompt="x")
    assert "xAI edits by prompt" in mask.value.message
    assert fake.requests == []


def test_xai_key_and_base_from_the_environment(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route("POST", "/xai-env/v1/images/generations", fake_xai_generation)
    result = client.images.generate(
        model="grok-env",
        prompt="x",
        quality="low",
        response_format="b64_json",
    )
    assert result.data is not None and result.data[0].b64_json == OUT_B64
    (req,) = fake.received()
    assert req.headers["authorization"] == f"Bearer {XAI_ENV_KEY}"
    assert req.json()["quality"] == "low" and req.json()["model"] == "grok-imagine-image-2.0"


def test_xai_bad_key_is_a_provider_auth_error(
    proxy: Any, client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", XAI_GEN, fake_xai_generation)
    with pytest.raises(openai.APIStatusError) as err:
        client.images.generate(model="grok-badkey", prompt="x")
    assert err.value.status_code == 502
    assert error(err)["type"] == "provider_auth_error"
    assert "Incorrect API key" in err.value.message
    assert "xai-wrong-key-0000" not in err.value.message
    assert fake.received()[0].headers["authorization"] == "Bearer xai-wrong-key-0000"


def test_xai_spend_record_has_the_exact_cost(
    proxy: Any, client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", XAI_GEN, fake_xai_generation)
    raw = client.images.with_raw_response.generate(model="grok", prompt="x", n=3)
    assert raw.headers["x-response-cost"] == "0.06"
    request_id = raw.headers["x-request-id"]
    with httpx.Client(
        base_url=proxy.base_url, headers={"authorization": f"Bearer {MASTER_KEY}"}
    ) as admin:
        logs = admin.get("/spend/logs", params={"model": "grok", "page_size": 100}).json()
    [record] = [x for x in logs["data"] if x["request_id"] == request_id]
    assert record["cost"] == pytest.approx(0.06) and record["cost_basis"] == "provider"


# --- fake Together AI -------------------------------------------------------------------

TG_PATH = "/together/v1/images/generations"
TG_FIELDS = {
    "model", "prompt", "width", "height", "n", "steps", "seed", "negative_prompt",
    "guidance_scale", "output_format", "response_format", "disable_safety_checker",
    "image_loras", "image_url", "reference_images",
}  # fmt: skip


def tg_error(status: int, message: str, param: str | None = None) -> JSONResponse:
    error = {"message": message, "type": "invalid_request_error", "param": param}
    return JSONResponse({"error": error}, status)


def fake_together(req: Received) -> Any:
    """What Together refuses; otherwise its answer (base64 or a short link)."""
    if req.headers.get("authorization") not in (
        f"Bearer {TOGETHER_KEY}",
        f"Bearer {TOGETHER_ENV_KEY}",
    ):
        return tg_error(401, "Invalid API key provided")
    body = req.json()
    if unknown := set(body) - TG_FIELDS:
        return tg_error(400, f"unknown fields: {sorted(unknown)}")
    if body.get("response_format", "url") not in ("base64", "url"):
        return tg_error(400, "response_format must be base64 or url", "response_format")
    if not 1 <= body.get("n", 1) <= 4:
        return tg_error(400, "n must be between 1 and 4", "n")
    for ref in [body.get("image_url"), *body.get("reference_images", [])]:
        if ref is not None and not ref.startswith("data:image/"):
            return tg_error(400, "bad image reference", "image_url")
    data = []
    for i in range(body.get("n", 1)):
        if body.get("response_format") == "base64":
            data.append({"index": i, "b64_json": OUT_B64, "type": "b64_json"})
        else:
            data.append({"index": i, "url": TOGETHER_URL})
    return {"id": "oHpD53L-2kFHot", "model": body["model"], "object": "list", "data": data}


def test_together_size_and_base64(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route("POST", TG_PATH, fake_together)
    raw = client.images.with_raw_response.generate(
        model="flux-schnell",
        prompt="a lighthouse",
        size="1536x1024",
        n=2,
        response_format="b64_json",
        extra_body={"steps": 4, "seed": 42, "negative_prompt": "fog"},
    )
    result = raw.parse()
    assert result.data is not None and [d.b64_json for d in result.data] == [OUT_B64] * 2
    # 2 x 1536x1024 pixels x $2.575e-9
    assert float(raw.headers["x-response-cost"]) == pytest.approx(0.0081, rel=1e-3)
    (req,) = fake.received()
    assert req.json() == {
        "model": "black-forest-labs/FLUX.1-schnell",
        "prompt": "a lighthouse",
        "width": 1536,
        "height": 1024,
        "n": 2,
        "response_format": "base64",
        "steps": 4,
        "seed": 42,
        "negative_prompt": "fog",
    }
    assert req.headers["authorization"] == f"Bearer {TOGETHER_KEY}"


def test_together_url_passes_through(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route("POST", TG_PATH, fake_together)
    result = client.images.generate(model="flux-schnell", prompt="x", response_format="url")
    assert result.data is not None and result.data[0].url == TOGETHER_URL
    assert fake.received()[0].json()["response_format"] == "url"


def test_together_refusals_without_a_call(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route("POST", TG_PATH, fake_together)
    with pytest.raises(openai.BadRequestError) as n:
        client.images.generate(model="flux-schnell", prompt="x", n=5)
    assert error(n)["param"] == "n" and "between 1 and 4" in n.value.message
    with pytest.raises(openai.BadRequestError) as quality:
        client.images.generate(model="flux-schnell", prompt="x", quality="hd")
    assert "'quality' is not supported by Together AI" in quality.value.message
    with pytest.raises(openai.BadRequestError) as cannot:
        client.images.edit(model="flux-schnell", image=("a.png", png(8, 8)), prompt="x")
    assert "cannot edit images" in cannot.value.message
    assert fake.requests == []


def test_together_edits_as_data_urls(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route("POST", TG_PATH, fake_together)
    first, second = png(8, 8, 20), png(8, 8, 120)
    result = client.images.edit(
        model="kontext", image=("a.png", first), prompt="watercolor", size="1024x1024"
    )
    assert result.data is not None and result.data[0].url == TOGETHER_URL
    (req,) = fake.received()
    assert req.headers["authorization"] == f"Bearer {TOGETHER_ENV_KEY}"  # TOGETHERAI_API_KEY
    sent = req.json()
    assert sent["image_url"] == "data:image/png;base64," + base64.b64encode(first).decode()
    assert (sent["model"], sent["width"], sent["height"]) == (
        "black-forest-labs/FLUX.1-kontext-pro",
        1024,
        1024,
    )
    client.images.edit(model="flux2", image=[("a.png", first), ("b.png", second)], prompt="combine")
    sent = fake.received()[-1].json()
    assert sent["reference_images"] == [
        "data:image/png;base64," + base64.b64encode(data).decode() for data in (first, second)
    ]
    assert "image_url" not in sent
    with pytest.raises(openai.BadRequestError) as mask:
        client.images.edit(model="flux2", image=("a.png", first), mask=("m.png", first), prompt="x")
    assert "no masks" in mask.value.message
    assert len(fake.requests) == 2


def test_together_bad_key_is_a_provider_auth_error(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", TG_PATH, fake_together)
    with pytest.raises(openai.APIStatusError) as err:
        client.images.generate(model="flux-badkey", prompt="x")
    assert err.value.status_code == 502
    assert error(err)["type"] == "provider_auth_error"
    assert "tg-wrong-key-0000" not in err.value.message
