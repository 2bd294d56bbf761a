"""Reading image uploads within their limits: the multipart bodies of ``/v1/images/edits``
and ``/v1/images/variations``, and the JSON edit body whose images are ``image_url`` values.

A multipart body is parsed once, as it arrives, by Starlette's parser (python-multipart),
fed in pieces of ``FEED_BYTES`` so a file is written in few worker-thread steps: files past
1 MB spool to a temporary file, so a slow upload holds little memory. The limits are
enforced while the bytes flow, each a 413 or 400 naming it: the whole body
(``general_settings.max_image_request_size_mb``), each image file (``max_image_upload_mb``,
OpenAI's 50 MB by default) and the number of images (16). Each file becomes an
``InputImage`` whose type is sniffed and size read from its first bytes; a spooled file
stays where it is (a ``Blob``) until an adapter forwards it or needs its bytes, and goes
back when the request ends (``UploadFiles.close``). Client file names are never used.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from proxy.blob import Blob, MemoryBudget
from proxy.errors import ClientClosedError, InvalidRequestError, PayloadTooLargeError
from proxy.images.fetch import FetchError
from proxy.images.formats import (
    ImageRejected,
    ImageTooLarge,
    image_dimensions,
    image_of_data_uri,
    is_data_uri,
    sniff_image,
)
from proxy.images.service import Delivery
from proxy.schemas import parse_json_object
from proxy.schemas.edits import MAX_EDIT_IMAGES, InputImage, form_value

OVERLAYS = ("mask", "markup")  # single files beside the images
_IMAGE_FIELD = re.compile(r"^image(\[\d*\])?$")  # image, image[] (the SDKs), image[0]
_NESTED = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<key>[^\[\]]*)\]$")  # svg[model], tags[]
MAX_TEXT_FIELDS = 200
MAX_TEXT_PART = 1024 * 1024  # a prompt is at most 32000 characters
DECODE_IN_THREAD = 1024 * 1024  # base64 longer than this is decoded off the event loop
MB = 1024 * 1024
FEED_BYTES = 512 * 1024  # the parser is fed this much at a time: one file write per feed
HEAD_BYTES = 256 * 1024  # an image's type and size are read from this much of its start
# An upload parsed in memory peaks at about three copies of itself: the parser's buffer, the
# bytes, the upstream body they are joined into.
IN_MEMORY_COPIES = 3


class PartBuffer:
    """A file part parsed in memory: the chunks the parser hands over, joined once when read.
    (The parser's ``SpooledTemporaryFile`` keeps a ``BytesIO``, which regrows and copies
    itself dozens of times on the way to 4 MB, and copies again when read.) Starlette's
    ``UploadFile`` writes it on the event loop: it is never rolled to disk."""

    _rolled = False  # what UploadFile reads to know a part is in memory
    _max_size = 0  # and that it never rolls over

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> int:
        self._chunks.append(data)
        self._size += len(data)
        return len(data)

    def tell(self) -> int:
        return self._size

    def seek(self, offset: int, whence: int = 0) -> int:
        return offset  # read() always reads from the start: all the parser and we need

    @property
    def parts(self) -> list[bytes]:
        return self._chunks

    def head(self, size: int) -> bytes:
        """The first ``size`` bytes, joined from as few pieces as hold them."""
        taken, total = [], 0
        for chunk in self._chunks:
            taken.append(chunk)
            total += len(chunk)
            if total >= size:
                break
        return b"".join(taken)[:size]

    def read(self, size: int = -1) -> bytes:
        if len(self._chunks) != 1:
            self._chunks = [b"".join(self._chunks)]
        data = self._chunks[0] if self._chunks else b""
        return data if size < 0 else data[:size]

    def close(self) -> None:
        self._chunks = []


class UploadFiles:
    """One request's uploads: their temporary files and the memory they took from the
    process's budget, given back when the request ends."""

    def __init__(self, memory: MemoryBudget | None = None) -> None:
        self.memory = memory or MemoryBudget(0)
        self._files: list[UploadFile] = []
        self._memory_held = 0

    def keep(self, file: UploadFile) -> None:
        self._files.append(file)

    def hold_in_memory(self, size: int) -> bool:
        """Whether a body of ``size`` bytes may be parsed in memory (it then holds what that
        costs: ``IN_MEMORY_COPIES`` times its size at the peak)."""
        cost = IN_MEMORY_COPIES * size
        if self._memory_held or not self.memory.take(cost):
            return False
        self._memory_held = cost
        return True

    def close(self) -> None:
        for file in self._files:
            file.file.close()
        self._files.clear()
        self.memory.give(self._memory_held)
        self._memory_held = 0


