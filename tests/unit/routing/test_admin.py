"""The router state endpoint: master key only, no secrets."""

from __future__ import annotations

from dataclasses import replace

import httpx
from starlette.applications import Starlette

from proxy.app import create_app
from proxy.auth import hash_key
from proxy.context import KeyInfo
from proxy.pipeline import Pipeline
from tests.unit.routing.helpers import make_config

MASTER = "sk-master-admin-test"


def app_with_virtual_key() -> tuple[Starlette, Pipeline]:
    config = make_config({"g": [{}, {}]})
    general = config.general.model_copy(update={"master_key": MASTER})
    app = create_app(replace(config, general=general))
    assert app.services is not None
    gateway: Pipeline = app.services.pipeline

    async def lookup(key_hash: str) -> KeyInfo | None:  # the Authenticator looks up by hash
        return KeyInfo(key_hash="h", alias="team") if key_hash == hash_key("sk-virtual") else None

    gateway.auth.lookup = lookup
    return app, gateway


async def test_only_the_master_key_sees_router_state() -> None:
    app, gateway = app_with_virtual_key()
    dep = gateway.router.groups["g"][0]
    await gateway.router.cooldowns.cool(dep, 30, "upstream_model_not_found", 502)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
        virtual = await client.get(
            "/router/cooldowns", headers={"authorization": "Bearer sk-virtual"}
        )
        assert virtual.status_code == 403
        assert virtual.json()["error"]["type"] == "permission_error"
        refused = await client.delete(
            "/router/cooldowns/g-0", headers={"authorization": "Bearer sk-virtual"}
        )
        assert refused.status_code == 403
        assert refused.json()["error"]["type"] == "permission_error"
        master = await client.get(
            "/router/cooldowns", headers={"authorization": f"Bearer {MASTER}"}
        )
        body = master.json()
        assert body["cooling_down"] == ["g-0"]
        assert "sk-test" not in master.text and "upstream.invalid" not in master.text
        missing = await client.delete(
            "/router/cooldowns/nope", headers={"authorization": f"Bearer {MASTER}"}
        )
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        assert "nope" in missing.json()["error"]["message"]
