"""The image store interface: the local directory and S3 implement it."""

from __future__ import annotations

from typing import Protocol

from proxy.images.formats import ImageType


class StoreError(Exception):
    """The store could not write or read; ``str()`` names the store, never a secret."""


class ImageStore(Protocol):
    name: str

    async def start(self) -> None:
        """Prepare (create the directory, build the client) off the event loop."""
        ...

    async def put(self, file_id: str, data: bytes, kind: ImageType) -> None: ...

    async def get(self, file_id: str) -> bytes | None:
        """The bytes, or None when the file does not exist (purged, never stored)."""
        ...

    async def presigned_url(self, file_id: str, ttl: int) -> str | None:
        """A URL the store itself serves, or None to hand out the proxy's signed link."""
        ...

    async def delete(self, file_id: str) -> None:
        """Remove the file (nothing when it is not there)."""
        ...

    async def purge_expired(self, older_than: float) -> int:
        """Delete files written before ``older_than`` (unix time); returns how many."""
        ...

    async def aclose(self) -> None: ...
