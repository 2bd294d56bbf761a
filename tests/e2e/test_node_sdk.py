"""``/v1/images/edits`` and ``/v1/images/variations`` as the official OpenAI **Node** SDK
sends them (``client.images.edit`` / ``createVariation``, files made with ``toFile``): several
images and a mask reach the upstream intact, an edit streams its events, the mock makes
variations, and a refusal is the SDK's ``BadRequestError``.

The SDK version is pinned by tests/node/package-lock.json; when it is not installed yet, the
module installs it (``npm ci --prefix tests/node``). On a machine without Node.js, or where
that install fails, the module says so and is skipped."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from starlette.responses import Response

from proxy.providers.mock.png import render_png
from tests.conftest import MASTER_KEY
from tests.fakes.multipart import form_parts, text_fields
from tests.fakes.server import FakeUpstream, Received, sse

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
SCRIPT = NODE_DIR / "images.mjs"
OUT_B64 = base64.b64encode(render_png(8, 8, (1, 2, 3))).decode()


def _sdk_problem() -> str | None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "Node.js and npm are not installed"
    if (NODE_DIR / "node_modules" / "openai").is_dir():
        return None
    done = subprocess.run(
        ["npm", "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", "--loglevel=error"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        return f"npm ci --prefix tests/node failed: {done.stderr.strip()[-300:]}"
    return None


if (problem := _sdk_problem()) is not None:
    pytest.skip(problem, allow_module_level=True)


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    return proxy_factory(
        {
            "model_list": [
                {
                    "model_name": "gpt-image",
                    "litellm_params": {
                        "model": "openai/gpt-image-2",
                        "api_key": "sk-upstream-node-sdk",
                        "api_base": f"{upstream.base}/v1",
                    },
                },
                {"model_name": "mock-image", "litellm_params": {"model": "mock/placeholder"}},
                {
                    "model_name": "gen-only",
                    "litellm_params": {
                        "model": "nscale/black-forest-labs/FLUX.1-schnell",
                        "api_key": "nscale-key-node",
                        "api_base": f"{upstream.base}/nscale/v1",
                    },
                },
            ]
        }
    )


def node(proxy: Any, tmp_path: Path, operation: str, **command: Any) -> Any:
    """Run the Node SDK once; its printed answer (or error) as JSON."""
    for key in ("images", "mask"):
        if key in command:
            blobs = command[key] if key == "images" else [command[key]]
            paths = []
            for i, data in enumerate(blobs):
                path = tmp_path / f"{key}-{i}.png"
                path.write_bytes(data)
                paths.append(str(path))
            command[key] = paths if key == "images" else paths[0]
    command.update(operation=operation, base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY)
    done = subprocess.run(
        ["node", str(SCRIPT), json.dumps(command)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def png(width: int, height: int, shade: int) -> bytes:
    return render_png(width, height, (shade, shade, shade))


def test_several_images_and_a_mask_reach_the_upstream_intact(
    proxy: Any, fake: FakeUpstream, tmp_path: Path
) -> None:
    fake.route(
        "POST", "/v1/images/edits", lambda r: {"created": 1, "data": [{"b64_json": OUT_B64}]}
    )
    first, second, mask = png(32, 24, 10), png(16, 16, 20), png(32, 24, 250)
    answer = node(
        proxy,
        tmp_path,
        "edit",
        images=[first, second],
        mask=mask,
        params={"model": "gpt-image", "prompt": "a hat", "size": "1024x1024", "n": 1},
    )
    assert answer["data"] == [{"b64_json": OUT_B64}]
    (sent,) = fake.received("/v1/images/edits")
    parts = form_parts(sent.headers["content-type"], sent.body)
    files = [(p.name, p.data) for p in parts if p.filename]
    assert [data for _, data in files] == [first, second, mask]
    assert [name for name, _ in files][-1] == "mask"
    assert all(name in ("image", "image[]") for name, _ in files[:2])
    fields = text_fields(parts)
    assert fields["model"] == "gpt-image-2" and fields["prompt"] == "a hat"
    assert fields["size"] == "1024x1024"


def test_an_edit_streams_its_events(proxy: Any, fake: FakeUpstream, tmp_path: Path) -> None:
    events: list[tuple[str | None, Any]] = [
        ("image_edit.partial_image", {"type": "image_edit.partial_image", "b64_json": OUT_B64}),
        ("image_edit.completed", {"type": "image_edit.completed", "b64_json": OUT_B64}),
    ]

    def stream(r: Received) -> Response:
        return Response(sse(events), media_type="text/event-stream")

    fake.route("POST", "/v1/images/edits", stream)
    answer = node(
        proxy,
        tmp_path,
        "edit",
        images=[png(8, 8, 30)],
        params={"model": "gpt-image", "prompt": "night", "stream": True, "partial_images": 1},
    )
    assert [e["type"] for e in answer["events"]] == [name for name, _ in events]
    (sent,) = fake.received("/v1/images/edits")
    fields = text_fields(form_parts(sent.headers["content-type"], sent.body))
    assert fields["stream"] == "true" and fields["partial_images"] == "1"


def test_the_mock_makes_variations_of_the_asked_size(proxy: Any, tmp_path: Path) -> None:
    answer = node(
        proxy,
        tmp_path,
        "variation",
        images=[png(8, 8, 40)],
        params={"model": "mock-image", "n": 2, "size": "256x256"},
    )
    assert len(answer["data"]) == 2
    for item in answer["data"]:
        image = base64.b64decode(item["b64_json"])
        assert image.startswith(b"\x89PNG")


def test_a_model_that_cannot_edit_is_a_bad_request(
    proxy: Any, fake: FakeUpstream, tmp_path: Path
) -> None:
    answer = node(
        proxy, tmp_path, "edit", images=[png(8, 8, 50)], params={"model": "gen-only", "prompt": "x"}
    )
    assert answer["error"]["status"] == 400 and "cannot edit" in answer["error"]["message"]
    assert fake.received() == []
