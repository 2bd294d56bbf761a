"""``/v1/images/edits`` and ``/v1/images/variations`` end to end: the official SDK against
fake upstreams that check exactly what reached them (part names, the mask once, parameters
kept), the limits, providers that cannot edit, and the mock."""

from __future__ import annotations

import base64
import io
import json
import time
from typing import Any

import httpx
import openai
import pytest
from starlette.responses import JSONResponse, Response

from proxy.images.formats import image_dimensions
from proxy.providers.mock.png import render_png
from tests.conftest import MASTER_KEY
from tests.fakes.multipart import Part, form_parts, text_fields
from tests.fakes.server import FakeUpstream, Received, sse

OPENAI_KEY = "sk-openai-upstream-edits-4f1a"
AZURE_KEY = "azure-upstream-edits-7c2d"
OUT_B64 = base64.b64encode(render_png(8, 8, (1, 2, 3))).decode()


def png(width: int, height: int, shade: int = 40) -> bytes:
    return render_png(width, height, (shade, shade + 1, shade + 2))


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    base = upstream.base
    return proxy_factory(
        {
            "model_list": [
                {
                    "model_name": "gpt-image",
                    "litellm_params": {
                        "model": "openai/gpt-image-2",
                        "api_key": OPENAI_KEY,
                        "api_base": f"{base}/v1",
                    },
                },
                {
                    "model_name": "azure-image",
                    "litellm_params": {
                        "model": "azure/edit-deploy",
                        "api_key": AZURE_KEY,
                        "api_base": f"{base}/azure",
                        "api_version": "2025-04-01-preview",
                    },
                    "model_info": {"base_model": "gpt-image-2", "mode": "image_edit"},
                },
                {
                    "model_name": "compat",
                    "litellm_params": {
                        "model": "openai/dall-e-2",
                        "api_key": "compat-key-0001",
                        "api_base": f"{base}/compat/v1",
                    },
                },
                {
                    "model_name": "nscale-flux",
                    "litellm_params": {
                        "model": "nscale/black-forest-labs/FLUX.1-schnell",
                        "api_key": "nscale-key-0002",
                        "api_base": f"{base}/nscale/v1",
                    },
                },
                {
                    "model_name": "dalle3",
                    "litellm_params": {
                        "model": "dall-e-3",
                        "api_key": OPENAI_KEY,
                        "api_base": f"{base}/v1",
                    },
                },
                {  # a group whose first deployment cannot edit: edits go to the other
                    "model_name": "mixed",
                    "litellm_params": {
                        "model": "nscale/flux",
                        "api_key": "nscale-key-0003",
                        "api_base": f"{base}/nscale/v1",
                    },
                },
                {
                    "model_name": "mixed",
                    "litellm_params": {
                        "model": "openai/gpt-image-2",
                        "api_key": OPENAI_KEY,
                        "api_base": f"{base}/mixed/v1",
                    },
                },
                {"model_name": "mock-image", "litellm_params": {"model": "mock/placeholder"}},
            ],
            "router_settings": {"fallbacks": [{"nscale-flux": ["gpt-image"]}]},
            "general_settings": {
                "max_image_upload_mb": 0.25,  # 262144 bytes
                "max_image_request_size_mb": 1,
            },
        }
    )


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


def images_body(n: int = 1, **extra: Any) -> dict[str, Any]:
    usage = {
        "input_tokens": 900,
        "output_tokens": 1000,
        "total_tokens": 1900,
        "input_tokens_details": {"text_tokens": 10, "image_tokens": 890},
    }
    return {"created": 1, "data": [{"b64_json": OUT_B64}] * n, "usage": usage, **extra}


def create_variation(client: openai.OpenAI, **kwargs: Any) -> Any:
    """The SDK marks ``images.create_variation`` deprecated (OpenAI retired dall-e-2); it
    still sends what compatible servers serve."""
    with pytest.warns(DeprecationWarning):
        return client.images.create_variation(**kwargs)


def error(exc: pytest.ExceptionInfo[openai.APIStatusError]) -> dict[str, Any]:
    """The OpenAI error object of a refused call (the SDK unwraps ``body["error"]``)."""
    body = exc.value.body
    assert isinstance(body, dict)
    return body


