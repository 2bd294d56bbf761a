"""Black Forest Labs adapter on recorded payloads: submit bodies per model family, sizes, the
poll decisions, masks pixel by pixel, errors; and the attempt layer's poll loop."""

from __future__ import annotations

import base64
import io
from typing import Any

import orjson
import pytest
from PIL import Image

from proxy.api.uploads import input_image
from proxy.attempt.caller import Caller, TaskTimeoutError
from proxy.config import ConfigError, Deployment
from proxy.configure import parse_config
from proxy.context import RequestContext
from proxy.credentials.base import HeaderKey
from proxy.errors import (
    ContentPolicyError,
    InvalidRequestError,
    ProviderAuthError,
    ProxyError,
    UpstreamBadRequestError,
    UpstreamError,
    UpstreamQuotaError,
    UpstreamRateLimitError,
)
from proxy.pricing.cost import PriceInputs, Pricer
from proxy.pricing.table import PriceTable
from proxy.providers.base import ImageEditor, PollAgain, PollingImages
from proxy.providers.bfl.images import BlackForestLabsImages, polling_allowed, submit_url
from proxy.providers.registry import PROVIDERS, edit_refusal
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest, InputImage
from proxy.upstream_request import UpstreamRequest, UpstreamResponse

ADAPTER = BlackForestLabsImages()
KEY = "bfl-key-5e1c"
W, H = 48, 32
HOLE = (8, 4, 30, 20)  # left, top, right, bottom (exclusive): transparent in the client's mask
SUBMIT = {
    "id": "d5ba37dc-7a3b-4e2b-9bd1-7f1b8c2a1e01",
    "polling_url": "https://api.eu2.bfl.ai/v1/get_result?id=d5ba37dc-7a3b-4e2b-9bd1-7f1b8c2a1e01",
    "cost": 3.0,
    "input_mp": 0.0,
    "output_mp": 1.05,
}
SAMPLE = "https://delivery-eu1.bfl.ai/results/ab/cd/sample.png?se=2026-12-03T21%3A00%3A00Z&sig=x"
READY = {
    "id": SUBMIT["id"],
    "status": "Ready",
    "result": {"sample": SAMPLE, "prompt": "a fox", "seed": 42},
    "progress": None,
}


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


IMAGE = input_image(png(Image.new("RGB", (W, H), (30, 90, 150))), "image", 0)
IMAGE_B64 = base64.b64encode(IMAGE.data).decode()


def openai_mask() -> InputImage:
    mask = Image.new("RGBA", (W, H), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), HOLE)
    return input_image(png(mask), "mask", 0)


def deployment(
    model: str = "flux-2-pro", env: dict[str, str] | None = None, **params: Any
) -> Deployment:
    litellm = {"model": f"black_forest_labs/{model}", "api_key": KEY, **params}
    entry = {"model_name": "m", "litellm_params": litellm}
    return parse_config({"model_list": [entry]}, env=env or {}).deployments[0]


def generate(model: str = "flux-2-pro", **body: Any) -> list[dict[str, Any]]:
    request = ImageRequest.from_body({"model": "m", "prompt": "a fox", **body})
    return [orjson.loads(r.body or b"") for r in ADAPTER.build(request, deployment(model))]


def edit_request(
    images: tuple[InputImage, ...] = (IMAGE,), mask: InputImage | None = None, **body: Any
) -> EditRequest:
    return EditRequest.from_parts({"model": "m", "prompt": "a red boat", **body}, images, mask)


def edit(model: str, request: EditRequest) -> list[dict[str, Any]]:
    return [orjson.loads(r.body or b"") for r in ADAPTER.build_edit(request, deployment(model))]


def answer(body: Any, status: int = 200) -> UpstreamResponse:
    return UpstreamResponse(status, {}, orjson.dumps(body))


# --- the registry and the contract ------------------------------------------------------


