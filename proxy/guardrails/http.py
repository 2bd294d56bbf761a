"""Shared plumbing of guardrails that call a service: one pooled client, JSON in and out.

The client (httpx) is made by ``install_guardrails`` only when such a guardrail is configured,
so a gateway without one never loads httpx.

Every failure (network, timeout, non-2xx, unreadable JSON) becomes ``GuardrailServiceError``
with a short description that never contains the service's credentials or the prompt.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.guardrails.base import Guardrail, GuardrailServiceError, HTTPGuardrailParams


class HTTPGuardrail(Guardrail):
    needs_http = True

    def headers(self) -> dict[str, str]:
        params = self.params
        assert isinstance(params, HTTPGuardrailParams)
        out = {"content-type": "application/json", **params.headers}
        if params.api_key:
            out["authorization"] = f"Bearer {params.api_key}"
        return out

    async def post_json(self, url: str, payload: dict[str, Any]) -> Any:
        import httpx  # loaded with the client at start-up: only a lookup here

        params = self.params
        assert isinstance(params, HTTPGuardrailParams)
        assert self.http is not None, "install_guardrails makes the client for HTTP guardrails"
        try:
            response = await self.http.post(
                url,
                content=orjson.dumps(payload),
                headers=self.headers(),
                timeout=httpx.Timeout(params.timeout),
            )
        except httpx.TimeoutException:
            raise GuardrailServiceError(f"no answer within {params.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise GuardrailServiceError(f"unreachable ({type(exc).__name__})") from None
        if response.status_code >= 300:
            raise GuardrailServiceError(f"the service answered HTTP {response.status_code}")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise GuardrailServiceError("the service answered with invalid JSON") from None
