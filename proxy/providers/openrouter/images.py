"""``/v1/images/generations`` and ``/v1/images/edits`` on OpenRouter.

Requests go to OpenRouter's images API (``proxy.providers.openrouter.images_api``) when its
image model list names the model (``proxy.providers.openrouter.catalogue``, read once an hour
by the attempt layer) and neither the deployment nor the request sets a chat option
(``image_config``, ``modalities``, ``image_size``); ``openrouter_api: images`` or ``chat``
fixes the choice. The others go through chat completions, as described here.

The prompt becomes one user message, ``modalities`` asks for images (``["image", "text"]``
unless the deployment sets ``modalities``), ``size`` / ``quality`` become ``image_config``.
One chat call yields one image, so ``n`` fans out into ``n`` parallel calls. The answer's
``message.images[].image_url.url`` URLs become ``url`` items: the delivery stage
(``proxy.images``) turns data URLs into ``b64_json``, as it does for every provider.
An answer without an image is an error, never a 200 with empty ``data``.

Other parameters pass through to the chat body (``seed``, ``provider``, ``user``, ...);
OpenAI image-only parameters a chat model cannot honour are refused with a 400.

Edits are the same chat call with one user message of content parts: the prompt's ``text``
part first, then each uploaded image as an ``image_url`` part holding a data URL, in the
client's order (OpenRouter recommends text before images); ``n`` fans out and ``size`` /
``quality`` map to ``image_config`` as for generations. On the images API the uploads go as
``input_references``. OpenRouter edits by prompt: a ``mask`` (or ``markup``) is a 400 before
any call, never dropped, as is ``input_fidelity=high``.
"""

from __future__ import annotations

from typing import Any

from proxy.config.deployment import Deployment
from proxy.errors import ContentPolicyError, InvalidRequestError, ProxyError, UpstreamError
from proxy.providers.base import ImageResult, Usage
from proxy.providers.openrouter.catalogue import catalogue_request, learn_listing
from proxy.providers.openrouter.common import (
    PROVIDER,
    answer_object,
    attribution_headers,
    chat_url,
    images_url,
    images_usage,
    map_error_body,
    uses_images_api,
)
from proxy.providers.openrouter.image_config import build_image_config
from proxy.providers.openrouter.images_api import (
    OpenRouterImageStream,
    images_api_payload,
    parse_images_api,
)
from proxy.providers.prompt_edits import prompt_edit_as_generation
from proxy.redact import redact_text
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest, InputImage
from proxy.upstream_request import UpstreamRequest, UpstreamResponse, fan_out

DEFAULT_MODALITIES = ["image", "text"]

UNSUPPORTED = {
    "style": "OpenRouter image models take provider style keys inside 'image_config'",
    "background": "pass a provider key such as 'background_mode' inside 'image_config'",
    "output_format": "OpenRouter chat image models return their own format (usually PNG)",
    "output_compression": "OpenRouter chat image models do not take a compression level",
    "moderation": "OpenRouter has no moderation setting on image requests",
    "partial_images": "OpenRouter image generation through chat is not streamed",
    "messages": "the prompt becomes the chat message; use /v1/chat/completions for a conversation",
}
# Read here (turned into the chat body's own fields) or by the proxy, never copied as is.
CONSUMED = (
    "prompt", "n", "size", "quality", "response_format", "stream",
    "image_config", "aspect_ratio", "image_size", "modalities",
)  # fmt: skip


def image_item(url: str) -> dict[str, Any]:
    """A chat image URL -> an OpenAI image item. A data URL stays a ``url`` here: the
    delivery stage checks it as it checks a download and turns it into ``b64_json``."""
    if url.startswith(("data:", "https://", "http://")):
        return {"url": url}
    raise UpstreamError(f"{PROVIDER} returned an image URL of an unknown kind")


def message_image_urls(message: dict[str, Any]) -> list[str]:
    images = message.get("images")
    urls: list[str] = []
    for image in images if isinstance(images, list) else ():
        if isinstance(image, dict) and isinstance(image.get("image_url"), dict):
            url = image["image_url"].get("url")
            if isinstance(url, str) and url:
                urls.append(url)
    return urls


def image_part(image: InputImage) -> dict[str, Any]:
    """An upload as an OpenRouter ``image_url`` content part (a base64 data URL)."""
    return {"type": "image_url", "image_url": {"url": image.data_url}}


def edit_as_generation(request: EditRequest, model: str) -> ImageRequest:
    """The edit's text fields as a generation request; a 400 for what OpenRouter cannot do."""
    generation = prompt_edit_as_generation(request, model, "OpenRouter")
    seed = generation.body.get("seed")
    if isinstance(seed, str):  # a form field is text; OpenRouter wants an integer
        try:
            generation.body["seed"] = int(seed)
        except ValueError:
            raise InvalidRequestError("'seed' must be an integer.", param="seed") from None
    return generation


def refuse_chat_stream(request: ImageRequest | EditRequest, deployment: Deployment) -> None:
    if request.stream:
        raise InvalidRequestError(
            f"OpenRouter streams images only through its images API; {deployment.model} goes "
            "through chat completions here (not in OpenRouter's image model list, "
            "'openrouter_api: chat', or a chat option such as 'image_config'): send the request "
            "without 'stream'.",
            param="stream",
        )


