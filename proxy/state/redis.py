"""The Redis state store: every ``StateStore`` operation is one command or one Lua script, so
it is atomic however many replicas (and workers) share the Redis.

- Keys are ``<prefix><key>``; every key carries an expiry, so nothing piles up.
- Sliding windows are sorted sets scored by the *Redis server's* clock (``TIME`` inside the
  script): replicas whose clocks drift still agree on what "the last minute" is. A member is
  ``<amount>:<unique id>``.
- Counters never go below zero: a Redis that restarted (and lost a counter) while slots were
  held must not start the next caller at ``-n``.

Errors are not handled here: ``SharedState`` catches them and falls back to memory.
"""

from __future__ import annotations

import math
import secrets
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from proxy.state.settings import RedisSettings

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

_TRIM = (
    _NOW
    + """
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local function amount_of(member)
  return tonumber(string.match(member, '^([^:]+)'))
end
"""
)

INCR = """
local v = tonumber(redis.call('INCRBYFLOAT', KEYS[1], ARGV[1]))
if v < 0 then
  v = 0
  redis.call('SET', KEYS[1], '0')
end
if ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return tostring(v)
"""

RESERVE_BELOW = """
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[3])
if v < floor then v = floor end
if v >= tonumber(ARGV[2]) then return tostring(v) end
redis.call('SET', KEYS[1], tostring(v + tonumber(ARGV[1])), 'PX', ARGV[4])
return false
"""

WINDOW_ADD = (
    _TRIM
    + """
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
return 1
"""
)

WINDOW_TOTAL = (
    _TRIM
    + """
local total = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do total = total + amount_of(m) end
return tostring(total)
"""
)

# ARGV: amount, window, member, limit. nil (None) when added, else seconds to wait.
WINDOW_RESERVE = (
    _TRIM
    + """
local amount = tonumber(ARGV[1])
local limit = tonumber(ARGV[4])
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local total = 0
for i = 1, #entries, 2 do total = total + amount_of(entries[i]) end
if total + amount <= limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
  return false
end
local excess = total + amount - limit
for i = 1, #entries, 2 do
  excess = excess - amount_of(entries[i])
  if excess <= 0 then
    return tostring(math.max(0, tonumber(entries[i + 1]) + window - now))
  end
end
return tostring(window)
"""
)


def make_client(settings: RedisSettings) -> Redis:
    """A client that fails fast: short timeouts and no retries of its own (the circuit
    breaker decides when to try again)."""
    client: Redis = Redis.from_url(
        settings.url,
        decode_responses=True,
        socket_timeout=settings.socket_timeout,
        socket_connect_timeout=settings.connect_timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        client_name="image-proxy",
    )
    return client


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _member(amount: float) -> str:
    return f"{amount!r}:{secrets.token_hex(8)}"


class RedisState:
    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._incr = client.register_script(INCR)
        self._reserve_below = client.register_script(RESERVE_BELOW)
        self._window_add = client.register_script(WINDOW_ADD)
        self._window_total = client.register_script(WINDOW_TOTAL)
        self._window_reserve = client.register_script(WINDOW_RESERVE)

    def k(self, key: str) -> str:
        return self.prefix + key

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def incr(self, key: str, amount: float = 1.0, ttl: float | None = None) -> float:
        ms = "" if ttl is None else str(_ms(ttl))
        value: Any = await self._incr(keys=[self.k(key)], args=[repr(float(amount)), ms])
        return float(value)

    async def get(self, key: str) -> str | None:
        value = await self.client.get(self.k(key))
        return None if value is None else str(value)

    async def get_many(self, keys: list[str]) -> list[str | None]:
        if not keys:
            return []
        values = await self.client.mget([self.k(k) for k in keys])
        return [None if v is None else str(v) for v in values]

    async def set_with_ttl(self, key: str, value: str, ttl: float) -> None:
        await self.client.set(self.k(key), value, px=_ms(ttl))

    async def delete(self, key: str) -> None:
        await self.client.delete(self.k(key))

    async def window_add(self, key: str, amount: float, window: float) -> None:
        await self._window_add(keys=[self.k(key)], args=["0", repr(window), _member(amount)])

    async def window_total(self, key: str, window: float) -> float:
        value: Any = await self._window_total(keys=[self.k(key)], args=["0", repr(window)])
        return float(value)

    async def window_reserve(
        self, key: str, amount: float, limit: float, window: float
    ) -> float | None:
        args = [repr(float(amount)), repr(window), _member(amount), repr(float(limit))]
        value: Any = await self._window_reserve(keys=[self.k(key)], args=args)
        return None if value is None else float(value)

    async def reserve_below(
        self, key: str, amount: float, limit: float, ttl: float, floor: float = 0.0
    ) -> float | None:
        args = [repr(float(amount)), repr(float(limit)), repr(float(floor)), str(_ms(ttl))]
        value: Any = await self._reserve_below(keys=[self.k(key)], args=args)
        return None if value is None else float(value)

    async def aclose(self) -> None:
        await self.client.aclose()
