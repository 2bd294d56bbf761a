"""What kind of model a model id names, for providers that serve more than images.

Each test answers ``image``, ``chat`` (a text model: served where the provider has a chat
adapter, for ``/v1/chat/completions``), ``other`` (embedding, speech, transcription, rerank,
moderation: never served) or None (a name that cannot be judged, such as an Azure deployment
name). The config decides from it which deployments to skip (``proxy.config.served``).
"""

from __future__ import annotations

import re

from proxy.config.served import ModelKind
from proxy.providers.bedrock.families import family_of

IMAGE = re.compile(
    r"image|imagen|dall-e|flux|stable-diffusion|sdxl|sd3|recraft|ideogram|kontext|canvas",
    re.IGNORECASE,
)
OTHER = re.compile(
    r"embed|(^|[-/._])tts|whisper|transcri|speech|audio|rerank|moderation|realtime",
    re.IGNORECASE,
)
CHAT = re.compile(
    r"(^|[-/._])(gpt-3|gpt-4|gpt-5|o1|o3|o4|chatgpt|davinci|babbage|claude|llama|mistral"
    r"|mixtral|command|grok-[0-9]|deepseek|qwen|phi-|gemini|gemma|nova-(pro|lite|micro|premier)"
    r"|titan-text|jamba|j2-)",
    re.IGNORECASE,
)


def by_name(model: str) -> ModelKind | None:
    """Providers serving several kinds under free-form names: image words first, then the
    names of embedding / speech models, then of chat models; anything else unknown."""
    if IMAGE.search(model):
        return "image"
    if OTHER.search(model):
        return "other"
    if CHAT.search(model):
        return "chat"
    return None


def google_family(model: str) -> ModelKind:
    """Gemini / Vertex: Imagen and the ``*-image*`` Gemini models; embeddings and speech are
    other; the rest are Gemini chat models."""
    if IMAGE.search(model):
        return "image"
    return "other" if OTHER.search(model) else "chat"


def bedrock_family(model: str) -> ModelKind | None:
    """Bedrock: the image families this proxy knows; an ARN or profile cannot be judged; a
    chat model is chat; anything else (embeddings, an image family this proxy does not know)
    is other."""
    if family_of(model) is not None:
        return "image"
    if model.startswith("arn:"):
        return None
    return "chat" if CHAT.search(model) and not OTHER.search(model) else "other"
