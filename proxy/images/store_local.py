"""A local directory as the image store (the default).

Several proxy processes may share one directory (a volume): writes go to a temporary file
and are renamed into place, so a reader never sees half an image. Every file operation runs
in a worker thread. A file's modification time is its creation time; the purge deletes files
older than the link lifetime.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from pathlib import Path

from proxy.images.formats import ImageType
from proxy.images.signing import FILE_ID
from proxy.images.store import StoreError

_TMP_PREFIX = ".tmp-"
_STALE_TMP_SECONDS = 600


class LocalImageStore:
    name = "local"

    def __init__(self, path: str | Path) -> None:
        self.root = Path(path).resolve()

    async def start(self) -> None:
        """Nothing to prepare: the directory is created with the first image."""

    def _mkdir(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, file_id: str) -> Path:
        if not FILE_ID.match(file_id):
            raise StoreError("invalid file id")
        return self.root / file_id

    def _write(self, file_id: str, data: bytes) -> None:
        final = self._path(file_id)
        tmp = self.root / f"{_TMP_PREFIX}{secrets.token_hex(8)}"
        try:
            try:
                f = open(tmp, "xb")  # noqa: SIM115
            except FileNotFoundError:
                self._mkdir()
                f = open(tmp, "xb")  # noqa: SIM115
            with f:
                f.write(data)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    async def put(self, file_id: str, data: bytes, kind: ImageType) -> None:
        try:
            await asyncio.to_thread(self._write, file_id, data)
        except OSError as exc:
            raise StoreError(f"local image store: cannot write ({exc.strerror})") from None

    def _read(self, file_id: str) -> bytes | None:
        try:
            return self._path(file_id).read_bytes()
        except (FileNotFoundError, IsADirectoryError, StoreError):
            return None

    async def get(self, file_id: str) -> bytes | None:
        try:
            return await asyncio.to_thread(self._read, file_id)
        except OSError as exc:
            raise StoreError(f"local image store: cannot read ({exc.strerror})") from None

    async def presigned_url(self, file_id: str, ttl: int) -> str | None:
        return None

    def _delete(self, file_id: str) -> None:
        self._path(file_id).unlink(missing_ok=True)

    async def delete(self, file_id: str) -> None:
        try:
            await asyncio.to_thread(self._delete, file_id)
        except OSError as exc:
            raise StoreError(f"local image store: cannot delete ({exc.strerror})") from None

    def _purge(self, older_than: float) -> int:
        removed = 0
        now = time.time()
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return 0
        for entry in entries:
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                mtime = entry.stat(follow_symlinks=False).st_mtime
                stale_tmp = entry.name.startswith(_TMP_PREFIX) and mtime < now - _STALE_TMP_SECONDS
                if (FILE_ID.match(entry.name) and mtime < older_than) or stale_tmp:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue  # another replica purged it first
        return removed

    async def purge_expired(self, older_than: float) -> int:
        return await asyncio.to_thread(self._purge, older_than)

    async def aclose(self) -> None:
        return None
