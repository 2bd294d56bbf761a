"""Black Forest Labs end to end through the official SDK, against a fake upstream on loopback
speaking BFL's wire format: submit, a few ``Pending`` polls, ``Ready`` with a sample URL the
same fake serves; moderation, a foreign polling host, a task that never finishes; edits with
a mask checked pixel by pixel."""

from __future__ import annotations

import base64
import io
import itertools
from collections import Counter
from typing import Any

import openai
import pytest
from PIL import Image
from starlette.responses import JSONResponse, Response

from tests.conftest import MASTER_KEY
from tests.fakes.server import FakeUpstream, Received

KEY = "bfl-upstream-key-71c2"
W, H = 48, 32
HOLE = (8, 4, 30, 20)  # left, top, right, bottom (exclusive)
PENDING_POLLS = 2


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


SAMPLE_PNG = png(Image.new("RGB", (16, 16), (200, 30, 30)))


def entry(name: str, model: str, base: str, **params: Any) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {
            "model": f"black_forest_labs/{model}",
            "api_key": KEY,
            "api_base": base,
            "poll_interval": 0.01,
            **params,
        },
    }


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream, tmp_path_factory: Any) -> Any:
    base = upstream.base
    return proxy_factory(
        {
            "model_list": [
                entry("flux2", "flux-2-pro", f"{base}/bfl"),
                entry("kontext", "flux-kontext-pro", f"{base}/bfl"),
                entry("fill", "flux-pro-1.0-fill", f"{base}/bfl"),
                entry("ultra", "flux-pro-1.1-ultra", f"{base}/bfl"),
                entry("moderated", "flux-2-pro", f"{base}/moderated"),
                entry("foreign", "flux-2-pro", f"{base}/foreign", num_retries=2),
                entry("stuck", "flux-2-pro", f"{base}/stuck", timeout=1),
            ],
            "general_settings": {
                "image_store": {"path": str(tmp_path_factory.mktemp("store"))},
                "image_fetch": {
                    "allowed_hosts": ["127.0.0.1"],
                    "allow_private_cidrs": ["127.0.0.1/32"],
                },
            },
        }
    )


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


# --- fake BFL -----------------------------------------------------------------------------


class FakeBFL:
    """Submit -> ``{id, polling_url, cost}``; each task answers ``Pending`` ``pending``
    times, then ``final(task id)``; samples are served from ``/bfl/delivery/``."""

    def __init__(self, fake: FakeUpstream, prefix: str = "/bfl", pending: int = PENDING_POLLS):
        self.fake, self.prefix, self.pending = fake, prefix, pending
        self.ids = itertools.count(1)
        self.polls: Counter[str] = Counter()
        self.polling_host = fake.base
        fake.route("POST", f"{prefix}/v1/*", self.submit)
        fake.route("GET", f"{prefix}/v1/get_result", self.poll)
        fake.route("GET", "/bfl/delivery/*", self.sample)

    def submit(self, req: Received) -> Any:
        if req.headers.get("x-key") != KEY:
            return JSONResponse({"detail": "Not authenticated"}, 403)
        if not isinstance(req.json().get("prompt"), str):
            detail = [{"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"}]
            return JSONResponse({"detail": detail}, 422)
        task = f"task-{next(self.ids)}"
        url = f"{self.polling_host}{self.prefix}/v1/get_result?id={task}"
        return {"id": task, "polling_url": url, "cost": 3.0, "input_mp": 0.0, "output_mp": 1.0}

    def poll(self, req: Received) -> Any:
        if req.headers.get("x-key") != KEY:
            return JSONResponse({"detail": "Not authenticated"}, 403)
        task = req.query["id"]
        self.polls[task] += 1
        if self.polls[task] <= self.pending:
            return {"id": task, "status": "Pending", "result": None, "progress": 0.5}
        return self.final(task)

    def final(self, task: str) -> dict[str, Any]:
        sample = f"{self.fake.base}/bfl/delivery/{task}.png?se=2026&sig=abc"
        return {"id": task, "status": "Ready", "result": {"sample": sample, "seed": 7}}

    def sample(self, req: Received) -> Response:
        return Response(SAMPLE_PNG, media_type="image/png")

    def submits(self) -> list[Received]:
        return [r for r in self.fake.requests if r.method == "POST"]


