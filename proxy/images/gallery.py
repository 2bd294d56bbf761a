"""The console's gallery switch: ``general_settings.console_gallery: true`` keeps images made
in the console's playground (off by default).

```yaml
general_settings:
  console_gallery: true   # the bytes go to the image store (image_store), one row each to the DB
```
The images live as long as the image store keeps files (``image_store.ttl_seconds``); the
gallery lists nothing older.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proxy.config import GeneralSettings
from proxy.config.errors import ConfigError

SETTING = "console_gallery"


def gallery_setting(general: Mapping[str, Any] | None) -> bool:
    value = (general or {}).get(SETTING, False)
    if not isinstance(value, bool):
        raise ConfigError(f"general_settings.{SETTING}: must be true or false, got {value!r}")
    return value


def gallery_enabled(general: GeneralSettings) -> bool:
    return gallery_setting(general.model_extra)


def check_gallery(resolved: dict[str, Any]) -> list[str]:
    """The config check (``proxy.configure``)."""
    general = resolved.get("general_settings")
    gallery_setting(general if isinstance(general, Mapping) else None)
    return []
