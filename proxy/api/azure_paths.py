"""Azure-style routes: ``/openai/deployments/{deployment}/images/generations`` (and chat).

``openai.AzureOpenAI(azure_endpoint=<proxy>, api_key=<key>, api_version=…)`` calls these
paths with the key in the ``api-key`` header. The deployment in the path is the public model
name, as it selects the model on Azure itself; ``api-version`` is accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.requests import Request

AZURE_PREFIX = "/openai/deployments/{deployment}"

R = TypeVar("R")


def model_from_path(
    request: Request, parse: Callable[[dict[str, Any]], R]
) -> Callable[[dict[str, Any]], R]:
    """``parse`` with the body's ``model`` set from an Azure deployment path, if any."""
    deployment = request.path_params.get("deployment")
    if not isinstance(deployment, str):
        return parse

    def parse_for_deployment(body: dict[str, Any]) -> R:
        return parse({**body, "model": deployment})

    return parse_for_deployment
