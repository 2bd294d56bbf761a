"""The cost of one request, priced the way the provider bills it.

Order of preference for a successful answer:

1. ``free`` (mock): 0 by declaration.
2. Provider-reported cost (``usage.cost``, OpenRouter) unless model_info overrides prices.
3. Tokens from the upstream's usage, each bucket at its own rate (text in, image in, cached
   text/image in, text out, image out). Usage already covers every image of the answer (and
   fanned-out answers are summed), so it is never multiplied by ``n`` again.
4. Per image: the first ``per_image`` rule matching quality x size (x steps), or
   ``output_cost_per_image``, or ``input_cost_per_pixel`` x width x height; times the number of
   images actually returned.
5. Otherwise the cost is unknown: ``None`` (no ``x-response-cost`` header, NULL in the spend
   log) and one warning per deployment. Never a silent 0.

The prices a deployment's ``model_info`` sets are tried first, on their own (3 and 4 with
only them); the merged entry (table + overrides, key by key) only when they price nothing.
So a declared ``output_cost_per_image`` beats the table's per-size rule and its token rates.

A request that failed before any image or token was produced costs 0 (providers do not bill
refused or failed calls).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from proxy.config import Deployment, ProxyConfig
from proxy.context import RequestContext
from proxy.pricing.table import PriceEntry, PriceTable, pixel_count
from proxy.pricing.usage import TokenUsage, normalize, provider_cost

log = logging.getLogger("proxy.pricing")


@dataclass(frozen=True, slots=True)
class PriceInputs:
    """The request parameters that decide a per-image price."""

    size: str | None = None
    quality: str | None = None
    n: int = 1
    steps: int | None = None
    max_tokens: int | None = None

    @classmethod
    def from_request(cls, request: Any) -> PriceInputs:
        body = getattr(request, "body", None) or {}
        steps = body.get("steps") or body.get("num_inference_steps")
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        n = getattr(request, "n", None) or body.get("n") or 1
        return cls(
            size=_str(getattr(request, "size", None) or body.get("size")),
            quality=_str(getattr(request, "quality", None) or body.get("quality")),
            n=n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1,
            steps=steps if isinstance(steps, int) and not isinstance(steps, bool) else None,
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        )


def _str(v: Any) -> str | None:
    return v.lower() if isinstance(v, str) and v else None


@dataclass(frozen=True, slots=True)
class Cost:
    usd: float | None
    basis: str  # free | provider | tokens | per_image | per_pixel | no_output | unknown


def token_cost(entry: PriceEntry, u: TokenUsage) -> float | None:
    text_in = entry.rate("input_cost_per_token")
    image_in = entry.rate("input_cost_per_image_token")
    text_out = entry.rate("output_cost_per_token")
    image_out = entry.rate("output_cost_per_image_token")
    # Fallbacks stay within the same direction (an image-output token is never priced at a
    # text-output rate unless that is the only output rate the entry has).
    image_in = image_in if image_in is not None else text_in
    image_out = image_out if image_out is not None else text_out
    text_out = text_out if text_out is not None else (image_out if u.text_out == 0 else None)
    cached_text = entry.rate("cache_read_input_token_cost")
    cached_image = entry.rate("cache_read_input_image_token_cost")
    cached_text = cached_text if cached_text is not None else text_in
    cached_image = cached_image if cached_image is not None else image_in
    total = 0.0
    for tokens, rate in (
        (u.text_in, text_in),
        (u.image_in, image_in),
        (u.cached_text_in, cached_text),
        (u.cached_image_in, cached_image),
        (u.text_out, text_out),
        (u.image_out, image_out),
    ):
        if tokens:
            if rate is None:
                return None
            total += tokens * rate
    return total


def per_image_price(
    entry: PriceEntry, inputs: PriceInputs, *, pessimistic: bool = False
) -> tuple[float, str] | None:
    size = inputs.size if inputs.size not in (None, "auto") else None
    quality = inputs.quality if inputs.quality not in (None, "auto") else None
    size = size or (entry.default_size.lower() if entry.default_size else None)
    quality = quality or (entry.default_quality.lower() if entry.default_quality else None)
    quality = entry.quality_aliases.get(quality, quality) if quality else None
    if entry.per_image:
        for rule in entry.per_image:
            if rule.matches(quality, size, inputs.steps):
                return rule.cost, "per_image"
        if inputs.size in (None, "auto") or inputs.quality in (None, "auto"):
            # The upstream chose: take the dearest rule the known parameters allow.
            fits = [
                r.cost
                for r in entry.per_image
                if (inputs.quality in (None, "auto") or r.matches(quality, None, None))
                and (inputs.size in (None, "auto") or r.size is None or size in r.size)
            ]
            if fits:
                return max(fits), "per_image"
        if pessimistic:
            sized = [r.cost for r in entry.per_image if r.size is None or size in r.size]
            return max(sized or [r.cost for r in entry.per_image]), "per_image"
    flat = entry.rate("output_cost_per_image")
    if flat is not None:
        return flat, "per_image"
    per_pixel = entry.rate("input_cost_per_pixel")
    pixels = pixel_count(size)
    if per_pixel is not None and pixels is not None:
        return per_pixel * pixels, "per_pixel"
    return None


class Pricer:
    """Turns a finished request's facts into ``ctx.cost``; also estimates costs in advance."""

    def __init__(self, config: ProxyConfig, table: PriceTable | None = None) -> None:
        self.table = table or PriceTable.load()
        self.deployments = {d.id: d for d in config.deployments}
        self.groups = config.groups()
        self.wildcards = config.wildcards  # a concrete model's deployment, priced as any other
        self._warned: set[str] = set()
        # estimate() is a pure function of its arguments and the price table: remembered per
        # distinct (group, inputs, endpoint), a bounded set (cleared when it grows past 4,096).
        self._estimates: dict[tuple[str, PriceInputs, str], float | None] = {}

    def entry(self, deployment: Deployment) -> PriceEntry:
        return self.table.for_deployment(deployment)

    def validate(self) -> None:
        for d in self.deployments.values():
            self.entry(d)

    def __call__(self, ctx: RequestContext) -> None:
        cost = self.cost(ctx)
        ctx.cost = cost.usd
        ctx.cost_basis = cost.basis

    def cost(self, ctx: RequestContext) -> Cost:
        if ctx.images == 0 and not ctx.usage and (ctx.status >= 400 or not ctx.deployment_id):
            return Cost(0.0, "no_output")
        deployment = ctx.deployment
        if not isinstance(deployment, Deployment):
            deployment_id = ctx.deployment_id or ""
            deployment = self.deployments.get(deployment_id) or self.wildcards.deployment(
                deployment_id
            )
        if deployment is None:
            return Cost(None, "unknown")
        entry = self.entry(deployment)
        inputs = ctx.price_inputs
        if not isinstance(inputs, PriceInputs):
            inputs = PriceInputs()
        result = self.compute(entry, ctx.usage, ctx.images, inputs)
        if result.usd is None:
            self.warn_unknown(deployment, entry)
        return result

    def compute(
        self, entry: PriceEntry, usage: dict[str, Any] | None, images: int, inputs: PriceInputs
    ) -> Cost:
        for layer in entry.layers:
            cost = self._compute(layer, usage, images, inputs)
            if cost.usd is not None:
                return cost
        return Cost(None, "unknown")

    def _compute(
        self, entry: PriceEntry, usage: dict[str, Any] | None, images: int, inputs: PriceInputs
    ) -> Cost:
        if entry.free:
            return Cost(0.0, "free")
        if entry.provider_reported:
            reported = provider_cost(usage)
            if reported is not None:
                return Cost(reported, "provider")
        tokens = normalize(usage)
        if tokens is not None and tokens.total and entry.has_token_rates:
            usd = token_cost(entry, tokens)
            if usd is not None:
                return Cost(usd, "tokens")
        if images:
            price = per_image_price(entry, inputs)
            if price is not None:
                return Cost(price[0] * images, price[1])
        return Cost(None, "unknown")

    def estimate(self, group: str, inputs: PriceInputs, endpoint: str) -> float | None:
        """A pessimistic cost for a request about to run (budget reservations)."""
        key = (group, inputs, endpoint)
        try:
            return self._estimates[key]
        except KeyError:
            pass
        if len(self._estimates) >= 4096:
            self._estimates.clear()
        best = self._estimates[key] = self._estimate(group, inputs, endpoint)
        return best

    def _estimate(self, group: str, inputs: PriceInputs, endpoint: str) -> float | None:
        best: float | None = None
        for d in self.groups.get(group) or self.wildcards.match(group)[0]:
            e = self.entry(d)
            if e.free:
                guess: float | None = 0.0
            else:
                guess = self._guess(e, inputs, endpoint)
            if guess is not None:
                best = guess if best is None else max(best, guess)
        return best

    def _guess(self, entry: PriceEntry, inputs: PriceInputs, endpoint: str) -> float | None:
        """The first layer's estimate (``PriceEntry.layers``: declared prices first)."""
        for e in entry.layers:
            if endpoint == "chat":
                guess = self._chat_estimate(e, inputs)
            else:
                price = per_image_price(e, inputs, pessimistic=True)
                guess = price[0] * inputs.n if price is not None else None
            if guess is not None:
                return guess
        return None

    def _chat_estimate(self, e: PriceEntry, inputs: PriceInputs) -> float | None:
        out = e.rate("output_cost_per_image_token") or e.rate("output_cost_per_token")
        if out is not None and inputs.max_tokens:
            return out * inputs.max_tokens
        flat = e.rate("output_cost_per_image")
        return flat * inputs.n if flat is not None else None

    def warn_unknown(self, deployment: Deployment, entry: PriceEntry) -> None:
        if deployment.id in self._warned:
            return
        self._warned.add(deployment.id)
        why = entry.unknown or "no price in the table for this model and no model_info prices"
        log.warning(
            "cost unknown for %s (model_list[%d] %s/%s): %s; spend is logged without a cost",
            deployment.model_name,
            deployment.index,
            deployment.provider,
            deployment.model,
            why,
        )


def add_stream_cost(
    ctx: RequestContext, usage: dict[str, Any], price: Callable[[RequestContext], None]
) -> None:
    """Price a stream when its final usage arrives and put the cost (USD) into that usage."""
    price(ctx)
    if ctx.cost is not None:
        usage["cost"] = ctx.cost
