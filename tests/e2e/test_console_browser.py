"""The web console in a real browser (Debian's chromium driven by Playwright): sign-in, a
playground generation with the mock provider (images of the requested pixel size), a key
created and revoked (checked against the API), a spend chart that draws, the models and logs
views. Every test fails on any JavaScript console error and on any request that leaves the
proxy's loopback address. Each view's screenshot goes to ``build/console-screenshots/``
(copied to ``docs/console/`` for the README)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import MASTER_KEY
from tests.fakes.server import FakeUpstream

SHOTS = Path(__file__).resolve().parents[2] / "build" / "console-screenshots"
WAIT = 15_000  # ms: the longest any expectation waits


@pytest.fixture(scope="module")
def proxy(
    proxy_factory: Any, tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream
) -> Any:
    db = tmp_path_factory.mktemp("console-db") / "db.sqlite3"
    priced = {"output_cost_per_image": 0.04}
    return proxy_factory(
        {
            "model_list": [
                {
                    "model_name": "mock-image",
                    "litellm_params": {"model": "mock/a"},
                    "model_info": priced,
                },
                {
                    "model_name": "mock-wide",
                    "litellm_params": {"model": "mock/b"},
                    "model_info": priced,
                },
                {  # streams partial images (a fake OpenAI upstream on loopback)
                    "model_name": "gpt-stream",
                    "litellm_params": {
                        "model": "openai/gpt-image-2",
                        "api_key": "sk-console-upstream-1",
                        "api_base": f"{upstream.base}/v1",
                    },
                },
            ],
            "general_settings": {"database_url": f"sqlite:///{db}", "console_gallery": True},
        }
    )


UNNAMED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(el => el.type !== 'hidden' && !el.closest('[hidden]'))
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
    && !el.getAttribute('aria-labelledby') && !(el.tagName === 'BUTTON' && el.textContent.trim()))
  .map(el => el.outerHTML.slice(0, 120))"""


class Watched:
    """A browser page whose every request and console error is recorded; requests to any
    address but the proxy's are refused before they leave."""

    def __init__(self, browser: Any, base_url: str, width: int = 1280, height: int = 900) -> None:
        self.own = urlsplit(base_url).netloc
        self.base_url = base_url
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.expected_errors: list[str] = []  # substrings of errors a test provokes
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else 0)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def _route(self, route: Any) -> None:
        url = route.request.url
        self.requests.append(url)
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc != self.own:
            route.abort()
        else:
            route.continue_()

    def sign_in(self, key: str = MASTER_KEY) -> None:
        self.page.goto(f"{self.base_url}/")
        self.page.get_by_label("API key").fill(key)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.get_by_role("navigation", name="Console sections").wait_for(timeout=WAIT)

    def view(self, name: str) -> None:
        self.page.get_by_role("link", name=name, exact=True).click()
        self.page.get_by_role("heading", name=name, level=1).wait_for(timeout=WAIT)

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def check(self) -> None:
        unexpected = [e for e in self.errors if not any(x in e for x in self.expected_errors)]
        assert not unexpected, unexpected
        web = [u for u in self.requests if urlsplit(u).scheme in ("http", "https")]
        assert web and all(urlsplit(u).netloc == self.own for u in web), web
        assert all(urlsplit(u).hostname == "127.0.0.1" for u in web)


@pytest.fixture
def console(browser: Any, proxy: Any) -> Iterator[Watched]:
    watched = Watched(browser, proxy.base_url)
    yield watched
    watched.context.close()
    watched.check()


def api(proxy: Any) -> httpx.Client:
    return httpx.Client(
        base_url=proxy.base_url, headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=30
    )