def test_registered_with_the_polling_and_edit_capabilities() -> None:
    spec = PROVIDERS["black_forest_labs"]
    assert isinstance(spec.images, BlackForestLabsImages)
    assert isinstance(spec.images, PollingImages) and isinstance(spec.images, ImageEditor)
    assert spec.images.image_hosts == ("bfl.ai",)
    assert not isinstance(PROVIDERS["recraft"].images, PollingImages)


async def test_credentials_are_the_x_key_header_from_config_or_environment() -> None:
    spec = PROVIDERS["black_forest_labs"]
    for dep in (
        deployment(),
        deployment(api_key=None, env={"BFL_API_KEY": KEY}),
        deployment(api_key=None, env={"BLACK_FOREST_LABS_API_KEY": KEY}),
    ):
        request = UpstreamRequest("GET", "https://api.bfl.ai/v1/get_result")
        credentials = spec.credentials(dep)
        assert isinstance(credentials, HeaderKey)
        await credentials.authorize(request)
        assert request.headers == {"x-key": KEY}
        assert "authorization" not in request.headers


def test_a_missing_key_or_a_bad_poll_interval_is_refused_at_load() -> None:
    with pytest.raises(ConfigError, match="BFL_API_KEY"):
        deployment(api_key=None)
    with pytest.raises(ConfigError, match="poll_interval"):
        deployment(poll_interval="soon")


@pytest.mark.parametrize(
    ("params", "env", "url"),
    [
        ({}, {}, "https://api.bfl.ai/v1/flux-2-pro"),
        ({}, {"BFL_API_BASE": "https://api.eu.bfl.ai"}, "https://api.eu.bfl.ai/v1/flux-2-pro"),
        ({"api_base": "https://api.us.bfl.ai/v1/"}, {}, "https://api.us.bfl.ai/v1/flux-2-pro"),
        ({"api_base": "http://127.0.0.1:9/bfl"}, {}, "http://127.0.0.1:9/bfl/v1/flux-2-pro"),
    ],
)
def test_submit_url(params: dict[str, Any], env: dict[str, str], url: str) -> None:
    assert submit_url(deployment(env=env, **params)) == url


# --- generation bodies --------------------------------------------------------------------


def test_flux2_size_becomes_width_and_height_and_bfl_fields_pass_through() -> None:
    (body,) = generate(
        size="1024x768", seed=7, safety_tolerance=2, prompt_upsampling=True, user="u1"
    )
    assert body == {
        "prompt": "a fox",
        "width": 1024,
        "height": 768,
        "seed": 7,
        "safety_tolerance": 2,
        "prompt_upsampling": True,
        "output_format": "png",
    }


def test_n_is_n_submits_and_response_format_is_not_sent() -> None:
    bodies = generate(n=3, response_format="b64_json", output_format="jpeg")
    assert bodies == [{"prompt": "a fox", "output_format": "jpeg"}] * 3


@pytest.mark.parametrize(
    ("size", "rule"),
    [
        ("1000x1000", "multiples of 16"),
        ("48x1024", "at least 64"),
        ("2064x2048", "at most 4 megapixels"),
        ("big", "WIDTHxHEIGHT"),
    ],
)
def test_a_size_breaking_a_rule_is_a_400_naming_it(size: str, rule: str) -> None:
    with pytest.raises(InvalidRequestError, match=rule) as err:
        generate(size=size)
    assert err.value.param == "size"


@pytest.mark.parametrize(
    ("size", "rule"),
    [("1008x1008", "multiples of 32"), ("224x512", "at least 256"), ("1472x512", "at most 1440")],
)
def test_flux_pro_1_1_keeps_flux1_grid(size: str, rule: str) -> None:
    with pytest.raises(InvalidRequestError, match=rule):
        generate("flux-pro-1.1", size=size)
    (body,) = generate("flux-pro-1.1", size="1440x768")
    assert (body["width"], body["height"]) == (1440, 768)


