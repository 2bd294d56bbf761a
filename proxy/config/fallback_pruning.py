"""Fallbacks and ``model_group_alias`` entries that name a skipped model group are dropped with
a warning (the group is not served, ``proxy.config.served``), so a LiteLLM config whose chat
groups fall back to each other still starts; one naming a group that exists nowhere stays an
error (``proxy.routing.settings``)."""

from __future__ import annotations

from collections.abc import Collection

from proxy.config.settings import RouterSettings

MAPPED = ("fallbacks", "content_policy_fallbacks")


def without_skipped_fallbacks(
    settings: RouterSettings, skipped: Collection[str]
) -> tuple[RouterSettings, list[str]]:
    if not skipped:
        return settings, []
    warnings: list[str] = []
    update: dict[str, object] = {}
    for name in MAPPED:
        kept: list[dict[str, list[str]]] = []
        for i, entry in enumerate(getattr(settings, name)):
            out: dict[str, list[str]] = {}
            for group, targets in entry.items():
                where = f"router_settings.{name}[{i}].{group}"
                if group in skipped:
                    warnings.append(f"{where}: dropped, model group {group!r} is skipped")
                    continue
                for target in targets:
                    if target in skipped:
                        warnings.append(
                            f"{where}: fallback {target!r} dropped, that model group is skipped"
                        )
                out[group] = [t for t in targets if t not in skipped]
            if out:
                kept.append(out)
        update[name] = kept
    defaults = []
    for i, target in enumerate(settings.default_fallbacks):
        if target in skipped:
            warnings.append(
                f"router_settings.default_fallbacks[{i}]: {target!r} dropped, that model "
                "group is skipped"
            )
        else:
            defaults.append(target)
    update["default_fallbacks"] = defaults
    aliases = {}
    for alias, target in settings.group_aliases().items():
        if target.model in skipped:
            warnings.append(
                f"router_settings.model_group_alias.{alias}: dropped, model group "
                f"{target.model!r} is skipped"
            )
        else:
            aliases[alias] = settings.model_group_alias[alias]
    update["model_group_alias"] = aliases
    return settings.model_copy(update=update), warnings
