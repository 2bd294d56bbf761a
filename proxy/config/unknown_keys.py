"""Start-up warnings for keys image-proxy does not act on, at every level of the config.

Three kinds, each naming the key's path: a key LiteLLM defines but image-proxy ignores ("not
implemented by image-proxy; ignored"), the same for a key whose silence would leave the proxy
more open than the operator believes (the warning says what is not enforced), and a key
nobody defines (a typo: "unknown key", with "did you mean X?" for a near miss).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from proxy.config import compat
from proxy.config.deployment import LiteLLMParams, ModelInfo
from proxy.config.settings import GeneralSettings, RouterSettings, RoutingStrategyArgs

ROUTER_KEYS = frozenset(RouterSettings.model_fields)


@dataclass(frozen=True)
class Vocabulary:
    """The keys of one section: acted on, LiteLLM's but ignored, ignored but unsafe to."""

    known: frozenset[str]
    ignored: frozenset[str] = frozenset()
    unsafe: Mapping[str, str] = field(default_factory=dict)
    ignored_prefixes: tuple[str, ...] = ()

    def warning(self, path: str, key: str) -> str | None:
        if key in self.known:
            return None
        where = f"{path}.{key}" if path else key
        if key in self.unsafe:
            return (
                f"{where}: LiteLLM setting not implemented by image-proxy; ignored, so "
                f"{self.unsafe[key]}"
            )
        if key in self.ignored or key.startswith(self.ignored_prefixes):
            return f"{where}: LiteLLM setting not implemented by image-proxy; ignored"
        names = sorted(self.known | self.ignored | set(self.unsafe))
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{where}: unknown key; ignored{hint}"


def _fields(*models: type[Any]) -> frozenset[str]:
    return frozenset(name for m in models for name in m.model_fields)


TOP = Vocabulary(compat.TOP_LEVEL, compat.TOP_LEVEL_IGNORED)
GENERAL = Vocabulary(
    _fields(GeneralSettings) | compat.GENERAL_EXTRAS,
    compat.GENERAL_IGNORED,
    compat.GENERAL_UNSAFE_TO_IGNORE,
)
ROUTER = Vocabulary(ROUTER_KEYS, compat.ROUTER_IGNORED)
STRATEGY_ARGS = Vocabulary(_fields(RoutingStrategyArgs))
PARAMS = Vocabulary(
    _fields(LiteLLMParams) | compat.PARAMS_READ,
    compat.PARAMS_IGNORED,
    compat.PARAMS_UNSAFE_TO_IGNORE,
)
MODEL_INFO = Vocabulary(
    _fields(ModelInfo) | compat.MODEL_INFO_READ,
    compat.MODEL_INFO_IGNORED,
    ignored_prefixes=compat.MODEL_INFO_IGNORED_PREFIXES,
)
ENTRY = Vocabulary(frozenset({"model_name", "litellm_params", "model_info"}))


def section_warnings(section: Any, path: str, vocabulary: Vocabulary) -> list[str]:
    if not isinstance(section, Mapping):
        return []
    return [w for key in section if (w := vocabulary.warning(path, str(key))) is not None]


def litellm_settings_warnings(section: Any, router_keys: Collection[str]) -> list[str]:
    """``litellm_settings``: its router keys (copied to ``router_settings``) count as known."""
    vocabulary = Vocabulary(
        frozenset(router_keys) | compat.LITELLM_EXTRAS,
        compat.LITELLM_IGNORED,
        compat.LITELLM_UNSAFE_TO_IGNORE,
    )
    return section_warnings(section, "litellm_settings", vocabulary)


def general_settings_warnings(section: Any) -> list[str]:
    """``general_settings``; a router key there is LiteLLM's misplacement, named as such."""
    if not isinstance(section, Mapping):
        return []
    out = []
    for key in section:
        if key in ROUTER_KEYS and key not in GENERAL.known:
            out.append(
                f"general_settings.{key}: a router_settings key; ignored here "
                f"(did you mean 'router_settings.{key}'?)"
            )
        elif (w := GENERAL.warning("general_settings", str(key))) is not None:
            out.append(w)
    return out


def config_warnings(data: Mapping[str, Any], router_keys: Collection[str]) -> list[str]:
    """Warnings for the top level and the settings sections (``model_list`` entries are
    checked one by one, ``entry_warnings``, once the loader knows which are served)."""
    router = data.get("router_settings")
    out = section_warnings(data, "", TOP)
    out += general_settings_warnings(data.get("general_settings"))
    out += section_warnings(router, "router_settings", ROUTER)
    if isinstance(router, Mapping):
        out += section_warnings(
            router.get("routing_strategy_args"),
            "router_settings.routing_strategy_args",
            STRATEGY_ARGS,
        )
    out += litellm_settings_warnings(data.get("litellm_settings"), router_keys)
    return out


def entry_warnings(entry: Any, path: str) -> Iterable[str]:
    if not isinstance(entry, Mapping):
        return []
    return [
        *section_warnings(entry, path, ENTRY),
        *section_warnings(entry.get("litellm_params"), f"{path}.litellm_params", PARAMS),
        *section_warnings(entry.get("model_info"), f"{path}.model_info", MODEL_INFO),
    ]
