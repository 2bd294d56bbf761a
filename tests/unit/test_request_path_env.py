"""Providers read the environment once, when the config loads: building a request, signing
it and parsing the answer never touch ``os.environ`` (Google, Vertex, Bedrock)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import orjson
import pytest

from proxy.config import Deployment
from proxy.configure import parse_config
from proxy.credentials.base import Credentials
from proxy.providers.registry import PROVIDERS, ProviderSpec
from proxy.schemas import ChatRequest, ImageRequest
from proxy.upstream_request import UpstreamRequest, UpstreamResponse

PNG = "iVBORw0KGgo="


class Untouchable(Mapping[str, str]):
    """An ``os.environ`` that fails the test on any read."""

    def _touched(self, *args: Any) -> NoReturn:
        raise AssertionError(f"os.environ read on the request path {args!r}")

    def __getitem__(self, key: str) -> str:
        self._touched(key)

    def __iter__(self) -> Iterator[str]:
        self._touched()

    def __len__(self) -> int:
        self._touched()

    def get(self, key: str, default: Any = None) -> Any:
        self._touched(key)

    def __contains__(self, key: object) -> bool:
        self._touched(key)


def load(model: str, env: dict[str, str], **params: Any) -> Deployment:
    data = {"model_list": [{"model_name": "m", "litellm_params": {"model": model, **params}}]}
    return parse_config(data, env=env).deployments[0]


def answer(body: dict[str, Any]) -> UpstreamResponse:
    return UpstreamResponse(200, {"content-type": "application/json"}, orjson.dumps(body))


GEMINI_ANSWER = {
    "candidates": [
        {"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}}]}}
    ],
    "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 1290},
}


class Token:
    """Stands in for Google OAuth, whose tokens google-auth mints off the request path."""

    async def authorize(self, request: UpstreamRequest) -> None:
        request.headers["authorization"] = "Bearer t"


async def round_trip(
    deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
    image_answer: dict[str, Any],
    credentials: Credentials | None = None,
) -> list[UpstreamRequest]:
    """Credentials built at start-up; then, with ``os.environ`` untouchable, an image request
    (and a chat one where the provider has chat) is built, authorized and parsed."""
    spec = PROVIDERS[deployment.provider]
    credentials = credentials or spec.credentials(deployment)
    assert spec.images is not None
    with monkeypatch.context() as patched:
        patched.setattr(os, "environ", Untouchable())
        return await _round_trip(spec, deployment, image_answer, credentials)


async def _round_trip(
    spec: ProviderSpec,
    deployment: Deployment,
    image_answer: dict[str, Any],
    credentials: Credentials,
) -> list[UpstreamRequest]:
    assert spec.images is not None
    image_request = ImageRequest.from_body({"model": "m", "prompt": "a lighthouse"})
    built = spec.images.build(image_request, deployment)
    for request in built:
        await credentials.authorize(request)
    result = spec.images.parse(answer(image_answer), image_request, deployment)
    assert result.data
    if spec.chat is not None:
        chat_request = ChatRequest.from_body(
            {"model": "m", "messages": [{"role": "user", "content": "a lighthouse"}]}
        )
        built.append(spec.chat.build(chat_request, deployment))
        chat = spec.chat.parse(answer(GEMINI_ANSWER), chat_request, deployment)
        assert chat.body["choices"]
    return built


async def test_gemini(monkeypatch: pytest.MonkeyPatch) -> None:
    d = load(
        "gemini/gemini-2.5-flash-image", {"GEMINI_KEY": "AIza-k"}, api_key="os.environ/GEMINI_KEY"
    )
    built = await round_trip(d, monkeypatch, GEMINI_ANSWER)
    assert built[0].url.startswith("https://generativelanguage.googleapis.com/")


async def test_vertex_project_location_and_adc_file_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "adc.json"
    key.write_text(json.dumps({"type": "authorized_user", "project_id": "adc-proj"}))
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(key), "VERTEXAI_LOCATION": "europe-west1"}
    d = load("vertex_ai/gemini-2.5-flash-image", env)
    assert d.env("GOOGLE_APPLICATION_CREDENTIALS") == str(key)
    built = await round_trip(d, monkeypatch, GEMINI_ANSWER, Token())
    assert built[0].url.startswith(
        "https://europe-west1-aiplatform.googleapis.com/v1/projects/adc-proj/locations/europe-west1/"
    )


async def test_bedrock_region_and_bearer_token_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {"AWS_REGION": "eu-central-1", "AWS_BEARER_TOKEN_BEDROCK": "env-bedrock-key"}
    d = load("bedrock/amazon.nova-canvas-v1:0", env)
    built = await round_trip(d, monkeypatch, {"images": [PNG]})
    assert built[0].url.startswith("https://bedrock-runtime.eu-central-1.amazonaws.com/")
    assert built[0].headers["authorization"] == "Bearer env-bedrock-key"


def test_the_captured_environment_is_not_in_the_deployment_repr() -> None:
    d = load(
        "bedrock/amazon.nova-canvas-v1:0",
        {"AWS_REGION": "eu-central-1", "AWS_BEARER_TOKEN_BEDROCK": "env-bedrock-key"},
    )
    assert d.env("AWS_BEARER_TOKEN_BEDROCK") == "env-bedrock-key"
    assert "env-bedrock-key" not in repr(d)


def test_a_provider_captures_only_the_variables_it_declares() -> None:
    env = {"AWS_REGION": "eu-central-1", "GOOGLE_CLOUD_PROJECT": "p", "HOME": "/root"}
    assert load("bedrock/amazon.nova-canvas-v1:0", env).environment == (
        ("AWS_REGION", "eu-central-1"),
    )
    assert load("openai/gpt-image-1", env, api_key="k").environment == ()
