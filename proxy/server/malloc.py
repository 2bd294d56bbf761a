"""glibc's allocator, set for request bodies of megabytes.

With glibc's defaults a 4 MB upload (sixteen 256 KB pieces read from the socket, each copied
once by the HTTP parser) is handed back to the kernel when its request ends (the heap is
trimmed once its free top passes twice the adaptive mmap threshold) and taken again, page
fault by page fault, by the next upload. Measured on the benchmark machine
(``python bench/run.py --cases edit-4mb-c1,edit-4x4mb-c32``), these three settings take a
4 MB edit's added latency from 3.0-4.0 ms to about 1 ms, and 32 concurrent edits of four 4 MB
images use less CPU (32 against 40 ms per request) and memory (peak 245 against 267 MiB):

- ``M_MMAP_THRESHOLD`` 2 MB: blocks below it come from the heap, whatever was freed before
  (the adaptive threshold moves with every large free);
- ``M_TRIM_THRESHOLD`` 64 MB: the heap keeps up to 64 MB free at its top for the next body;
- ``M_ARENA_MAX`` 2: the threads (log writer, database, upload spooling) share two arenas
  instead of one each, which is what keeps the peak down.

Set with ``mallopt`` as the application starts, in each worker. An operator's own
``GLIBC_TUNABLES`` wins: then nothing is set here. Elsewhere than glibc (musl, macOS) there is
nothing to set.
"""

from __future__ import annotations

import ctypes
import os

# mallopt(3) parameters
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

SETTINGS = (
    (M_MMAP_THRESHOLD, 2 * 1024 * 1024),
    (M_TRIM_THRESHOLD, 64 * 1024 * 1024),
    (M_ARENA_MAX, 2),
)


def tune() -> bool:
    """Apply ``SETTINGS``; whether they were applied."""
    if os.environ.get("GLIBC_TUNABLES"):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 (present on glibc only)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in SETTINGS)
