"""Gemini image edits without a network: the multipart body the official OpenAI SDK records
-> the proxy's reading of it -> the ``generateContent`` bodies the Google adapter builds
(checked with google-genai's own types) -> the answers parsed back, priced as generations."""

from __future__ import annotations

import base64
import threading
from typing import Any

import orjson
import pytest

from proxy.api.uploads import UploadFiles, read_multipart
from proxy.attempt.edits import BUILD_IN_THREAD, EDITS, built_edit
from proxy.config import ConfigError, Deployment
from proxy.errors import ContentPolicyError, InvalidRequestError
from proxy.pricing.cost import token_cost
from proxy.pricing.table import PriceTable
from proxy.pricing.usage import normalize
from proxy.providers.google.images import GoogleImages
from proxy.schemas.edits import EditRequest, InputImage
from proxy.upstream_request import UpstreamRequest, UpstreamResponse
from tests.fakes.google import (
    gemini_finish_blocked,
    gemini_image_response,
    image_b64,
    inline_part,
    validate_generate_content,
)
from tests.unit.test_edit_translation import LIMITS, as_starlette, png, recorded_edit
from tests.unit.test_edit_translation import deployment as configured
from tests.unit.test_google_adapters import deployment

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(200))
WEBP = b"RIFF\x20\x00\x00\x00WEBPVP8 " + bytes(range(100))
GEMINI_3 = "gemini/gemini-3-pro-image"
ADAPTER = GoogleImages("gemini")
VERTEX = GoogleImages("vertex_ai")


def gemini(model: str = GEMINI_3) -> Deployment:
    return deployment(model, api_key="gemini-key")


def vertex(model: str = "vertex_ai/gemini-3.1-flash-image") -> Deployment:
    return deployment(model, vertex_project="p1", vertex_location="global")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def edit(*images: bytes, mask: bytes | None = None, **body: Any) -> EditRequest:
    inputs = tuple(
        InputImage(data, "image/png" if data.startswith(b"\x89PNG") else "image/jpeg", "i")
        for data in images
    )
    overlay = InputImage(mask, "image/png", "mask") if mask is not None else None
    return EditRequest.from_parts({"model": "m", "prompt": "make it blue", **body}, inputs, overlay)


def sent(req: UpstreamRequest) -> dict[str, Any]:
    assert req.body is not None
    body: dict[str, Any] = orjson.loads(req.body)
    return body


def built(request: EditRequest, dep: Deployment) -> list[UpstreamRequest]:
    adapter = VERTEX if dep.provider == "vertex_ai" else ADAPTER
    reqs = adapter.build_edit(request, dep)
    for req in reqs:  # what Google itself would accept, by google-genai's own types
        validate_generate_content(sent(req), dep.model, vertex=dep.provider == "vertex_ai")
    return reqs


async def test_the_sdk_payload_of_three_images_becomes_one_gemini_content_per_image() -> None:
    first = png(16, 12, 1)
    recorded = recorded_edit(
        model="nano",
        image=[("a.png", first), ("b.jpg", JPEG, "image/jpeg"), ("c.webp", WEBP)],
        prompt="put the hat from the second image on the cat in the first",
        size="1536x1024",
        n=3,
    )
    upload = await read_multipart(as_starlette(recorded), LIMITS, UploadFiles())
    request = EditRequest.from_parts(upload.fields, tuple(upload.images))
    reqs = built(request, gemini())
    assert len(reqs) == 3  # one candidate per call: n fans out
    for req in reqs:
        assert req.url == (
            "https://generativelanguage.googleapis.com/v1beta/models/"
            "gemini-3-pro-image:generateContent"
        )
        assert req.headers == {"content-type": "application/json"}
        assert not req.stream
        assert sent(req) == {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        inline_part(first, "image/png"),
                        inline_part(JPEG, "image/jpeg"),
                        inline_part(WEBP, "image/webp"),
                        {"text": "put the hat from the second image on the cat in the first"},
                    ],
                }
            ],
            "generationConfig": {
                "imageConfig": {"aspectRatio": "3:2", "imageSize": "2K"},  # 1K is 1264x848
                "responseModalities": ["TEXT", "IMAGE"],
            },
        }
    # the images are serialized once and shared; each call signs headers of its own
    assert reqs[0].body is reqs[1].body is reqs[2].body
    assert len({id(r.headers) for r in reqs}) == 3


