"""``/v1/images/generations`` for ``gemini/…`` and ``vertex_ai/…``: Imagen or Gemini by family;
``/v1/images/edits`` for Gemini image models (``ImageEditor``), by prompt only."""

from __future__ import annotations

from proxy.config.deployment import Deployment
from proxy.errors import ProxyError
from proxy.providers.base import (
    ImageResult,
    NoEditStream,
    NoImageStream,
)
from proxy.providers.google.errors import map_google_error
from proxy.providers.google.gemini_edits import build_gemini_edit, gemini_edit_refusal
from proxy.providers.google.gemini_images import build_gemini_images, parse_gemini_images
from proxy.providers.google.imagen import build_imagen, parse_imagen
from proxy.providers.google.settings import is_imagen
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest
from proxy.upstream_request import UpstreamRequest, UpstreamResponse


class GoogleImages(NoImageStream, NoEditStream):
    # Google sends no partial images: a stream would only delay the one final event.
    supports_stream = False
    image_hosts = ()  # images come back as base64

    def __init__(self, provider: str) -> None:
        self.provider = provider

    def build(self, request: ImageRequest, deployment: Deployment) -> list[UpstreamRequest]:
        if is_imagen(deployment.model):
            return build_imagen(request, deployment)
        return build_gemini_images(request, deployment)

    def parse(
        self, response: UpstreamResponse, request: ImageRequest, deployment: Deployment
    ) -> ImageResult:
        if is_imagen(deployment.model):
            return parse_imagen(response, self.provider)
        return parse_gemini_images(response, self.provider)

    def edit_refusal(self, deployment: Deployment) -> str | None:
        return gemini_edit_refusal(deployment)

    def build_edit(self, request: EditRequest, deployment: Deployment) -> list[UpstreamRequest]:
        return build_gemini_edit(request, deployment)

    def parse_edit(
        self, response: UpstreamResponse, request: EditRequest, deployment: Deployment
    ) -> ImageResult:
        return parse_gemini_images(response, self.provider)

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError:
        return map_google_error(response, self.provider)