# --- generations ----------------------------------------------------------------------------


def test_generation_polls_until_ready_and_answers_the_sample_url(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    bfl = FakeBFL(fake)
    raw = client.images.with_raw_response.generate(
        model="flux2",
        prompt="a lighthouse at dawn",
        size="1024x768",
        response_format="url",
        extra_body={"seed": 42, "safety_tolerance": 2},
    )
    result = raw.parse()
    assert result.data is not None
    assert result.data[0].url == f"{fake.base}/bfl/delivery/task-1.png?se=2026&sig=abc"
    (submit,) = bfl.submits()
    assert submit.path == "/bfl/v1/flux-2-pro" and submit.headers["x-key"] == KEY
    assert "authorization" not in submit.headers
    assert submit.json() == {
        "prompt": "a lighthouse at dawn",
        "width": 1024,
        "height": 768,
        "seed": 42,
        "safety_tolerance": 2,
        "output_format": "png",
    }
    polls = fake.received("/bfl/v1/get_result")
    assert len(polls) == PENDING_POLLS + 1
    assert all(p.headers["x-key"] == KEY for p in polls)
    assert raw.headers["x-response-cost"] == "0.03"  # the submit's 3 credits


def test_b64_json_downloads_the_sample(client: openai.OpenAI, fake: FakeUpstream) -> None:
    FakeBFL(fake)
    result = client.images.generate(
        model="kontext", prompt="a red square", size="1536x1024", response_format="b64_json"
    )
    assert result.data is not None and result.data[0].url is None
    assert base64.b64decode(result.data[0].b64_json or "") == SAMPLE_PNG
    (submit,) = [r for r in fake.requests if r.method == "POST"]
    assert submit.path == "/bfl/v1/flux-kontext-pro"
    assert submit.json()["aspect_ratio"] == "3:2" and "width" not in submit.json()
    assert len(fake.received("/bfl/delivery/task-1.png")) == 1


def test_n_2_is_two_tasks(client: openai.OpenAI, fake: FakeUpstream) -> None:
    bfl = FakeBFL(fake)
    raw = client.images.with_raw_response.generate(model="flux2", prompt="two cats", n=2)
    result = raw.parse()
    assert result.data is not None
    urls = sorted(d.url or "" for d in result.data)
    assert [u.split("/")[-1].split("?")[0] for u in urls] == ["task-1.png", "task-2.png"]
    assert len(bfl.submits()) == 2 and sorted(bfl.polls.values()) == [3, 3]
    assert raw.headers["x-response-cost"] == "0.06"


def test_moderated_is_a_content_policy_400(client: openai.OpenAI, fake: FakeUpstream) -> None:
    bfl = FakeBFL(fake, "/moderated", pending=1)
    bfl.final = lambda task: {  # type: ignore[method-assign]
        "id": task,
        "status": "Request Moderated",
        "result": None,
        "details": {"Moderation Reasons": ["Derivative Works"]},
    }
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(model="moderated", prompt="a famous mouse")
    assert err.value.code == "content_policy_violation"
    assert "Derivative Works" in err.value.message


def test_a_polling_url_on_a_foreign_host_is_refused(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    bfl = FakeBFL(fake, "/foreign")
    bfl.polling_host = "https://evil.example"
    with pytest.raises(openai.APIStatusError) as err:
        client.images.generate(model="foreign", prompt="a fox")
    assert err.value.status_code == 502
    assert "evil.example" in err.value.message and KEY not in err.value.message
    assert fake.received("/foreign/v1/get_result") == []  # nothing followed it
    assert len(bfl.submits()) == 1  # refused, not retried into a second paid task


def test_a_task_pending_past_the_timeout_is_a_504(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    FakeBFL(fake, "/stuck", pending=10**9)
    with pytest.raises(openai.InternalServerError) as err:
        client.images.generate(model="stuck", prompt="a slow fox")
    assert err.value.status_code == 504
    body = err.value.body
    assert isinstance(body, dict) and body["code"] == "upstream_task_timeout"
    assert body["type"] == "timeout_error"


def test_openai_only_parameters_are_400_before_any_call(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    FakeBFL(fake)
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(model="flux2", prompt="a fox", quality="high")
    assert "'quality' is not supported" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(model="flux2", prompt="a fox", size="1000x1000")
    assert "multiples of 16" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(model="flux2", prompt="a fox", output_format="webp")
    assert err.value.param == "output_format"
    assert fake.requests == []


def test_upstream_422_is_a_400_naming_the_field(client: openai.OpenAI, fake: FakeUpstream) -> None:
    def invalid(req: Received) -> Any:
        detail = [{"loc": ["body", "steps"], "msg": "Input should be less than or equal to 50"}]
        return JSONResponse({"detail": detail}, 422)

    fake.route("POST", "/bfl/v1/flux-2-pro", invalid)
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(model="flux2", prompt="a fox", extra_body={"steps": 500})
    assert err.value.param == "steps" and "less than or equal to 50" in err.value.message


# --- edits ----------------------------------------------------------------------------------


def test_fill_edit_sends_the_image_and_the_mask_white_where_transparent(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    bfl = FakeBFL(fake)
    image = png(Image.new("RGB", (W, H), (30, 90, 150)))
    mask_image = Image.new("RGBA", (W, H), (0, 0, 0, 255))
    mask_image.paste((0, 0, 0, 0), HOLE)
    result = client.images.edit(
        model="fill",
        image=("boat.png", image, "image/png"),
        mask=("mask.png", png(mask_image), "image/png"),
        prompt="a red boat",
        response_format="b64_json",
        extra_body={"steps": 30},
    )
    assert result.data is not None
    assert base64.b64decode(result.data[0].b64_json or "") == SAMPLE_PNG
    (submit,) = bfl.submits()
    body = submit.json()
    assert submit.path == "/bfl/v1/flux-pro-1.0-fill"
    assert base64.b64decode(body["image"]) == image
    assert body["steps"] == 30 and body["prompt"] == "a red boat"
    mask = Image.open(io.BytesIO(base64.b64decode(body["mask"])))
    assert mask.mode == "L" and mask.size == (W, H)
    left, top, right, bottom = HOLE
    for y in range(H):
        for x in range(W):
            inside = left <= x < right and top <= y < bottom
            assert mask.getpixel((x, y)) == (255 if inside else 0), (x, y)


def test_a_model_that_cannot_edit_is_refused(client: openai.OpenAI, fake: FakeUpstream) -> None:
    FakeBFL(fake)
    with pytest.raises(openai.BadRequestError) as err:
        client.images.edit(
            model="ultra", image=("a.png", png(Image.new("RGB", (16, 16)))), prompt="brighter"
        )
    assert "only generates" in err.value.message
    assert fake.requests == []


def test_flux2_edit_sends_every_image_as_input_image_fields(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    bfl = FakeBFL(fake)
    first = png(Image.new("RGB", (16, 16), (1, 2, 3)))
    second = png(Image.new("RGB", (16, 16), (4, 5, 6)))
    result = client.images.edit(
        model="flux2",
        image=[("a.png", first, "image/png"), ("b.png", second, "image/png")],
        prompt="the cat from image 1 wearing the hat from image 2",
        size="1024x1024",
        extra_body={"seed": 5},
    )
    assert result.data is not None and result.data[0].url is not None
    (submit,) = bfl.submits()
    body = submit.json()
    assert submit.path == "/bfl/v1/flux-2-pro"
    assert base64.b64decode(body["input_image"]) == first
    assert base64.b64decode(body["input_image_2"]) == second
    assert (body["width"], body["height"], body["seed"]) == (1024, 1024, 5)
    with pytest.raises(openai.BadRequestError) as err:
        client.images.edit(
            model="flux2",
            image=("a.png", first, "image/png"),
            mask=("m.png", png(Image.new("RGBA", (16, 16))), "image/png"),
            prompt="x",
        )
    assert err.value.param == "mask"
    assert len(bfl.submits()) == 1
