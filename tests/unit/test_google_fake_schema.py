"""The fake Google responses parse with google-genai's own response types (which refuse
unknown fields), so the fakes cannot drift from Google's real schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.genai import models, types

from tests.fakes.google import (
    gemini_finish_blocked,
    gemini_image_response,
    gemini_prompt_blocked,
    gemini_text_response,
    google_error,
    image_b64,
    imagen_response,
    stream_events,
)


def as_genai(body: dict[str, Any]) -> types.GenerateContentResponse:
    # JSON mode: bytes fields must be valid base64, camelCase names must be real aliases.
    return types.GenerateContentResponse.model_validate_json(json.dumps(body))


@pytest.mark.parametrize("vertex", [False, True])
def test_image_answer_matches_genai(vertex: bool) -> None:
    data = image_b64("final")
    parsed = as_genai(
        gemini_image_response(data, thought_image=image_b64("t"), vertex=vertex, prompt_images=258)
    )
    assert parsed.candidates is not None
    content = parsed.candidates[0].content
    assert content is not None
    parts = content.parts
    assert parts is not None
    assert parts[0].thought is True
    assert parts[-1].inline_data is not None
    assert parts[-1].inline_data.data == b"\x89PNG\r\n\x1a\nfinal"
    assert parsed.candidates[0].finish_reason == types.FinishReason.STOP
    usage = parsed.usage_metadata
    assert usage is not None and usage.candidates_token_count == 1295
    assert usage.candidates_tokens_details is not None
    assert usage.candidates_tokens_details[0].modality == types.MediaModality.IMAGE
    assert parsed.text == "Here is your image."


def test_text_only_and_blocks_match_genai() -> None:
    assert as_genai(gemini_text_response("words")).text == "words"
    blocked = as_genai(gemini_prompt_blocked())
    assert blocked.prompt_feedback is not None
    assert blocked.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT
    assert blocked.candidates == []
    finish = as_genai(gemini_finish_blocked())
    assert finish.candidates is not None
    assert finish.candidates[0].finish_reason == types.FinishReason.IMAGE_SAFETY


@pytest.mark.parametrize("vertex", [False, True])
def test_stream_events_match_genai(vertex: bool) -> None:
    events = stream_events(image_b64("s", 1000), vertex=vertex)
    parsed = [as_genai(e) for e in events]
    assert parsed[-1].candidates is not None
    assert parsed[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert parsed[2].candidates is not None
    content = parsed[2].candidates[0].content
    assert content is not None and content.parts is not None
    image_part = content.parts[0]
    assert image_part.inline_data is not None and len(image_part.inline_data.data or b"") == 1000


def test_imagen_answer_matches_genai_vertex_converter() -> None:
    body = imagen_response([image_b64("a"), image_b64("b")], filtered="Filtered 1 image.")
    converted = models._GenerateImagesResponse_from_vertex(body)
    parsed = types.GenerateImagesResponse.model_validate(converted)
    assert parsed.generated_images is not None
    images = [g.image for g in parsed.generated_images]
    assert images[0] is not None and images[0].image_bytes == b"\x89PNG\r\n\x1a\na"
    assert images[0].mime_type == "image/png"
    assert parsed.generated_images[2].rai_filtered_reason == "Filtered 1 image."


def test_error_body_matches_genai_error_reader() -> None:
    from google.genai import errors

    body = google_error(429, "RESOURCE_EXHAUSTED", "quota")
    err = errors.APIError(429, body)
    assert err.status == "RESOURCE_EXHAUSTED" and err.message == "quota" and err.code == 429


def test_the_schema_check_can_fail() -> None:
    from pydantic import ValidationError

    good = gemini_image_response(image_b64("x"))
    with pytest.raises(ValidationError):
        as_genai({**good, "inline_data_typo": 1})
    bad_part = {
        "candidates": [
            {
                "content": {
                    "parts": [{"inlineData": {"mimeType": "image/png", "data": "@@notbase64"}}]
                }
            }
        ]
    }
    with pytest.raises(ValidationError):
        as_genai(bad_part)
