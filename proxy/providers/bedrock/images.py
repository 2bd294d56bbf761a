"""``/images/generations`` on Bedrock: pick the family from the model id, build its native
body (fanned out for one-image-per-call families), parse its answer, map its errors.
``/images/edits`` (``ImageEditor``) for the Stability Image Services that edit, and only
for them: any other Bedrock model is refused before a call."""

from __future__ import annotations

from proxy.config.deployment import Deployment
from proxy.errors import ProxyError, UpstreamError
from proxy.providers.base import (
    ImageResult,
    NoEditStream,
    NoImageStream,
)
from proxy.providers.bedrock import urls
from proxy.providers.bedrock.errors import PROVIDER, map_bedrock_error
from proxy.providers.bedrock.families import KNOWN, Family, family_of
from proxy.providers.bedrock.stability_edits import StabilityEdit
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest
from proxy.upstream_request import UpstreamRequest, UpstreamResponse

# Optional Bedrock request headers a deployment may set (service model names).
HEADER_PARAMS = {
    "guardrailIdentifier": "x-amzn-bedrock-guardrailidentifier",
    "guardrailVersion": "x-amzn-bedrock-guardrailversion",
    "trace": "x-amzn-bedrock-trace",
    "performanceConfigLatency": "x-amzn-bedrock-performanceconfig-latency",
    "serviceTier": "x-amzn-bedrock-service-tier",
}


def family_for(deployment: Deployment) -> Family:
    family = family_of(deployment.model) or family_of(urls.model_id(deployment))
    if family is None:
        raise UpstreamError(f"bedrock: no image family for {deployment.model!r}", provider=PROVIDER)
    return family


def validate(deployment: Deployment) -> str | None:
    if family_of(deployment.model) is None and family_of(urls.model_id(deployment)) is None:
        return (
            f"litellm_params.model: {deployment.model!r} is not a Bedrock image model "
            f"this proxy knows; known families: {KNOWN}"
        )
    problem = urls.validate_region(deployment) if deployment.available else None
    if problem:
        return problem
    if (
        bool(deployment.param("aws_access_key_id"))
        != bool(deployment.param("aws_secret_access_key"))
        and deployment.available
    ):
        return (
            "litellm_params.aws_secret_access_key: aws_access_key_id and "
            "aws_secret_access_key must be set together"
        )
    return None


def headers_for(deployment: Deployment) -> dict[str, str]:
    headers = {"accept": "application/json"}
    for param, header in HEADER_PARAMS.items():
        value = deployment.param(param)
        if value is not None:
            headers[header] = str(value)
    return headers


EDITORS = (
    "the Stability Image Services stability.stable-image-inpaint, stable-outpaint, "
    "stable-image-erase-object, stable-image-search-replace, stable-image-search-recolor, "
    "stable-image-remove-background, stable-image-control-sketch, "
    "stable-image-control-structure, stable-image-style-guide, stable-style-transfer, "
    "stable-fast-upscale, stable-conservative-upscale, stable-creative-upscale"
)


def edit_family(deployment: Deployment) -> StabilityEdit | None:
    family = family_of(deployment.model) or family_of(urls.model_id(deployment))
    return family if isinstance(family, StabilityEdit) else None


def editing_family(deployment: Deployment) -> StabilityEdit:
    family = edit_family(deployment)
    if family is None:  # the attempt stage asks edit_refusal first
        raise UpstreamError(f"bedrock: {deployment.model!r} cannot edit", provider=PROVIDER)
    return family


class BedrockImages(NoImageStream, NoEditStream):
    image_hosts = ()  # images come back as base64

    def build(self, request: ImageRequest, deployment: Deployment) -> list[UpstreamRequest]:
        family = family_for(deployment)
        url = urls.invoke_url(deployment)
        headers = headers_for(deployment)
        return [UpstreamRequest.post_json(url, body, headers) for body in family.bodies(request)]

    def parse(
        self, response: UpstreamResponse, request: ImageRequest, deployment: Deployment
    ) -> ImageResult:
        return family_for(deployment).parse(response.json(), request)

    def edit_refusal(self, deployment: Deployment) -> str | None:
        if edit_family(deployment) is not None:
            return None
        return f"bedrock/{deployment.model} is not an edit model on Bedrock (those are {EDITORS})"

    def build_edit(self, request: EditRequest, deployment: Deployment) -> list[UpstreamRequest]:
        family = editing_family(deployment)
        url = urls.invoke_url(deployment)
        headers = headers_for(deployment)
        return [
            UpstreamRequest.post_json(url, body, headers) for body in family.edit_bodies(request)
        ]

    def parse_edit(
        self, response: UpstreamResponse, request: EditRequest, deployment: Deployment
    ) -> ImageResult:
        return editing_family(deployment).parse(response.json(), request)

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError:
        return map_bedrock_error(response.status, response.headers, response.body)
