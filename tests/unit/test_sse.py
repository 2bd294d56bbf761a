from __future__ import annotations

import pytest

from proxy.sse import SSEDecoder, SSEEventTooLarge


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


def test_a_line_that_never_ends_is_cut_at_the_event_cap() -> None:
    d = SSEDecoder(max_event=4096)
    d.feed(b"data: ")
    with pytest.raises(SSEEventTooLarge, match="exceeds 4096 bytes"):
        for _ in range(100):
            d.feed(b"A" * 100)


def test_an_event_of_many_lines_is_cut_at_the_event_cap() -> None:
    d = SSEDecoder(max_event=4096)
    with pytest.raises(SSEEventTooLarge):
        d.feed(b"data: " + b"A" * 100 + b"\n" * 1 + (b"data: " + b"B" * 100 + b"\n") * 50)


def test_the_cap_is_per_event() -> None:
    """Many events below the cap pass however much they add up to, split anywhere."""
    event = b"data: " + b"A" * 3000 + b"\n\n"
    raw = event * 20
    for piece in (1, 7, 1000, len(raw)):
        d = SSEDecoder(max_event=4096)
        events = []
        for i in range(0, len(raw), piece):
            events += d.feed(raw[i : i + piece])
        assert [e.data for e in events] == [b"A" * 3000] * 20
