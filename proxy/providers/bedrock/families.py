"""Which request/response shape a Bedrock model id speaks, recognised from the id itself.

Ids stay data: a foundation-model id (``amazon.nova-canvas-v1:0``), a cross-region
inference profile id (``us.amazon.nova-canvas-v1:0``, ``eu.…``, ``apac.…``, ``global.…``)
or an ARN ending in either all resolve the same way, and new versions of a known family
(``…-v1:1``, ``…-v2:0``) need no code change.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from proxy.providers.base import ImageResult
from proxy.providers.bedrock.amazon_canvas import AmazonCanvas
from proxy.providers.bedrock.stability_edits import (
    CONSERVATIVE_UPSCALE,
    CONTROL_SKETCH,
    CONTROL_STRUCTURE,
    CREATIVE_UPSCALE,
    ERASE,
    FAST_UPSCALE,
    INPAINT,
    OUTPAINT,
    REMOVE_BACKGROUND,
    SEARCH_RECOLOR,
    SEARCH_REPLACE,
    STYLE_GUIDE,
    STYLE_TRANSFER,
)
from proxy.providers.bedrock.stability_sdxl import StabilitySDXL
from proxy.providers.bedrock.stability_v3 import StabilityV3
from proxy.schemas import ImageRequest


class Family(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def fan_out(self) -> bool:
        """One image per call: ``n`` becomes ``n`` parallel calls."""
        ...

    def bodies(self, request: ImageRequest) -> list[dict[str, Any]]: ...

    def parse(self, payload: Any, request: ImageRequest) -> ImageResult: ...


SDXL = StabilitySDXL()
STABILITY_V3 = StabilityV3()
TITAN = AmazonCanvas(nova=False)
NOVA = AmazonCanvas(nova=True)

_GEO = r"(?:(?:us|eu|apac|us-gov|ca|jp|au|global)\.)?"
PATTERNS: tuple[tuple[re.Pattern[str], Family], ...] = (
    (re.compile(_GEO + r"stability\.stable-diffusion-xl"), SDXL),
    (re.compile(_GEO + r"stability\.(?:sd3|stable-image-core|stable-image-ultra)"), STABILITY_V3),
    (re.compile(_GEO + r"amazon\.titan-image-generator"), TITAN),
    (re.compile(_GEO + r"amazon\.nova-canvas"), NOVA),
    # Stability AI Image Services that edit (/v1/images/edits only)
    (re.compile(_GEO + r"stability\.stable-(?:image-)?inpaint"), INPAINT),
    (re.compile(_GEO + r"stability\.stable-(?:image-)?outpaint"), OUTPAINT),
    (re.compile(_GEO + r"stability\.stable-(?:image-)?erase-object"), ERASE),
    (re.compile(_GEO + r"stability\.stable-(?:image-)?search-replace"), SEARCH_REPLACE),
    (re.compile(_GEO + r"stability\.stable-(?:image-)?search-recolor"), SEARCH_RECOLOR),
    (re.compile(_GEO + r"stability\.stable-(?:image-)?remove-background"), REMOVE_BACKGROUND),
    (re.compile(_GEO + r"stability\.stable-(?:image-)?control-sketch"), CONTROL_SKETCH),
    (re.compile(_GEO + r"stability\.stable-(?:image-)?control-structure"), CONTROL_STRUCTURE),
    (re.compile(_GEO + r"stability\.stable-(?:image-)?style-guide"), STYLE_GUIDE),
    (re.compile(_GEO + r"stability\.stable-(?:image-)?style-transfer"), STYLE_TRANSFER),
    (re.compile(_GEO + r"stability\.stable-fast-upscale"), FAST_UPSCALE),
    (re.compile(_GEO + r"stability\.stable-conservative-upscale"), CONSERVATIVE_UPSCALE),
    (re.compile(_GEO + r"stability\.stable-creative-upscale"), CREATIVE_UPSCALE),
)
KNOWN = (
    "stability.stable-diffusion-xl-*, stability.sd3-*, stability.stable-image-core-*, "
    "stability.stable-image-ultra-*, amazon.titan-image-generator-*, amazon.nova-canvas-*, "
    "and for edits stability.stable-image-{inpaint,erase-object,search-replace,search-recolor,"
    "remove-background,control-sketch,control-structure,style-guide}-*, "
    "stability.stable-{outpaint,style-transfer,fast-upscale,conservative-upscale,"
    "creative-upscale}-* "
    "(optionally with a us./eu./apac./global. inference-profile prefix or as an ARN)"
)


def family_of(model: str) -> Family | None:
    name = model.rsplit("/", 1)[-1]  # an ARN ends in the id or the profile id
    for pattern, family in PATTERNS:
        if pattern.match(name):
            return family
    return None
