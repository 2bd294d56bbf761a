"""Where a Bedrock deployment sends its requests: region, runtime base URL, invoke URL.

``modelId`` is a URI label, so it is percent-encoded the way botocore does it (everything
except ``-._~``): ``amazon.nova-canvas-v1:0`` goes out as ``amazon.nova-canvas-v1%3A0`` and an
inference-profile ARN keeps its ``/`` inside the label as ``%2F``.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from proxy.config.deployment import Deployment
from proxy.providers.base import join_url

REGION_ENV = ("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION")
BEARER_ENV = "AWS_BEARER_TOKEN_BEDROCK"  # botocore's Bedrock API key (proxy.credentials.aws)
ENVIRONMENT = (*REGION_ENV, BEARER_ENV)  # what a Bedrock deployment reads, at config load
_RUNTIME_HOST = re.compile(r"^https?://bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com")
_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:bedrock:([a-z0-9-]+):")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d$")


def runtime_endpoint(deployment: Deployment) -> str | None:
    """The configured base URL, if any (``api_base`` or LiteLLM's own spelling)."""
    value = deployment.param("api_base", "aws_bedrock_runtime_endpoint")
    return str(value) if value else None


def model_id(deployment: Deployment) -> str:
    """The id that goes in the URL: LiteLLM's ``model_id`` (an ARN for provisioned
    throughput or an inference profile) when set, else the model after ``bedrock/``."""
    return str(deployment.param("model_id") or deployment.model)


def region(deployment: Deployment) -> str | None:
    """``aws_region_name``, else the region in a model ARN or a bedrock-runtime base URL,
    else the AWS_REGION family of variables (as they were when the config loaded). ``None``
    when nothing names one."""
    configured = deployment.param("aws_region_name")
    if configured:
        return str(configured)
    for pattern, text in (
        (_ARN_REGION, model_id(deployment)),
        (_RUNTIME_HOST, runtime_endpoint(deployment) or ""),
    ):
        found = pattern.match(text)
        if found:
            return found.group(1)
    return deployment.env(*REGION_ENV)


def validate_region(deployment: Deployment) -> str | None:
    value = region(deployment)
    if value is None:
        return (
            "litellm_params.aws_region_name: required for bedrock (no AWS_REGION / "
            "AWS_DEFAULT_REGION in the environment either); it selects the endpoint and the "
            "signing scope"
        )
    if not _REGION.match(value):
        return f"litellm_params.aws_region_name: {value!r} is not an AWS region name"
    return None


def base_url(deployment: Deployment) -> str:
    return (
        runtime_endpoint(deployment)
        or f"https://bedrock-runtime.{region(deployment)}.amazonaws.com"
    )


def encode_label(value: str) -> str:
    return quote(value, safe="-._~")


def invoke_url(deployment: Deployment) -> str:
    return join_url(base_url(deployment), f"model/{encode_label(model_id(deployment))}/invoke")
