"""Container health probe: ``python3 -m proxy.healthcheck`` exits 0 when the proxy's
``/health/liveness`` answers 200 on this host, 1 otherwise.

The Dockerfile's HEALTHCHECK and docker-compose.yaml use it, so the image needs no curl. It
runs in its own short-lived process: blocking I/O here never touches the server's event loop.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping

TIMEOUT_SECONDS = 3.0
ANY_ADDRESS = {"", "0.0.0.0", "::", "[::]"}


def liveness_url(env: Mapping[str, str]) -> str:
    """The liveness URL for the host and port the proxy was told to listen on."""
    host = env.get("PROXY_HOST", "127.0.0.1").strip()
    if host in ANY_ADDRESS:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = env.get("PROXY_PORT", "4000").strip() or "4000"
    return f"http://{host}:{port}/health/liveness"


def probe(url: str, timeout: float = TIMEOUT_SECONDS) -> bool:
    # An empty ProxyHandler: an HTTP(S)_PROXY set for the proxy's own upstream calls must not
    # reroute the probe of our own port.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main() -> int:
    url = liveness_url(os.environ)
    if probe(url):
        return 0
    print(f"unhealthy: {url} did not answer 200", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
