"""SQLAlchemy Core over an asyncio driver (aiosqlite, asyncpg), without the ORM.

``sqlalchemy.ext.asyncio`` is SQLAlchemy's own layer for this, but importing it loads the
ORM too: some 5 MiB of resident memory a gateway that only runs Core statements never uses
(idle memory is a target, ``bench/``). That layer is thin: a sync ``Engine`` created in
async mode (what ``create_async_engine`` does) whose calls run through SQLAlchemy's own
``greenlet_spawn``, so the driver's awaits happen on the event loop. This module is that
layer for the calls the store makes: ``connect``/``begin``, ``execute``, ``scalar``,
``exec_driver_sql``, ``run_sync`` and ``dispose``. Results come back buffered (the async
drivers' adapters fetch every row before returning), exactly as through
``sqlalchemy.ext.asyncio``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.util import greenlet_spawn

T = TypeVar("T")
Params = Mapping[str, Any] | list[dict[str, Any]] | None


class AsyncConnection:
    __slots__ = ("sync",)

    def __init__(self, sync: sa.Connection) -> None:
        self.sync = sync

    async def execute(self, statement: sa.Executable, parameters: Params = None) -> Any:
        return await greenlet_spawn(self.sync.execute, statement, parameters)

    async def scalar(self, statement: sa.Executable, parameters: Params = None) -> Any:
        return await greenlet_spawn(self.sync.scalar, statement, parameters)

    async def exec_driver_sql(self, sql: str, parameters: list[tuple[Any, ...]]) -> Any:
        return await greenlet_spawn(self.sync.exec_driver_sql, sql, parameters)

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        return await greenlet_spawn(fn, self.sync, *args)


class AsyncEngine:
    def __init__(self, url: str, **kwargs: Any) -> None:
        self.sync_engine = sa.create_engine(url, _is_async=True, **kwargs)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        sync = await greenlet_spawn(self.sync_engine.connect)
        try:
            yield AsyncConnection(sync)
        finally:
            await greenlet_spawn(sync.close)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction: committed on exit, rolled back on an exception."""
        async with self.connect() as conn:
            transaction = await greenlet_spawn(conn.sync.begin)
            try:
                yield conn
            except BaseException:
                await greenlet_spawn(transaction.rollback)
                raise
            await greenlet_spawn(transaction.commit)

    async def dispose(self) -> None:
        await greenlet_spawn(self.sync_engine.dispose)
