"""What a client-chosen name may hold, checked where it enters: the model request shapes, the
admin key fields, and the response headers that echo the model group."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from proxy.context import RequestContext
from proxy.errors import InvalidRequestError
from proxy.keys.records import KeyDelete, KeyFields, KeyUpdate
from proxy.names import MAX_NAME_LENGTH, name_problem
from proxy.schemas import ChatRequest, ImageRequest

CONTROLS = [chr(c) for c in range(0x20)] + ["\x7f"]


@pytest.mark.parametrize("char", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_every_control_character_is_refused(char: str) -> None:
    assert name_problem(f"a{char}b") is not None


@pytest.mark.parametrize(
    "name", ["dall-e-3", "team a/b:c", "猫", "é\u00a0x", "x" * MAX_NAME_LENGTH]
)
def test_other_names_pass(name: str) -> None:
    assert name_problem(name) is None


def test_a_long_name_is_refused() -> None:
    assert name_problem("x" * (MAX_NAME_LENGTH + 1)) == "must be at most 256 characters"


@pytest.mark.parametrize("field", ["model", "user"])
@pytest.mark.parametrize("value", ["evil\x00", "evil\r\n", "evil" + "x" * 300])
def test_model_requests_refuse_a_bad_name_without_echoing_it(field: str, value: str) -> None:
    image = {"model": "m", "prompt": "p", field: value}
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}], field: value}
    for parse, body in ((ImageRequest.from_body, image), (ChatRequest.from_body, chat)):
        with pytest.raises(InvalidRequestError) as caught:
            parse(body)
        assert caught.value.param == field and f"'{field}'" in caught.value.message
        assert "evil" not in caught.value.message


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (KeyFields, {"key_alias": "a\x00b"}),
        (KeyFields, {"user_id": "a\nb"}),
        (KeyFields, {"metadata": {"k\x00": 1}}),
        (KeyFields, {"metadata": {"k": [{"deeper": {"k\r": 1}}]}}),
        (KeyFields, {"models": ["m", "m\x00"]}),
        (KeyFields, {"guardrails": ["g" * 300]}),
        (KeyUpdate, {"key": "sk-\x00"}),
        (KeyDelete, {"keys": ["sk-\x7f"]}),
        (KeyDelete, {"key_aliases": ["ok", "a\tb"]}),
    ],
)
def test_key_fields_refuse_control_characters(
    model: type[KeyFields | KeyDelete], fields: dict[str, object]
) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(fields)
    assert caught.value.errors()[0]["loc"][0] in fields
    assert KeyFields.model_validate({"metadata": {"k": ["value\x00 is data"]}}).metadata


@pytest.mark.parametrize(("group", "echoed"), [("dall-e", True), ("猫", False), ("a\r\nb", False)])
def test_the_model_group_header_is_printable_ascii_or_absent(group: str, echoed: bool) -> None:
    headers = RequestContext("images", model_group=group).response_headers()
    assert ("x-model-group" in headers) is echoed
    if echoed:
        assert headers["x-model-group"] == group
