"""The proxy service's environment as `docker compose` would give it (shared by the unit test of
the deployment files and the container test)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "docker-compose.yaml").read_text()))


def interpolate(value: str, shell: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}; KeyError for a missing ${NAME:?}."""

    def one(match: re.Match[str]) -> str:
        name, kind, arg = match.group(1), match.group(2), match.group(3) or ""
        if shell.get(name):
            return shell[name]
        if kind == "?":
            raise KeyError(f"{name}: {arg}")
        return arg if kind == "-" else ""

    return INTERPOLATION.sub(one, value)


def proxy_environment(shell: dict[str, str]) -> dict[str, str]:
    """The proxy container's variables; a pass-through (null) entry is set only if in ``shell``."""
    out: dict[str, str] = {}
    for name, value in compose()["services"]["proxy"]["environment"].items():
        if value is None:
            if shell.get(name):
                out[name] = shell[name]
        else:
            out[name] = interpolate(str(value), shell)
    return out
