"""ASGI entry for multi-worker uvicorn: each worker loads the config named by PROXY_CONFIG."""

from __future__ import annotations

import os

from proxy.app import create_app
from proxy.cli import allow_open_access
from proxy.configure import load_config
from proxy.observability.logging import configure_logging
from proxy.observability.settings import parse_observability

config = load_config(os.environ.get("PROXY_CONFIG", "config.yaml"))
level = os.environ.get("PROXY_LOG_LEVEL", "info")
configure_logging(parse_observability(dict(config.raw)), level)
if not config.general.master_key and os.environ.get("PROXY_ALLOW_UNAUTHENTICATED") == "1":
    config = allow_open_access(config)
app = create_app(config)
