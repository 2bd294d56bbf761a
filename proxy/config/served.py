"""Which ``model_list`` entries image-proxy serves, and why the others are skipped.

The rule, in order:

1. the provider prefix must be one image-proxy serves; LiteLLM's other providers
   (``anthropic/``, ``groq/``, ...) and unknown prefixes are skipped;
2. ``model_info.mode``, when given, wins: ``image_generation`` / ``image_edit`` are served;
   ``chat`` / ``completion`` / ``responses`` where the provider has a chat adapter (or the
   model is an image model); every other mode (``embedding``, ``audio_speech``,
   ``audio_transcription``, ``rerank``, ``video_generation``, ...) is skipped;
3. without a mode, the provider judges the model id (``ProviderSpec.model_kind``): an
   embedding / speech / transcription / rerank model (``text-embedding-3-small``, ``tts-1``,
   ``whisper-1``) is skipped, and so is a chat model (``claude``, ``llama``...) at a provider
   without a chat adapter (``bedrock``, ``together_ai``, ``xai``); a name the provider cannot
   judge (an Azure deployment name) is served.

Chat models at a provider with a chat adapter (``openai/gpt-4o``, ``gemini/gemini-2.5-pro``)
are served: ``/v1/chat/completions`` relays them. A skipped entry costs one start-up warning
naming its path and the reason; it is not routed to and not listed in ``/v1/models``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Mapping
from typing import Literal

from proxy.config import compat

ModelKind = Literal["image", "chat", "other"]
ModelKindTest = Callable[[str], ModelKind | None]  # a model id -> its kind, None: unknown


def provider_skip_reason(prefix: str, served: Collection[str]) -> str:
    if prefix in compat.LITELLM_PROVIDERS:
        return f"provider {prefix!r} is not served by image-proxy"
    close = difflib.get_close_matches(prefix, sorted(served), n=1, cutoff=0.7)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown provider prefix {prefix!r}{hint}"


def model_skip_reason(
    provider: str,
    model: str,
    mode: str | None,
    tests: Mapping[str, ModelKindTest],
    chat_providers: Collection[str],
) -> str | None:
    """Why the deployment of ``model`` at ``provider`` is not served, or None."""
    test = tests.get(provider)
    kind = test(model) if test is not None else None
    chat = provider in chat_providers
    if mode is not None:
        if mode in compat.IMAGE_MODES:
            return None
        if mode in compat.CHAT_MODES and (chat or kind == "image"):
            return None
        if mode in compat.CHAT_MODES:
            return f"model_info.mode {mode!r}, and {provider} is served for images only"
        return f"model_info.mode {mode!r} is not served by image-proxy"
    if kind == "other":
        return f"{provider}/{model} is neither an image model image-proxy knows nor a chat model"
    if kind == "chat" and not chat:
        return f"{provider}/{model} is a chat model, and {provider} is served for images only"
    return None
