"""Gemini image edits end to end: ``client.images.edit`` of the official OpenAI SDK through
the proxy to the fake Gemini API and Vertex AI (bodies validated with google-genai's own
types, Vertex tokens minted by google-auth and checked), verifying exactly what reached them."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import openai
import pytest

from proxy.providers.mock.png import render_png
from tests.conftest import MASTER_KEY
from tests.e2e.test_delivery_providers import fetch_link
from tests.fakes.google import GEMINI_KEY, GoogleFake, ServiceAccount, edit_body, image_b64
from tests.fakes.server import FakeUpstream, Received

GEMINI_PATH = "/gemini/v1beta/models/gemini-3-pro-image:generateContent"
VERTEX_PATH = (
    "/vertex/v1/projects/test-project/locations/global/publishers/google/models/"
    "gemini-3.1-flash-image:generateContent"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(64))
IMAGE_TOKENS = 258  # what the fake counts per input image


def png(width: int, height: int, shade: int) -> bytes:
    return render_png(width, height, (shade, shade, shade))


@pytest.fixture(scope="module")
def account(google_state: GoogleFake) -> ServiceAccount:
    return google_state.service_account("image-edits")


@pytest.fixture(scope="module")
def proxy(
    proxy_factory: Any,
    upstream: FakeUpstream,
    account: ServiceAccount,
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    key = tmp_path_factory.mktemp("sa") / "edits.json"
    key.write_text(json.dumps(account.info))
    gemini = {"api_key": GEMINI_KEY, "api_base": f"{upstream.base}/gemini/v1beta"}
    return proxy_factory(
        {
            "model_list": [
                {
                    "model_name": "gemini-edit",
                    "litellm_params": {"model": "gemini/gemini-3-pro-image", **gemini},
                    "model_info": {"mode": "image_edit"},
                },
                {
                    "model_name": "vertex-edit",
                    "litellm_params": {
                        "model": "vertex_ai/gemini-3.1-flash-image",
                        "vertex_project": "test-project",
                        "vertex_location": "global",
                        "vertex_credentials": str(key),
                        "api_base": f"{upstream.base}/vertex/v1",
                    },
                },
                {
                    "model_name": "gemini-imagen",
                    "litellm_params": {"model": "gemini/imagen-4.0-generate-001", **gemini},
                },
            ]
        }
    )


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


def bodies(requests: list[Received]) -> list[dict[str, Any]]:
    return [r.json() for r in requests]


def test_gemini_api_edit_of_three_images_fans_n_out_with_the_size(
    client: openai.OpenAI, google: GoogleFake, fake: FakeUpstream
) -> None:
    first, third = png(24, 16, 10), png(8, 8, 200)
    raw = client.images.with_raw_response.edit(
        model="gemini-edit",
        image=[("a.png", first), ("b.jpg", JPEG, "image/jpeg"), ("c.png", third)],
        prompt="put the hat from the second image on the cat in the first",
        size="1536x1024",
        n=2,
    )
    result = raw.parse()
    assert result.data is not None and len(result.data) == 2
    outputs = [base64.b64decode(d.b64_json or "") for d in result.data]
    assert outputs[0] != outputs[1] and all(o.startswith(b"\x89PNG") for o in outputs)
    assert base64.b64encode(outputs[0]).decode() != image_b64("thought")
    sent = fake.received(GEMINI_PATH)
    assert len(sent) == 2 and fake.received() == sent  # nothing else was called
    prompt = "put the hat from the second image on the cat in the first"
    images = [(first, "image/png"), (JPEG, "image/jpeg"), (third, "image/png")]
    expected = edit_body(images, prompt, {"aspectRatio": "3:2", "imageSize": "2K"})  # 1K: 1264x848
    assert bodies(sent) == [expected, expected]
    assert all(r.headers["x-goog-api-key"] == GEMINI_KEY for r in sent)
    assert all("authorization" not in r.headers for r in sent)
    usage = result.usage
    assert usage is not None
    assert usage.input_tokens_details.image_tokens == 2 * 3 * IMAGE_TOKENS
    assert usage.input_tokens_details.text_tokens == 2 * 9
    assert usage.output_tokens == 2 * 1295
    # input image tokens at gemini-3-pro-image's image-input rate, output as generations
    per_call = 9 * 2e-6 + 3 * IMAGE_TOKENS * 2e-6 + 5 * 1.2e-5 + 1290 * 1.2e-4
    assert float(raw.headers["x-response-cost"]) == pytest.approx(2 * per_call)


def test_vertex_edit_with_a_bearer_token_the_size_tier_and_url_delivery(
    proxy: Any, client: openai.OpenAI, google: GoogleFake, fake: FakeUpstream
) -> None:
    image = png(32, 18, 90)
    result = client.images.edit(
        model="vertex-edit",
        image=[("a.png", image)],
        prompt="make it night",
        size="2880x5120",
        n=2,
        response_format="url",
    )
    assert result.data is not None and len(result.data) == 2
    delivered = [fetch_link(d.url, proxy) for d in result.data]
    sent = fake.received(VERTEX_PATH)
    assert len(sent) == 2
    for r in sent:
        token = r.headers["authorization"].removeprefix("Bearer ")
        assert google.issued[token] == "image-edits@test-project.iam.gserviceaccount.com"
        assert r.json() == edit_body(
            [(image, "image/png")], "make it night", {"aspectRatio": "9:16", "imageSize": "4K"}
        )
        assert "x-goog-api-key" not in r.headers
    assert len(set(delivered)) == 2 and all(d.startswith(b"\x89PNG") for d in delivered)


def test_a_mask_stream_or_imagen_is_a_400_without_any_upstream_call(
    client: openai.OpenAI, google: GoogleFake, fake: FakeUpstream
) -> None:
    image = png(16, 16, 50)
    with pytest.raises(openai.BadRequestError) as masked:
        client.images.edit(
            model="gemini-edit", image=("a.png", image), mask=("m.png", image), prompt="p"
        )
    assert masked.value.param == "mask"
    assert "Gemini edits by prompt only" in masked.value.message
    with pytest.raises(openai.BadRequestError) as fidelity:
        client.images.edit(
            model="vertex-edit", image=("a.png", image), prompt="p", input_fidelity="high"
        )
    assert fidelity.value.param == "input_fidelity"
    with pytest.raises(openai.BadRequestError) as streamed:
        client.images.edit(model="gemini-edit", image=("a.png", image), prompt="p", stream=True)
    assert streamed.value.param == "stream"
    with pytest.raises(openai.BadRequestError) as imagen:
        client.images.edit(model="gemini-imagen", image=("a.png", image), prompt="p")
    assert "cannot edit images" in imagen.value.message and "Imagen" in imagen.value.message
    assert fake.received() == []


def test_json_edit_body_blocks_and_errors_and_no_image_bytes_in_logs(
    proxy: Any, client: openai.OpenAI, google: GoogleFake, fake: FakeUpstream
) -> None:
    image = png(20, 20, 123)
    encoded = base64.b64encode(image).decode()
    r = httpx.post(
        f"{proxy.base_url}/v1/images/edits",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={
            "model": "gemini-edit",
            "prompt": "sepia",
            "size": "1024x1024",
            "images": [{"image_url": f"data:image/png;base64,{encoded}"}],
        },
    )
    assert r.status_code == 200 and len(r.json()["data"]) == 1
    (sent,) = fake.received(GEMINI_PATH)
    assert sent.json() == edit_body([(image, "image/png")], "sepia", {"aspectRatio": "1:1"})
    with pytest.raises(openai.BadRequestError) as blocked:
        client.images.edit(model="gemini-edit", image=("a.png", image), prompt="[blocked]")
    assert error_code(blocked) == "content_policy_violation"
    with pytest.raises(openai.RateLimitError):
        client.images.edit(
            model="vertex-edit", image=("a.png", image), prompt="[error:RESOURCE_EXHAUSTED:429]"
        )
    logs = proxy.logs()
    assert encoded[20:60] not in logs and GEMINI_KEY not in logs


def error_code(exc: pytest.ExceptionInfo[openai.BadRequestError]) -> Any:
    body = exc.value.body
    assert isinstance(body, dict)
    return body.get("code")
