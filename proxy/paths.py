"""Where the proxy keeps local data when the config does not say: beside the config file."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from proxy.config import ProxyConfig

log = logging.getLogger("proxy")


def config_dir(config: ProxyConfig) -> Path:
    return Path(config.source).resolve().parent if config.source != "<memory>" else Path.cwd()


def data_dir(config: ProxyConfig) -> Path:
    """Beside the config file when that is writable, else a temporary directory (a container
    whose config sits in a read-only directory still starts; set database_url to keep data)."""
    home = config_dir(config)
    if os.access(home, os.W_OK):
        return home
    fallback = Path(tempfile.gettempdir()) / "image-proxy"
    log.warning(
        "%s is not writable: keeping the SQLite database and spend journal in %s (set "
        "general_settings.database_url to keep keys and spend logs across restarts)",
        home,
        fallback,
    )
    return fallback


def local_path(config: ProxyConfig, configured: str | None, default_name: str) -> Path:
    """A configured path (relative ones resolve against the config file's folder), else
    ``default_name`` in the data folder."""
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else config_dir(config) / path
    return data_dir(config) / default_name