@dataclass(frozen=True, slots=True)
class UploadLimits:
    per_image: int
    total: int
    images: int = MAX_EDIT_IMAGES

    def too_large(self, what: str) -> PayloadTooLargeError:
        return PayloadTooLargeError(
            f"{what} exceeds the {_mb(self.per_image)} per-image limit "
            "(general_settings.max_image_upload_mb).",
            param=what.split(" ", 1)[0].strip("'"),
        )


@dataclass(slots=True)
class Upload:
    """What a client sent: its text fields (typed), its images in order, mask and markup."""

    fields: dict[str, Any] = field(default_factory=dict)
    images: list[InputImage] = field(default_factory=list)
    overlays: dict[str, InputImage] = field(default_factory=dict)


def _mb(limit: int) -> str:
    return f"{limit / MB:g} MB"


def is_image_field(name: str) -> bool:
    return _IMAGE_FIELD.match(name) is not None


def input_image(data: bytes | Blob, name: str, index: int, head: bytes | None = None) -> InputImage:
    """An upload as an ``InputImage``: type and size from ``head`` (its first bytes)."""
    if head is None:
        head = data if isinstance(data, bytes) else data.data
    kind = sniff_image(head)
    dims = image_dimensions(head)
    media_type = kind.mime if kind is not None else "application/octet-stream"
    ext = kind.extension if kind is not None else "bin"
    return InputImage(
        data,
        media_type=media_type,
        filename=f"{name}-{index}.{ext}" if name == "image" else f"{name}.{ext}",
        width=dims[0] if dims else None,
        height=dims[1] if dims else None,
    )


class _LimitedParser(MultiPartParser):
    """Starlette's multipart parser with the per-image limit and the image count checked as
    each part arrives (the whole body's limit is the stream's)."""

    def __init__(
        self,
        request: Request,
        stream: AsyncGenerator[bytes],
        limits: UploadLimits,
        *,
        in_memory: bool,
    ):
        super().__init__(
            request.headers,
            stream,
            max_files=limits.images + len(OVERLAYS),
            max_fields=MAX_TEXT_FIELDS,
            max_part_size=MAX_TEXT_PART,
        )
        self._limits = limits
        self._file_bytes = 0
        self._images = 0
        self.opened: list[UploadFile] = []  # every file part, also when a limit stops it
        self._in_memory = in_memory
        if in_memory:  # no file grows past the per-image limit: none is ever spooled
            self.spool_max_size = limits.per_image

    def on_part_begin(self) -> None:
        super().on_part_begin()
        self._file_bytes = 0

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        part = self._current_part
        if part.file is not None and self._in_memory:
            part.file.file.close()  # the parser's spooled file, still empty: a buffer instead
            part.file = UploadFile(
                file=PartBuffer(),  # type: ignore[arg-type]
                size=0,
                filename=part.file.filename,
                headers=part.file.headers,
            )
        if part.file is not None:
            self.opened.append(part.file)
        if part.file is not None and is_image_field(part.field_name):
            self._images += 1
            if self._images > self._limits.images:
                raise InvalidRequestError(
                    f"'image' takes at most {self._limits.images} image"
                    f"{'s' if self._limits.images > 1 else ''}.",
                    param="image",
                    code="too_many_images",
                )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._current_part
        if part.file is not None:
            self._file_bytes += end - start
            if self._file_bytes > self._limits.per_image:
                raise self._limits.too_large(f"'{part.field_name}'")
        super().on_part_data(data, start, end)