def test_sign_in_refuses_a_wrong_key_and_keeps_the_key_from_scripts(console: Watched) -> None:
    page = console.page
    page.goto(f"{console.base_url}/")
    assert page.url.endswith("/console")
    console.shot("sign-in")
    console.expected_errors.append("401")  # the refused sign-in's failed fetch
    page.get_by_label("API key").fill("sk-wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid", timeout=WAIT)
    console.sign_in()
    cookies = {c["name"]: c for c in console.context.cookies()}
    session = cookies["imgproxy_console"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert MASTER_KEY not in session["value"]
    assert "imgproxy_console" not in page.evaluate("document.cookie")
    stored = page.evaluate(
        "JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})"
    )
    assert MASTER_KEY not in stored
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in").wait_for(timeout=WAIT)


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
    statuses = page.locator(".result .status").all_inner_texts()
    assert len(statuses) == 2
    assert all(re.search(r"2 images in [\d.]+ s · \$0\.08", s) for s in statuses), statuses
    assert page.get_by_role("link", name="Download").count() == 4
    expect(page.locator(".result .status").first).to_contain_text("kept in the gallery")
    console.shot("playground")
    first = next(b for b in sent if b["model"] == "mock-image")
    assert first["seed"] == 42 and first["size"] == "320x200" and first["n"] == 2
    page.get_by_role("button", name="Re-run mock-image with the same settings and seed").click()
    expect(page.locator(".result .status").first).to_contain_text("kept", timeout=WAIT)
    assert [b for b in sent if b["model"] == "mock-image"] == [first, first]


def test_keys_are_created_and_revoked_through_the_api(console: Watched, proxy: Any) -> None:
    console.sign_in()
    console.view("Keys")
    page = console.page
    page.get_by_text("Create a key").click()
    form = page.locator("details.create form")
    form.get_by_label("Alias").fill("browser-team")
    form.get_by_role("checkbox", name="mock-image").check()
    form.get_by_label("Budget (USD)").fill("5")
    form.get_by_label("Budget window").select_option("1d")
    form.get_by_label("Requests per minute").fill("10")
    form.get_by_label("Expires after").fill("30d")
    form.get_by_role("button", name="Create key").click()
    shown = page.locator("#new-key")
    shown.wait_for(timeout=WAIT)
    key = shown.inner_text()
    assert key.startswith("sk-")
    with api(proxy) as client:
        info = client.get("/key/info", params={"key": "browser-team"}).json()["info"]
        assert info["models"] == ["mock-image"]
        assert (info["max_budget"], info["budget_duration"], info["rpm_limit"]) == (5.0, "1d", 10)
        assert info["expires"] is not None
        assert client.get("/v1/models", headers={"authorization": f"Bearer {key}"}).json()[
            "data"
        ] == [{"id": "mock-image", "object": "model", "created": 0, "owned_by": "image-proxy"}]
    row = page.locator("tr", has_text="browser-team")
    row.wait_for(timeout=WAIT)
    assert "$5.00" in row.inner_text()
    console.shot("keys")
    page.get_by_role("button", name="Edit key browser-team").click()
    editor = page.locator("form.key-form").last
    editor.get_by_label("Budget (USD)").fill("7.5")
    editor.get_by_label("Requests per minute").fill("20")
    editor.get_by_role("button", name="Save changes").click()
    expect(row).to_contain_text("$7.50", timeout=WAIT)
    with api(proxy) as client:
        info = client.get("/key/info", params={"key": "browser-team"}).json()["info"]
        assert (info["max_budget"], info["rpm_limit"], info["models"]) == (7.5, 20, ["mock-image"])
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Revoke key browser-team").click()
    row.wait_for(state="detached", timeout=WAIT)
    with api(proxy) as client:
        assert client.get("/key/info", params={"key": "browser-team"}).status_code == 404
        revoked = client.get("/v1/models", headers={"authorization": f"Bearer {key}"})
        assert revoked.status_code == 401


def test_spend_chart_draws_the_requests_made(console: Watched, proxy: Any) -> None:
    with api(proxy) as client:
        for model in ("mock-image", "mock-wide", "mock-wide"):
            r = client.post(
                "/v1/images/generations", json={"model": model, "prompt": "p", "size": "16x16"}
            )
            assert r.status_code == 200, r.text
    console.sign_in()
    console.view("Spend")
    page = console.page
    chart = page.locator("svg.chart")
    chart.wait_for(timeout=WAIT)
    heights = chart.locator("rect.bar").evaluate_all(
        "rects => rects.map(r => Number(r.getAttribute('height')))"
    )
    assert heights and max(heights) > 0
    legend = page.locator(".legend").inner_text()
    assert "mock-image" in legend and "mock-wide" in legend
    assert page.locator(".stat", has_text="Images").inner_text() != "Images\n0"
    export = page.get_by_role("link", name="Export spend logs (CSV)")
    href = export.get_attribute("href") or ""
    assert href.startswith("/spend/logs.csv")
    console.shot("spend")
    page.get_by_label("Split by").select_option("key")
    expect(page.locator(".legend")).to_contain_text("master", timeout=WAIT)


def test_models_view_lists_every_deployment(console: Watched) -> None:
    console.sign_in()
    console.view("Models")
    page = console.page
    rows = page.locator("tbody tr")
    rows.first.wait_for(timeout=WAIT)
    assert rows.count() == 3
    text = page.locator("tbody").inner_text()
    assert "mock-image" in text and "mock-wide" in text and "ready" in text
    assert "generate" in text and "edit" in text
    assert "stream" in page.locator("tr", has_text="gpt-stream").inner_text()
    assert "stream" not in page.locator("tr", has_text="mock-wide").inner_text()
    console.shot("models")


def test_logs_view_filters_and_shows_a_request(console: Watched, proxy: Any) -> None:
    with api(proxy) as client:
        r = client.post(
            "/v1/images/generations", json={"model": "mock-wide", "prompt": "p", "size": "8x8"}
        )
        assert r.status_code == 200
        request_id = r.headers["x-request-id"]
    console.sign_in()
    console.view("Logs")
    page = console.page
    page.get_by_label("Model", exact=True).fill("mock-wide")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("tbody")).not_to_contain_text("mock-image", timeout=WAIT)
    button = page.get_by_role("button", name=f"Details of request {request_id}")
    button.click()
    detail = page.locator(".detail dl")
    detail.wait_for(timeout=WAIT)
    text = detail.inner_text()
    assert request_id in text and MASTER_KEY not in text and "b64" not in text
    console.shot("logs")


