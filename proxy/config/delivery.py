"""``general_settings.image_store`` and ``general_settings.image_fetch``: validated with the config.

Both are operator settings only: nothing here can be set from a request body.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_TTL = 3600
MAX_PRESIGN_TTL = 7 * 24 * 3600  # SigV4 presigned URLs cannot live longer


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImageStoreSettings(_Strict):
    """Where images are kept when a client asks for ``url`` and the provider gave base64."""

    type: Literal["local", "s3"] = "local"
    ttl_seconds: int = Field(default=DEFAULT_TTL, ge=1, le=MAX_PRESIGN_TTL)
    purge_interval_seconds: float = Field(default=300.0, gt=0)
    signing_secret: str | None = Field(default=None, min_length=16)
    # local
    path: str | None = None  # default: image-store/ beside the config file; relative paths
    # resolve against the config file's folder; created on first use
    # s3 (any S3-compatible service)
    bucket: str | None = None
    prefix: str = "images/"
    region: str | None = None
    endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    links: Literal["presigned", "proxy"] = "presigned"

    @field_validator("bucket")
    @classmethod
    def _bucket_not_empty(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty")
        return v

    @model_validator(mode="after")
    def _s3_needs_bucket(self) -> ImageStoreSettings:
        if self.type == "s3" and not self.bucket:
            raise ValueError("'bucket' is required when type is s3")
        return self


class ImageFetchSettings(_Strict):
    """The guarded downloader used when a client asks for ``b64_json`` and got a URL."""

    allowed_hosts: tuple[str, ...] = ()  # host names or suffixes, besides the adapters' own
    # Operator escape hatch for on-premises providers and tests: addresses in these networks
    # are allowed although private. Empty by default, so loopback, RFC 1918, link-local
    # (169.254.169.254) and friends are refused.
    allow_private_cidrs: tuple[str, ...] = ()
    max_bytes: int = Field(default=32 * 1024 * 1024, ge=1)
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_redirects: int = Field(default=3, ge=0, le=10)

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for host in v:
            h = host.strip().lower().strip(".").strip("[]")
            if not h or "/" in h or "@" in h or (":" in h and not is_ip_literal(h)):
                raise ValueError(f"{host!r} is not a host name")
            out.append(h)
        return tuple(out)

    @field_validator("allow_private_cidrs")
    @classmethod
    def _cidrs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in v:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not a network (e.g. 10.0.0.0/8)") from None
        return v


def is_ip_literal(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
