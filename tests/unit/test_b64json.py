"""The base64-aware JSON parser gives exactly orjson's answer, or falls back to it."""

from __future__ import annotations

import base64
import os

import orjson
import pytest

from proxy import b64json

B64 = base64.b64encode(os.urandom(60_000)).decode()  # 80,000 chars


def doc(**fields: object) -> bytes:
    return orjson.dumps(fields)


CASES = {
    "one item": doc(created=1, data=[{"b64_json": B64, "revised_prompt": "a cat"}]),
    "several items and usage": doc(
        created=1,
        data=[{"b64_json": B64}, {"b64_json": B64[::-1]}, {"url": "https://x/y.png"}],
        usage={"input_tokens": 3, "output_tokens": 4160},
    ),
    "stream event": doc(type="image_generation.completed", b64_json=B64, usage={"a": 1}),
    "whitespace around the colon": b'{"data": [ {"b64_json" :\n "' + B64.encode() + b'" } ]}',
    "short value stays in the document": doc(data=[{"b64_json": "aGk="}], pad="x" * 70_000),
    "key text inside another string": doc(
        note='he said "b64_json": "' + "A" * 5000 + '"', data=[{"b64_json": B64}]
    ),
    "value is not a string": doc(b64_json=None, pad="x" * 70_000, data=[{"b64_json": B64}]),
    "non-ascii elsewhere": doc(prompt="chat noir é 猫", data=[{"b64_json": B64}]),
}


@pytest.mark.parametrize("raw", CASES.values(), ids=CASES.keys())
def test_same_answer_as_orjson(raw: bytes) -> None:
    assert b64json.loads(raw) == orjson.loads(raw)


def test_escaped_slash_falls_back_to_the_exact_value() -> None:
    raw = b'{"data":[{"b64_json":"' + B64.encode().replace(b"/", b"\\/") + b'"}]}'
    assert b64json.loads(raw) == orjson.loads(raw)
    assert b64json.loads(raw)["data"][0]["b64_json"] == B64


def test_non_ascii_inside_a_value_falls_back() -> None:
    raw = doc(data=[{"b64_json": B64 + "é"}])
    assert b64json.loads(raw)["data"][0]["b64_json"] == B64 + "é"


def test_a_genuine_string_that_looks_like_a_mark_falls_back() -> None:
    raw = doc(data=[{"b64_json": B64}], trap="\x00b64json:0")
    assert b64json.loads(raw) == orjson.loads(raw)


def test_malformed_document_raises_like_orjson() -> None:
    raw = b'{"data":[{"b64_json":"' + B64.encode() + b'"}'
    with pytest.raises(orjson.JSONDecodeError):
        b64json.loads(raw)


def test_unterminated_value_raises_like_orjson() -> None:
    raw = b'{"data":[{"b64_json":"' + B64.encode()
    with pytest.raises(orjson.JSONDecodeError):
        b64json.loads(raw)


def test_the_big_strings_never_reach_the_general_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[int] = []
    real = orjson.loads

    def spy(data: bytes) -> object:
        parsed.append(len(data))
        return real(data)

    monkeypatch.setattr(orjson, "loads", spy)  # the module b64json calls
    raw = CASES["several items and usage"]
    b64json.loads(raw)
    assert parsed and max(parsed) < 1000 < len(raw)