@pytest.mark.parametrize(
    ("model", "size", "ratio"),
    [
        ("flux-kontext-pro", "1024x1024", "1:1"),
        ("flux-kontext-max", "1536x1024", "3:2"),
        ("flux-pro-1.1-ultra", "1920x1080", "16:9"),
        ("flux-pro-1.1-ultra", "9:21", "9:21"),
    ],
)
def test_kontext_and_ultra_take_an_exact_aspect_ratio(model: str, size: str, ratio: str) -> None:
    (body,) = generate(model, size=size)
    assert body["aspect_ratio"] == ratio and "width" not in body


def test_an_inexact_ratio_is_a_400_listing_the_accepted_ones() -> None:
    with pytest.raises(InvalidRequestError, match="21:9, 16:9, 3:2") as err:
        generate("flux-kontext-pro", size="1792x1024")
    assert err.value.code == "invalid_size"


def test_size_and_the_native_fields_together_are_refused() -> None:
    with pytest.raises(InvalidRequestError, match="not both"):
        generate("flux-kontext-pro", size="1024x1024", aspect_ratio="1:1")
    (body,) = generate("flux-kontext-pro", aspect_ratio="21:9")
    assert body["aspect_ratio"] == "21:9"


@pytest.mark.parametrize(
    "name", ["quality", "background", "moderation", "output_compression", "partial_images"]
)
def test_openai_only_parameters_are_refused_by_name(name: str) -> None:
    value: Any = 50 if name in ("output_compression", "partial_images") else "high"
    with pytest.raises(InvalidRequestError, match=f"'{name}' is not supported") as err:
        generate(**{name: value})
    assert err.value.param == name


def test_webp_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match=r"png.*jpeg"):
        generate(output_format="webp")


def test_fill_and_expand_do_not_generate() -> None:
    with pytest.raises(InvalidRequestError, match="only edits images"):
        generate("flux-pro-1.0-fill")


# --- edits ------------------------------------------------------------------------------