@pytest.mark.parametrize(
    ("size", "image_config"),
    [
        (None, None),
        ("auto", None),
        ("1024x1024", {"aspectRatio": "1:1"}),
        ("848x1264", {"aspectRatio": "2:3"}),  # the 1K image's own size
        ("1024x1536", {"aspectRatio": "2:3", "imageSize": "2K"}),
        ("1792x1024", {"aspectRatio": "16:9", "imageSize": "2K"}),
        ("2048x2048", {"aspectRatio": "1:1", "imageSize": "2K"}),
        ("5120x2880", {"aspectRatio": "16:9", "imageSize": "4K"}),
        ("3072x384", {"aspectRatio": "8:1"}),
        ("4096x512", {"aspectRatio": "8:1", "imageSize": "2K"}),
    ],
)
def test_one_image_and_the_size_through_image_config(
    size: str | None, image_config: dict[str, str] | None
) -> None:
    image = png(10, 10)
    request = edit(image) if size is None else edit(image, size=size)
    (req,) = built(request, gemini())
    body = sent(req)
    assert body["contents"] == [
        {"role": "user", "parts": [inline_part(image, "image/png"), {"text": "make it blue"}]}
    ]
    assert body["generationConfig"].get("imageConfig") == image_config


def test_vertex_edit_url_and_its_own_image_config_fields() -> None:
    image = png(12, 12)
    request = edit(
        image,
        image,
        size="1024x1792",
        output_format="jpeg",
        output_compression=70,
        personGeneration="ALLOW_ADULT",
        seed=7,
    )
    (req,) = built(request, vertex())
    assert req.url == (
        "https://aiplatform.googleapis.com/v1/projects/p1/locations/global/publishers/google/"
        "models/gemini-3.1-flash-image:generateContent"
    )
    body = sent(req)
    assert [p.get("inlineData", {}).get("data") for p in body["contents"][0]["parts"]] == [
        b64(image),
        b64(image),
        None,
    ]
    assert body["generationConfig"] == {
        "seed": 7,
        "imageConfig": {
            "aspectRatio": "9:16",
            "imageSize": "2K",  # 1024x1792 is longer than 1K's 768x1376
            "imageOutputOptions": {"mimeType": "image/jpeg", "compressionQuality": 70},
            "personGeneration": "ALLOW_ADULT",
        },
        "responseModalities": ["TEXT", "IMAGE"],
    }
    # the same fields on the Gemini API, which has none of them: a 400 naming one
    with pytest.raises(InvalidRequestError) as err:
        ADAPTER.build_edit(edit(image, output_format="jpeg"), gemini())
    assert err.value.param == "output_format" and "only on Vertex AI" in err.value.message


@pytest.mark.parametrize(
    ("given", "param", "words"),
    [
        ({"mask": png(10, 10, 200)}, "mask", "Gemini edits by prompt only"),
        ({"input_fidelity": "high"}, "input_fidelity", "no such setting"),
        ({"quality": "hd"}, "quality", "imageSize"),
        ({"background": "transparent"}, "background", "cannot make them"),
        ({"candidateCount": 2}, "candidateCount", "use 'n'"),
        ({"size": "2048x2048"}, "size", "larger than"),  # on gemini-2.5-flash-image
    ],
)
def test_what_gemini_cannot_do_is_a_400_naming_it(
    given: dict[str, Any], param: str, words: str
) -> None:
    mask = given.pop("mask", None)
    request = edit(png(10, 10), mask=mask, **given)
    model = "gemini/gemini-2.5-flash-image" if param == "size" else GEMINI_3
    with pytest.raises(InvalidRequestError) as err:
        ADAPTER.build_edit(request, gemini(model))
    assert err.value.status == 400
    assert err.value.param == param and words in err.value.message


