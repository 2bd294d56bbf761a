"""The web console in a real browser (Debian's chromium driven by Playwright): sign-in, keys
created, edited and revoked (checked against the API), a spend chart that draws, the models
and logs views, a virtual key's own views, phone width and dark mode, an accessible name on
every control. Every test fails on any JavaScript console error and on any request that
leaves the proxy's loopback address (``tests/e2e/console_page.py``). The playground has its
own file (``test_console_playground_browser.py``)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.conftest import MASTER_KEY
from tests.e2e.console_page import (  # noqa: F401 (fixtures)
    UNNAMED_CONTROLS,
    WAIT,
    Watched,
    api,
    console_config,
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


def test_keys_are_created_and_revoked_through_the_api(console: Watched, console_proxy: Any) -> None:
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
    with api(console_proxy) as client:
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
    with api(console_proxy) as client:
        info = client.get("/key/info", params={"key": "browser-team"}).json()["info"]
        assert (info["max_budget"], info["rpm_limit"], info["models"]) == (7.5, 20, ["mock-image"])
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Revoke key browser-team").click()
    row.wait_for(state="detached", timeout=WAIT)
    with api(console_proxy) as client:
        assert client.get("/key/info", params={"key": "browser-team"}).status_code == 404
        revoked = client.get("/v1/models", headers={"authorization": f"Bearer {key}"})
        assert revoked.status_code == 401


def test_spend_chart_draws_the_requests_made(console: Watched, console_proxy: Any) -> None:
    with api(console_proxy) as client:
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


def test_logs_view_filters_and_shows_a_request(console: Watched, console_proxy: Any) -> None:
    with api(console_proxy) as client:
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
    assert request_id in text and MASTER_KEY not in text and "b64_json" not in text
    # no image payload: no long base64 run (a request id may well contain "b64")
    assert not re.search(r"[A-Za-z0-9+/=]{100,}", text)
    console.shot("logs")


def test_phone_width_and_dark_mode(browser: Any, console_proxy: Any) -> None:
    watched = Watched(browser, console_proxy.base_url, width=390, height=844)
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


def test_a_virtual_key_sees_its_own_playground_spend_and_key(
    console: Watched, console_proxy: Any
) -> None:
    with api(console_proxy) as client:
        made = client.post(
            "/key/generate",
            json={"key_alias": "viewer", "models": ["mock-wide"], "max_budget": 2},
        )
        secret = made.json()["key"]
    console.sign_in(secret)
    page = console.page
    nav = page.get_by_role("navigation", name="Console sections")
    links = ["Playground", "Keys", "Spend", "Models", "Gallery"]  # no Logs
    expect(nav.get_by_role("link")).to_have_text(links, timeout=WAIT)
    # the playground's models come from /v1/models: wait for them, then mock-wide only
    expect(page.locator("fieldset.models input")).to_have_count(1, timeout=WAIT)
    expect(page.get_by_role("checkbox", name="mock-wide")).to_be_checked()
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
