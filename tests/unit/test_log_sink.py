"""The log writer: request lines skip LogRecord only when nothing else would read them."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import orjson

from proxy.context import RequestContext
from proxy.observability.logging import (
    ACCESS_LOGGER,
    JsonFormatter,
    LogSink,
    TextFormatter,
    log_request,
)


@contextmanager
def only_the_sink() -> Iterator[tuple[LogSink, io.StringIO]]:
    """The root logger as ``configure_logging`` leaves it (pytest's own handlers set aside,
    inside the test: pytest adds them around each phase)."""
    out = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level, LogSink.current
    sink = LogSink(JsonFormatter(), out)
    root.handlers[:] = [sink.handler]
    root.setLevel(logging.INFO)
    LogSink.current = sink
    try:
        yield sink, out
    finally:
        sink.stop()
        root.handlers[:], level, LogSink.current = saved
        root.setLevel(level)


def finished(status: int = 200) -> RequestContext:
    ctx = RequestContext("images")
    ctx.model_group, ctx.status, ctx.finished = "g", status, ctx.started + 0.01
    return ctx


def test_a_request_line_skips_logrecord_when_the_sink_is_its_only_reader() -> None:
    with only_the_sink() as (writer, out):
        access = logging.getLogger(ACCESS_LOGGER)
        assert writer.sole_reader(access)
        ctx = finished()
        log_request(ctx)
        log_request(finished(502))
        writer.stop()
    first, second = (orjson.loads(line) for line in out.getvalue().splitlines())
    assert first["logger"] == ACCESS_LOGGER and first["level"] == "info"
    assert first["request_id"] == ctx.request_id and first["model_group"] == "g"
    assert second["level"] == "warning" and second["status"] == 502


def test_another_handler_still_sees_request_lines() -> None:
    seen: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    with only_the_sink() as (writer, out):
        access = logging.getLogger(ACCESS_LOGGER)
        extra = Collect()
        logging.getLogger().addHandler(extra)
        assert not writer.sole_reader(access)
        log_request(finished())
        writer.stop()
    assert len(seen) == 1 and seen[0].name == ACCESS_LOGGER
    assert orjson.loads(out.getvalue())["status"] == 200  # and the sink wrote it as well


def test_text_format_of_a_request_line() -> None:
    data = {"event": "request", "status": 200, "model_group": "a b", "usage": None}
    line = TextFormatter().format_request("INFO", ACCESS_LOGGER, 0.0, data)
    head = "1970-01-01T00:00:00.000+00:00 INFO proxy.access:"
    assert line == f'{head} request status=200 model_group="a b"'