class OpenRouterImages:
    provider = PROVIDER
    image_hosts = ()  # images come back as data URIs
    supports_stream = True  # models the images API streams; the others: a 400
    supports_edit_stream = True

    def payload(self, request: ImageRequest, deployment: Deployment) -> dict[str, Any]:
        request.refuse_unsupported(UNSUPPORTED, "for OpenRouter image models")
        modalities = request.body.get("modalities") or deployment.param("modalities")
        if modalities is None:
            modalities = DEFAULT_MODALITIES
        elif not isinstance(modalities, list) or "image" not in modalities:
            raise InvalidRequestError(
                "'modalities' must be a list that includes 'image' for image generation.",
                param="modalities",
            )
        defaults = deployment.param("image_config")
        config = build_image_config(
            request.body, deployment.model, defaults if isinstance(defaults, dict) else None
        )
        body = request.params(*CONSUMED)
        body.update(
            model=deployment.model,
            messages=[{"role": "user", "content": request.prompt}],
            modalities=modalities,
        )
        if config:
            body["image_config"] = config
        return body

    def discovery(self, deployment: Deployment) -> UpstreamRequest | None:
        return catalogue_request(deployment)

    def learn(self, response: UpstreamResponse, deployment: Deployment) -> dict[str, Any]:
        return learn_listing(response, deployment)

    def build(self, request: ImageRequest, deployment: Deployment) -> list[UpstreamRequest]:
        headers = attribution_headers(deployment)
        if uses_images_api(deployment, request.body):
            payload = images_api_payload(request, deployment)
            url = images_url(deployment)
            return [UpstreamRequest.post_json(url, payload, headers, stream=request.stream)]
        refuse_chat_stream(request, deployment)
        payload = self.payload(request, deployment)
        url = chat_url(deployment)
        return fan_out(UpstreamRequest.post_json(url, payload, headers), request.n)

    def parse(
        self, response: UpstreamResponse, request: ImageRequest, deployment: Deployment
    ) -> ImageResult:
        return self.parse_answer(response, deployment)

    def stream_translator(
        self, request: ImageRequest, deployment: Deployment
    ) -> OpenRouterImageStream:
        return OpenRouterImageStream("image_generation")

    # --- edits -------------------------------------------------------------------------

    def edit_refusal(self, deployment: Deployment) -> str | None:
        return None  # OpenRouter says which models take image input; its 4xx is relayed

    def build_edit(self, request: EditRequest, deployment: Deployment) -> list[UpstreamRequest]:
        generation = edit_as_generation(request, deployment.model)
        headers = attribution_headers(deployment)
        parts = [image_part(image) for image in request.images]
        if uses_images_api(deployment, generation.body):
            payload = images_api_payload(generation, deployment)
            payload["input_references"] = parts
            url = images_url(deployment)
            return [UpstreamRequest.post_json(url, payload, headers, stream=request.stream)]
        refuse_chat_stream(request, deployment)
        payload = self.payload(generation, deployment)
        payload["messages"] = [
            {"role": "user", "content": [{"type": "text", "text": request.prompt}, *parts]}
        ]
        return fan_out(UpstreamRequest.post_json(chat_url(deployment), payload, headers), request.n)

    def parse_edit(
        self, response: UpstreamResponse, request: EditRequest, deployment: Deployment
    ) -> ImageResult:
        return self.parse_answer(response, deployment)

    def edit_stream_translator(
        self, request: EditRequest, deployment: Deployment
    ) -> OpenRouterImageStream:
        return OpenRouterImageStream("image_edit")

    # --- answers -----------------------------------------------------------------------

    def parse_answer(self, response: UpstreamResponse, deployment: Deployment) -> ImageResult:
        """An images API answer (``data``) or a chat one (``choices``), told by its shape: the
        list may have been read again between the call and its answer."""
        body = answer_object(response)
        if "choices" not in body and isinstance(body.get("data"), list):
            return parse_images_api(body)
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise UpstreamError(f"{PROVIDER} answered without choices", provider=PROVIDER)
        message = choices[0].get("message")
        urls = message_image_urls(message) if isinstance(message, dict) else []
        if not urls:
            raise self.no_image(choices[0], message)
        usage = body.get("usage")
        created = body.get("created") if isinstance(body.get("created"), int) else None
        return ImageResult(
            data=[image_item(u) for u in urls],
            usage=Usage.of(images_usage(usage)) if isinstance(usage, dict) else None,
            created=created,
        )

    def no_image(self, choice: dict[str, Any], message: Any) -> ProxyError:
        finish = choice.get("finish_reason")
        text = message.get("content") if isinstance(message, dict) else None
        said = ""
        if isinstance(text, str) and text:
            said = f" The model said: {redact_text(text, 300)!r}."
        if finish == "content_filter":
            return ContentPolicyError(
                f"{PROVIDER}: the model refused to generate the image (content filter).{said}",
                provider=PROVIDER,
            )
        return UpstreamError(
            f"{PROVIDER}: the model answered without an image (finish_reason={finish}).{said} "
            "Check that the model can output images.",
            provider=PROVIDER,
        )

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError:
        return map_error_body(response.status, response.headers, response.body)
