"""Any S3-compatible bucket as the image store, so several replicas share one store.

boto3 is synchronous: the client is built once and every call runs in a worker thread
(boto3 clients are thread-safe), so the event loop never waits on S3 or on credential
resolution. Links are S3 presigned URLs (``links: presigned``, the default) or the proxy's
own signed links served from the bucket (``links: proxy``, for buckets clients cannot reach).
Deleting expired objects is the purge task's job; a bucket lifecycle rule on the prefix is a
good second line.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from proxy.config.delivery import ImageStoreSettings
from proxy.images.formats import ImageType
from proxy.images.store import StoreError

_DELETE_BATCH = 1000


class S3ImageStore:
    name = "s3"

    def __init__(self, settings: ImageStoreSettings) -> None:
        assert settings.bucket
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self.settings = settings
        self.presign = settings.links == "presigned"
        self._client: Any = None

    def _build_client(self) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise StoreError("image_store type s3 needs boto3 (pip install boto3)") from None
        s = self.settings
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if s.endpoint_url else "auto"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        )
        return boto3.session.Session().client(
            "s3",
            region_name=s.region,
            endpoint_url=s.endpoint_url,
            aws_access_key_id=s.aws_access_key_id,
            aws_secret_access_key=s.aws_secret_access_key,
            aws_session_token=s.aws_session_token,
            config=config,
        )

    async def start(self) -> None:
        self._client = await asyncio.to_thread(self._build_client)

    def _key(self, file_id: str) -> str:
        return f"{self.prefix}{file_id}"

    async def _call(self, what: str, method: str, **kwargs: Any) -> Any:
        if self._client is None:
            await self.start()
        try:
            return await asyncio.to_thread(getattr(self._client, method), **kwargs)
        except Exception as exc:
            if _is_missing(exc):
                raise
            raise StoreError(f"s3 image store: cannot {what} ({type(exc).__name__})") from None

    async def put(self, file_id: str, data: bytes, kind: ImageType) -> None:
        await self._call(
            "write",
            "put_object",
            Bucket=self.bucket,
            Key=self._key(file_id),
            Body=data,
            ContentType=kind.mime,
            CacheControl=f"private, max-age={self.settings.ttl_seconds}",
        )

    async def get(self, file_id: str) -> bytes | None:
        try:
            response = await self._call(
                "read", "get_object", Bucket=self.bucket, Key=self._key(file_id)
            )
        except Exception as exc:
            if _is_missing(exc):
                return None
            raise
        body = response["Body"]
        try:
            return await asyncio.to_thread(body.read)
        finally:
            await asyncio.to_thread(body.close)

    async def presigned_url(self, file_id: str, ttl: int) -> str | None:
        if not self.presign:
            return None
        url: str = await self._call(
            "sign a link",
            "generate_presigned_url",
            ClientMethod="get_object",
            Params={"Bucket": self.bucket, "Key": self._key(file_id)},
            ExpiresIn=ttl,
        )
        return url

    async def delete(self, file_id: str) -> None:
        await self._call("delete", "delete_object", Bucket=self.bucket, Key=self._key(file_id))

    def _purge(self, older_than: float) -> int:
        cutoff = dt.datetime.fromtimestamp(older_than, tz=dt.UTC)
        paginator = self._client.get_paginator("list_objects_v2")
        stale: list[dict[str, str]] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", ()):
                if obj["LastModified"] < cutoff:
                    stale.append({"Key": obj["Key"]})
        for i in range(0, len(stale), _DELETE_BATCH):
            self._client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": stale[i : i + _DELETE_BATCH], "Quiet": True}
            )
        return len(stale)

    async def purge_expired(self, older_than: float) -> int:
        if self._client is None:
            await self.start()
        try:
            return await asyncio.to_thread(self._purge, older_than)
        except Exception as exc:
            raise StoreError(f"s3 image store: cannot purge ({type(exc).__name__})") from None

    async def aclose(self) -> None:
        if self._client is not None:
            await asyncio.to_thread(self._client.close)


def _is_missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("NoSuchKey", "404", "NotFound")