def _declared_length(request: Request, limit: int) -> int | None:
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        return None
    if int(declared) > limit:
        raise _body_too_large(limit)
    return int(declared)


async def _body_chunks(request: Request, limit: int, gather: bool) -> AsyncGenerator[bytes]:
    """The request body as it arrives, refused with 413 once past ``limit``; with
    ``gather``, in pieces of about ``FEED_BYTES`` (so a spooled file is written in few
    steps)."""
    size = 0
    gathered = bytearray()
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _body_too_large(limit)
            if not gather:
                yield chunk
                continue
            gathered += chunk
            if len(gathered) >= FEED_BYTES:
                yield bytes(gathered)
                gathered.clear()
        if gathered:
            yield bytes(gathered)
    except ClientDisconnect:
        raise ClientClosedError(
            "The client closed the connection before sending its body."
        ) from None


def _body_too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"Request body exceeds the {_mb(limit)} limit of image uploads "
        "(general_settings.max_image_request_size_mb)."
    )


def _add_text(fields: dict[str, Any], name: str, value: str) -> None:
    nested = _NESTED.match(name)
    if nested is None:
        if name in fields:
            raise InvalidRequestError(f"'{name}' was given more than once.", param=name)
        fields[name] = form_value(name, value)
        return
    base, key = nested.group("name"), nested.group("key")
    if key == "":  # name[] repeated: a list
        items = fields.setdefault(base, [])
        if not isinstance(items, list):
            raise InvalidRequestError(f"'{base}' was given more than once.", param=base)
        items.append(value)
        return
    table = fields.setdefault(base, {})  # name[key]: an object (the SDKs' svg[model])
    if not isinstance(table, dict) or key in table:
        raise InvalidRequestError(f"'{name}' was given more than once.", param=base)
    table[key] = value


async def _image_of(file: UploadFile, name: str, index: int, spool_max: int) -> InputImage:
    """The upload in memory when the parser kept it there, else left in its spooled file
    with only its first ``HEAD_BYTES`` read."""
    size = file.size or 0
    if isinstance(file.file, PartBuffer):  # parsed in memory: its pieces, never joined here
        blob = Blob(parts=file.file.parts)
        return input_image(blob, name, index, file.file.head(HEAD_BYTES))
    if size <= spool_max:
        data = await file.read()
        await file.close()  # in memory: nothing to keep
        return input_image(data, name, index)
    await file.seek(0)
    head = await file.read(HEAD_BYTES)
    return input_image(Blob(file=file.file, size=size), name, index, head)


async def _add_file(upload: Upload, name: str, file: UploadFile, spool_max: int) -> None:
    if is_image_field(name):
        upload.images.append(await _image_of(file, "image", len(upload.images), spool_max))
    elif name in OVERLAYS:
        if name in upload.overlays:
            raise InvalidRequestError(f"Only one '{name}' may be given.", param=name)
        upload.overlays[name] = await _image_of(file, name, 0, spool_max)
    else:
        raise InvalidRequestError(
            f"'{name}' must be a text field, not a file; only 'image', 'image[]', 'mask' "
            "and 'markup' take files.",
            param=name,
        )


async def read_multipart(request: Request, limits: UploadLimits, files: UploadFiles) -> Upload:
    """Parse a ``multipart/form-data`` body once, within ``limits``: in memory when its
    declared length fits the process's upload memory, else spooling to temporary files.
    What it holds is ``files``' to give back."""
    declared = _declared_length(request, limits.total)
    in_memory = declared is not None and files.hold_in_memory(declared)
    chunks = _body_chunks(request, limits.total, gather=not in_memory)
    parser = _LimitedParser(request, chunks, limits, in_memory=in_memory)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidRequestError(f"Malformed multipart/form-data body: {exc.message}") from None
    finally:  # what the parser opened, also when a limit stopped it half-way
        for opened in parser.opened:
            files.keep(opened)
    upload = Upload()
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            await _add_file(upload, name, value, parser.spool_max_size)
        elif is_image_field(name) or name in OVERLAYS:
            raise InvalidRequestError(
                f"'{name}' must be a file upload (multipart file part).", param=name
            )
        else:
            _add_text(upload.fields, name, value)
    return upload


