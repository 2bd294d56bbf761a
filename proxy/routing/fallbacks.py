"""Fallbacks: other model groups to try once a group's own retries are spent.

``router_settings.fallbacks`` (``[{"gpt-image": ["imagen", "nova"]}]``) and
``default_fallbacks`` (for groups without their own entry) are used after retryable failures,
misconfigured deployments and groups with nothing available; ``content_policy_fallbacks`` only
after a content-policy refusal. A request may name its own ``fallbacks`` (a list of model
names) in the body; they replace the configured ones and are removed from the body before it
reaches any provider. A group the request's key may not use is never in the chain (the
request's own list naming one is a 403). ``max_fallbacks`` bounds the chain. Fallback groups
get their own retries but never fall back further. The fallback group's adapter translates
the request.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from proxy.config import RouterSettings
from proxy.context import KeyInfo, RequestContext
from proxy.errors import InvalidRequestError, PermissionDeniedError, ProxyError
from proxy.routing.errors import may_fall_back

REQUEST_KEY = "request_fallbacks"
DISABLED_KEY = "disable_fallbacks"


def as_map(entries: Iterable[dict[str, list[str]]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for entry in entries:
        for group, targets in entry.items():
            out[group] = out.get(group, ()) + tuple(targets)
    return out


def check_fallbacks(settings: RouterSettings, groups: set[str]) -> str | None:
    """The first fallback entry naming an unknown model group, as a config error line."""
    for name in ("fallbacks", "content_policy_fallbacks"):
        for i, entry in enumerate(getattr(settings, name)):
            for group, targets in entry.items():
                where = f"router_settings.{name}[{i}].{group}"
                if group not in groups:
                    return f"{where}: unknown model group {group!r}"
                for target in targets:
                    if target not in groups:
                        return f"{where}: unknown fallback model group {target!r}"
    for i, target in enumerate(settings.default_fallbacks):
        if target not in groups:
            return f"router_settings.default_fallbacks[{i}]: unknown model group {target!r}"
    return None


class FallbackPlan:
    def __init__(self, settings: RouterSettings, groups: set[str]) -> None:
        self.general = as_map(settings.fallbacks)
        self.content_policy = as_map(settings.content_policy_fallbacks)
        self.default = tuple(settings.default_fallbacks)
        self.max_fallbacks = settings.max_fallbacks
        self.groups = groups

    def configured_for(self, group: str) -> bool:
        return bool(self.general.get(group) or self.content_policy.get(group) or self.default)

    def chain(
        self,
        group: str,
        exc: ProxyError,
        requested: tuple[str, ...] | None = None,
        key: KeyInfo | None = None,
    ) -> list[str]:
        """The groups to try after ``group`` failed with ``exc``, in order: only groups
        ``key`` may use (a fallback never serves a key a model it may not call), at most
        ``max_fallbacks`` of them."""
        if exc.content_policy:
            targets: Iterable[str] = self.content_policy.get(group, ())
        elif may_fall_back(exc):
            if requested is not None:
                targets = requested
            else:
                targets = self.general.get(group) or self.default
        else:
            return []
        out: list[str] = []
        for target in targets:
            if target != group and target not in out and (key is None or key.may_use(target)):
                out.append(target)
        return out[: self.max_fallbacks]

    async def take_from_request(self, ctx: RequestContext, request: Any) -> None:
        """Pre-call hook: move ``fallbacks`` / ``disable_fallbacks`` out of the body."""
        body: dict[str, Any] = request.body
        if body.pop(DISABLED_KEY, None) is True:
            ctx.fallbacks_disabled = True
        if "fallbacks" not in body:
            return
        raw = body.pop("fallbacks")
        if raw is None:
            return
        if not isinstance(raw, list):
            raise InvalidRequestError(
                "'fallbacks' must be a list of model names.", param="fallbacks"
            )
        names: list[str] = []
        for i, item in enumerate(raw):
            name = item.get("model") if isinstance(item, dict) and set(item) == {"model"} else item
            if not isinstance(name, str) or not name:
                raise InvalidRequestError(
                    f"'fallbacks[{i}]' must be a model name.", param=f"fallbacks[{i}]"
                )
            if name not in self.groups:
                raise InvalidRequestError(
                    f"'fallbacks[{i}]': the model '{name}' does not exist on this proxy.",
                    param=f"fallbacks[{i}]",
                    code="model_not_found",
                )
            if ctx.key is not None and not ctx.key.may_use(name):
                raise PermissionDeniedError(
                    f"'fallbacks[{i}]': this key may not use the model '{name}'.",
                    param=f"fallbacks[{i}]",
                )
            names.append(name)
        ctx.requested_fallbacks = tuple(names)
