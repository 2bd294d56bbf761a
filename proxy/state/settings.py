"""Which state store a process uses: ``router_settings.redis_*`` turns on shared state.

``redis_url`` (``redis://[:password@]host:port/db``, ``rediss://`` for TLS) or ``redis_host``
with ``redis_port`` / ``redis_password`` / ``redis_db``. Unset: each process keeps its own
state in memory (one replica, one worker). ``redis_key_prefix`` namespaces every key and the
pub/sub channel, so several gateways (or test runs) can share one Redis. ``redis_lease_ttl``
(default 15 s) bounds how long a replica that died without a goodbye (``kill -9``, a lost
machine) keeps holding in-flight slots and budget reservations (``proxy/state/redis.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from proxy.config import RouterSettings

DEFAULT_PORT = 6379
DEFAULT_LEASE_TTL = 15.0


@dataclass(frozen=True, slots=True)
class RedisSettings:
    url: str
    key_prefix: str
    socket_timeout: float
    connect_timeout: float
    retry_interval: float
    lease_ttl: float = DEFAULT_LEASE_TTL

    def describe(self) -> str:
        """The URL without its password, for logs."""
        scheme, _, rest = self.url.partition("://")
        host = rest.rpartition("@")[2]
        return f"{scheme}://{host}"


def redis_settings(router: RouterSettings) -> RedisSettings | None:
    url = (router.redis_url or "").strip()
    host = (router.redis_host or "").strip()
    if not url and not host:
        return None
    if not url:
        password = router.redis_password or ""
        auth = f":{quote(password, safe='')}@" if password else ""
        port = router.redis_port or DEFAULT_PORT
        netloc = f"[{host}]" if ":" in host and not host.startswith("[") else host
        url = f"redis://{auth}{netloc}:{port}/{router.redis_db or 0}"
    return RedisSettings(
        url=url,
        key_prefix=router.redis_key_prefix,
        socket_timeout=router.redis_socket_timeout,
        connect_timeout=router.redis_connect_timeout,
        retry_interval=router.redis_retry_interval,
        lease_ttl=router.redis_lease_ttl,
    )
