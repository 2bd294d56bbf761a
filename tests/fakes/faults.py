"""Faults a well-behaved HTTP server cannot produce, from TCP servers on loopback that answer
one connection at a time in a thread of their own:

- ``ResettingServer`` accepts each connection, reads the request, then resets it (RST, no
  HTTP answer at all);
- ``LazyBodyServer`` answers far more than any test reads: ``count`` copies of ``chunk``,
  written one at a time with blocking sends, so a reader that stops reading holds the writer
  back and a reader that hangs up makes the next send fail. It records how many chunks went
  out and whether the connection broke before the last one (``closed_early``); ``done`` is
  set when an answer is over either way. The body goes out with a ``content-length`` or
  chunked (no length), as the test asks.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Self


class LoopbackServer:
    """Accepts connections in a thread and hands each to ``handle``."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            with conn:
                self.handle(conn)

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


class ResettingServer(LoopbackServer):
    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(1)
        with contextlib.suppress(OSError):
            conn.recv(65536)
        # linger 0: close() sends RST instead of FIN
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def read_request(conn: socket.socket) -> bool:
    """Read one request, body included; False when the client left first."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return False
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        piece = conn.recv(65536)
        if not piece:
            return False
        body += piece
    return True


class LazyBodyServer(LoopbackServer):
    def __init__(
        self,
        chunk: bytes,
        count: int,
        *,
        content_length: bool = True,
        content_type: str = "application/json",
    ) -> None:
        super().__init__()
        self.chunk = chunk
        self.count = count
        self.content_length = content_length
        self.content_type = content_type
        self.sent = 0  # chunks written in the last answer
        self.closed_early = False
        self.done = threading.Event()

    @property
    def total(self) -> int:
        return len(self.chunk) * self.count

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        # A small send buffer: what the kernel holds for a reader that stopped stays small.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        self.sent, self.closed_early = 0, False
        self.done.clear()
        try:
            if not read_request(conn):
                return
            length = f"content-length: {self.total}" if self.content_length else ""
            framing = length or "transfer-encoding: chunked"
            conn.sendall(
                f"HTTP/1.1 200 OK\r\ncontent-type: {self.content_type}\r\n{framing}\r\n"
                "connection: close\r\n\r\n".encode()
            )
            for _ in range(self.count):
                if self.content_length:
                    conn.sendall(self.chunk)
                else:
                    conn.sendall(b"%x\r\n%s\r\n" % (len(self.chunk), self.chunk))
                self.sent += 1
            if not self.content_length:
                conn.sendall(b"0\r\n\r\n")
        except OSError:
            self.closed_early = True
        finally:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            self.done.set()
