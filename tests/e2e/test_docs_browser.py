"""GET /docs in a real browser (Debian's chromium driven by Playwright): Swagger UI renders the
proxy's own document from the proxy's own assets, with no request to any other origin and no
Content-Security-Policy violation."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any) -> Any:
    return proxy_factory(
        {"model_list": [{"model_name": "mock-image", "litellm_params": {"model": "mock/x"}}]}
    )


def test_swagger_ui_renders_every_tag_offline(proxy: Any, browser: Any) -> None:
    page = browser.new_page()
    requested: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{proxy.base_url}/docs")
    page.wait_for_selector(".opblock-tag-section", timeout=20_000)
    tags = page.locator(".opblock-tag").all_inner_texts()
    titles = " ".join(tags).lower()
    for tag in ("images", "chat", "models", "keys", "spend", "health"):
        assert tag in titles, tags
    page.locator(".opblock-summary-path", has_text="/v1/images/generations").first.wait_for()
    assert page.locator(".opblock").count() >= 25
    own = urlsplit(proxy.base_url).netloc
    assert requested and all(urlsplit(u).netloc == own for u in requested), requested
    assert not problems, problems  # a CSP violation is reported as a console error
    page.close()