def test_phone_width_and_dark_mode(browser: Any, proxy: Any) -> None:
    watched = Watched(browser, proxy.base_url, width=390, height=844)
    try:
        watched.sign_in()
        page = watched.page
        page.get_by_role("checkbox", name="mock-image").wait_for(timeout=WAIT)
        page.get_by_role("button", name="Dark mode").click()
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow
        watched.shot("playground-phone-dark")
        page.reload()  # the theme is kept; focus starts at the top of the page
        page.get_by_role("checkbox", name="mock-image").wait_for(timeout=WAIT)
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        page.keyboard.press("Tab")  # the skip link first
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")  # then the view's first control
        assert page.evaluate("document.activeElement.value") == "mock-image"
        loaded = {
            "Spend": "svg.chart",
            "Keys": ".view .table-wrap, .view p.muted",
            "Models": "tbody tr",
        }
        for view, marker in {**loaded, "Logs": ".pager"}.items():  # wide tables scroll
            watched.view(view)
            page.locator(marker).first.wait_for(timeout=WAIT)
            wide = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
            assert not wide, view
            if view == "Spend":
                watched.shot("spend-phone-dark")
    finally:
        watched.context.close()
    watched.check()


def png(width: int, height: int, colour: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


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


def test_a_virtual_key_sees_its_own_playground_spend_and_key(console: Watched, proxy: Any) -> None:
    with api(proxy) as client:
        made = client.post(
            "/key/generate",
            json={"key_alias": "viewer", "models": ["mock-wide"], "max_budget": 2},
        )
        secret = made.json()["key"]
    console.sign_in(secret)
    page = console.page
    nav = page.get_by_role("navigation", name="Console sections")
    links = ["Playground", "Keys", "Spend", "Models", "Gallery"]  # no Logs
    assert nav.get_by_role("link").all_inner_texts() == links
    assert page.locator("fieldset.models input").count() == 1  # mock-wide only
    assert page.get_by_role("checkbox", name="mock-wide").is_checked()
    page.get_by_label("Prompt", exact=True).fill("a kite")
    page.get_by_label("Size", exact=True).fill("64x32")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator(".result .status")).to_contain_text("$0.04", timeout=WAIT)
    console.view("Keys")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("viewer", timeout=WAIT)
    expect(facts).to_contain_text("$1.96")  # remaining of the $2 budget after one image
    console.view("Spend")
    expect(page.locator(".legend")).to_contain_text("mock-wide", timeout=WAIT)
    assert page.get_by_role("link", name="Export spend logs (CSV)").count() == 0


def test_gallery_lists_kept_images_filters_and_deletes(console: Watched, proxy: Any) -> None:
    console.sign_in()
    page = console.page
    page.get_by_role("checkbox", name="mock-wide").check()
    page.get_by_label("Prompt", exact=True).fill("a gallery of kites")
    page.get_by_label("Size", exact=True).fill("48x32")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator(".result .status")).to_contain_text(
        ["kept in the gallery", "kept in the gallery"], timeout=WAIT
    )
    console.view("Gallery")
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
    with api(proxy) as client:
        kept = client.get("/gallery", params={"model": "mock-wide"}).json()["data"]
        assert all(e["prompt"] != "a gallery of kites" for e in kept)
        assert any(
            e["prompt"] == "a gallery of kites" for e in client.get("/gallery").json()["data"]
        )


def sse_event(kind: str, **fields: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()


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


def test_every_control_of_every_view_has_an_accessible_name(console: Watched) -> None:
    console.sign_in()
    page = console.page
    loaded = {
        "Playground": "fieldset.models",
        "Keys": ".view .table-wrap, .view p.muted",
        "Spend": "svg.chart",
        "Models": "tbody tr",
        "Logs": ".pager",
        "Gallery": ".gallery > *",
    }
    for view, marker in loaded.items():
        console.view(view)
        page.locator(marker).first.wait_for(timeout=WAIT)
        assert page.evaluate(UNNAMED_CONTROLS) == [], view
    page.get_by_role("link", name="Playground").click()
    page.get_by_role("radio", name="Edit").check()
    assert page.evaluate(UNNAMED_CONTROLS) == []
