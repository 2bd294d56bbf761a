"""The price table: the shipped data file plus per-deployment overrides from ``model_info``.

``PriceTable.for_deployment(d)`` answers the merged price entry of one deployment: the
table's entry for ``<provider>/<model>`` (or ``model_info.base_model``, which Azure
deployments need since their names are free-form), with any price key set in the
deployment's ``model_info`` laid on top, key by key. The prices model_info sets are also kept
alone (``PriceEntry.declared``) and tried first: a declared ``output_cost_per_image`` wins over
the table's per-size rule or token rates, not just over the table's own flat price. Lookups
are done once per deployment and cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from proxy.config import Deployment
from proxy.config.compat import PRICE_OVERRIDE_KEYS, PRICE_RATE_KEYS

PRICES_FILE = Path(__file__).with_name("prices.yaml")

# Price keys an operator may set in model_info (LiteLLM's names): one table, also what
# the config's unknown-key warnings know (proxy.config.compat).
RATE_KEYS = PRICE_RATE_KEYS
OVERRIDE_KEYS = PRICE_OVERRIDE_KEYS

_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")
_BEDROCK_REGION = re.compile(r"^(us|eu|apac|global|us-gov|jp|au|ca)\.")


@dataclass(frozen=True, slots=True)
class ImageRule:
    cost: float
    quality: frozenset[str] | None = None
    size: frozenset[str] | None = None
    max_pixels: int | None = None
    max_steps: int | None = None

    def matches(self, quality: str | None, size: str | None, steps: int | None) -> bool:
        if self.quality is not None and quality not in self.quality:
            return False
        if self.size is not None and size not in self.size:
            return False
        if self.max_pixels is not None:
            pixels = pixel_count(size)
            if pixels is None or pixels > self.max_pixels:
                return False
        return not (self.max_steps is not None and steps is not None and steps > self.max_steps)


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """Everything known about how one deployment is billed."""

    key: str | None  # the table key it came from (None: overrides only / not found)
    rates: dict[str, float] = field(default_factory=dict)
    per_image: tuple[ImageRule, ...] = ()
    default_size: str | None = None
    default_quality: str | None = None
    quality_aliases: dict[str, str] = field(default_factory=dict)
    free: bool = False
    unknown: str | None = None
    provider_reported: bool = False
    overridden: bool = False
    # The prices the deployment's model_info sets, alone (None: it sets none). Tried before
    # this entry, so a declared price wins over every table rule, even a more specific one.
    declared: PriceEntry | None = None

    def rate(self, name: str) -> float | None:
        return self.rates.get(name)

    @property
    def layers(self) -> tuple[PriceEntry, ...]:
        """What to price with, in order: the declared prices, then the merged entry."""
        return (self.declared, self) if self.declared is not None else (self,)

    @property
    def has_token_rates(self) -> bool:
        return any(k.endswith("_token") or k.endswith("_token_cost") for k in self.rates)

    @property
    def known(self) -> bool:
        return self.free or self.provider_reported or bool(self.rates) or bool(self.per_image)


def pixel_count(size: str | None) -> int | None:
    if not size:
        return None
    w, sep, h = size.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit():
        return None
    return int(w) * int(h)


def _strings(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return frozenset(str(v).lower() for v in items)


def parse_rules(raw: Any, where: str) -> tuple[ImageRule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError(f"{where}.per_image: must be a list of rules")
    rules = []
    for i, r in enumerate(raw):
        if not isinstance(r, dict) or not isinstance(r.get("cost"), int | float):
            raise ValueError(f"{where}.per_image[{i}]: each rule needs a numeric 'cost'")
        rules.append(
            ImageRule(
                cost=float(r["cost"]),
                quality=_strings(r.get("quality")),
                size=_strings(r.get("size")),
                max_pixels=r.get("max_pixels"),
                max_steps=r.get("max_steps"),
            )
        )
    return tuple(rules)


def _rates(raw: dict[str, Any], where: str) -> dict[str, float]:
    out = {}
    for k in RATE_KEYS:
        v = raw.get(k)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise ValueError(f"{where}.{k}: must be a number >= 0")
        out[k] = float(v)
    return out


class PriceTable:
    def __init__(self, data: dict[str, Any]) -> None:
        self.as_of = str(data.get("as_of", "unknown"))
        models = data.get("models") or {}
        if not isinstance(models, dict):
            raise ValueError("prices: 'models' must be a mapping")
        self._raw: dict[str, dict[str, Any]] = {k.lower(): v for k, v in models.items()}
        # the models it names one by one, as written (family defaults ``openai/*`` left out)
        self.model_names = tuple(dict.fromkeys(str(k) for k in models if "*" not in str(k)))
        self._cache: dict[str, PriceEntry] = {}

    @classmethod
    def load(cls, path: Path = PRICES_FILE) -> PriceTable:
        with path.open(encoding="utf-8") as f:
            return cls(yaml.safe_load(f))

    def _resolve(self, key: str, depth: int = 0) -> dict[str, Any] | None:
        raw = self._raw.get(key)
        if raw is None or depth > 4:
            return raw
        base = raw.get("same_as")
        if base:
            parent = self._resolve(str(base).lower(), depth + 1) or {}
            return {**parent, **{k: v for k, v in raw.items() if k != "same_as"}}
        return raw

    def candidates(self, provider: str, model: str, *, base_model: bool = False) -> list[str]:
        """Table keys to try, most specific first. A ``base_model`` may name another provider
        (``openai/gpt-image-1`` behind Azure); a deployment's own model id never does: on
        OpenRouter, ``openai/gpt-image-2`` is OpenRouter's model, billed at its price."""
        names = [model]
        stripped = _DATE_SUFFIX.sub("", model)
        if stripped != model:
            names.append(stripped)
        if provider == "bedrock":
            names += [_BEDROCK_REGION.sub("", n) for n in names if _BEDROCK_REGION.match(n)]
        keys = []
        for n in names:
            n = n.lower()
            keys.append(n if "/" in n and n.split("/", 1)[0] == provider else f"{provider}/{n}")
            if base_model and "/" in n and n.split("/", 1)[0] != provider:
                keys.append(n)  # base_model written with its own provider prefix
        keys.append(f"{provider}/*")
        return keys

    def lookup(
        self, provider: str, model: str, *, base_model: bool = False
    ) -> tuple[str | None, dict[str, Any]]:
        for key in self.candidates(provider, model, base_model=base_model):
            raw = self._resolve(key)
            if raw is not None:
                return key, raw
        return None, {}

    def for_deployment(self, deployment: Deployment) -> PriceEntry:
        cached = self._cache.get(deployment.id)
        if cached is None:
            cached = self._cache[deployment.id] = self.build_entry(deployment)
        return cached

    def build_entry(self, deployment: Deployment) -> PriceEntry:
        info = deployment.info.model_dump()
        extra = deployment.info.model_extra or {}
        info.update(extra)
        base_model = info.get("base_model")
        model = str(base_model) if base_model else deployment.model
        key, raw = self.lookup(deployment.provider, model, base_model=bool(base_model))
        where = f"{deployment.path}.model_info"
        overrides = {k: info[k] for k in OVERRIDE_KEYS if info.get(k) is not None}
        own_rates = _rates(overrides, where)
        own_rules = parse_rules(overrides.get("per_image"), where)
        rates = {**_rates(raw, f"prices[{key}]"), **own_rates}
        rules = own_rules if "per_image" in overrides else parse_rules(raw.get("per_image"), where)
        overridden = bool(overrides)
        entry = PriceEntry(
            key=key,
            rates=rates,
            per_image=rules,
            default_size=overrides.get("default_size", raw.get("default_size")),
            default_quality=overrides.get("default_quality", raw.get("default_quality")),
            quality_aliases={
                str(k).lower(): str(v).lower()
                for k, v in (raw.get("quality_aliases") or {}).items()
            },
            free=bool(raw.get("free")) and not overridden,
            unknown=None if overridden else raw.get("unknown"),
            provider_reported=bool(raw.get("provider_reported")) and not overridden,
            overridden=overridden,
        )
        if not (own_rates or own_rules):
            return entry
        declared = replace(entry, key=None, rates=own_rates, per_image=own_rules)
        return replace(entry, declared=declared)
