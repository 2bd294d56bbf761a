from __future__ import annotations

from proxy.sse import SSEDecoder


def decode_all(chunks: list[bytes]) -> list[tuple[str | None, bytes]]:
    d = SSEDecoder()
    out = []
    for c in chunks:
        out += [(e.event, e.data) for e in d.feed(c)]
    out += [(e.event, e.data) for e in d.flush()]
    return out


def test_events_split_anywhere() -> None:
    raw = b'event: a\ndata: {"x":1}\n\n: comment\n\ndata: line1\ndata: line2\n\ndata: [DONE]\n\n'
    expected = [("a", b'{"x":1}'), (None, b"line1\nline2"), (None, b"[DONE]")]
    assert decode_all([raw]) == expected
    assert decode_all([bytes([b]) for b in raw]) == expected
    for cut in range(len(raw)):
        assert decode_all([raw[:cut], raw[cut:]]) == expected


def test_crlf_and_no_space_and_trailing_event_without_blank_line() -> None:
    raw = b"data:one\r\n\r\nevent: e\r\ndata: two"
    assert decode_all([raw]) == [(None, b"one"), ("e", b"two")]


def test_comment_lines_are_skipped() -> None:
    raw = b": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\ndata: {}\n\n"
    assert decode_all([raw]) == [(None, b"{}")]


def test_multi_megabyte_line_in_small_chunks() -> None:
    payload = b"A" * (8 * 1024 * 1024)
    raw = b"data: " + payload + b"\n\n"
    chunks = [raw[i : i + 16384] for i in range(0, len(raw), 16384)]
    events = decode_all(chunks)
    assert len(events) == 1 and events[0][1] == payload


def test_crlf_lines_split_anywhere() -> None:
    raw = b'event: image_generation.completed\r\ndata: {"a":\r\ndata: 1}\r\n\r\ndata:x\r\n\r\n'
    expected = [("image_generation.completed", b'{"a":\n1}'), (None, b"x")]
    for cut in range(len(raw)):
        for cut2 in range(cut, len(raw)):
            assert decode_all([raw[:cut], raw[cut:cut2], raw[cut2:]]) == expected


def test_decoded_data_does_not_change_when_the_source_buffer_does() -> None:
    buf = bytearray(b"data: abc\n\n")
    d = SSEDecoder()
    # A mutable buffer, on purpose
    (event,) = d.feed(buf)  # type: ignore[arg-type]
    buf[6:9] = b"xyz"
    assert event.data == b"abc"
