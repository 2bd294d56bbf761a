"""Start-up heap settling: keep the garbage collector off the request path's back.

Importing Starlette, pydantic, aiohttp and the providers leaves a few hundred thousand
long-lived objects. Each full collection walks all of them, and under load full collections
come every few thousand requests: profiled at 64 connections that walk cost a fifth of the
proxy's CPU. Once start-up is over those objects never become garbage, so they are frozen
(moved to a generation the collector never scans); per-request garbage is still collected.

Full collections are also spaced out (every 100 middle-generation collections instead of 10):
with 5,000 slow requests in flight the live heap holds about a million objects (some 200
per request), and at the default spacing 13-16 full walks of it cost 2.7-4.5 s of CPU while
those requests arrived (``bench/``, hold-c5000); at 100, 3 walks and 0.7-0.9 s. A full
collection after a 5,000-request run found no cyclic garbage left by the request path, so
the spacing costs no memory there; young generations are collected as before.
"""

from __future__ import annotations

import gc

FULL_COLLECTION_SPACING = 100  # middle-generation collections between full ones (default 10)


def settle() -> None:
    """Collect start-up garbage once, then freeze what is left. Call when start-up is done."""
    gc.collect()
    gc.freeze()
    gen0, gen1, _ = gc.get_threshold()
    gc.set_threshold(gen0, gen1, FULL_COLLECTION_SPACING)