def images_of(result: Any) -> list[Any]:
    data = result.data
    assert data is not None
    return list(data)


def parts_of(r: Received) -> list[Part]:
    return form_parts(r.headers["content-type"], r.body)


def test_gpt_image_edit_sends_every_image_the_mask_once_and_every_parameter(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", "/v1/images/edits", lambda r: images_body(2, size="1024x1536"))
    first, second, third = png(64, 48, 10), png(32, 32, 20), png(16, 16, 30)
    mask = png(64, 48, 200)
    result = client.images.edit(
        model="gpt-image",
        image=[("a.png", first, "image/png"), ("b.png", second), io.BytesIO(third)],
        mask=("mask.png", mask, "image/png"),
        prompt="put the hat from the second image on the cat",
        n=2,
        size="1024x1536",
        quality="high",
        input_fidelity="high",
        output_format="webp",
        output_compression=80,
        background="opaque",
        user="end-user-7",
        extra_body={"moderation": "low"},
    )
    assert [d.b64_json for d in images_of(result)] == [OUT_B64, OUT_B64]
    assert result.size == "1024x1536"
    (sent,) = fake.received("/v1/images/edits")
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert MASTER_KEY not in sent.headers.get("authorization", "")
    parts = parts_of(sent)
    images = [p for p in parts if p.filename is not None and p.name != "mask"]
    assert [p.name for p in images] == ["image[]", "image[]", "image[]"]
    assert [p.data for p in images] == [first, second, third]
    assert [p.content_type for p in images] == ["image/png"] * 3
    masks = [p for p in parts if p.name == "mask"]
    assert len(masks) == 1 and masks[0].data == mask
    assert text_fields(parts) == {
        "model": "gpt-image-2",
        "prompt": "put the hat from the second image on the cat",
        "n": "2",
        "size": "1024x1536",
        "quality": "high",
        "input_fidelity": "high",
        "output_format": "webp",
        "output_compression": "80",
        "background": "opaque",
        "user": "end-user-7",
        "moderation": "low",
    }  # no response_format: GPT image models refuse it


@pytest.mark.parametrize(
    ("fields", "param", "words"),
    [
        ({"size": "1024x1000"}, "size", "multiples of 16 px"),
        ({"size": "3200x1024"}, "size", "between 1:3 and 3:1"),
        ({"size": "512x512"}, "size", "655,360 to 8,294,400 pixels"),
        ({"output_compression": 50}, "output_compression", "only to output_format"),
    ],
)
def test_gpt_image_2_edit_with_a_bad_size_or_option_is_a_400_before_any_call(
    client: openai.OpenAI, fake: FakeUpstream, fields: dict[str, Any], param: str, words: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.images.edit(
            model="gpt-image", image=("a.png", png(20, 20)), prompt="brighter", **fields
        )
    assert info.value.param == param and words in info.value.message
    assert fake.received() == []


def test_one_image_is_sent_as_image(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route("POST", "/v1/images/edits", lambda r: images_body())
    client.images.edit(model="gpt-image", image=("a.png", png(20, 20)), prompt="brighter")
    (sent,) = fake.received("/v1/images/edits")
    files = [p for p in parts_of(sent) if p.filename is not None]
    assert [p.name for p in files] == ["image"]


def test_streamed_edit_relays_partial_and_completed_events(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    common = {"size": "1024x1024", "quality": "low", "background": "opaque", "output_format": "png"}
    events: list[tuple[str | None, Any]] = [
        (
            "image_edit.partial_image",
            {
                "type": "image_edit.partial_image",
                "b64_json": OUT_B64,
                "partial_image_index": i,
                "created_at": 1,
                **common,
            },
        )
        for i in range(2)
    ]
    events.append(
        (
            "image_edit.completed",
            {
                "type": "image_edit.completed",
                "b64_json": OUT_B64,
                "created_at": 1,
                **common,
                "usage": images_body()["usage"],
            },
        )
    )
    fake.route(
        "POST",
        "/v1/images/edits",
        lambda r: Response(sse(events), media_type="text/event-stream"),
    )
    stream = client.images.edit(
        model="gpt-image",
        image=[("a.png", png(16, 16))],
        prompt="make it night",
        stream=True,
        partial_images=2,
    )
    received = [event.type for event in stream]
    assert received == [
        "image_edit.partial_image",
        "image_edit.partial_image",
        "image_edit.completed",
    ]
    (sent,) = fake.received("/v1/images/edits")
    fields = text_fields(parts_of(sent))
    assert fields["stream"] == "true" and fields["partial_images"] == "2"


def test_azure_edit_uses_the_deployment_path_and_api_key(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    path = "/azure/openai/deployments/edit-deploy/images/edits"
    fake.route("POST", path, lambda r: images_body())
    client.images.edit(
        model="azure-image",
        image=[("a.png", png(16, 16)), ("b.png", png(8, 8))],
        mask=("m.png", png(16, 16)),
        prompt="swap the sky",
        partial_images=1,
    )
    (sent,) = fake.received(path)
    assert sent.query == {"api-version": "2025-04-01-preview"}
    assert sent.headers["api-key"] == AZURE_KEY and "authorization" not in sent.headers
    parts = parts_of(sent)
    assert [p.name for p in parts if p.filename] == ["image[]", "image[]", "mask"]
    fields = text_fields(parts)
    assert "model" not in fields  # the deployment in the path selects it
    assert fields["partial_images"] == "1"  # a form field, not an extra_body wrapper


def test_dalle2_shape_on_a_compatible_server(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route(
        "POST", "/compat/v1/images/edits", lambda r: {"created": 1, "data": [{"b64_json": OUT_B64}]}
    )
    image, mask = png(32, 32), png(32, 32, 99)
    result = client.images.edit(
        model="compat",
        image=("a.png", image),
        mask=("m.png", mask),
        prompt="a red door",
        response_format="b64_json",
        size="256x256",
    )
    assert images_of(result)[0].b64_json == OUT_B64
    (sent,) = fake.received("/compat/v1/images/edits")
    parts = parts_of(sent)
    assert [(p.name, p.data) for p in parts if p.filename] == [("image", image), ("mask", mask)]
    fields = text_fields(parts)
    assert fields["model"] == "dall-e-2" and fields["response_format"] == "b64_json"
    assert fields["size"] == "256x256"


def test_dalle2_shape_refuses_several_images(client: openai.OpenAI, fake: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.images.edit(
            model="compat", image=[("a.png", png(8, 8)), ("b.png", png(8, 8))], prompt="x"
        )
    assert "one image at a time" in err.value.message and error(err)["param"] == "image"
    assert fake.requests == []


def test_a_provider_that_cannot_edit_is_refused_without_a_call(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.images.edit(model="dalle3", image=("a.png", png(8, 8)), prompt="x")
    assert "'dalle3' cannot edit images" in err.value.message
    assert "dall-e-3" in err.value.message
    assert fake.requests == []


def test_a_fallback_that_can_edit_serves_and_one_that_cannot_is_never_called(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", "/v1/images/edits", lambda r: images_body())
    fake.route("POST", "/mixed/v1/images/edits", lambda r: images_body())
    # nscale-flux cannot edit: its fallback gpt-image can
    with pytest.raises(openai.BadRequestError) as err:
        client.images.edit(model="nscale-flux", image=("a.png", png(8, 8)), prompt="x")
    assert "nscale" in err.value.message and "cannot edit images" in err.value.message
    # a group with one deployment of each: every edit goes to the one that edits
    for _ in range(4):
        raw = client.images.with_raw_response.edit(
            model="mixed", image=("a.png", png(8, 8)), prompt="x"
        )
        assert raw.headers["x-model-group"] == "mixed"
    assert len(fake.received("/mixed/v1/images/edits")) == 4
    assert not [r for r in fake.requests if r.path.startswith("/nscale")]


def test_limits_are_refused_naming_them(client: openai.OpenAI, fake: FakeUpstream) -> None:
    small = png(4, 4)
    with pytest.raises(openai.BadRequestError) as too_many:
        client.images.edit(model="gpt-image", image=[("a.png", small)] * 17, prompt="x")
    assert "at most 16 images" in too_many.value.message
    assert error(too_many)["code"] == "too_many_images"
    big = small + b"\0" * 300_000  # past the 0.25 MB per-image limit of this proxy
    with pytest.raises(openai.APIStatusError) as one_too_big:
        client.images.edit(model="gpt-image", image=[("a.png", small), ("b.png", big)], prompt="x")
    assert one_too_big.value.status_code == 413
    assert "0.25 MB per-image limit" in one_too_big.value.message
    assert "max_image_upload_mb" in one_too_big.value.message
    parts = [("a.png", small + b"\0" * 200_000)] * 6  # each allowed, 1.2 MB together
    with pytest.raises(openai.APIStatusError) as total:
        client.images.edit(model="gpt-image", image=parts, prompt="x")
    assert total.value.status_code == 413 and "1 MB limit" in total.value.message
    assert fake.requests == []


def test_bad_input_is_a_400_naming_it(
    proxy: Any, client: openai.OpenAI, fake: FakeUpstream
) -> None:
    with pytest.raises(openai.BadRequestError) as mismatch:
        client.images.edit(
            model="gpt-image", image=("a.png", png(16, 16)), mask=("m.png", png(8, 8)), prompt="x"
        )
    assert error(mismatch)["param"] == "mask" and "16x16" in mismatch.value.message
    with pytest.raises(openai.BadRequestError) as not_image:
        client.images.edit(model="gpt-image", image=("a.txt", b"hello"), prompt="x")
    assert "PNG, JPEG or WEBP" in not_image.value.message
    with pytest.raises(openai.BadRequestError) as no_prompt:
        client.images.edit(model="gpt-image", image=("a.png", png(8, 8)), prompt=" ")
    assert error(no_prompt)["param"] == "prompt"
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    r = httpx.post(
        f"{proxy.base_url}/v1/images/edits",
        headers=headers,
        files={"image": ("a.png", png(8, 8)), "n": (None, "two")},
        data={"model": "gpt-image", "prompt": "x"},
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "n"
    r = httpx.post(
        f"{proxy.base_url}/v1/images/edits",
        headers={**headers, "content-type": "text/plain"},
        content=b"x",
    )
    assert r.status_code == 400 and "multipart/form-data" in r.json()["error"]["message"]
    r = httpx.post(
        f"{proxy.base_url}/v1/images/edits",
        headers={**headers, "content-type": "multipart/form-data; boundary=zz"},
        content=b"--zz\r\nbroken",
    )
    assert r.status_code == 400
    assert fake.requests == []


def test_json_edit_body_with_data_urls(proxy: Any, fake: FakeUpstream) -> None:
    fake.route("POST", "/v1/images/edits", lambda r: images_body())
    image, mask = png(24, 24), png(24, 24, 77)

    def url(data: bytes) -> str:
        return "data:image/png;base64," + base64.b64encode(data).decode()

    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    r = httpx.post(
        f"{proxy.base_url}/v1/images/edits",
        headers=headers,
        json={
            "model": "gpt-image",
            "prompt": "add a moon",
            "images": [{"image_url": url(image)}],
            "mask": {"image_url": url(mask)},
            "quality": "low",
        },
    )
    assert r.status_code == 200, r.text
    (sent,) = fake.received("/v1/images/edits")
    parts = parts_of(sent)
    assert [(p.name, p.data) for p in parts if p.filename] == [("image", image), ("mask", mask)]
    assert text_fields(parts)["quality"] == "low"
    r = httpx.post(
        f"{proxy.base_url}/v1/images/edits",
        headers=headers,
        json={"model": "gpt-image", "prompt": "x", "images": [{"file_id": "file-abc"}]},
    )
    assert r.status_code == 400 and "Files API" in r.json()["error"]["message"]
    r = httpx.post(
        f"{proxy.base_url}/v1/images/edits",
        headers=headers,
        json={"model": "gpt-image", "prompt": "x", "images": [{"image_url": "http://10.0.0.1/a"}]},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "image_url_refused"
    assert len(fake.requests) == 1


def test_mock_edits_keep_the_image_size_or_take_the_requested_one(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    result = client.images.edit(model="mock-image", image=("a.png", png(40, 30)), prompt="x")
    data = base64.b64decode(images_of(result)[0].b64_json or "")
    assert image_dimensions(data) == (40, 30)
    result = client.images.edit(
        model="mock-image", image=("a.png", png(40, 30)), prompt="x", size="64x32", n=2
    )
    assert [image_dimensions(base64.b64decode(d.b64_json or "")) for d in images_of(result)] == [
        (64, 32),
        (64, 32),
    ]
    linked = client.images.edit(
        model="mock-image", image=("a.png", png(8, 8)), prompt="x", response_format="url"
    )
    assert images_of(linked)[0].url and images_of(linked)[0].b64_json is None
    image = httpx.get(images_of(linked)[0].url)
    assert image.status_code == 200 and image_dimensions(image.content) == (8, 8)
    varied = create_variation(client, model="mock-image", image=("a.png", png(12, 10)), n=3)
    assert [image_dimensions(base64.b64decode(d.b64_json or "")) for d in images_of(varied)] == [
        (12, 10)
    ] * 3
    assert fake.requests == []


def test_variations_on_a_compatible_server(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route(
        "POST",
        "/compat/v1/images/variations",
        lambda r: {"created": 1, "data": [{"b64_json": OUT_B64}, {"b64_json": OUT_B64}]},
    )
    image = png(32, 32)
    result = create_variation(
        client,
        model="compat",
        image=("a.png", image),
        n=2,
        size="256x256",
        response_format="b64_json",
        user="u-1",
    )
    assert len(images_of(result)) == 2
    (sent,) = fake.received("/compat/v1/images/variations")
    parts = parts_of(sent)
    assert [(p.name, p.data == image) for p in parts if p.filename] == [("image", True)]
    assert text_fields(parts) == {
        "model": "dall-e-2",
        "n": "2",
        "size": "256x256",
        "response_format": "b64_json",
        "user": "u-1",
    }


def test_variations_elsewhere_name_the_model_and_what_to_do(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    with pytest.raises(openai.BadRequestError) as gpt:
        create_variation(client, model="gpt-image", image=("a.png", png(8, 8)))
    assert "'gpt-image' cannot make image variations" in gpt.value.message
    assert "/v1/images/edits" in gpt.value.message
    with pytest.raises(openai.BadRequestError) as nscale:
        create_variation(client, model="nscale-flux", image=("a.png", png(8, 8)))
    assert "nscale" in nscale.value.message
    assert fake.requests == []


def test_upstream_error_is_mapped_and_logged_without_bytes(
    proxy: Any, client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route(
        "POST",
        "/v1/images/edits",
        lambda r: JSONResponse(
            {
                "error": {
                    "message": "Invalid image file",
                    "type": "invalid_request_error",
                    "param": "image",
                    "code": "invalid_image_file",
                }
            },
            400,
        ),
    )
    marker = png(16, 16, 123)
    with pytest.raises(openai.BadRequestError) as err:
        client.images.edit(model="gpt-image", image=("a.png", marker), prompt="x")
    assert error(err)["code"] == "invalid_image_file"
    request_id = err.value.response.headers["x-request-id"]
    record = log_record(proxy, request_id)
    assert record["endpoint"] == "image_edits" and record["status"] == 400
    assert record["input_images"] == 1 and record["input_bytes"] == len(marker)
    encoded = base64.b64encode(marker).decode()
    assert encoded[:40] not in proxy.logs()


def log_record(proxy: Any, request_id: str) -> dict[str, Any]:
    """The request's JSON log line; the log writer may still be writing it (bounded wait)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for line in proxy.logs().splitlines():
            if line.startswith("{") and request_id in line and '"event":"request"' in line:
                record: dict[str, Any] = json.loads(line)
                return record
        time.sleep(0.05)
    raise AssertionError(f"no log line for request {request_id}")
