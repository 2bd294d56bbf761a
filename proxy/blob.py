"""Bytes that may live in a file, or in pieces: an uploaded image, forwarded without being
read (or joined) into one object.

A multipart upload past 1 MB is spooled to a temporary file as it arrives
(``proxy.api.uploads``). An adapter that passes the file on as it is (the OpenAI multipart
shape) sends it from that file in ``CHUNK`` pieces, read in a worker thread, so 32 edits of
four 4 MB images hold a few megabytes, not 512. An adapter that needs the bytes themselves
(base64 in JSON, a mask to convert) gets them loaded first, once, by the attempt stage
(``load``); reading ``data`` before that is a programming error, never silent blocking I/O
on the event loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Protocol

CHUNK = 1024 * 1024  # one worker-thread read per megabyte sent


class SpooledFile(Protocol):
    """What a blob needs of the parser's temporary file (``SpooledTemporaryFile``)."""

    def fileno(self) -> int: ...

    def close(self) -> None: ...


class MemoryBudget:
    """How many bytes of uploads the process may hold in memory at once. A request whose
    declared length fits what is left is parsed in memory (no temporary file, no worker
    thread: the fast path); the others spool to temporary files past 1 MB, so a burst of
    large uploads costs disk, not RSS."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def take(self, size: int) -> bool:
        if self.held + size > self.limit:
            return False
        self.held += size
        return True

    def give(self, size: int) -> None:
        self.held -= size


class BlobNotLoaded(RuntimeError):
    pass


class Blob:
    """Bytes in one of three places: one ``bytes`` object; the pieces the multipart parser
    handed over (``parts``: never joined when an adapter forwards them, joined once when one
    needs the bytes); or a spooled temporary file (``file``: read in a worker thread)."""

    __slots__ = ("_data", "_file", "_parts", "size")

    def __init__(
        self,
        data: bytes | None = None,
        *,
        file: SpooledFile | None = None,
        size: int = 0,
        parts: list[bytes] | None = None,
    ):
        if [data, file, parts].count(None) != 2:
            raise ValueError("a blob holds bytes, parts or a file, exactly one")
        self._data = data
        self._file = file
        self._parts = parts
        if data is not None:
            self.size = len(data)
        elif parts is not None:
            self.size = sum(len(p) for p in parts)
        else:
            self.size = size

    @property
    def loaded(self) -> bool:
        """Whether ``data`` is ready (one ``bytes`` object, no join or read left to do)."""
        return self._data is not None

    @property
    def data(self) -> bytes:
        if self._data is None:
            raise BlobNotLoaded("the upload is not joined or read yet: await load() first")
        return self._data

    async def load(self) -> bytes:
        """The bytes as one object: the parts joined, or the file read (in a worker thread
        past ``CHUNK``, so a 50 MB join never holds the event loop)."""
        if self._data is None:
            work = self._join if self._parts is not None else self._read_all
            self._data = work() if self.size <= CHUNK else await asyncio.to_thread(work)
            self._parts = None
        return self._data

    def _join(self) -> bytes:
        assert self._parts is not None
        return self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)

    def _read_all(self) -> bytes:
        return self._read(0, self.size)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The bytes: from memory as they are (no join), else read from the file in pieces
        of ``CHUNK`` at fixed offsets (so two sends of one blob, a retry and a fallback,
        never share a file position)."""
        if self._data is not None:
            yield self._data
            return
        if self._parts is not None:
            for part in list(self._parts):
                yield part
            return
        for start in range(0, self.size, CHUNK):
            yield await asyncio.to_thread(self._read, start, min(CHUNK, self.size - start))

    def _read(self, offset: int, length: int) -> bytes:
        assert self._file is not None
        fd = self._file.fileno()
        pieces = []
        while length > 0:
            piece = os.pread(fd, length, offset)
            if not piece:
                raise OSError("the upload's temporary file is shorter than its recorded size")
            pieces.append(piece)
            offset += len(piece)
            length -= len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def close(self) -> None:
        """Give the temporary file back (the bytes, if loaded, stay readable)."""
        if self._file is not None:
            self._file.close()
