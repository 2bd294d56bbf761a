"""Blobs and streamed multipart bodies: an upload left in its temporary file is sent from it
in pieces, the same bytes a body built in memory carries; reading it before it is loaded is
an error, never blocking I/O."""

from __future__ import annotations

import random
import tempfile

import pytest

from proxy.blob import CHUNK, Blob, BlobNotLoaded
from proxy.upstream_request import FilePart, StreamedBody, UpstreamRequest, multipart_body


def spooled(data: bytes) -> Blob:
    file = tempfile.SpooledTemporaryFile(max_size=16)  # noqa: SIM115 (the blob closes it)
    file.write(data)
    file.flush()
    return Blob(file=file, size=len(data))


async def joined(body: StreamedBody) -> bytes:
    return b"".join([chunk async for chunk in body.chunks()])


async def test_a_file_blob_is_read_in_chunks_from_fixed_offsets_and_loaded_once() -> None:
    data = random.Random(1).randbytes(2 * CHUNK + 5)
    blob = spooled(data)
    with pytest.raises(BlobNotLoaded):
        _ = blob.data
    chunks = [c async for c in blob.chunks()]
    assert [len(c) for c in chunks] == [CHUNK, CHUNK, 5]
    assert b"".join([c async for c in blob.chunks()]) == data  # a second pass: a retry
    assert await blob.load() == data and blob.loaded and blob.data == data
    blob.close()
    assert blob.data == data  # loaded bytes outlive the file


async def test_a_body_with_a_file_streams_the_bytes_a_memory_body_holds() -> None:
    image = random.Random(2).randbytes(CHUNK + 100)
    fields = [("model", "gpt-image-2"), ("prompt", "a hat")]
    in_memory, memory_type = multipart_body(
        fields, [FilePart("image", "a.png", "image/png", image)]
    )
    blob = spooled(image)
    streamed, streamed_type = multipart_body(
        fields, [FilePart("image", "a.png", "image/png", blob)]
    )
    assert isinstance(in_memory, bytes) and isinstance(streamed, StreamedBody)
    boundary = memory_type.split("boundary=")[1]
    other = streamed_type.split("boundary=")[1]
    assert (await joined(streamed)).replace(other.encode(), boundary.encode()) == in_memory
    assert streamed.length == len(in_memory)
    request = UpstreamRequest.post_multipart(
        "http://u/v1/images/edits", fields, [FilePart("image", "a.png", "image/png", blob)]
    )
    assert request.body is None and request.streamed_body is not None
    assert request.headers["content-length"] == str(request.streamed_body.length)
    blob.close()


def test_a_blob_holds_bytes_or_a_file() -> None:
    with pytest.raises(ValueError):
        Blob()
    assert Blob(b"abc").size == 3 and Blob(b"abc").loaded


async def test_parts_are_sent_as_they_are_and_joined_once_when_loaded() -> None:
    parts = [b"\x89PNG", b"abc" * 1000, b"end"]
    blob = Blob(parts=parts)
    assert blob.size == sum(len(p) for p in parts) and not blob.loaded
    assert [c async for c in blob.chunks()] == parts  # no join on the way out
    body, _ = multipart_body([], [FilePart("image", "a.png", "image/png", blob)])
    assert isinstance(body, StreamedBody) and body.length > blob.size
    assert await blob.load() == b"".join(parts) and blob.data == b"".join(parts)
    assert [c async for c in blob.chunks()] == [b"".join(parts)]