def test_markup_is_refused_and_low_input_fidelity_is_not_forwarded() -> None:
    image = png(10, 10)
    marked = EditRequest.from_parts(
        {"model": "m", "prompt": "p"},
        (InputImage(image, "image/png", "i"),),
        markup=InputImage(png(10, 10, 90), "image/png", "markup"),
    )
    with pytest.raises(InvalidRequestError) as err:
        ADAPTER.build_edit(marked, gemini())
    assert err.value.param == "markup" and "prompt only" in err.value.message
    (req,) = built(edit(image, input_fidelity="low", user="u-1"), gemini())
    assert set(sent(req)) == {"contents", "generationConfig"}


def test_only_gemini_image_models_edit() -> None:
    assert EDITS.refusal(gemini()) is None
    assert EDITS.refusal(vertex()) is None
    assert EDITS.refusal(gemini("gemini/gemini-2.5-flash-image")) is None
    imagen = EDITS.refusal(gemini("gemini/imagen-4.0-generate-001"))
    assert imagen is not None and "Imagen" in imagen and "shut" in imagen
    text = EDITS.refusal(gemini("gemini/gemini-2.5-flash"))
    assert text is not None and "makes no images" in text
    assert EDITS.refusal(vertex("vertex_ai/imagen-3.0-capability-001")) is not None
    with pytest.raises(ConfigError) as err:
        configured("gemini/imagen-4.0-generate-001", model_info={"mode": "image_edit"})
    assert "mode: image_edit but imagen-4.0-generate-001 is an Imagen model" in str(err.value)


def test_the_answer_parses_as_generations_with_input_image_tokens_priced() -> None:
    final = image_b64("edited")
    answer = gemini_image_response(final, thought_image=image_b64("thought"), prompt_images=516)
    response = UpstreamResponse(200, {}, orjson.dumps(answer))
    result = ADAPTER.parse_edit(response, edit(png(4, 4), png(4, 4)), gemini())
    assert result.data == [{"b64_json": final}]
    assert result.extra == {"output_format": "png"}
    assert result.usage is not None
    assert result.usage.raw["input_tokens_details"] == {"text_tokens": 9, "image_tokens": 516}
    tokens = normalize(result.usage.raw)
    assert tokens is not None and tokens.image_in == 516 and tokens.image_out == 1290
    entry = PriceTable.load().for_deployment(gemini())
    cost = token_cost(entry, tokens)
    assert cost == pytest.approx(9 * 2e-6 + 516 * 2e-6 + 5 * 1.2e-5 + 1290 * 1.2e-4)
    blocked = UpstreamResponse(200, {}, orjson.dumps(gemini_finish_blocked()))
    with pytest.raises(ContentPolicyError):
        ADAPTER.parse_edit(blocked, edit(png(4, 4)), gemini())


class ThreadRecording(GoogleImages):
    def __init__(self) -> None:
        super().__init__("gemini")
        self.threads: list[int] = []

    def build_edit(self, request: EditRequest, deployment: Deployment) -> list[UpstreamRequest]:
        self.threads.append(threading.get_ident())
        return super().build_edit(request, deployment)


async def test_big_uploads_are_encoded_off_the_event_loop() -> None:
    adapter = ThreadRecording()
    small = edit(png(8, 8))
    big = edit(png(8, 8) + bytes(BUILD_IN_THREAD))  # a PNG header: sniffed as one
    assert len(await built_edit(adapter, small, gemini())) == 1
    (big_req,) = await built_edit(adapter, big, gemini())
    loop_thread = threading.get_ident()
    assert adapter.threads[0] == loop_thread and adapter.threads[1] != loop_thread
    assert big_req.body is not None and len(big_req.body) > BUILD_IN_THREAD * 4 // 3