def mask_pixels(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    assert image.format == "PNG" and image.mode == "L" and image.size == (W, H)
    return image


def test_fill_sends_image_and_the_mask_white_where_the_client_made_it_transparent() -> None:
    (body,) = edit("flux-pro-1.0-fill", edit_request(mask=openai_mask(), steps="30", guidance="60"))
    assert body["image"] == IMAGE_B64
    assert body["steps"] == 30 and body["guidance"] == 60.0
    assert body["prompt"] == "a red boat" and body["output_format"] == "png"
    left, top, right, bottom = HOLE
    mask = mask_pixels(body["mask"])
    for y in range(H):
        for x in range(W):
            inside = left <= x < right and top <= y < bottom
            assert mask.getpixel((x, y)) == (255 if inside else 0), (x, y)


def test_flux2_sends_up_to_eight_images_as_input_image_fields() -> None:
    (body,) = edit("flux-2-pro", edit_request(images=(IMAGE,) * 3, size="1024x1024"))
    assert body["input_image"] == body["input_image_2"] == body["input_image_3"] == IMAGE_B64
    assert "input_image_4" not in body and (body["width"], body["height"]) == (1024, 1024)
    with pytest.raises(InvalidRequestError, match="at most 4 images"):
        edit("flux-2-klein-4b", edit_request(images=(IMAGE,) * 5))


def test_kontext_takes_one_image_and_a_ratio() -> None:
    (body,) = edit("flux-kontext-pro", edit_request(size="1024x1536", seed="3"))
    assert body["input_image"] == IMAGE_B64 and body["aspect_ratio"] == "2:3"
    assert body["seed"] == 3
    with pytest.raises(InvalidRequestError, match="at most 1 image,"):
        edit("flux-kontext-pro", edit_request(images=(IMAGE, IMAGE)))


def test_expand_sends_the_sides_typed() -> None:
    (body,) = edit(
        "flux-pro-1.0-expand", edit_request(top="64", left="0", prompt_upsampling="true")
    )
    assert body["image"] == IMAGE_B64 and body["top"] == 64 and body["left"] == 0
    assert body["prompt_upsampling"] is True
    with pytest.raises(InvalidRequestError, match="'size' is not supported"):
        edit("flux-pro-1.0-expand", edit_request(size="1024x1024"))


@pytest.mark.parametrize("model", ["flux-2-pro", "flux-kontext-pro", "flux-pro-1.0-expand"])
def test_a_mask_on_a_model_that_cannot_use_one_is_a_400(model: str) -> None:
    with pytest.raises(InvalidRequestError, match="'mask' is not supported") as err:
        edit(model, edit_request(mask=openai_mask()))
    assert err.value.param == "mask"


def test_models_that_cannot_edit_are_refused_before_any_call() -> None:
    assert edit_refusal(deployment("flux-pro-1.1")) is not None
    assert "only generates" in (edit_refusal(deployment("flux-pro-1.1-ultra")) or "")
    assert edit_refusal(deployment("flux-kontext-max")) is None


def test_a_number_field_that_is_not_a_number_is_a_400() -> None:
    with pytest.raises(InvalidRequestError, match="'seed' must be an integer"):
        edit("flux-2-pro", edit_request(seed="abc"))


# --- polling decisions ----------------------------------------------------------------------


def test_the_submit_answer_polls_its_url_after_the_interval() -> None:
    step = ADAPTER.next_poll(answer(SUBMIT), {}, deployment(poll_interval=0.25))
    assert isinstance(step, PollAgain)
    assert step.request.method == "GET" and step.request.url == SUBMIT["polling_url"]
    assert step.after == 0.25 and step.memo["cost"] == 3.0
    pending = ADAPTER.next_poll(
        answer({"status": "Pending", "progress": 0.4}), step.memo, deployment()
    )
    assert isinstance(pending, PollAgain) and pending.after == 1.0


def test_ready_is_the_sample_url_with_the_cost_in_usd() -> None:
    memo = {"polling_url": SUBMIT["polling_url"], "cost": 3.0}
    final = ADAPTER.next_poll(answer(READY), memo, deployment())
    assert isinstance(final, UpstreamResponse)
    request = ImageRequest.from_body({"model": "m", "prompt": "a fox"})
    result = ADAPTER.parse(final, request, deployment())
    assert result.data == [{"url": SAMPLE}]
    assert result.usage is not None and result.usage.raw == {"cost": 0.03}


@pytest.mark.parametrize("status", ["Request Moderated", "Content Moderated"])
def test_moderated_is_a_content_policy_400(status: str) -> None:
    body = {
        "status": status,
        "result": None,
        "details": {"Moderation Reasons": ["Derivative Works"]},
    }
    with pytest.raises(ContentPolicyError, match="Derivative Works") as err:
        ADAPTER.next_poll(answer(body), {"polling_url": "x"}, deployment())
    assert err.value.status == 400 and err.value.code == "content_policy_violation"


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"status": "Task not found"}, "not found"),
        ({"status": "Error", "error": "GPU fell over"}, "GPU fell over"),
        ({"status": "Ready", "result": {}}, "without result.sample"),
        ({"status": "Exploded"}, "unknown task status"),
    ],
)
def test_failed_tasks_are_upstream_errors(body: dict[str, Any], match: str) -> None:
    with pytest.raises(UpstreamError, match=match):
        ADAPTER.next_poll(answer(body), {"polling_url": "x"}, deployment())


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://api.bfl.ai/v1/get_result?id=1", True),
        ("https://api.eu2.bfl.ai/v1/get_result?id=1", True),
        ("https://bfl.ai/x", True),
        ("http://api.bfl.ai/v1/get_result", False),
        ("https://notbfl.ai/x", False),
        ("https://bfl.ai.evil.example/x", False),
        ("https://user@api.bfl.ai/x", False),
        ("https://api.bfl.ai:8443/x", False),
        ("http://169.254.169.254/latest", False),
    ],
)
def test_polling_urls_are_followed_only_on_bfl(url: str, ok: bool) -> None:
    assert polling_allowed(url, deployment()) is ok