# --- the JSON edit body ----------------------------------------------------------------


async def _image_from_reference(
    reference: Any, param: str, delivery: Delivery, limits: UploadLimits
) -> bytes:
    """The bytes behind ``{"image_url": ...}``: a base64 ``data:`` URL, or an http(s) URL on
    a host the operator allowed (``image_fetch.allowed_hosts``), fetched by the guarded
    downloader. ``file_id`` needs OpenAI's Files API, which this proxy does not serve."""
    if not isinstance(reference, dict) or len(reference) != 1:
        raise InvalidRequestError(
            f"'{param}' must be an object with exactly one of 'image_url' or 'file_id'.",
            param=param,
        )
    if "file_id" in reference:
        raise InvalidRequestError(
            f"'{param}.file_id' is not supported: this proxy has no Files API. Send the image "
            "as an 'image_url' (a data: URL) or upload it as multipart/form-data.",
            param=f"{param}.file_id",
            code="unsupported_parameter",
        )
    url = reference.get("image_url")
    if not isinstance(url, str) or not url:
        raise InvalidRequestError(f"'{param}.image_url' must be a URL string.", param=param)
    if is_data_uri(url):
        # A 50 MB image is 67 MB of base64: decoded in a worker thread when that large.
        try:  # the checks a download gets: an image type, its bytes, the size
            if len(url) > DECODE_IN_THREAD:
                data = await asyncio.to_thread(image_of_data_uri, url, limits.per_image)
            else:
                data = image_of_data_uri(url, limits.per_image)
        except ImageTooLarge:
            raise limits.too_large(f"'{param}'") from None
        except ImageRejected as exc:
            raise InvalidRequestError(
                f"'{param}.image_url': {exc}.", param=f"{param}.image_url", code="invalid_image"
            ) from None
    elif url[:8].lower() == "https://" or url[:7].lower() == "http://":
        data = await _download(url, f"{param}.image_url", delivery)
    else:
        raise InvalidRequestError(
            f"'{param}.image_url' must be a data: URL or an http(s) URL.",
            param=f"{param}.image_url",
        )
    if len(data) > limits.per_image:
        raise limits.too_large(f"'{param}'")
    return data


async def _download(url: str, param: str, delivery: Delivery) -> bytes:
    try:
        return await delivery.fetcher.fetch(url, ())
    except FetchError as exc:
        raise InvalidRequestError(
            f"'{param}' could not be fetched: {exc} (URLs are fetched only from hosts in "
            "image_fetch.allowed_hosts; send a data: URL instead).",
            param=param,
            code="image_url_refused",
        ) from None


async def read_json_edit(raw: bytes, delivery: Delivery, limits: UploadLimits) -> Upload:
    """OpenAI's JSON edit body: ``images: [{"image_url"}]`` (1-16), optional ``mask``."""
    body = parse_json_object(raw)
    references = body.pop("images", None)
    if not isinstance(references, list):
        raise InvalidRequestError(
            "'images' is required in a JSON edit body: a list of {\"image_url\": ...} objects.",
            param="images",
        )
    if len(references) > limits.images:
        raise InvalidRequestError(
            f"'images' takes at most {limits.images} images, got {len(references)}.",
            param="images",
            code="too_many_images",
        )
    upload = Upload(fields=body)
    for i, reference in enumerate(references):
        data = await _image_from_reference(reference, f"images[{i}]", delivery, limits)
        upload.images.append(input_image(data, "image", i))
    for name in OVERLAYS:
        if body.get(name) is not None:
            data = await _image_from_reference(body.pop(name), name, delivery, limits)
            upload.overlays[name] = input_image(data, name, 0)
    return upload
