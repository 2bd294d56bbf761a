"""Structured logs: one line per request on stdout, JSON or text, and the same format for
every other log line of the process (uvicorn runs with ``log_config=None`` so its lines
reach the same handler).

Lines are handed to a background thread (``LogSink``), so a slow stdout never stalls the event
loop. Every free-text message passes through ``redact_text``
(keys masked, base64 runs replaced by their size) as a last line of defence.
"""

from __future__ import annotations

import atexit
import logging
import queue
import sys
import threading
import time
from datetime import UTC, datetime
from typing import IO, Any, NamedTuple

import orjson

from proxy.context import RequestContext
from proxy.observability.record import request_record
from proxy.observability.settings import ObservabilitySettings
from proxy.redact import redact_text

ACCESS_LOGGER = "proxy.access"
RECORD_ATTR = "request_record"
MAX_EXCEPTION_CHARS = 4000

access_log = logging.getLogger(ACCESS_LOGGER)


def _timestamp(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


class RequestLine(NamedTuple):
    """A request's line on its way to the writer thread without a ``LogRecord``."""

    level: int
    created: float
    data: dict[str, Any]


class RequestFormatter(logging.Formatter):
    """A formatter that also formats a request's record dict directly."""

    def format_request(self, level: str, logger: str, created: float, data: dict[str, Any]) -> str:
        raise NotImplementedError

    def format(self, record: logging.LogRecord) -> str:
        data = getattr(record, RECORD_ATTR, None)
        if isinstance(data, dict):
            return self.format_request(record.levelname, record.name, record.created, data)
        return self.format_other(record)

    def format_other(self, record: logging.LogRecord) -> str:
        raise NotImplementedError


class JsonFormatter(RequestFormatter):
    def format_request(self, level: str, logger: str, created: float, data: dict[str, Any]) -> str:
        out = {"level": level.lower(), "logger": logger, **data}
        return orjson.dumps(out, default=str).decode()

    def format_other(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "timestamp": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact_text(record.getMessage(), MAX_EXCEPTION_CHARS),
        }
        if record.exc_info:
            out["exception"] = redact_text(
                self.formatException(record.exc_info), MAX_EXCEPTION_CHARS
            )
        return orjson.dumps(out, default=str).decode()


class TextFormatter(RequestFormatter):
    def format_request(self, level: str, logger: str, created: float, data: dict[str, Any]) -> str:
        fields = " ".join(
            f"{k}={_text_value(v)}"
            for k, v in data.items()
            if v not in (None, [], {}) and k not in ("event", "timestamp")
        )
        return f"{_timestamp(created)} {level} {logger}: request {fields}"

    def format_other(self, record: logging.LogRecord) -> str:
        head = f"{_timestamp(record.created)} {record.levelname} {record.name}:"
        line = f"{head} {redact_text(record.getMessage(), MAX_EXCEPTION_CHARS)}"
        if record.exc_info:
            line += "\n" + redact_text(self.formatException(record.exc_info), MAX_EXCEPTION_CHARS)
        return line


def _text_value(value: Any) -> str:
    if isinstance(value, str):
        return orjson.dumps(value).decode() if (" " in value or not value) else value
    return orjson.dumps(value).decode()


class LogSink:
    """The stdout writer thread; one per process, replaced when logging is reconfigured.

    The request path only enqueues: a request's line goes over as its record dict (without
    a ``LogRecord`` when nothing but this sink would see it) and is serialised here; any
    other line (rare) is formatted by the thread that logged it, as ``QueueHandler`` would,
    so no argument is read after the caller moved on. The thread drains whatever queued up
    and writes it with one call, not one write and flush per line.
    """

    current: LogSink | None = None
    BATCH = 512
    LINGER = 0.02  # seconds to let lines gather after the first, so one write carries many

    def __init__(self, formatter: RequestFormatter, stream: IO[str] | None = None) -> None:
        self.formatter = formatter
        self.stream = stream if stream is not None else sys.stdout
        self.queue: queue.SimpleQueue[Queued] = queue.SimpleQueue()
        self.handler = _Enqueue(self)
        self._thread: threading.Thread | None = threading.Thread(
            target=self._write_forever, name="log-writer", daemon=True
        )
        self._thread.start()

    def _write_forever(self) -> None:
        q = self.queue
        while True:
            item = q.get()
            if item is not None and q.qsize() < self.BATCH:
                time.sleep(self.LINGER)  # woken per line, this thread cost 5% of the CPU
            batch = [item]
            while item is not None and len(batch) < self.BATCH:
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    break
                batch.append(item)
            lines = [self._line(i) for i in batch if i is not None]
            if lines:
                self._write("\n".join(lines) + "\n")
            if batch[-1] is None:
                return

    def _line(self, item: logging.LogRecord | RequestLine | str) -> str:
        if isinstance(item, str):
            return item
        try:
            if isinstance(item, RequestLine):
                level = logging.getLevelName(item.level)
                return self.formatter.format_request(level, ACCESS_LOGGER, item.created, item.data)
            return self.formatter.format(item)
        except Exception as exc:  # a line that cannot be formatted must not stop the writer
            return f"log line dropped: {type(exc).__name__}"

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:  # stdout closed or full: nothing better to do than drop the lines
            pass

    def sole_reader(self, logger: logging.Logger) -> bool:
        """True when a record of ``logger`` would reach this sink's handler and nothing else
        (no other handler or filter on its way up): then it need not be a ``LogRecord``."""
        node: logging.Logger | None = logger
        while node is not None:
            if node.filters or (not node.propagate and node.parent is not None):
                return False
            if node.parent is None:  # the root
                return node.handlers == [self.handler] and not self.handler.filters
            if node.handlers:
                return False
            node = node.parent
        return False

    def put(self, item: logging.LogRecord | RequestLine | str) -> None:
        if self._thread is not None:
            self.queue.put(item)
        else:  # the last lines of a stop: written by the thread that logs them
            self._write(self._line(item) + "\n")

    def stop(self) -> None:
        """Write what is queued, then end the thread: later lines are written by the thread
        that logs them."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self.queue.put(None)
            thread.join()


Queued = logging.LogRecord | RequestLine | str | None


class _Enqueue(logging.Handler):
    def __init__(self, sink: LogSink) -> None:
        super().__init__()
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        item: logging.LogRecord | str = record
        if not isinstance(getattr(record, RECORD_ATTR, None), dict):
            try:  # formatted here; a request's complete record dict is serialised off-loop
                item = self.sink.formatter.format(record)
            except Exception:
                self.handleError(record)
                return
        self.sink.put(item)


def configure_logging(settings: ObservabilitySettings, level: str) -> LogSink:
    """Send every log record of the process through one sink with the configured format.

    A process-wide choice, made by the entry points (``proxy.cli``, ``proxy.asgi``), never by
    ``create_app``: an application embedded elsewhere keeps its host's logging.
    """
    formatter = JsonFormatter() if settings.log_format == "json" else TextFormatter()
    previous = LogSink.current
    sink = LogSink.current = LogSink(formatter)
    root = logging.getLogger()
    for handler in list(root.handlers):
        ours = previous is not None and handler is previous.handler
        if ours or type(handler) is logging.StreamHandler:  # or logging.basicConfig's
            root.removeHandler(handler)
    if previous is not None:
        previous.stop()
    root.addHandler(sink.handler)
    root.setLevel(level.upper())
    # Nothing the formats print needs the caller's file, line, thread or process: skip
    # looking them up for every record (the logging HOWTO's "Optimization" switches).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    return sink


def log_request(ctx: RequestContext) -> None:
    """Post-call hook: the request's one structured line."""
    level = logging.WARNING if ctx.status >= 500 else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    sink = LogSink.current
    if sink is not None and sink.sole_reader(access_log):
        sink.put(RequestLine(level, time.time(), cached_record(ctx)))
    else:
        access_log.log(level, "request", extra={RECORD_ATTR: cached_record(ctx)})


def cached_record(ctx: RequestContext) -> dict[str, Any]:
    if ctx.log_record is None:
        ctx.log_record = request_record(ctx)
    return ctx.log_record


@atexit.register
def stop_log_writer() -> None:
    """Write every queued line now, and any later one as it is logged: the end of a graceful
    stop (uvicorn then re-raises SIGTERM, and a process killed by a signal runs no ``atexit``)."""
    if LogSink.current is not None:
        LogSink.current.stop()
