"""What the console's browser tests share: the proxy's config, a watched browser page (every
request and console error recorded, any request off the proxy's loopback address refused),
and small helpers (the fixtures ``console_proxy`` and ``console`` are in ``conftest.py``).
Screenshots go to ``build/console-screenshots/`` (copied to ``docs/console/`` for the
README)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.conftest import MASTER_KEY
from tests.fakes.server import FakeUpstream

SHOTS = Path(__file__).resolve().parents[2] / "build" / "console-screenshots"
WAIT = 15_000  # ms: the longest any expectation waits


def console_config(db: Path, upstream: FakeUpstream) -> dict[str, Any]:
    """Two priced mock models, one that streams from the fake upstream, the gallery on."""
    priced = {"output_cost_per_image": 0.04}
    return {
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


def api(proxy: Any) -> httpx.Client:
    return httpx.Client(
        base_url=proxy.base_url, headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=30
    )


def png(width: int, height: int, colour: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def sse_event(kind: str, **fields: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()
