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
from datetime import UTC, datetime
from typing import IO, Any

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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = getattr(record, RECORD_ATTR, None)
        out: dict[str, Any]
        if isinstance(data, dict):
            out = {"level": record.levelname.lower(), "logger": record.name, **data}
        else:
            out = {
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


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = getattr(record, RECORD_ATTR, None)
        head = f"{_timestamp(record.created)} {record.levelname} {record.name}:"
        if isinstance(data, dict):
            fields = " ".join(
                f"{k}={_text_value(v)}"
                for k, v in data.items()
                if v not in (None, [], {}) and k not in ("event", "timestamp")
            )
            return f"{head} request {fields}"
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

    The request path only enqueues: a request's line goes over as its record dict and is
    serialised here; any other line (rare) is formatted by the thread that logged it, as
    ``QueueHandler`` would, so no argument is read after the caller moved on. The thread
    drains whatever queued up and writes it with one call, not one write and flush per line.
    """

    current: LogSink | None = None
    BATCH = 512

    def __init__(self, formatter: logging.Formatter, stream: IO[str] | None = None) -> None:
        self.formatter = formatter
        self.stream = stream if stream is not None else sys.stdout
        self.queue: queue.SimpleQueue[logging.LogRecord | str | None] = queue.SimpleQueue()
        self.handler = _Enqueue(self)
        self._thread: threading.Thread | None = threading.Thread(
            target=self._write_forever, name="log-writer", daemon=True
        )
        self._thread.start()

    def _write_forever(self) -> None:
        q = self.queue
        while True:
            item = q.get()
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

    def _line(self, item: logging.LogRecord | str) -> str:
        if isinstance(item, str):
            return item
        try:
            return self.formatter.format(item)
        except Exception as exc:  # a line that cannot be formatted must not stop the writer
            return f"log line dropped: {type(exc).__name__}"

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:  # stdout closed or full: nothing better to do than drop the lines
            pass

    def stop(self) -> None:
        """Write what is queued, then end the thread."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self.queue.put(None)
            thread.join()


class _Enqueue(logging.Handler):
    def __init__(self, sink: LogSink) -> None:
        super().__init__()
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(getattr(record, RECORD_ATTR, None), dict):
            self.sink.queue.put(record)  # the record dict is complete: serialised off-loop
            return
        try:
            self.sink.queue.put(self.sink.formatter.format(record))
        except Exception:
            self.handleError(record)


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
    if access_log.isEnabledFor(level):
        access_log.log(level, "request", extra={RECORD_ATTR: cached_record(ctx)})


def cached_record(ctx: RequestContext) -> dict[str, Any]:
    record = ctx.extra.get("_record")
    if not isinstance(record, dict):
        record = ctx.extra["_record"] = request_record(ctx)
    return record


@atexit.register
def _flush_at_exit() -> None:
    if LogSink.current is not None:
        LogSink.current.stop()
