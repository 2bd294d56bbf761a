"""Signed image links: ``/v1/images/files/{id}?expires=<unix>&sig=<hmac>``.

The signature is HMAC-SHA256 over the file id and the expiry, so a link cannot be moved to
another id nor extended. The secret comes from ``image_store.signing_secret`` or is derived
from the master key (replicas with the same config share it); an open proxy with neither
gets a random per-process secret (links then only work on the replica that made them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time

FILE_ID = re.compile(r"\A[A-Za-z0-9_-]{22,64}\.(png|jpg|webp|gif|avif|bin)\Z")
_DERIVE_LABEL = b"image-proxy/image-links/v1"


def derive_secret(configured: str | None, master_key: str | None) -> bytes:
    if configured:
        return hashlib.sha256(_DERIVE_LABEL + b"|" + configured.encode()).digest()
    if master_key:
        return hmac.new(master_key.encode(), _DERIVE_LABEL, hashlib.sha256).digest()
    return secrets.token_bytes(32)


def new_file_id(extension: str) -> str:
    return f"{secrets.token_urlsafe(24)}.{extension}"  # 192 random bits


class LinkSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def signature(self, file_id: str, expires: int) -> str:
        mac = hmac.new(self._secret, f"{file_id}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def query(self, file_id: str, expires: int) -> str:
        return f"expires={expires}&sig={self.signature(file_id, expires)}"

    def verify(
        self, file_id: str, expires: str | None, sig: str | None, now: float | None = None
    ) -> bool:
        """True only for a well-formed id with an untampered, unexpired signature."""
        if not FILE_ID.match(file_id) or not expires or not sig:
            return False
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
            return False
        expected = self.signature(file_id, int(expires))
        if not hmac.compare_digest(expected.encode(), sig.encode()):
            return False
        return int(expires) > (time.time() if now is None else now)
