"""``/v1/images/edits`` and ``/v1/images/variations`` on Recraft's image tools.

Recraft has no single edit endpoint: each tool is its own ``POST {base}/images/<tool>``,
multipart with the file parts ``image`` (and ``mask``). Which tool serves an edit:

1. the request's own ``recraft_operation`` field (``extra_body``), else
2. the deployment's ``litellm_params.recraft_operation``, else
3. the request: with a ``mask`` -> ``inpaint``; without -> ``imageToImage`` (what LiteLLM's
   Recraft edit always calls).

The tools (Recraft OpenAPI, ``recraft.ai/docs/api-reference``):

- ``imageToImage``: prompt + image + ``strength`` (0-1, required by Recraft; the client's, else
  0.2, LiteLLM's ``DEFAULT_STRENGTH``). A mask is a 400 here (use ``inpaint``).
- ``inpaint``: prompt + image + mask (required).
- ``replaceBackground``: prompt + image.
- ``outpaint``: image, ``expand_left/right/top/bottom``, ``zoom_out_percentage``, ``size``.
- ``eraseRegion``: image + mask (required), no prompt; ``removeBackground``: image only, no
  prompt. Both answer a ``ProcessImageResponse`` (one ``image`` object, wrapped here into
  ``data[0]``), so ``n`` must be 1; they take only ``response_format``, ``image_format`` and
  ``expire``: the OpenAI SDK's required ``prompt`` is not sent, anything else is a 400.

The generative tools take the generation extras (``style``, ``substyle``, ``style_id``,
``negative_prompt``, ``controls``, ``random_seed``, ``image_format``, ...), passed through; the
deployment's model id is sent as ``model``. OpenAI parameters Recraft does not have are a
400 (as for generations). ``size`` is Recraft's only on ``outpaint`` (checked against the
model's list); elsewhere the output keeps the input's size, so a ``size`` other than ``auto``
or the image's own is refused.

Masks: OpenAI's (alpha 0 = edit) become Recraft's (pure white 255 = edit, 0 = keep, the
image's size) with ``proxy.providers.masks``. One image only; Recraft's input limits (under
10 MiB, at most 4096 x 4096 pixels, sides 256-4096) are a 400 before any call wherever the
proxy knows the size.

Variations: ``POST {base}/images/variateImage`` with ``image``, ``size`` (required by Recraft:
the client's, else the image's own when it is one of the model's sizes, else a 400 asking for
``size``), ``n`` (1-6), ``random_seed``, ``response_format``, ``image_format``. No ``model``
field (Recraft's spec and SDKs send none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from proxy.config.deployment import Deployment
from proxy.errors import InvalidRequestError
from proxy.providers.base import ImageResult, NoEditStream, join_url
from proxy.providers.masks import WHITE_EDITS, converted_mask
from proxy.providers.recraft.images import (
    DEFAULT_BASE,
    MAX_N,
    UNSUPPORTED,
    RecraftImages,
    check_size,
    images_url,
    parse_images,
)
from proxy.schemas.edits import EditRequest, InputImage, VariationRequest
from proxy.upstream_request import FilePart, UpstreamRequest, UpstreamResponse, form_fields

OPERATION_FIELD = "recraft_operation"  # in the request body or the deployment's params
DEFAULT_STRENGTH = 0.2  # LiteLLM's RecraftImageEditConfig.DEFAULT_STRENGTH

MAX_BYTES = 10 * 1024 * 1024  # "less than 10 MB"
MIN_SIDE, MAX_SIDE = 256, 4096
MAX_PIXELS = MAX_SIDE * MAX_SIDE  # 16 MP

EDIT_UNSUPPORTED = {
    **UNSUPPORTED,
    "input_fidelity": "Recraft has no input fidelity setting",
}
CONSUMED = ("user", "stream", OPERATION_FIELD)
PROCESS_FIELDS = frozenset({"response_format", "image_format", "expire"})


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    mask: Literal["required", "refused"]
    prompt: bool = True  # the prompt (and the generative fields) is sent
    strength: bool = False
    size: bool = False
    process: bool = False  # answers a ProcessImageResponse: one image

    @property
    def path(self) -> str:
        return f"images/{self.name}"


OPERATIONS = {
    op.name: op
    for op in (
        Operation("imageToImage", "refused", strength=True),
        Operation("inpaint", "required"),
        Operation("replaceBackground", "refused"),
        Operation("outpaint", "refused", size=True),
        Operation("eraseRegion", "required", prompt=False, process=True),
        Operation("removeBackground", "refused", prompt=False, process=True),
    )
}
VARIATE = "images/variateImage"


def tool_url(base: str, path: str) -> str:
    """``{base}/v1/<path>``, ``/v1`` added as for generations."""
    return join_url(images_url(base).removesuffix("/images/generations"), path)


def operation(request: EditRequest, deployment: Deployment) -> Operation:
    chosen = request.body.get(OPERATION_FIELD)
    if chosen is None:
        chosen = deployment.param(OPERATION_FIELD)
    if chosen is None:
        return OPERATIONS["inpaint" if request.mask is not None else "imageToImage"]
    if not isinstance(chosen, str) or chosen not in OPERATIONS:
        raise InvalidRequestError(
            f"'{OPERATION_FIELD}' must be one of {', '.join(OPERATIONS)}.",
            param=OPERATION_FIELD,
        )
    op = OPERATIONS[chosen]
    if op.mask == "required" and request.mask is None:
        raise InvalidRequestError(
            f"Recraft {op.name} needs a 'mask' (fully transparent pixels mark the area).",
            param="mask",
        )
    if op.mask == "refused" and request.mask is not None:
        raise InvalidRequestError(
            f"Recraft {op.name} takes no 'mask'; a masked edit is Recraft inpaint "
            f"(leave '{OPERATION_FIELD}' out, or set it to 'inpaint').",
            param="mask",
        )
    return op


def check_input(image: InputImage, param: str) -> None:
    """Recraft's input limits, where the proxy knows the image's size."""
    if image.size >= MAX_BYTES:
        raise InvalidRequestError(
            f"'{param}' must be smaller than 10 MB for Recraft, got {image.size} bytes.",
            param=param,
            code="image_too_large",
        )
    if image.width is None or image.height is None:
        return
    w, h = image.width, image.height
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE) or w * h > MAX_PIXELS:
        raise InvalidRequestError(
            f"'{param}' is {w}x{h}; Recraft takes images whose sides are {MIN_SIDE} to "
            f"{MAX_SIDE} px (at most 16 MP).",
            param=param,
            code="invalid_image_size",
        )


def check_n(n: int, most: int, where: str) -> None:
    if not 1 <= n <= most:
        raise InvalidRequestError(
            f"'n' must be between 1 and {most} for {where}, got {n}.", param="n"
        )


def strength_of(body: dict[str, Any]) -> float:
    raw = body.get("strength")
    if raw is None:
        return DEFAULT_STRENGTH
    try:
        value = float(raw) if not isinstance(raw, bool) else float("nan")
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise InvalidRequestError(
            "'strength' must be a number from 0 to 1 for Recraft imageToImage.",
            param="strength",
        )
    return value


def upload(name: str, image: InputImage) -> FilePart:
    return FilePart(name, f"{name}.{image.extension}", image.media_type, image.blob)


def result(response: UpstreamResponse) -> ImageResult:
    """A ``GenerateImageResponse`` (``data[]``) or a ``ProcessImageResponse`` (one
    ``image``, wrapped into ``data[0]``)."""
    body = response.json()
    if isinstance(body, dict) and isinstance(body.get("image"), dict):
        body = {**body, "data": [body["image"]]}
    return parse_images(body)


class RecraftImageEdits(RecraftImages, NoEditStream):
    """Generations, edits (``ImageEditor``) and variations (``ImageVariator``) on Recraft."""

    def base(self, deployment: Deployment) -> str:
        return deployment.params.api_base or DEFAULT_BASE

    def edit_refusal(self, deployment: Deployment) -> str | None:
        return None

    def edit_fields(
        self, request: EditRequest, deployment: Deployment, op: Operation
    ) -> dict[str, Any]:
        body = request.body
        size = self.edit_size(request, deployment, op)
        if op.process:
            check_n(request.n, 1, f"Recraft {op.name} (one image per call)")
            fields = request.params("prompt", "n", "size", *CONSUMED)
            extra = sorted(k for k in fields if k not in PROCESS_FIELDS)
            if extra:
                raise InvalidRequestError(
                    f"'{extra[0]}' is not taken by Recraft {op.name}; it takes only "
                    f"{', '.join(sorted(PROCESS_FIELDS))}.",
                    param=extra[0],
                    code="unsupported_parameter",
                )
            return fields
        request_unsupported(body)
        check_n(request.n, MAX_N, "Recraft")
        if body.get("style") is not None and body.get("style_id") is not None:
            raise InvalidRequestError(
                "'style' and 'style_id' cannot be used together on Recraft.", param="style_id"
            )
        fields = {"model": deployment.model, **request.params("size", *CONSUMED)}
        if size is not None:
            fields["size"] = size
        if op.strength:
            fields["strength"] = strength_of(body)
        elif body.get("strength") is not None:
            raise InvalidRequestError(
                f"'strength' is taken by Recraft imageToImage only, not {op.name}.",
                param="strength",
            )
        return fields

    def edit_size(self, request: EditRequest, deployment: Deployment, op: Operation) -> str | None:
        """The ``size`` to send: ``outpaint``'s, checked against the model's list; the
        other tools keep the input's size, so only ``auto`` or the image's own is accepted
        there (and not sent)."""
        size = request.size
        if size is None or size == "auto":
            return None
        if op.size:
            check_size(size, deployment.model, self.family(deployment))
            return size
        if size != request.images[0].dimensions:
            raise InvalidRequestError(
                f"Recraft {op.name} keeps the input image's size and takes no 'size' "
                f"(got {size!r}); leave it out or use 'auto'.",
                param="size",
                code="invalid_size",
            )
        return None

    def build_edit(self, request: EditRequest, deployment: Deployment) -> list[UpstreamRequest]:
        if len(request.images) > 1:
            raise InvalidRequestError(
                f"Recraft edits one image at a time; got {len(request.images)}.",
                param="image",
                code="too_many_images",
            )
        if request.markup is not None:
            raise InvalidRequestError("'markup' is not supported by Recraft.", param="markup")
        op = operation(request, deployment)
        image = request.images[0]
        check_input(image, "image")
        fields = self.edit_fields(request, deployment, op)
        files = [upload("image", image)]
        if request.mask is not None:
            mask = converted_mask(request.mask, image, WHITE_EDITS)
            files.append(FilePart("mask", "mask.png", "image/png", mask))
        url = tool_url(self.base(deployment), op.path)
        return [UpstreamRequest.post_multipart(url, form_fields(fields), files)]

    def parse_edit(
        self, response: UpstreamResponse, request: EditRequest, deployment: Deployment
    ) -> ImageResult:
        return result(response)

    # --- variations ---------------------------------------------------------------------

    def variation_refusal(self, deployment: Deployment) -> str | None:
        return None

    def variation_size(self, request: VariationRequest, deployment: Deployment) -> str:
        family = self.family(deployment)
        if request.size is not None and request.size != "auto":
            check_size(request.size, deployment.model, family)
            return request.size
        own = request.image.dimensions
        if own is not None and own in family.sizes:
            return own
        raise InvalidRequestError(
            f"Recraft variations need a 'size': the image is {own or 'of unknown size'}, "
            f"which is not one of {deployment.model}'s sizes. Accepted values: "
            f"{family.describe()}.",
            param="size",
            code="invalid_size",
        )

    def build_variation(
        self, request: VariationRequest, deployment: Deployment
    ) -> list[UpstreamRequest]:
        request_unsupported(request.body)
        check_n(request.n, MAX_N, "Recraft")
        check_input(request.image, "image")
        fields = {**request.params(*CONSUMED), "size": self.variation_size(request, deployment)}
        url = tool_url(self.base(deployment), VARIATE)
        return [
            UpstreamRequest.post_multipart(
                url, form_fields(fields), [upload("image", request.image)]
            )
        ]

    def parse_variation(
        self, response: UpstreamResponse, request: VariationRequest, deployment: Deployment
    ) -> ImageResult:
        return result(response)


def request_unsupported(body: dict[str, Any]) -> None:
    for name, hint in EDIT_UNSUPPORTED.items():
        if body.get(name) is not None:
            raise InvalidRequestError(
                f"'{name}' is not supported by Recraft: {hint}.",
                param=name,
                code="unsupported_parameter",
            )
