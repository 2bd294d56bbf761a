"""Where a Google deployment sends its requests: base URL, model path, Vertex project.

``api_base`` replaces the default base (everything before ``/models/…`` on the Gemini API,
before ``/projects/…`` on Vertex). A bare origin (``https://host``, no path, as google-genai's
``base_url`` is given) gets the default API version appended (``/v1beta``, ``/v1``). The model
family, not a list of ids, decides the API: ``imagen-*`` and ``imagegeneration@*`` use
``:predict``; everything else ``:generateContent``.

Without ``vertex_project`` the project comes from the service-account key, else from the
environment the way google-auth's ADC finds it (``GOOGLE_CLOUD_PROJECT``, LiteLLM's
``VERTEXAI_PROJECT``, the ``project_id`` of the ``GOOGLE_APPLICATION_CREDENTIALS`` file): the
variables as the deployment captured them when the config loaded (``VERTEX_ENV``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from proxy.config.deployment import Deployment
from proxy.providers.base import join_url

GEMINI_BASE = "https://generativelanguage.googleapis.com/v1beta"
VERTEX_EXPRESS_BASE = "https://aiplatform.googleapis.com/v1beta1"
DEFAULT_LOCATION = "us-central1"
MULTI_REGIONS = frozenset({"us", "eu"})

PROJECT_PARAMS = ("vertex_project", "vertex_ai_project")
LOCATION_PARAMS = ("vertex_location", "vertex_ai_location")
CREDENTIALS_PARAMS = ("vertex_credentials", "vertex_ai_credentials")
PROJECT_ENV = ("VERTEXAI_PROJECT", "GOOGLE_CLOUD_PROJECT")
LOCATION_ENV = ("VERTEXAI_LOCATION", "GOOGLE_CLOUD_LOCATION")
ADC_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
VERTEX_ENV = (*PROJECT_ENV, *LOCATION_ENV, ADC_ENV)  # what a Vertex deployment reads


def model_name(model: str) -> str:
    return model.rsplit("/", 1)[-1].lower()


def is_imagen(model: str) -> bool:
    name = model_name(model)
    return name.startswith(("imagen", "imagegeneration"))


def is_image_model(model: str) -> bool:
    """Gemini models that answer with images (``gemini-2.5-flash-image``, ``…-image-preview``)."""
    name = model_name(model)
    return "image" in name or "nano-banana" in name


class CredentialsFileError(ValueError):
    """``vertex_credentials`` names a file that cannot be read or is not JSON."""


@functools.lru_cache(maxsize=64)
def _credentials_info(value: str) -> tuple[tuple[str, Any], ...]:
    text = value.strip()
    if not text.startswith("{"):
        path = Path(os.path.expanduser(text))
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CredentialsFileError(f"cannot read {path} ({exc.strerror})") from None
    try:
        info = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise CredentialsFileError("not valid JSON") from None
    if not isinstance(info, dict):
        raise CredentialsFileError("must be a JSON object")
    return tuple(info.items())


def credentials_info(value: str | dict[str, Any]) -> dict[str, Any]:
    """A service-account (or other google-auth) JSON object from a path or the JSON itself.

    Read once per value and cached: the first read happens while the config is validated at
    start-up, so requests never touch the file system.
    """
    if isinstance(value, dict):
        return value
    return dict(_credentials_info(value))


@dataclass(frozen=True, slots=True)
class VertexTarget:
    project: str | None
    location: str
    credentials: str | dict[str, Any] | None


def _project_of(info: dict[str, Any]) -> str | None:
    project = info.get("project_id") or info.get("quota_project_id")
    return str(project) if project else None


def _adc_project(deployment: Deployment) -> str | None:
    """The project of the ADC key file, when it names one (read once, at start-up)."""
    path = deployment.env(ADC_ENV)
    if not path:
        return None
    try:
        return _project_of(credentials_info(path))
    except CredentialsFileError:
        return None  # google-auth reports the unreadable file when a token is asked for


def vertex_target(deployment: Deployment) -> VertexTarget:
    raw = deployment.param(*CREDENTIALS_PARAMS)
    project = deployment.param(*PROJECT_PARAMS)
    if not project and raw:
        project = _project_of(credentials_info(raw))
    if not project and not raw:
        project = deployment.env(*PROJECT_ENV) or _adc_project(deployment)
    location = (
        deployment.param(*LOCATION_PARAMS) or deployment.env(*LOCATION_ENV) or DEFAULT_LOCATION
    )
    return VertexTarget(project, str(location), raw)


def is_express(deployment: Deployment) -> bool:
    """Vertex "express mode": an API key and neither a project nor credentials configured
    (a project found only in the environment does not turn the key into OAuth)."""
    if not deployment.params.api_key or deployment.param(*CREDENTIALS_PARAMS):
        return False
    return not deployment.param(*PROJECT_PARAMS)


def vertex_base(location: str) -> str:
    if location == "global":
        return "https://aiplatform.googleapis.com/v1"
    if location in MULTI_REGIONS:
        return f"https://aiplatform.{location}.rep.googleapis.com/v1"
    return f"https://{location}-aiplatform.googleapis.com/v1"


def custom_base(deployment: Deployment, version: str) -> str | None:
    """``api_base``, with ``/{version}`` appended when it is a bare origin."""
    base = deployment.params.api_base
    if not base:
        return None
    if urlsplit(base).path.strip("/") == "":
        return join_url(base, version)
    return base


def endpoint(deployment: Deployment, action: str) -> str:
    """The full URL of ``{model}:{action}`` for this deployment."""
    model = deployment.model
    if deployment.provider == "gemini":
        path = model if "/" in model else f"models/{model}"
        return join_url(custom_base(deployment, "v1beta") or GEMINI_BASE, f"{path}:{action}")
    if "/" in model:  # a full resource name (tuned model, endpoint) is used as is
        base = custom_base(deployment, "v1") or vertex_base(vertex_target(deployment).location)
        return join_url(base, f"{model}:{action}")
    if is_express(deployment):
        base = custom_base(deployment, "v1beta1") or VERTEX_EXPRESS_BASE
        return join_url(base, f"publishers/google/models/{model}:{action}")
    target = vertex_target(deployment)
    base = custom_base(deployment, "v1") or vertex_base(target.location)
    path = (
        f"projects/{target.project}/locations/{target.location}"
        f"/publishers/google/models/{model}:{action}"
    )
    return join_url(base, path)


def stream_query() -> dict[str, str]:
    return {"alt": "sse"}