def test_the_configured_base_origin_is_followed_too() -> None:
    dep = deployment(api_base="http://127.0.0.1:8123/bfl")
    assert polling_allowed("http://127.0.0.1:8123/bfl/v1/get_result?id=1", dep)
    assert not polling_allowed("http://127.0.0.1:8124/v1/get_result?id=1", dep)
    with pytest.raises(
        UpstreamError, match=r"refused to poll a task on host 'evil\.example'"
    ) as err:
        ADAPTER.next_poll(answer({**SUBMIT, "polling_url": "https://evil.example/p"}), {}, dep)
    assert not err.value.retryable  # a second submit would start (and bill) a second task


# --- errors -------------------------------------------------------------------------------


def mapped(status: int, body: Any, headers: dict[str, str] | None = None) -> ProxyError:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return ADAPTER.map_error(UpstreamResponse(status, headers or {}, raw), deployment())


def test_error_bodies_of_both_shapes() -> None:
    fastapi = {"detail": [{"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"}]}
    err = mapped(422, fastapi)
    assert isinstance(err, UpstreamBadRequestError) and err.status == 400
    assert err.param == "prompt" and "prompt: Field required" in err.message
    err = mapped(400, {"error": "Bad request", "message": "width must be a multiple of 16"})
    assert "width must be a multiple of 16" in err.message and err.status == 400
    assert isinstance(mapped(402, {"detail": "Insufficient credits"}), UpstreamQuotaError)
    assert isinstance(mapped(403, {"detail": "Not authenticated"}), ProviderAuthError)
    limited = mapped(429, {"detail": "Too many active tasks"}, {"retry-after": "3"})
    assert isinstance(limited, UpstreamRateLimitError) and limited.retry_after == 3.0
    assert mapped(500, b"Internal Server Error").status == 502
    assert mapped(503, {"detail": "busy"}).status == 503


def test_errors_never_echo_base64() -> None:
    blob = base64.b64encode(b"\x89PNG" * 400).decode()
    err = mapped(422, {"detail": [{"loc": ["body", "input_image"], "msg": f"bad image {blob}"}]})
    assert blob not in err.message and KEY not in err.message


# --- the attempt layer's poll loop -----------------------------------------------------------


class Script:
    """A sender answering from a script: the submit, then each poll in turn."""

    def __init__(self, polls: list[Any]) -> None:
        self.polls = polls
        self.sent: list[UpstreamRequest] = []

    async def send(self, req: UpstreamRequest, timeout: float, provider: str) -> UpstreamResponse:
        self.sent.append(req)
        if req.method == "POST":
            return answer(SUBMIT)
        body = self.polls.pop(0) if len(self.polls) > 1 else self.polls[0]
        return answer(body)

    async def open_stream(self, *args: Any) -> Any:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


async def run(script: Script, dep: Deployment, n: int = 1) -> list[UpstreamResponse]:
    caller = Caller(script, {dep.id: HeaderKey("x-key", KEY)})
    request = ImageRequest.from_body({"model": "m", "prompt": "a fox", "n": n})
    ctx = RequestContext("images")
    submitted = await caller.send_all(ctx, dep, ADAPTER.build(request, dep), ADAPTER)
    return await caller.settle(ctx, dep, submitted, ADAPTER)


async def test_the_loop_polls_pending_until_ready_with_the_key_on_every_poll() -> None:
    script = Script([{"status": "Pending"}, {"status": "Pending"}, READY])
    (final,) = await run(script, deployment(poll_interval=0))
    assert orjson.loads(final.body) == {"sample": SAMPLE, "cost": 3.0}
    assert [r.method for r in script.sent] == ["POST", "GET", "GET", "GET"]
    assert all(r.headers.get("x-key") == KEY for r in script.sent)


