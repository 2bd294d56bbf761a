"""The OpenAPI document and the docs page, through the real server; and a bounded fuzz run of
every documented operation (schemathesis, master key) that must find no server error and no
answer the document does not describe.

``IMAGE_PROXY_FUZZ_EXAMPLES`` raises the number of examples per operation for a longer run by
hand (default 15: the whole run takes seconds).
"""

from __future__ import annotations

import os
import re
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from proxy.schemas import IMAGE_RESPONSE_FORMATS
from proxy.schemas.wire import ImageGenerationRequest
from tests.conftest import MASTER_KEY

FUZZ_EXAMPLES = int(os.environ.get("IMAGE_PROXY_FUZZ_EXAMPLES", "15"))
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any) -> Any:
    return proxy_factory(
        {
            "model_list": [
                {"model_name": "mock-image", "litellm_params": {"model": "mock/placeholder"}},
            ],
        }
    )


@pytest.fixture(scope="module")
def document(proxy: Any) -> dict[str, Any]:
    r = httpx.get(f"{proxy.base_url}/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body: dict[str, Any] = r.json()
    return body


def test_the_document_is_openapi_3_1_with_every_route(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "image-proxy"
    expected = {
        ("/v1/images/generations", "post"),
        ("/images/generations", "post"),
        ("/openai/deployments/{deployment}/images/generations", "post"),
        ("/v1/images/edits", "post"),
        ("/images/edits", "post"),
        ("/openai/deployments/{deployment}/images/edits", "post"),
        ("/v1/images/variations", "post"),
        ("/images/variations", "post"),
        ("/v1/chat/completions", "post"),
        ("/chat/completions", "post"),
        ("/openai/deployments/{deployment}/chat/completions", "post"),
        ("/v1/models", "get"),
        ("/v1/models/{model_id}", "get"),
        ("/v1/images/files/{file_id}", "get"),
        ("/health/liveness", "get"),
        ("/health/readiness", "head"),
        ("/metrics", "get"),
        ("/key/generate", "post"),
        ("/key/info", "get"),
        ("/key/update", "post"),
        ("/key/delete", "post"),
        ("/key/list", "get"),
        ("/key/block", "post"),
        ("/key/unblock", "post"),
        ("/key/regenerate", "post"),
        ("/model/info", "get"),
        ("/v1/model/info", "get"),
        ("/model_group/info", "get"),
        ("/health", "get"),
        ("/spend/logs", "get"),
        ("/spend/users", "get"),
        ("/global/spend", "get"),
        ("/router/cooldowns", "get"),
        ("/router/cooldowns/{deployment_id}", "delete"),
    }
    present = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert expected <= present, expected - present
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_model_endpoints_document_their_full_bodies(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    image = schemas["ImageGenerationRequest"]
    assert {"prompt", "model"} <= set(image["required"])
    for name in ("n", "size", "quality", "response_format", "stream", "user", "background"):
        assert name in image["properties"], name
    assert image["additionalProperties"] is True  # unknown parameters reach the provider
    chat = schemas["ChatCompletionRequest"]
    assert {"model", "messages"} <= set(chat["required"])
    assert {"stream", "stream_options", "modalities"} <= set(chat["properties"])
    op = document["paths"]["/v1/images/generations"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ImageGenerationRequest"
    }
    ok = op["responses"]["200"]["content"]
    assert ok["application/json"]["schema"]["$ref"].endswith("/ImagesResponse")
    assert "text/event-stream" in ok
    assert op["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorResponse"
    )
    assert "data" in schemas["ImagesResponse"]["required"]


def test_edits_document_their_multipart_and_json_bodies(document: dict[str, Any]) -> None:
    content = document["paths"]["/v1/images/edits"]["post"]["requestBody"]["content"]
    assert set(content) == {"multipart/form-data", "application/json"}
    form = document["components"]["schemas"]["ImageEditRequest"]
    assert {"image", "prompt", "model"} <= set(form["required"])
    assert form["properties"]["image"]["items"]["format"] == "binary"
    assert {"mask", "input_fidelity", "partial_images", "stream"} <= set(form["properties"])
    variations = document["paths"]["/v1/images/variations"]["post"]["requestBody"]["content"]
    assert set(variations) == {"multipart/form-data"}


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    text = httpx.Response(200, json=document).text
    refs = set(re.findall(r'"\$ref":"#/components/schemas/([^"]+)"', text.replace(" ", "")))
    assert refs and refs <= set(document["components"]["schemas"])


def test_documented_response_formats_match_the_validator() -> None:
    field = ImageGenerationRequest.model_json_schema()["properties"]["response_format"]
    documented = next(v["enum"] for v in field["anyOf"] if "enum" in v)
    assert set(documented) == set(IMAGE_RESPONSE_FORMATS)


def test_docs_page_is_self_contained(proxy: Any) -> None:
    r = httpx.get(f"{proxy.base_url}/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", r.text, re.S)
    assert scripts and all('src="/' in attrs and not body.strip() for attrs, body in scripts)
    assets = re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', r.text)
    assert len(assets) == 4
    for path in assets:
        a = httpx.get(f"{proxy.base_url}{path}")
        assert a.status_code == 200 and a.content, path
        assert "immutable" in a.headers["cache-control"]
    assert "http://" not in r.text and "https://" not in r.text  # nothing from elsewhere
    missing = httpx.get(f"{proxy.base_url}/docs/assets/0.0.0/swagger-ui.css")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


@pytest.fixture(scope="module")
def api_schema(proxy: Any) -> Any:
    return schemathesis.openapi.from_url(f"{proxy.base_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_fuzz_every_operation(case: Any) -> None:
    """No server error, and every answer is one the document describes (status, content type,
    body shape). Acceptance of valid input is not asserted: a valid body may still be refused
    for what it means (an alias taken, a key that does not exist)."""
    case.call_and_validate(
        headers=AUTH,
        checks=[
            checks.not_a_server_error,
            checks.status_code_conformance,
            checks.content_type_conformance,
            checks.response_schema_conformance,
        ],
    )
