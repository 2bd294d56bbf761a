"""OpenAI chat ``messages`` -> Gemini ``contents`` and ``systemInstruction``.

Text parts become ``text``; ``image_url`` parts become ``inlineData`` (data URIs) or
``fileData`` (``http(s)://`` and ``gs://`` URLs, fetched by Google, never by the proxy), so
"edit this image" works. Images a previous assistant turn returned (``message.images`` /
``message.image``) go back as ``inlineData`` of the model turn.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from proxy.errors import InvalidRequestError

ROLES = {"user": "user", "assistant": "model", "model": "model"}
SYSTEM_ROLES = frozenset({"system", "developer"})
REMOTE_SCHEMES = ("https://", "http://", "gs://")
AUDIO_MIME = {"wav": "audio/wav", "mp3": "audio/mp3"}


def _bad(index: int, what: str, param: str | None = None) -> InvalidRequestError:
    return InvalidRequestError(f"messages[{index}]: {what}", param=param or f"messages[{index}]")


def image_part(url: Any, index: int) -> dict[str, Any]:
    if not isinstance(url, str) or not url:
        raise _bad(index, "image_url.url must be a non-empty string.")
    if url.startswith("data:"):
        header, comma, data = url[5:].partition(",")
        mime, _, encoding = header.partition(";")
        if not comma or encoding != "base64" or not mime or not data:
            raise _bad(index, "an image data URI must look like data:<mime>;base64,<data>.")
        return {"inlineData": {"mimeType": mime, "data": data}}
    if url.startswith(REMOTE_SCHEMES):
        path = url.split("?", 1)[0]
        mime = mimetypes.guess_type(path)[0] or "image/jpeg"
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    raise _bad(index, "image_url.url must be a data URI or an http(s):// or gs:// URL.")


def _url_of(item: Any) -> Any:
    if isinstance(item, dict):
        inner = item.get("image_url", item)
        return inner.get("url") if isinstance(inner, dict) else inner
    return item


def content_parts(content: Any, index: int) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise _bad(index, "content must be a string or an array of parts.")
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            if part["text"]:
                parts.append({"text": part["text"]})
        elif kind == "image_url":
            parts.append(image_part(_url_of(part), index))
        elif kind == "input_audio" and isinstance(part.get("input_audio"), dict):
            audio = part["input_audio"]
            mime = AUDIO_MIME.get(str(audio.get("format")), f"audio/{audio.get('format')}")
            parts.append({"inlineData": {"mimeType": mime, "data": audio.get("data", "")}})
        elif kind == "file" and isinstance(part.get("file"), dict):
            parts.append(image_part(part["file"].get("file_data"), index))
        else:
            raise _bad(index, f"content part type {kind!r} is not supported for Google models.")
    return parts


def returned_images(message: dict[str, Any], index: int) -> list[dict[str, Any]]:
    images = message.get("images")
    if isinstance(images, list) and images:
        return [image_part(_url_of(item), index) for item in images]
    if message.get("image"):
        return [image_part(_url_of(message["image"]), index)]
    return []


def to_contents(
    messages: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    contents: list[dict[str, Any]] = []
    system: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = message["role"]
        if role in SYSTEM_ROLES:
            parts = content_parts(message.get("content"), i)
            if any("text" not in p for p in parts):
                raise _bad(i, "system messages may only hold text for Google models.")
            system.extend(parts)
            continue
        if role not in ROLES:
            raise _bad(i, f"role {role!r} is not supported for Google models.")
        parts = content_parts(message.get("content"), i)
        if ROLES[role] == "model":
            parts.extend(returned_images(message, i))
        if parts:
            contents.append({"role": ROLES[role], "parts": parts})
    if not contents:
        raise InvalidRequestError(
            "'messages' must hold at least one user or assistant message with content.",
            param="messages",
        )
    return contents, ({"parts": system} if system else None)
