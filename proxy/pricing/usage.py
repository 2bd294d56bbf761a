"""Token usage in the three shapes upstreams report, reduced to one set of billing buckets.

Keys read (anything else is ignored):

* OpenAI Images API (``gpt-image-*``): ``input_tokens``, ``input_tokens_details.{text_tokens,
  image_tokens, cached_tokens}``, optional
  ``input_tokens_details.cached_tokens_details.{text_tokens, image_tokens}``,
  ``output_tokens``, optional ``output_tokens_details.{text_tokens, image_tokens}``
  (without it every output token is an image token, as gpt-image-1 bills).
* Chat completions: ``prompt_tokens``, ``prompt_tokens_details.{cached_tokens, image_tokens}``,
  ``completion_tokens``, ``completion_tokens_details.image_tokens`` (the rest of the completion,
  reasoning included, is text).
* Gemini ``usageMetadata`` (raw, or nested under ``usage["usageMetadata"]``):
  ``promptTokenCount``, ``cachedContentTokenCount``, ``candidatesTokenCount``,
  ``thoughtsTokenCount`` (billed as text output), ``promptTokensDetails`` /
  ``candidatesTokensDetails`` / ``cacheTokensDetails`` (``[{modality, tokenCount}]``).
* ``cost`` (a number): the charge the provider itself reports (OpenRouter).

A cached count without a text/image split is taken from the text tokens first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TokenUsage:
    text_in: int = 0  # uncached
    image_in: int = 0  # uncached
    cached_text_in: int = 0
    cached_image_in: int = 0
    text_out: int = 0
    image_out: int = 0

    @property
    def prompt_tokens(self) -> int:
        return self.text_in + self.image_in + self.cached_text_in + self.cached_image_in

    @property
    def completion_tokens(self) -> int:
        return self.text_out + self.image_out

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _split_cached(text: int, image: int, cached: int, split: dict[str, Any]) -> TokenUsage:
    if split:
        cached_text = min(_int(split.get("text_tokens")), text)
        cached_image = min(_int(split.get("image_tokens")), image)
    else:
        cached_text = min(cached, text)
        cached_image = min(cached - cached_text, image)
    return TokenUsage(
        text_in=text - cached_text,
        image_in=image - cached_image,
        cached_text_in=cached_text,
        cached_image_in=cached_image,
    )


def _images_api(u: dict[str, Any]) -> TokenUsage:
    total_in = _int(u.get("input_tokens"))
    details = _dict(u.get("input_tokens_details"))
    if details:
        text, image = _int(details.get("text_tokens")), _int(details.get("image_tokens"))
        if text + image < total_in:
            text += total_in - text - image
    else:
        text, image = total_in, 0
    inputs = _split_cached(
        text, image, _int(details.get("cached_tokens")), _dict(details.get("cached_tokens_details"))
    )
    total_out = _int(u.get("output_tokens"))
    out = _dict(u.get("output_tokens_details"))
    if out:
        image_out = _int(out.get("image_tokens"))
        text_out = _int(out.get("text_tokens")) or max(0, total_out - image_out)
    else:
        image_out, text_out = total_out, 0
    return TokenUsage(
        inputs.text_in,
        inputs.image_in,
        inputs.cached_text_in,
        inputs.cached_image_in,
        text_out,
        image_out,
    )


def _chat(u: dict[str, Any]) -> TokenUsage:
    prompt = _int(u.get("prompt_tokens"))
    details = _dict(u.get("prompt_tokens_details"))
    image = min(_int(details.get("image_tokens")), prompt)
    inputs = _split_cached(
        prompt - image,
        image,
        _int(details.get("cached_tokens")),
        _dict(details.get("cached_tokens_details")),
    )
    completion = _int(u.get("completion_tokens"))
    image_out = min(_int(_dict(u.get("completion_tokens_details")).get("image_tokens")), completion)
    return TokenUsage(
        inputs.text_in,
        inputs.image_in,
        inputs.cached_text_in,
        inputs.cached_image_in,
        completion - image_out,
        image_out,
    )


def _by_modality(details: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    if isinstance(details, list):
        for d in details:
            if isinstance(d, dict):
                m = str(d.get("modality", "TEXT")).upper()
                out[m] = out.get(m, 0) + _int(d.get("tokenCount"))
    return out


def _gemini(u: dict[str, Any]) -> TokenUsage:
    prompt = _int(u.get("promptTokenCount"))
    p = _by_modality(u.get("promptTokensDetails"))
    image_in = min(p.get("IMAGE", 0), prompt)
    cached = _int(u.get("cachedContentTokenCount"))
    c = _by_modality(u.get("cacheTokensDetails"))
    split = {"text_tokens": cached - c.get("IMAGE", 0), "image_tokens": c["IMAGE"]} if c else {}
    inputs = _split_cached(prompt - image_in, image_in, cached, split)
    candidates = _int(u.get("candidatesTokenCount"))
    o = _by_modality(u.get("candidatesTokensDetails"))
    image_out = min(o.get("IMAGE", 0), candidates)
    text_out = candidates - image_out + _int(u.get("thoughtsTokenCount"))
    return TokenUsage(
        inputs.text_in,
        inputs.image_in,
        inputs.cached_text_in,
        inputs.cached_image_in,
        text_out,
        image_out,
    )


def normalize(usage: dict[str, Any] | None) -> TokenUsage | None:
    """Billing buckets of a usage object, or None when it carries no token counts."""
    if not isinstance(usage, dict):
        return None
    meta = usage.get("usageMetadata")
    if isinstance(meta, dict):
        return _gemini(meta)
    if "promptTokenCount" in usage or "candidatesTokenCount" in usage:
        return _gemini(usage)
    if "input_tokens" in usage or "output_tokens" in usage:
        return _images_api(usage)
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        return _chat(usage)
    return None


def provider_cost(usage: dict[str, Any] | None) -> float | None:
    if not isinstance(usage, dict):
        return None
    cost = usage.get("cost")
    if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
        return float(cost)
    return None
