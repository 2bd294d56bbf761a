"""One check for every image the proxy takes in: a ``data:`` URI is refused for the reasons,
and in the words, a download of the same bytes is."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.responses import Response

from proxy.config.delivery import ImageFetchSettings, ImageStoreSettings
from proxy.images.fetch import FetchError
from proxy.images.fetcher import ImageFetcher
from proxy.images.formats import JPEG, ImageRejected, check_image, image_of_data_uri
from proxy.images.service import OFF_LOOP, Delivery, ImageDownloadError
from proxy.images.signing import LinkSigner
from proxy.images.store_local import LocalImageStore
from tests.fakes.data_uris import BAD as DATA_URIS
from tests.fakes.data_uris import BIG, LIMIT, NOT_AN_IMAGE, PAGE, PNG, TOO_LARGE, b64
from tests.fakes.server import FakeUpstream

BAD = {
    **DATA_URIS,
    "no media type": (
        f"data:;base64,{b64(PNG)}",
        "the media type (none) is not an image type (PNG, JPEG, WEBP, GIF or AVIF)",
    ),
    "not base64": (
        "data:image/png,rawbytes",
        "the data: URI is not base64 (data:<media type>;base64,<data>)",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_data_uri_is_refused_saying_why(case: str) -> None:
    uri, reason = BAD[case]
    with pytest.raises(ImageRejected) as info:
        image_of_data_uri(uri, LIMIT)
    assert str(info.value) == reason


def test_a_good_data_uri_gives_its_bytes() -> None:
    assert image_of_data_uri(f"data:image/png;base64,{b64(PNG)}", LIMIT) == PNG
    assert image_of_data_uri(f"DATA:IMAGE/PNG;name=a.png;base64,{b64(PNG)}", LIMIT) == PNG
    wrapped = "\n".join(b64(PNG)[i : i + 76] for i in range(0, len(b64(PNG)), 76))
    assert image_of_data_uri(f"data:image/png;base64,{wrapped}", LIMIT) == PNG
    jpeg = b"\xff\xd8\xff\xe0rest"
    assert image_of_data_uri(f"data:image/jpg;base64,{b64(jpeg)}", LIMIT) == jpeg  # alias
    assert check_image(jpeg, LIMIT, JPEG) is JPEG


def test_a_huge_data_uri_is_refused_before_it_is_decoded() -> None:
    """Its base64 says it is too big: refused without decoding (a '@' would fail that)."""
    with pytest.raises(ImageRejected, match=TOO_LARGE):
        image_of_data_uri("data:image/png;base64," + "A" * 8000 + "@", LIMIT)


@pytest.mark.parametrize(
    ("body", "reason"), [(PAGE, NOT_AN_IMAGE), (BIG, TOO_LARGE)], ids=["page", "big"]
)
async def test_the_downloader_gives_the_same_reason_for_the_same_bytes(
    fake: FakeUpstream, body: bytes, reason: str
) -> None:
    fake.route("GET", "/img", lambda r: Response(body, media_type="image/png"))
    fetcher = ImageFetcher(
        ImageFetchSettings(
            allowed_hosts=("127.0.0.1",), allow_private_cidrs=("127.0.0.1/32",), max_bytes=LIMIT
        )
    )
    try:
        with pytest.raises(FetchError) as downloaded:
            await fetcher.fetch(f"{fake.base}/img", ())
    finally:
        await fetcher.aclose()
    with pytest.raises(ImageRejected) as inline:
        image_of_data_uri(f"data:image/png;base64,{b64(body)}", LIMIT)
    assert str(downloaded.value).endswith(reason)
    assert str(inline.value) == reason


def delivery(tmp_path: Path, max_bytes: int) -> Delivery:
    return Delivery(
        LocalImageStore(str(tmp_path)),
        LinkSigner(b"k" * 32),
        ImageFetcher(ImageFetchSettings(max_bytes=max_bytes)),
        ImageStoreSettings(),
    )


async def test_a_providers_data_uri_is_refused_as_a_failed_download(tmp_path: Path) -> None:
    uri, reason = BAD["bytes not of the declared type"]
    with pytest.raises(ImageDownloadError) as info:
        await delivery(tmp_path, LIMIT).provider_image(uri, "openrouter")
    assert info.value.status == 502 and info.value.code == "image_download_failed"
    assert info.value.message.endswith(f"would not take: {reason}")


async def test_a_long_data_uri_is_checked_the_same_off_the_event_loop(tmp_path: Path) -> None:
    image = PNG + b"\0" * OFF_LOOP
    service = delivery(tmp_path, 2 * OFF_LOOP)
    assert await service.open_data_uri(f"data:image/png;base64,{b64(image)}") == image
    with pytest.raises(ImageRejected, match="not the declared image/gif"):
        await service.open_data_uri(f"data:image/gif;base64,{b64(image)}")
