"""Models their provider has shut down (``retirements.yaml``): a start-up warning per
deployment of one, naming the model, the date and the successor. The deployment still
starts: a compatible server may serve the same name, and the warning is all that is owed.

Only the providers' own prefixes are looked up (``openai/``, ``gemini/``, ``vertex_ai/``,
``bedrock/``, ``xai/``); an ``openai/`` or ``xai/`` deployment whose ``api_base`` points
elsewhere is a compatible server and is left alone. Azure deployments keep their own
retirement schedule and free-form names, so they are not looked up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from proxy.config import Deployment

RETIREMENTS_FILE = Path(__file__).with_name("retirements.yaml")

# provider prefix -> the provider's own API hosts (empty: any api_base is the provider's)
PROVIDER_HOSTS: dict[str, tuple[str, ...]] = {
    "openai": ("api.openai.com",),
    "xai": ("api.x.ai",),
    "gemini": (),
    "vertex_ai": (),
    "bedrock": (),
}

_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")
_BEDROCK_REGION = re.compile(r"^(us|eu|apac|global|us-gov|jp|au|ca)\.")


@dataclass(frozen=True, slots=True)
class Retirement:
    pattern: str  # "<provider>/<model id>", "*" for any run of characters
    retired: date
    successor: str
    source: str = ""


def _as_date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{where}.retired: must be a date (YYYY-MM-DD)") from None


def parse(data: Any) -> tuple[Retirement, ...]:
    models = (data or {}).get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise ValueError("retirements: 'models' must be a mapping")
    out = []
    for key, raw in models.items():
        where = f"retirements[{key}]"
        if not isinstance(raw, dict) or not raw.get("successor"):
            raise ValueError(f"{where}: needs 'retired' and 'successor'")
        out.append(
            Retirement(
                pattern=str(key).lower(),
                retired=_as_date(raw.get("retired"), where),
                successor=str(raw["successor"]),
                source=str(raw.get("source") or ""),
            )
        )
    return tuple(out)


def load(path: Path = RETIREMENTS_FILE) -> tuple[Retirement, ...]:
    with path.open(encoding="utf-8") as f:
        return parse(yaml.safe_load(f))


def model_key(deployment: Deployment) -> str | None:
    """``<provider>/<model>`` as the table keys it, or None when the deployment is not the
    provider's own service (a provider without dates, or a compatible server)."""
    provider = deployment.provider
    hosts = PROVIDER_HOSTS.get(provider)
    if hosts is None:
        return None
    if hosts and deployment.params.api_base:
        host = (urlsplit(deployment.params.api_base).hostname or "").lower()
        if host not in hosts:
            return None
    model = _DATE_SUFFIX.sub("", deployment.model.lower())
    if provider == "bedrock":
        model = _BEDROCK_REGION.sub("", model)
    return f"{provider}/{model}"


def retirement_of(deployment: Deployment, table: Iterable[Retirement]) -> Retirement | None:
    key = model_key(deployment)
    if key is None:
        return None
    return next((r for r in table if fnmatchcase(key, r.pattern)), None)


def retirement_warnings(
    deployments: Iterable[Deployment], today: date, table: Iterable[Retirement] | None = None
) -> list[str]:
    """One line per deployment whose model was shut down on or before ``today``."""
    entries = tuple(load() if table is None else table)
    lines = []
    for d in deployments:
        found = retirement_of(d, entries)
        if found is None or found.retired > today:
            continue
        lines.append(
            f"model_list[{d.index}] ({d.model_name}): {d.provider}/{d.model} was shut down by "
            f"its provider on {found.retired.isoformat()}; calls to it fail upstream. "
            f"Move to {found.successor}."
        )
    return lines
