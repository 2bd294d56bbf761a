"""JSON parsing for answers that carry megabytes of base64: each big string is copied once.

An image answer is a small JSON document around one or more huge base64 strings. A general
parser validates and copies every byte of those strings character by character (orjson: about
0.35 ms per 1.5 MB, 2.3 ms per 4 MB here), although base64 can hold no quote, no backslash
and nothing outside ASCII. ``loads`` finds the big string values of the named keys with
``bytes.find``, parses the document with those values cut out, and puts each value back as
one ASCII decode of the original bytes (a single copy at memory speed).

The result is exactly ``orjson.loads(raw)``'s. Whenever the shortcut cannot prove that (an
escape or a non-ASCII byte inside a value, a value that is not where its key says, a
document that only parses with the cut), it falls back to ``orjson.loads(raw)``, which also
produces the error for a malformed document. One leniency: a raw control character inside a
cut value is kept rather than refused (it was never valid base64).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import orjson

MIN_DOCUMENT = 64 * 1024  # smaller documents: the plain parser is as fast
MIN_VALUE = 4096  # shorter string values stay in the document
WHITESPACE = b" \t\r\n"
_MARK = "\x00b64json:"


def loads(raw: bytes, keys: tuple[bytes, ...] = (b"b64_json",)) -> Any:
    if len(raw) < MIN_DOCUMENT:
        return orjson.loads(raw)
    spans = _value_spans(raw, keys)
    if not spans:
        return orjson.loads(raw)
    parts: list[bytes] = []
    prev = 0
    for i, (start, end) in enumerate(spans):
        parts.append(raw[prev:start])
        parts.append(b"\\u0000b64json:%d" % i)
        prev = end
    parts.append(raw[prev:])
    try:
        doc = orjson.loads(b"".join(parts))
        seen = [0] * len(spans)
        _fill(doc, memoryview(raw), spans, seen)
        if not all(seen):
            raise _Mismatch
    except (orjson.JSONDecodeError, UnicodeDecodeError, _Mismatch):
        return orjson.loads(raw)
    return doc


class _Mismatch(Exception):
    pass


def _value_spans(raw: bytes, keys: tuple[bytes, ...]) -> list[tuple[int, int]]:
    """(start, end) of every long string value following one of ``keys``; [] when unsure."""
    spans: list[tuple[int, int]] = []
    for key in keys:
        token = b'"' + key + b'"'
        pos = raw.find(token)
        while pos != -1:
            i = _skip_ws(raw, pos + len(token))
            if raw[i : i + 1] == b":":
                i = _skip_ws(raw, i + 1)
                if raw[i : i + 1] == b'"':
                    end = raw.find(b'"', i + 1)
                    if end == -1:
                        return []
                    if end - i - 1 >= MIN_VALUE:
                        if raw.find(b"\\", i + 1, end) != -1:
                            return []
                        spans.append((i + 1, end))
                    pos = raw.find(token, end + 1)
                    continue
            pos = raw.find(token, pos + 1)
    spans.sort()
    for (_, end), (start, _) in pairwise(spans):
        if start <= end:
            return []
    return spans


def _skip_ws(raw: bytes, i: int) -> int:
    while raw[i : i + 1] and raw[i] in WHITESPACE:
        i += 1
    return i


def _fill(node: Any, raw: memoryview, spans: list[tuple[int, int]], seen: list[int]) -> None:
    """Put the cut values back in place; a mark seen twice or malformed is a mismatch."""
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, str):
                if v.startswith(_MARK):
                    node[k] = _value(v, raw, spans, seen)
            elif isinstance(v, dict | list):
                _fill(v, raw, spans, seen)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if isinstance(v, str):
                if v.startswith(_MARK):
                    node[i] = _value(v, raw, spans, seen)
            elif isinstance(v, dict | list):
                _fill(v, raw, spans, seen)


def _value(mark: str, raw: memoryview, spans: list[tuple[int, int]], seen: list[int]) -> str:
    index = mark[len(_MARK) :]
    if not index.isdigit() or int(index) >= len(spans) or seen[int(index)]:
        raise _Mismatch
    i = int(index)
    seen[i] = 1
    start, end = spans[i]
    return str(raw[start:end], "ascii")