async def test_n_tasks_are_followed_each() -> None:
    script = Script([READY])
    finals = await run(script, deployment(poll_interval=0), n=2)
    assert len(finals) == 2 and [r.method for r in script.sent].count("POST") == 2


async def test_a_task_pending_past_the_timeout_is_a_504_not_retried() -> None:
    script = Script([{"status": "Pending"}])
    with pytest.raises(TaskTimeoutError) as err:
        await run(script, deployment(poll_interval=0.001, timeout=0.05))
    assert err.value.status == 504 and not err.value.retryable
    assert err.value.body()["error"]["type"] == "timeout_error"


class Flaky(Script):
    """Polls answer ``statuses`` in turn (an error body for >= 400), then the script."""

    def __init__(self, statuses: list[int], polls: list[Any]) -> None:
        super().__init__(polls)
        self.statuses = statuses

    async def send(self, req: UpstreamRequest, timeout: float, provider: str) -> UpstreamResponse:
        if req.method == "GET" and self.statuses:
            status = self.statuses.pop(0)
            if status >= 400:
                self.sent.append(req)
                return answer({"detail": "busy"}, status)
        return await super().send(req, timeout, provider)


async def test_a_transient_poll_failure_polls_again_instead_of_failing() -> None:
    script = Flaky([503, 500], [READY])
    (final,) = await run(script, deployment(poll_interval=0))
    assert orjson.loads(final.body)["sample"] == SAMPLE
    assert [r.method for r in script.sent] == ["POST", "GET", "GET", "GET"]  # one task only


async def test_a_final_poll_failure_is_raised_at_once() -> None:
    script = Flaky([403], [READY])
    with pytest.raises(ProviderAuthError):
        await run(script, deployment(poll_interval=0))
    assert [r.method for r in script.sent] == ["POST", "GET"]


async def test_an_error_on_a_poll_is_mapped_by_the_adapter() -> None:
    class Failing(Script):
        async def send(
            self, req: UpstreamRequest, timeout: float, provider: str
        ) -> UpstreamResponse:
            if req.method == "GET":
                self.sent.append(req)
                return answer({"detail": "Too many requests"}, 429)
            return await super().send(req, timeout, provider)

    failing = Failing([READY])
    with pytest.raises(UpstreamRateLimitError):  # after POLL_FAILURES tries of the same poll
        await run(failing, deployment(poll_interval=0))
    assert [r.method for r in failing.sent] == ["POST", "GET", "GET", "GET"]


# --- prices -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "usage", "size", "images", "usd", "basis"),
    [
        ("flux-2-pro", {"cost": 0.06}, "1024x1024", 2, 0.06, "provider"),
        ("flux-2-pro", None, None, 1, 0.03, "per_image"),
        ("flux-2-pro", None, "1536x1024", 2, 0.09, "per_image"),
        ("flux-2-max", None, "2048x2048", 1, 0.16, "per_image"),
        ("flux-kontext-pro", None, "1024x1024", 3, 0.12, "per_image"),
        ("flux-pro-1.0-fill", None, None, 1, 0.05, "per_image"),
        ("flux-dev", {"cost": 0.025}, None, 1, 0.025, "provider"),
    ],
)
def test_the_reported_cost_wins_and_the_table_prices_without_it(
    model: str,
    usage: dict[str, Any] | None,
    size: str | None,
    images: int,
    usd: float,
    basis: str,
) -> None:
    dep = deployment(model)
    pricer = Pricer(parse_config({}), PriceTable.load())
    cost = pricer.compute(pricer.entry(dep), usage, images, PriceInputs(size=size, n=images))
    assert cost.usd == pytest.approx(usd) and cost.basis == basis
