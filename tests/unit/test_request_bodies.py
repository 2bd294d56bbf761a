"""Request bodies at the edge: any nesting depth is read or refused with a 400 naming the
problem (never a 500 further on), and chat content parts have the types OpenAI gives them."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxy.errors import InvalidRequestError
from proxy.schemas import ChatRequest, parse_json_object
from proxy.schemas.requests import MAX_JSON_DEPTH, nested_deeper

DEPTHS = [1, 2, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 253, 254, 255, 1023, 1024]
DEPTHS += [1025, 5000, 100_000]


def nested(depth: int, kind: str) -> bytes:
    """A JSON object whose field ``x`` nests arrays or objects so that the whole body is
    ``depth`` levels deep (the body itself is level 1)."""
    inner = depth - 1
    if kind == "array":
        value = b"[" * inner + b"]" * inner
    else:
        value = b'{"a":' * (inner - 1) + b"{}" + b"}" * (inner - 1) if inner else b""
    return b'{"model": "m", "x": ' + (value or b"1") + b"}"


@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize("depth", DEPTHS)
def test_any_depth_is_read_or_a_400_naming_the_problem(depth: int, kind: str) -> None:
    raw = nested(depth, kind)
    if depth <= MAX_JSON_DEPTH:
        body = parse_json_object(raw)
        assert not nested_deeper(body, depth) and (depth == 1 or nested_deeper(body, depth - 1))
        orjson.dumps({"wrapped": {"twice": body}})  # what goes out again can be written
    else:
        with pytest.raises(InvalidRequestError) as caught:
            parse_json_object(raw)
        assert caught.value.status == 400 and caught.value.code == "json_too_deep"
        assert f"at most {MAX_JSON_DEPTH} levels" in caught.value.message


def test_brackets_inside_strings_are_not_nesting() -> None:
    raw = orjson.dumps({"prompt": "[{" * 5000, "x": [[{"y": [1]}]]})
    assert parse_json_object(raw)["x"] == [[{"y": [1]}]]


def test_many_shallow_containers_are_fine() -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}] * 5000}
    assert len(parse_json_object(orjson.dumps(body))["messages"]) == 5000


def chat(content: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": content}]}


@pytest.mark.parametrize(
    ("content", "param"),
    [
        ([{"type": "text", "text": 5}], "messages[0].content[0].text"),
        ([{"type": "text"}], "messages[0].content[0].text"),
        ([{"type": "text", "text": None}], "messages[0].content[0].text"),
        (
            [{"type": "text", "text": "ok"}, {"type": "text", "text": ["a"]}],
            "messages[0].content[1].text",
        ),
        ([5], "messages[0].content[0]"),
        ([{"text": "no type"}], "messages[0].content[0]"),
        ([{"type": 1, "text": "x"}], "messages[0].content[0]"),
        (5, "messages[0].content"),
        ({"type": "text", "text": "x"}, "messages[0].content"),
    ],
)
def test_a_bad_content_part_is_a_400_naming_it(content: Any, param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        ChatRequest.from_body(chat(content))
    assert caught.value.param == param and f"'{param}'" in caught.value.message


@pytest.mark.parametrize(
    "content",
    [
        "hi",
        None,
        [],
        [{"type": "text", "text": ""}],
        [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}],
        [{"type": "input_audio", "input_audio": 5}],  # the adapter's to refuse
    ],
)
def test_good_content_passes(content: Any) -> None:
    request = ChatRequest.from_body(chat(content))
    assert isinstance(request.text_of(request.messages[0]), str)
