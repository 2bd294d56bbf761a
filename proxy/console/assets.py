"""The console's static files, read once at start-up and named by one content hash.

Every file under ``static/`` is served as ``/console/assets/<digest>/<path>``, where
``<digest>`` is a hash of all the files together. One hash for the set rather than one per
file because the scripts are ES modules that import each other by relative path
(``import {api} from "./api.js"``): under one hashed folder those imports need no rewriting,
and a change to any file gives every file a new URL, so a browser never mixes two versions.
The URLs never change meaning, so they are cached for a year (``immutable``); the page that
names them (``index.html``, with ``{assets}`` standing for the folder) is served ``no-cache``.
Text files are gzipped once, here, for clients that accept it (57 KB of scripts and styles
travel as about 22 KB).
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

STATIC = Path(__file__).parent / "static"
PAGE = "index.html"
PLACEHOLDER = "{assets}"
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".html": "text/html; charset=utf-8",
}
DIGEST_CHARS = 16


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    gzipped: bytes | None = None  # when it is smaller (text), served to clients that take gzip


def gzipped(data: bytes) -> bytes | None:
    packed = gzip.compress(data, compresslevel=9, mtime=0)
    return packed if len(packed) < len(data) else None


def digest_of(files: dict[str, bytes]) -> str:
    """The hash of a set of files: each file's path and bytes, in path order."""
    h = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:DIGEST_CHARS]


@dataclass(frozen=True, slots=True)
class ConsoleAssets:
    digest: str
    files: dict[str, Asset]  # path under static/ -> bytes and media type (not the page)
    page: bytes  # index.html with the hashed folder filled in

    @property
    def base(self) -> str:
        return f"/console/assets/{self.digest}"

    @classmethod
    def load(cls, root: Path = STATIC) -> ConsoleAssets:
        raw = {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix in MEDIA_TYPES
        }
        page = raw.pop(PAGE)
        digest = digest_of(raw)
        files = {
            name: Asset(data, MEDIA_TYPES[Path(name).suffix], gzipped(data))
            for name, data in raw.items()
        }
        base = f"/console/assets/{digest}"
        return cls(digest, files, page.replace(PLACEHOLDER.encode(), base.encode()))

    def get(self, digest: str, path: str) -> Asset | None:
        return self.files.get(path) if digest == self.digest else None
