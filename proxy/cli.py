"""Start-up: flags, config validation (exit 2 on a bad file), then uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime

from proxy.config import ConfigError, ProxyConfig
from proxy.configure import load_config
from proxy.observability.logging import configure_logging
from proxy.observability.settings import parse_observability
from proxy.pricing.retirements import retirement_warnings
from proxy.server.http import GuardedHttp
from proxy.state.settings import redis_settings

EXIT_CONFIG = 2
log = logging.getLogger("proxy")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="image-proxy", description=__doc__)
    p.add_argument("--config", default=os.environ.get("PROXY_CONFIG", "config.yaml"))
    p.add_argument("--host", default=os.environ.get("PROXY_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("PROXY_PORT", "4000")))
    p.add_argument(
        "--workers",
        "--num_workers",  # LiteLLM's spelling
        type=int,
        default=int(os.environ.get("PROXY_WORKERS", "1")),
    )
    p.add_argument(
        "--log-level",
        default=os.environ.get("PROXY_LOG_LEVEL"),
        help="debug, info, warning, error (default: general_settings.log_level, else info)",
    )
    p.add_argument(
        "--debug",
        "--detailed_debug",  # LiteLLM's flags: both mean --log-level debug here
        dest="log_level",
        action="store_const",
        const="debug",
        help="same as --log-level debug",
    )
    p.add_argument(
        "--backlog",
        type=int,
        default=int(os.environ.get("PROXY_BACKLOG", "4096")),
        help="listen backlog: connections waiting to be accepted (capped by net.core.somaxconn)",
    )
    p.add_argument(
        "--check-config",
        action="store_true",
        help="validate the config (missing environment variables included) and exit",
    )
    p.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="serve without a master key: anyone who can reach the port may use it",
    )
    return p.parse_args(argv)


def load_or_exit(path: str) -> ProxyConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def allow_open_access(config: ProxyConfig) -> ProxyConfig:
    general = config.general.model_copy(update={"allow_unauthenticated_access": True})
    return replace(config, general=general)


def retired_models(config: ProxyConfig) -> list[str]:
    """Deployments of models their provider has shut down (they still start)."""
    return retirement_warnings(config.deployments, datetime.now(UTC).date())


def check_config(config: ProxyConfig) -> int:
    for line in retired_models(config):
        print(f"warning: {line}", file=sys.stderr)
    # What would fail a request (a deployment whose variables are unset, no master key) is an
    # error; the rest (skipped deployments, unknown or ignored keys) starts fine and is a warning.
    problems = [d.missing_env_message() for d in config.deployments if not d.available]
    if not config.general.master_key and not config.general.allow_unauthenticated_access:
        problems.append("general_settings.master_key: not set")
    for line in config.warnings:
        if line not in problems:
            print(f"warning: {line}", file=sys.stderr)
    for problem in problems:
        print(f"config error: {problem}", file=sys.stderr)
    if not problems:
        print(
            f"config ok: {len(config.deployments)} deployments, {len(config.groups())} model groups"
        )
    return EXIT_CONFIG if problems else 0


def log_level(flag: str | None, config: ProxyConfig) -> str:
    configured = config.general.model_extra.get("log_level") if config.general.model_extra else None
    return (flag or configured or "info").lower()


def prepare_multiprocess_metrics() -> None:
    """Workers share Prometheus samples through files; give them a fresh directory."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="image-proxy-metrics-")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = load_or_exit(args.config)
    args.log_level = log_level(args.log_level, config)
    configure_logging(parse_observability(dict(config.raw)), args.log_level)
    if args.check_config:
        raise SystemExit(check_config(config))
    if args.allow_unauthenticated and not config.general.master_key:
        config = allow_open_access(config)
        os.environ["PROXY_ALLOW_UNAUTHENTICATED"] = "1"
    if not config.general.master_key and not config.general.allow_unauthenticated_access:
        print(
            "config error: general_settings.master_key: not set; refusing to start an open "
            "proxy (set a master key, or opt out with --allow-unauthenticated / "
            "general_settings.allow_unauthenticated_access: true)",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_CONFIG)
    if not config.general.master_key:
        log.warning(
            "!!! NO MASTER KEY: every client that can reach this port can use the "
            "proxy and its provider credentials !!!"
        )
    for warning in config.warnings:
        log.warning("%s", warning)
    for line in retired_models(config):
        log.warning("%s", line)

    import uvicorn

    os.environ["PROXY_CONFIG"] = args.config
    os.environ["PROXY_LOG_LEVEL"] = args.log_level
    if args.workers > 1:
        prepare_multiprocess_metrics()
        if redis_settings(config.router) is None:
            log.warning(
                "--workers %d without router_settings.redis_host/redis_url: every worker keeps "
                "its own rate limits, budget reservations and cooldowns",
                args.workers,
            )
        uvicorn.run(
            "proxy.asgi:app",
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            log_config=None,  # uvicorn's lines go through the proxy's log format
            access_log=False,
            backlog=args.backlog,
            http=GuardedHttp,
            timeout_graceful_shutdown=config.general.graceful_shutdown_timeout,
        )
    else:
        # Only the single-process server builds the app here (each worker of several imports
        # proxy.asgi): the supervising process never loads Starlette and the routes.
        from proxy.app import create_app

        uvicorn.run(
            create_app(config),
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            log_config=None,  # uvicorn's lines go through the proxy's log format
            access_log=False,
            backlog=args.backlog,
            http=GuardedHttp,
            timeout_graceful_shutdown=config.general.graceful_shutdown_timeout,
        )
