"""Stability AI Image Services on Bedrock (``/v1/images/edits``): inpaint, outpaint, erase
object, search and replace, search and recolor, remove background, control sketch and
structure, style guide, style transfer, and the fast / conservative / creative upscales.

Each takes Stability's own JSON on ``/model/{id}/invoke``: ``image`` (the uploaded image,
base64; style transfer reads two, ``init_image`` then ``style_image``), ``prompt`` where the
service has one, ``mask`` (inpaint and erase: the OpenAI mask converted to Stability's
white = edit, base64 PNG) and the service's native fields as the client sent them
(``negative_prompt``, ``seed``, ``grow_mask``, ``style_preset``, ``search_prompt``,
``select_prompt``, ``left``/``right``/``up``/``down``, ``creativity``, ``control_strength``,
...; numbers typed from form text); ``output_format`` travels as sent. The answer is
Stability's ``{"images", "seeds", "finish_reasons"}``. One image per call: ``n`` fans out.

What a service reads, and what it refuses with a 400 before any call, is
``proxy.providers.stability.services`` (the same services on Stability's own API). Erase,
remove background and fast upscale take no prompt: the client's prompt (which the OpenAI SDK
requires) is read by the guardrails and not sent. On ``/v1/images/generations`` these models
are a 400 pointing at the edits endpoint.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, fields
from typing import Any

from proxy.errors import InvalidRequestError
from proxy.providers.base import ImageResult
from proxy.providers.bedrock.params import check_common, single_quality
from proxy.providers.bedrock.stability_v3 import parse_stability
from proxy.providers.masks import WHITE_EDITS, converted_mask
from proxy.providers.stability import services
from proxy.providers.stability.services import StabilityService, typed_native
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest


@dataclass(frozen=True, slots=True)
class StabilityEdit(StabilityService):
    """One Stability Image Service that edits, invoked on Bedrock with JSON."""

    fan_out = True

    def bodies(self, request: ImageRequest) -> list[dict[str, Any]]:
        raise InvalidRequestError(
            f"{self.label} edits an image: call /v1/images/edits with the image to edit.",
            param="model",
            code="unsupported_model",
        )

    def parse(self, payload: Any, request: ImageRequest | EditRequest) -> ImageResult:
        return parse_stability(payload, request.body.get("output_format"))

    def edit_bodies(self, request: EditRequest) -> list[dict[str, Any]]:
        native = typed_native(request)
        check_common(
            request, self.label, output_formats=self.output_formats, transparent=self.transparent
        )
        single_quality(request, self.label)
        self.check(request, native)
        first = request.images[0]
        body: dict[str, Any] = {
            name: base64.b64encode(image.data).decode("ascii")
            for name, image in zip(self.images, request.images, strict=True)
        }
        if self.takes_prompt:
            body["prompt"] = request.prompt
        if request.mask is not None:
            mask = converted_mask(request.mask, first, WHITE_EDITS)
            body["mask"] = base64.b64encode(mask).decode("ascii")
        body.update(native)
        output_format = request.body.get("output_format")
        if output_format is not None:
            body["output_format"] = output_format
        return [body for _ in range(request.n)]


def on_bedrock(service: StabilityService) -> StabilityEdit:
    return StabilityEdit(**{f.name: getattr(service, f.name) for f in fields(service)})


INPAINT = on_bedrock(services.INPAINT)
OUTPAINT = on_bedrock(services.OUTPAINT)
ERASE = on_bedrock(services.ERASE)
SEARCH_REPLACE = on_bedrock(services.SEARCH_REPLACE)
SEARCH_RECOLOR = on_bedrock(services.SEARCH_RECOLOR)
REMOVE_BACKGROUND = on_bedrock(services.REMOVE_BACKGROUND)
CONTROL_SKETCH = on_bedrock(services.CONTROL_SKETCH)
CONTROL_STRUCTURE = on_bedrock(services.CONTROL_STRUCTURE)
STYLE_GUIDE = on_bedrock(services.STYLE_GUIDE)
STYLE_TRANSFER = on_bedrock(services.STYLE_TRANSFER)
FAST_UPSCALE = on_bedrock(services.FAST_UPSCALE)
CONSERVATIVE_UPSCALE = on_bedrock(services.CONSERVATIVE_UPSCALE)
CREATIVE_UPSCALE = on_bedrock(services.CREATIVE_UPSCALE)
