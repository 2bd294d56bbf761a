"""Vertex credentials: google-auth mints, the proxy caches, refreshes early, off the loop."""

from __future__ import annotations

import asyncio
import datetime
import threading
from typing import Any

import pytest

from proxy.credentials.google import GoogleOAuth
from proxy.errors import ProviderAuthError
from proxy.upstream_request import UpstreamRequest
from tests.fakes.google import GoogleFake
from tests.fakes.server import FakeUpstream


@pytest.fixture
def google(fake: FakeUpstream) -> GoogleFake:
    return GoogleFake(fake, "unused").install()


def request() -> UpstreamRequest:
    return UpstreamRequest("POST", "https://example.invalid/")


async def test_concurrent_requests_share_one_token(google: GoogleFake) -> None:
    sa = google.service_account("concurrent")
    creds = GoogleOAuth(sa.info)
    requests = [request() for _ in range(20)]
    await asyncio.gather(*(creds.authorize(r) for r in requests))
    assert google.token_requests == [sa.client_email]
    tokens = {r.headers["authorization"] for r in requests}
    assert len(tokens) == 1
    assert google.issued[tokens.pop().removeprefix("Bearer ")] == sa.client_email


async def test_token_refreshed_before_expiry_and_off_the_event_loop(
    google: GoogleFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    sa = google.service_account("refresh")
    creds = GoogleOAuth(sa.info)
    loop_thread = threading.get_ident()
    refresh_threads: list[int] = []
    original = GoogleOAuth._refresh

    def spy(self: GoogleOAuth) -> Any:
        refresh_threads.append(threading.get_ident())
        return original(self)

    monkeypatch.setattr(GoogleOAuth, "_refresh", spy)
    first = request()
    await creds.authorize(first)
    await creds.authorize(request())
    assert len(google.token_requests) == 1
    # Two minutes left: inside google-auth's refresh margin, so a new token is minted.
    inner = creds._credentials
    inner.expiry = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + datetime.timedelta(
        minutes=2
    )
    second = request()
    await creds.authorize(second)
    assert google.token_requests == [sa.client_email, sa.client_email]
    assert second.headers["authorization"] != first.headers["authorization"]
    assert refresh_threads and loop_thread not in refresh_threads


async def test_refused_grant_names_account_not_key(google: GoogleFake) -> None:
    rogue = google.service_account("unknown", registered=False)
    creds = GoogleOAuth(rogue.info)
    with pytest.raises(ProviderAuthError) as info:
        await creds.authorize(request())
    assert rogue.client_email in info.value.message
    assert "invalid_grant" in info.value.message
    assert "BEGIN PRIVATE KEY" not in info.value.message
    assert rogue.info["private_key"][40:80] not in info.value.message


async def test_quota_project_header(google: GoogleFake) -> None:
    sa = google.service_account("quota")
    creds = GoogleOAuth({**sa.info, "quota_project_id": "billing-proj"})
    req = request()
    await creds.authorize(req)
    assert req.headers["x-goog-user-project"] == "billing-proj"


async def test_adc_is_loaded_off_the_loop_and_its_absence_is_a_provider_auth_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import google.auth
    import google.auth.exceptions

    threads: list[int] = []

    def no_adc(**kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        assert kwargs["scopes"] == ["https://www.googleapis.com/auth/cloud-platform"]
        # google-auth's exception classes are untyped
        raise google.auth.exceptions.DefaultCredentialsError(  # type: ignore[no-untyped-call]
            "Your default credentials were not found."
        )

    monkeypatch.setattr(google.auth, "default", no_adc)
    creds = GoogleOAuth(None)
    with pytest.raises(ProviderAuthError) as info:
        await creds.authorize(request())
    assert "Application Default Credentials" in info.value.message
    assert "default credentials were not found" in info.value.message
    assert threads and threads[0] != threading.get_ident()


async def test_a_token_vertex_refused_with_401_is_replaced_once(google: GoogleFake) -> None:
    sa = google.service_account("revoked")
    creds = GoogleOAuth(sa.info)
    first = request()
    await creds.authorize(first)
    creds.rejected(request())  # a request without this token's header changes nothing
    again = request()
    await creds.authorize(again)
    assert again.headers == first.headers and len(google.token_requests) == 1
    creds.rejected(first)
    fresh, reused = request(), request()
    await creds.authorize(fresh)
    await creds.authorize(reused)
    assert fresh.headers["authorization"] != first.headers["authorization"]
    assert reused.headers == fresh.headers
    assert google.token_requests == [sa.client_email, sa.client_email]
