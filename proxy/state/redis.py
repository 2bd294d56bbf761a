"""The Redis state store: every ``StateStore`` operation is one command or one Lua script, so
it is atomic however many replicas (and workers) share the Redis.

- Keys are ``<prefix><key>``; every key carries an expiry, so nothing piles up.
- Sliding windows are sorted sets scored by the *Redis server's* clock (``TIME`` inside the
  script): replicas whose clocks drift still agree on what "the last minute" is. A member is
  ``<amount>:<unique id>``.

Holds are leases that die with their owner. Each process has a random *replica id* and a
liveness key ``alive:<id>`` that expires after ``lease_ttl`` (default 15 s) unless its
heartbeat renews it (``renew``, every third of that; ``SharedState`` runs it). What a replica
holds on a key is its own field of the hash ``held:<key>`` (field = replica id, value = the
amount). ``hold`` sums the fields of live replicas only, deletes the fields of dead ones, and
adds to its own field only while the total (plus ``settled:<key>``, a budget's real spend) is
below the limit, in one script; ``release`` takes from its own field only. A replica killed
with ``kill -9`` stops counting at the latest ``lease_ttl`` after its last heartbeat, whatever
the others do: nothing has to notice its death, the next ``hold`` or ``held_totals`` simply
skips it. A replica that finds its liveness key gone (a Redis outage or restart, a long stall)
takes a new id and writes what it still holds under it (``rejoin``), so the totals are right
again and anything its old id left behind is dead.

The scripts read ``alive:<id>`` keys they are not passed in ``KEYS``: fine on a single Redis
(or a replicated one), not on Redis Cluster.

Errors are not handled here: ``SharedState`` catches them and falls back to memory.
"""

from __future__ import annotations

import math
import secrets
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from proxy.state.base import SETTLED_TTL
from proxy.state.settings import DEFAULT_LEASE_TTL, RedisSettings

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


_EPSILON = "1e-9"  # a hold this close to zero is gone (float sums of estimates)

# The sum of what live replicas hold in the hash ``held``, forgetting dead replicas' fields.
_LIVE = """
local function live_total(held, alive_prefix)
  local total = 0
  local fields = redis.call('HGETALL', held)
  for i = 1, #fields, 2 do
    if redis.call('EXISTS', alive_prefix .. fields[i]) == 1 then
      total = total + tonumber(fields[i + 1])
    else
      redis.call('HDEL', held, fields[i])
    end
  end
  return total
end
"""

# KEYS: settled amount, holds. ARGV: amount, limit ('' for none), floor, replica id,
# alive prefix, lease ms, settled ms. nil (None) when held, else the total that refused.
HOLD = (
    _LIVE
    + """
local settled = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[3])
if settled < floor then
  settled = floor
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[7])
elseif settled > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[7])
end
local total = settled + live_total(KEYS[2], ARGV[5])
if ARGV[2] ~= '' and total >= tonumber(ARGV[2]) then return tostring(total) end
if tonumber(ARGV[1]) > 0 then
  redis.call('HINCRBYFLOAT', KEYS[2], ARGV[4], ARGV[1])
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
return false
"""
)

# KEYS: settled amount, holds. ARGV: amount, spent, floor, replica id, settled ms.
RELEASE = f"""
if tonumber(ARGV[1]) > 0 and redis.call('HEXISTS', KEYS[2], ARGV[4]) == 1 then
  local left = tonumber(redis.call('HINCRBYFLOAT', KEYS[2], ARGV[4], -tonumber(ARGV[1])))
  if left <= {_EPSILON} then redis.call('HDEL', KEYS[2], ARGV[4]) end
end
if tonumber(ARGV[2]) > 0 then
  if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[3]) then
    redis.call('SET', KEYS[1], ARGV[3])
  end
  redis.call('INCRBYFLOAT', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
return 1
"""

# KEYS: holds. ARGV: alive prefix.
HELD_TOTALS = (
    _LIVE
    + """
local totals = {}
for i, held in ipairs(KEYS) do totals[i] = tostring(live_total(held, ARGV[1])) end
return totals
"""
)

# KEYS: own alive key, then the holds this replica has. ARGV: lease ms. 0: the lease had
# expired (nothing renewed), 1: renewed.
RENEW = """
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return 0 end
for i = 2, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
return 1
"""

