"""The console's gallery switch and its files: ``general_settings.console_gallery: true``
keeps the images of successful image requests (off by default; ``gallery_keeper``).

```yaml
general_settings:
  console_gallery: true   # the bytes go to the image store (image_store), one row each to the DB
```
The files go to the configured image store, beside the ``response_format: url`` images but
out of reach of their purge (those expire after ``image_store.ttl_seconds``; the gallery's
stay until deleted): a ``gallery/`` folder inside the local store's directory (the purge
reads only the directory's own files), or the S3 prefix with ``-gallery/`` in place of its
final ``/`` (``images/`` -> ``images-gallery/``; with an empty prefix, ``gallery/``, which the
purge of an empty prefix does reach).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proxy.config import GeneralSettings, ProxyConfig
from proxy.config.delivery import ImageStoreSettings
from proxy.config.errors import ConfigError
from proxy.images.store import ImageStore
from proxy.images.store_local import LocalImageStore
from proxy.images.store_s3 import S3ImageStore
from proxy.paths import local_path

SETTING = "console_gallery"


def gallery_setting(general: Mapping[str, Any] | None) -> bool:
    value = (general or {}).get(SETTING, False)
    if not isinstance(value, bool):
        raise ConfigError(f"general_settings.{SETTING}: must be true or false, got {value!r}")
    return value


def gallery_enabled(general: GeneralSettings) -> bool:
    return gallery_setting(general.model_extra)


def gallery_store(config: ProxyConfig) -> ImageStore | None:
    """Where the gallery's files go, or None when the gallery is off."""
    if not gallery_enabled(config.general):
        return None
    settings = config.general.image_store or ImageStoreSettings()
    if settings.type == "s3":
        prefix = f"{settings.prefix[:-1]}-gallery/" if settings.prefix.endswith("/") else ""
        return S3ImageStore(settings.model_copy(update={"prefix": prefix or "gallery/"}))
    return LocalImageStore(local_path(config, settings.path, "image-store") / "gallery")


def check_gallery(resolved: dict[str, Any]) -> list[str]:
    """The config check (``proxy.configure``)."""
    general = resolved.get("general_settings")
    gallery_setting(general if isinstance(general, Mapping) else None)
    return []
