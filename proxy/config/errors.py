"""The configuration error, and the field paths its messages name
(``model_list[0].litellm_params.model``).

The lowest module of ``proxy.config``: feature packages that validate their own sections raise
``ConfigError`` with ``format_path`` too.
"""

from __future__ import annotations

from typing import Any


class ConfigError(Exception):
    """A configuration problem; ``str()`` is one line naming the field path."""


def format_path(loc: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