# KEYS: new alive key, the n old alive keys, then the holds to write. ARGV: new id, lease ms,
# n, the n old ids, then one amount per hash.
REJOIN = """
local n = tonumber(ARGV[3])
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
for i = 2, n + 1 do redis.call('DEL', KEYS[i]) end
for i = n + 2, #KEYS do
  for j = 4, n + 3 do redis.call('HDEL', KEYS[i], ARGV[j]) end
  redis.call('HSET', KEYS[i], ARGV[1], ARGV[i + 2])
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return 1
"""


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


def _replica_id() -> str:
    return secrets.token_hex(8)


class RedisState:
    def __init__(self, client: Redis, prefix: str, *, lease_ttl: float = DEFAULT_LEASE_TTL) -> None:
        self.client = client
        self.prefix = prefix
        self.lease_ttl = lease_ttl
        self.replica = _replica_id()  # this process's lease; a new one after ``rejoin``
        self._retiring: list[str] = []  # earlier ids, until a rejoin has ended them
        self._hold = client.register_script(HOLD)
        self._release = client.register_script(RELEASE)
        self._held_totals = client.register_script(HELD_TOTALS)
        self._renew = client.register_script(RENEW)
        self._rejoin = client.register_script(REJOIN)
        self._window_add = client.register_script(WINDOW_ADD)
        self._window_total = client.register_script(WINDOW_TOTAL)
        self._window_reserve = client.register_script(WINDOW_RESERVE)

    def k(self, key: str) -> str:
        return self.prefix + key

    def alive_key(self, replica: str) -> str:
        return self.k(f"alive:{replica}")

    def held_key(self, key: str) -> str:
        return self.k(f"held:{key}")

    def settled_key(self, key: str) -> str:
        return self.k(f"settled:{key}")

    async def ping(self) -> bool:
        return bool(await self.client.ping())

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

    # --- holds: leases of this replica ----------------------------------------------------

    async def hold(
        self, key: str, amount: float, limit: float | None = None, floor: float = 0.0
    ) -> float | None:
        args = [
            repr(float(amount)),
            "" if limit is None else repr(float(limit)),
            repr(float(floor)),
            self.replica,
            self.alive_key(""),
            str(_ms(self.lease_ttl)),
            str(_ms(SETTLED_TTL)),
        ]
        keys = [self.settled_key(key), self.held_key(key)]
        value: Any = await self._hold(keys=keys, args=args)
        return None if value is None else float(value)

    async def release(
        self, key: str, amount: float, spent: float = 0.0, floor: float = 0.0
    ) -> None:
        args = [
            repr(float(amount)),
            repr(float(spent)),
            repr(float(floor)),
            self.replica,
            str(_ms(SETTLED_TTL)),
        ]
        await self._release(keys=[self.settled_key(key), self.held_key(key)], args=args)

    async def held_totals(self, keys: list[str]) -> list[float]:
        if not keys:
            return []
        hashes = [self.held_key(k) for k in keys]
        values: Any = await self._held_totals(keys=hashes, args=[self.alive_key("")])
        return [float(v) for v in values]

    async def renew(self, held: list[str]) -> bool:
        """Extend this replica's lease, and the expiry of the holds it has on ``held``.
        False when the lease had already expired: the other replicas no longer count this
        one's holds (and may have deleted them), so it must ``rejoin``."""
        keys = [self.alive_key(self.replica), *(self.held_key(k) for k in held)]
        value: Any = await self._renew(keys=keys, args=[str(_ms(self.lease_ttl))])
        return bool(int(value))

    async def rejoin(self, held: dict[str, float]) -> None:
        """Take a new lease (a new replica id) holding ``held`` (key -> amount), and end the
        old one: whatever the old id still has in Redis, even from an operation whose answer
        was lost, stops counting at once. An id whose rejoin failed is ended by the next."""
        self._retiring.append(self.replica)
        self.replica = _replica_id()
        old = self._retiring
        keys = [self.alive_key(self.replica), *(self.alive_key(r) for r in old)]
        keys += [self.held_key(k) for k in held]
        args = [self.replica, str(_ms(self.lease_ttl)), str(len(old)), *old]
        args += [repr(float(v)) for v in held.values()]
        await self._rejoin(keys=keys, args=args)
        self._retiring = []

    async def leave(self) -> None:
        """End this replica's lease (a clean shutdown): what it still holds stops counting."""
        await self.client.delete(self.alive_key(self.replica))

    async def aclose(self) -> None:
        await self.client.aclose()
