"""Uploads past 1 MB spooled to a temporary file by the parser (the process's upload memory,
``general_settings.image_upload_memory_mb``, set to 0 here) end to end, through the
official SDK: forwarded to an OpenAI-shape upstream from the file, byte for byte with a
``content-length``, again in full on a retry; loaded once for an adapter that needs the
bytes (Gemini's base64); and no temporary file outlives its request."""

from __future__ import annotations

import base64
import os
import random
from pathlib import Path
from typing import Any

import openai
import pytest
from starlette.responses import JSONResponse

from proxy.providers.mock.png import render_png
from tests.conftest import MASTER_KEY
from tests.fakes.google import GEMINI_KEY, GoogleFake, edit_body
from tests.fakes.multipart import form_parts
from tests.fakes.server import FakeUpstream, Received

OUT_B64 = base64.b64encode(render_png(8, 8, (1, 2, 3))).decode()
GEMINI_PATH = "/gemini/v1beta/models/gemini-3-pro-image:generateContent"


def big_png(width: int, height: int, size: int, seed: int) -> bytes:
    """A PNG of ``width`` x ``height`` (its header says so) followed by ``size`` bytes of
    noise after its end: what the proxy must carry without looking."""
    noise = random.Random(seed).randbytes(size)
    return render_png(width, height, (seed % 256, 7, 9)) + noise


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    return proxy_factory(
        {
            "model_list": [
                {
                    "model_name": "gpt-image",
                    "litellm_params": {
                        "model": "openai/gpt-image-2",
                        "api_key": "sk-upstream-large-uploads",
                        "api_base": f"{upstream.base}/v1",
                    },
                },
                {
                    "model_name": "gemini-edit",
                    "litellm_params": {
                        "model": "gemini/gemini-3-pro-image",
                        "api_key": GEMINI_KEY,
                        "api_base": f"{upstream.base}/gemini/v1beta",
                    },
                },
            ],
            "router_settings": {"num_retries": 1, "retry_backoff_base": 0, "retry_backoff_max": 0},
            # no upload memory: every body spools past 1 MB (other modules test the memory path)
            "general_settings": {"image_upload_memory_mb": 0},
        }
    )


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


def images_answer(r: Received) -> Any:
    return {"created": 1, "data": [{"b64_json": OUT_B64}]}


def test_spooled_uploads_reach_the_upstream_byte_for_byte_with_their_length(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", "/v1/images/edits", images_answer)
    first, second = big_png(64, 48, 3_000_000, 1), big_png(32, 32, 1_500_000, 2)
    mask = big_png(64, 48, 1_200_000, 3)
    result = client.images.edit(
        model="gpt-image",
        image=[("a.png", first), ("b.png", second)],
        mask=("m.png", mask),
        prompt="swap the sky",
    )
    assert result.data is not None and len(result.data) == 1
    (sent,) = fake.received("/v1/images/edits")
    assert sent.headers["content-length"] == str(len(sent.body))
    assert "transfer-encoding" not in sent.headers
    files = [p for p in form_parts(sent.headers["content-type"], sent.body) if p.filename]
    assert [(p.name, p.data) for p in files] == [
        ("image[]", first),
        ("image[]", second),
        ("mask", mask),
    ]


def test_a_retry_sends_the_spooled_upload_again_in_full(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    answers = iter([JSONResponse({"error": {"message": "try again"}}, status_code=500)])

    def flaky(r: Received) -> Any:
        return next(answers, None) or images_answer(r)

    fake.route("POST", "/v1/images/edits", flaky)
    image = big_png(40, 40, 2_500_000, 4)
    client.images.edit(model="gpt-image", image=("a.png", image), prompt="brighter")
    sent = fake.received("/v1/images/edits")
    assert len(sent) == 2  # the 500, then the retry
    for attempt in sent:
        parts = form_parts(attempt.headers["content-type"], attempt.body)
        assert [p.data for p in parts if p.filename] == [image]


def test_an_adapter_that_needs_the_bytes_gets_the_whole_upload(
    client: openai.OpenAI, google: GoogleFake, fake: FakeUpstream
) -> None:
    image = big_png(24, 16, 2_200_000, 5)
    result = client.images.edit(model="gemini-edit", image=("a.png", image), prompt="night")
    assert result.data is not None and len(result.data) == 1
    (sent,) = fake.received(GEMINI_PATH)
    assert sent.json() == edit_body([(image, "image/png")], "night", None)


def test_no_temporary_file_outlives_its_request(
    proxy: Any, client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", "/v1/images/edits", lambda r: JSONResponse({"error": {}}, 400))
    image = big_png(16, 16, 1_800_000, 6)
    for _ in range(3):
        with pytest.raises(openai.BadRequestError):
            client.images.edit(model="gpt-image", image=("a.png", image), prompt="x")
    with pytest.raises(openai.BadRequestError):  # refused by the proxy before any call
        client.images.edit(
            model="gpt-image", image=("a.txt", b"not an image" * 200_000), prompt="x"
        )
    assert proxy.proc is not None
    fds = Path(f"/proc/{proxy.proc.pid}/fd")
    left = [os.readlink(fd) for fd in fds.iterdir() if "(deleted)" in _link(fd)]
    assert left == []


def _link(fd: Path) -> str:
    try:
        return os.readlink(fd)
    except OSError:  # closed meanwhile
        return ""
