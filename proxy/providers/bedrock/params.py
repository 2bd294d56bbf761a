"""The OpenAI image parameters every Bedrock family must answer for.

Each family maps ``n`` / ``size`` / ``quality`` itself. The rest of the OpenAI parameters
either mean "whatever the provider does" (``auto``) or cannot be honoured on Bedrock and are
refused with a 400 that names what the family accepts. Everything that is not an OpenAI
parameter is the family's own (native) parameter and passes through.
"""

from __future__ import annotations

from proxy.providers.image_params import ImageParams, refuse


def check_common(
    request: ImageParams,
    family: str,
    *,
    output_formats: tuple[str, ...] = ("png",),
    style_handled: bool = False,
    transparent: bool = False,
) -> None:
    """Refuse the OpenAI parameters this family has no way to honour."""
    body = request.body
    # ``response_format: url`` is honoured by the delivery stage (the bytes are stored and
    # linked), so it is not refused here.
    background = body.get("background")
    if transparent:  # a background remover: its output is transparent, never opaque
        if background not in (None, "auto", "transparent"):
            raise refuse(family, "background", background, "auto or transparent")
    elif background not in (None, "auto", "opaque"):
        raise refuse(family, "background", background, "auto or opaque (no transparency)")
    moderation = body.get("moderation")
    if moderation not in (None, "auto"):
        raise refuse(family, "moderation", moderation, "auto (Bedrock's own filters apply)")
    if body.get("output_compression") is not None:
        raise refuse(
            family, "output_compression", body["output_compression"], "no compression setting"
        )
    output_format = body.get("output_format")
    if output_format is not None and output_format not in output_formats:
        raise refuse(family, "output_format", output_format, " or ".join(output_formats))
    if body.get("partial_images") not in (None, 0):
        raise refuse(family, "partial_images", body["partial_images"], "no partial images")
    if not style_handled and body.get("style") is not None:
        raise refuse(family, "style", body["style"], "no OpenAI style (use its native field)")


def single_quality(request: ImageParams, family: str) -> None:
    """Families with one quality level accept only ``auto`` / ``standard``."""
    if request.quality not in (None, "auto", "standard"):
        raise refuse(family, "quality", request.quality, "auto or standard (one quality level)")
