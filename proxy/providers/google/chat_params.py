"""OpenAI chat parameters -> a Gemini ``generateContent`` body (minus ``contents``).

Translated: ``temperature``, ``top_p``, ``max_tokens`` / ``max_completion_tokens``, ``stop``,
``seed``, ``n``, ``presence_penalty``, ``frequency_penalty``, ``modalities``,
``response_format``, ``reasoning_effort`` and ``image_config`` (OpenRouter's spelling, snake or
camel case). Image models get ``responseModalities: [TEXT, IMAGE]`` unless the client chose.
Google's own fields (``generationConfig``, ``safetySettings``, ``cachedContent``, ``labels``,
…) pass through at the top of the body, ``generationConfig`` merged over the translation.
"""

from __future__ import annotations

from typing import Any

from proxy.errors import InvalidRequestError
from proxy.providers.google.settings import is_image_model
from proxy.schemas import ChatRequest

RENAMED = {
    "temperature": "temperature",
    "top_p": "topP",
    "max_tokens": "maxOutputTokens",
    "max_completion_tokens": "maxOutputTokens",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}
IMAGE_CONFIG_NAMES = {
    "aspect_ratio": "aspectRatio",
    "image_size": "imageSize",
    "person_generation": "personGeneration",
}
# Read elsewhere or meaningful only to OpenAI's own service.
HANDLED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "user",
        "metadata",
        "store",
        "n",
        "stop",
        "modalities",
        "response_format",
        "reasoning_effort",
        "image_config",
        "imageConfig",
        "parallel_tool_calls",
        *RENAMED,
    }
)
UNSUPPORTED = ("tools", "tool_choice", "functions", "function_call", "audio", "logprobs")


def _response_format(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema" and isinstance(value.get("json_schema"), dict):
        schema = value["json_schema"].get("schema")
        out: dict[str, Any] = {"responseMimeType": "application/json"}
        if isinstance(schema, dict):
            out["responseJsonSchema"] = schema
        return out
    raise InvalidRequestError(
        "'response_format' must be of type text, json_object or json_schema.",
        param="response_format",
    )


def _image_config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for name in ("image_config", "imageConfig"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise InvalidRequestError(f"'{name}' must be an object.", param=name)
        for key, item in value.items():
            config[IMAGE_CONFIG_NAMES.get(str(key), str(key))] = item
    return config


def generation_config(request: ChatRequest, model: str) -> dict[str, Any]:
    body = request.body
    config: dict[str, Any] = {RENAMED[k]: v for k, v in body.items() if k in RENAMED}
    stop = body.get("stop")
    if stop is not None:
        config["stopSequences"] = [stop] if isinstance(stop, str) else stop
    n = body.get("n")
    if n is not None and n != 1 and not is_image_model(model):
        config["candidateCount"] = n  # image models refuse it: GeminiChat fans out instead
    modalities = body.get("modalities")
    if modalities is not None:
        if not isinstance(modalities, list) or not all(isinstance(m, str) for m in modalities):
            raise InvalidRequestError(
                "'modalities' must be an array of strings.", param="modalities"
            )
        config["responseModalities"] = [m.upper() for m in modalities]
    elif is_image_model(model):
        config["responseModalities"] = ["TEXT", "IMAGE"]
    effort = body.get("reasoning_effort")
    if isinstance(effort, str) and effort != "none":
        config["thinkingConfig"] = {"thinkingLevel": effort.upper()}
    config.update(_response_format(body.get("response_format")))
    image = _image_config(body)
    if image:
        config["imageConfig"] = image
    return config


def request_body(request: ChatRequest, model: str) -> dict[str, Any]:
    """Everything but ``contents`` / ``systemInstruction``."""
    for name in UNSUPPORTED:
        if request.body.get(name) not in (None, False, [], {}):
            raise InvalidRequestError(
                f"'{name}' is not supported for Google models by this proxy.",
                param=name,
                code="unsupported_parameter",
            )
    config = generation_config(request, model)
    native = {k: v for k, v in request.body.items() if k not in HANDLED and k not in UNSUPPORTED}
    extra = native.pop("generationConfig", None)
    if extra is not None:
        if not isinstance(extra, dict):
            raise InvalidRequestError(
                "'generationConfig' must be an object.", param="generationConfig"
            )
        config.update(extra)
    return {"generationConfig": config, **native} if config else native
