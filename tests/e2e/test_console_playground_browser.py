"""The console's playground in a real browser: two models side by side (images of the
requested pixel size, latency, cost, download, re-run with the same seed), a streamed run
(the partial image before the final one), edit mode (upload, painted mask) and the gallery
its images go to. Same watch as ``test_console_browser.py``: no console error, no request off
loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
from typing import Any

from playwright.sync_api import expect

from tests.e2e.console_page import (  # noqa: F401 (fixtures)
    WAIT,
    Watched,
    api,
    console_config,
    png,
    sse_event,
)
from tests.fakes.server import FakeUpstream


def test_playground_shows_images_of_the_requested_size(console: Watched) -> None:
    console.sign_in()
    page = console.page
    page.get_by_role("checkbox", name="mock-wide").check()  # mock-image is ticked already
    page.get_by_label("Prompt", exact=True).fill("a lighthouse at dusk")
    page.get_by_label("Size", exact=True).fill("320x200")
    page.get_by_label("Images (n)").fill("2")
    page.get_by_label("Seed").fill("42")
    sent: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda r: (
            sent.append(json.loads(r.post_data or "{}"))
            if r.url.endswith("/v1/images/generations")
            else None
        ),
    )
    page.get_by_role("button", name="Generate").click()
    images = page.locator(".result img")
    expect(images).to_have_count(4, timeout=WAIT)
    images.evaluate_all("imgs => Promise.all(imgs.map(i => i.decode()))")
    sizes = images.evaluate_all("imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])")
    assert sizes == [[320, 200]] * 4
    status = re.compile(r"2 images in [\d.]+ s · \$0\.08")
    expect(page.locator(".result .status")).to_have_text([status, status], timeout=WAIT)
    expect(page.get_by_role("link", name="Download")).to_have_count(4)
    console.shot("playground")
    first = next(b for b in sent if b["model"] == "mock-image")
    assert first["seed"] == 42 and first["size"] == "320x200" and first["n"] == 2
    page.get_by_role("button", name="Re-run mock-image with the same settings and seed").click()
    expect(page.locator(".result .status").first).to_contain_text("2 images in", timeout=WAIT)
    assert [b for b in sent if b["model"] == "mock-image"] == [first, first]


def test_edit_mode_uploads_an_image_and_a_painted_mask(console: Watched) -> None:
    console.sign_in()
    page = console.page
    page.get_by_role("radio", name="Edit").check()
    page.get_by_label("Prompt", exact=True).fill("add a red door")
    page.get_by_label("Size", exact=True).fill("auto")  # an edit keeps its image's size
    page.get_by_label("Images", exact=True).set_input_files(
        files=[{"name": "in.png", "mimeType": "image/png", "buffer": png(96, 64)}]
    )
    canvas = page.get_by_role("img", name="Mask: paint with the pointer over the area to change")
    canvas.wait_for(timeout=WAIT)
    box = canvas.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 10, box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=12)
    page.mouse.up()
    with page.expect_request("**/v1/images/edits") as sent:
        page.get_by_role("button", name="Edit", exact=True).click()
    body = sent.value.post_data_buffer or b""
    assert b'name="mask"; filename="mask.png"' in body and b'name="image"' in body
    images = page.locator(".result img")
    expect(images).to_have_count(1, timeout=WAIT)
    images.evaluate_all("imgs => Promise.all(imgs.map(i => i.decode()))")
    assert images.evaluate_all("imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])") == [
        [96, 64]
    ]
    console.shot("playground-edit")


def test_gallery_lists_kept_images_filters_and_deletes(
    console: Watched, console_proxy: Any
) -> None:
    with api(console_proxy) as client:  # what API clients make is kept too
        body = {"model": "mock-image", "prompt": "made by a script", "size": "20x20"}
        assert client.post("/v1/images/generations", json=body).status_code == 200
    console.sign_in()
    page = console.page
    page.get_by_role("checkbox", name="mock-wide").check()
    page.get_by_label("Prompt", exact=True).fill("a gallery of kites")
    page.get_by_label("Size", exact=True).fill("48x32")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator(".result .status")).to_contain_text(
        ["1 image in", "1 image in"], timeout=WAIT
    )
    console.view("Gallery")
    expect(page.locator(".gallery figure", has_text="made by a script")).to_have_count(1)
    kites = page.locator(".gallery figure", has_text="a gallery of kites")
    expect(kites).to_have_count(2, timeout=WAIT)
    kites.locator("img").evaluate_all("imgs => Promise.all(imgs.map(i => i.decode()))")
    assert kites.locator("img").evaluate_all("imgs => imgs.map(i => i.naturalWidth)") == [48, 48]
    assert "$0.04" in kites.first.inner_text() and "master" in kites.first.inner_text()
    console.shot("gallery")
    page.get_by_label("Model", exact=True).fill("mock-wide")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".gallery figure", has_text="mock-image")).to_have_count(0, timeout=WAIT)
    expect(kites).to_have_count(1)
    kites.get_by_role("button", name=re.compile("^Delete image")).click()
    expect(kites).to_have_count(0, timeout=WAIT)
    with api(console_proxy) as client:
        kept = client.get("/gallery", params={"model": "mock-wide"}).json()["data"]
        assert all(e["prompt"] != "a gallery of kites" for e in kept)
        assert any(
            e["prompt"] == "a gallery of kites" for e in client.get("/gallery").json()["data"]
        )


def test_a_streaming_model_shows_its_partial_image_before_the_final_one(
    console: Watched, fake: FakeUpstream
) -> None:
    from starlette.responses import StreamingResponse

    partial = base64.b64encode(png(40, 30, (20, 20, 200))).decode()
    final = base64.b64encode(png(40, 30, (20, 200, 20))).decode()
    seen_partial = threading.Event()  # set by the test once the page shows the partial image

    async def events() -> Any:
        common = {"created_at": 1, "size": "40x30", "output_format": "png"}
        yield sse_event(
            "image_generation.partial_image", b64_json=partial, partial_image_index=0, **common
        )
        await asyncio.to_thread(seen_partial.wait, WAIT / 1000)
        usage = {"input_tokens": 3, "output_tokens": 10, "total_tokens": 13}
        yield sse_event("image_generation.completed", b64_json=final, usage=usage, **common)

    fake.route(
        "POST",
        "/v1/images/generations",
        lambda r: StreamingResponse(events(), media_type="text/event-stream"),
    )
    console.sign_in()
    page = console.page
    page.get_by_role("checkbox", name="mock-image").uncheck()
    page.get_by_role("checkbox", name=re.compile("^gpt-stream")).check()
    page.get_by_role("checkbox", name=re.compile("^Stream partial images")).check()
    page.get_by_label("Prompt", exact=True).fill("a slow sunrise")
    page.get_by_label("Size", exact=True).fill("1024x1024")
    page.get_by_role("button", name="Generate").click()
    status = page.locator(".result .status")
    expect(status).to_contain_text("Partial image 1", timeout=WAIT)
    image = page.locator(".result img")
    expect(image).to_have_attribute("alt", "partial image, image 1")
    seen_partial.set()
    expect(status).to_contain_text("1 image in", timeout=WAIT)
    expect(status).not_to_contain_text("cost unknown")  # from the request's spend record
    expect(image).to_have_attribute("alt", "a slow sunrise, image 1")
    colour = image.evaluate(
        """img => { const c = document.createElement('canvas'); c.width = img.naturalWidth;
        c.height = img.naturalHeight; const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        return [img.naturalWidth, img.naturalHeight, ...g.getImageData(1, 1, 1, 1).data]; }"""
    )
    assert colour[:5] == [40, 30, 20, 200, 20]
    sent = fake.received("/v1/images/generations")[-1].json()
    assert sent["stream"] is True and sent["partial_images"] == 2
