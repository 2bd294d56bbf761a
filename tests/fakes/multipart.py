"""Reading what a fake upstream received as multipart/form-data, with the standard library's
MIME parser (independent of the parser the proxy uses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)

    @property
    def text(self) -> str:
        return self.data.decode()


def form_parts(content_type: str, body: bytes) -> list[Part]:
    """The parts of a ``multipart/form-data`` body, in order."""
    assert content_type.startswith("multipart/form-data"), content_type
    head = f"content-type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    parts = []
    for item in message.iter_parts():
        assert isinstance(item, Message)
        payload = item.get_payload(decode=True)
        assert isinstance(payload, bytes)
        parts.append(
            Part(
                name=str(item.get_param("name", header="content-disposition")),
                filename=item.get_filename(),
                content_type=item.get("content-type"),
                data=payload,
            )
        )
    return parts


def text_fields(parts: list[Part]) -> dict[str, str]:
    """The text fields (each must appear once)."""
    out: dict[str, str] = {}
    for p in parts:
        if p.filename is None:
            assert p.name not in out, f"{p.name} sent twice"
            out[p.name] = p.text
    return out
