"""``response_format`` end to end through the OpenAI SDK, for every provider in the branch:
the bytes a client gets (inline or behind a link) are the provider's image."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from starlette.responses import JSONResponse, Response

from proxy.images.signing import LinkSigner, derive_secret
from proxy.providers.mock.png import colour_for, png_size, render_png
from tests.conftest import MASTER_KEY
from tests.fakes.server import FakeUpstream

GPT_PNG = render_png(4, 4, (200, 10, 10))
DALLE_PNG = render_png(5, 5, (10, 200, 10))
SD_PNG = render_png(6, 6, (10, 10, 200))
XINF_PNG = render_png(7, 7, (90, 90, 0))
NSCALE_PNG = render_png(8, 8, (0, 90, 90))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("image-store")


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream, store_dir: Path) -> Any:
    base = upstream.base

    def model(name: str, model: str, **params: Any) -> dict[str, Any]:
        return {"model_name": name, "litellm_params": {"model": model, **params}}

    return proxy_factory(
        {
            "model_list": [
                model("gpt-image", "openai/gpt-image-1", api_key="k", api_base=f"{base}/v1"),
                model("dalle", "dall-e-3", api_key="k", api_base=f"{base}/v1"),
                model("sd-urls", "openai/sd-server", api_key="k", api_base=f"{base}/sd/v1"),
                model("xinf", "xinference/sdxl", api_base=f"{base}/xinference/v1"),
                model("nscale", "nscale/flux", api_key="k", api_base=f"{base}/nscale/v1"),
                model("mock-image", "mock/painter"),
                model("mock-chat", "mock/chatter"),
                model("mock-chat-links", "mock/chatter", image_response_format="url"),
                model("chat-model", "openai/gpt-4o-mini", api_key="k", api_base=f"{base}/v1"),
            ],
            "general_settings": {
                "image_store": {"path": str(store_dir)},
                # The fakes live on loopback: the operator allows exactly that address.
                "image_fetch": {
                    "allowed_hosts": ["127.0.0.1"],
                    "allow_private_cidrs": ["127.0.0.1/32"],
                },
            },
        }
    )


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


def get_link(url: str | None, proxy: Any) -> httpx.Response:
    assert url is not None and url.startswith(f"{proxy.base_url}/v1/images/files/")
    r = httpx.get(url)  # no API key: the signed link is the credential
    assert r.status_code == 200, r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"].startswith("private, max-age=")
    assert 3500 <= int(r.headers["cache-control"].split("max-age=")[1].split(",")[0]) <= 3600
    return r


def gpt_image(r: Any) -> Any:
    return {
        "created": 1,
        "data": [{"b64_json": b64(GPT_PNG)} for _ in range(r.json().get("n", 1))],
        "output_format": "png",
        "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2},
    }


def dalle(r: Any) -> Any:
    """Real dall-e: ``url`` unless ``b64_json`` was asked."""
    if r.json().get("response_format") == "b64_json":
        return {"created": 1, "data": [{"b64_json": b64(DALLE_PNG), "revised_prompt": "rp"}]}
    return {
        "created": 1,
        "data": [
            {
                "url": f"http://127.0.0.1:{r.headers['host'].split(':')[1]}"
                "/blob/img-1.png?se=2030&sig=abc",
                "revised_prompt": "rp",
            }
        ],
    }


# --- images ---------------------------------------------------------------------------


def test_gpt_image_base64_to_url(client: openai.OpenAI, fake: FakeUpstream, proxy: Any) -> None:
    fake.route("POST", "/v1/images/generations", gpt_image)
    result = client.images.generate(model="gpt-image", prompt="x", n=2, response_format="url")
    assert result.data is not None
    assert [d.b64_json for d in result.data] == [None, None]
    urls = [d.url for d in result.data]
    assert len(set(urls)) == 2
    for url in urls:
        r = get_link(url, proxy)
        assert r.content == GPT_PNG and r.headers["content-type"] == "image/png"
    assert "response_format" not in fake.received()[0].json()
    assert result.usage is not None and result.usage.total_tokens == 2


@pytest.mark.parametrize("fmt", [None, "b64_json"])
def test_gpt_image_base64_kept(client: openai.OpenAI, fake: FakeUpstream, fmt: Any) -> None:
    fake.route("POST", "/v1/images/generations", gpt_image)
    kwargs = {"response_format": fmt} if fmt else {}
    result = client.images.generate(model="gpt-image", prompt="x", **kwargs)
    assert base64.b64decode(result.data[0].b64_json or "") == GPT_PNG
    assert result.data[0].url is None


def test_dalle_both_formats(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route("POST", "/v1/images/generations", dalle)
    fake.route("GET", "/blob/img-1.png", lambda r: Response(DALLE_PNG, media_type="image/png"))
    as_b64 = client.images.generate(model="dalle", prompt="p", response_format="b64_json")
    assert as_b64.data is not None
    assert base64.b64decode(as_b64.data[0].b64_json or "") == DALLE_PNG
    assert as_b64.data[0].revised_prompt == "rp"
    as_url = client.images.generate(model="dalle", prompt="p", response_format="url")
    assert as_url.data is not None
    assert as_url.data[0].url is not None and "/blob/img-1.png?se=2030" in as_url.data[0].url
    default = client.images.generate(model="dalle", prompt="p")
    assert default.data is not None
    assert default.data[0].url == as_url.data[0].url  # kept as the provider returned it
    assert [r.json().get("response_format") for r in fake.received("/v1/images/generations")] == [
        "b64_json",
        "url",
        None,
    ]


def test_url_only_server_is_downloaded_for_b64(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route(
        "POST",
        "/sd/v1/images/generations",
        lambda r: {
            "created": 1,
            "data": [{"url": f"{fake.base}/sd/out/{i}.png"} for i in range(2)],
        },
    )
    fake.route("GET", "/sd/out/*", lambda r: Response(SD_PNG, media_type="image/png"))
    result = client.images.generate(model="sd-urls", prompt="p", n=2, response_format="b64_json")
    assert result.data is not None
    assert [base64.b64decode(d.b64_json or "") for d in result.data] == [SD_PNG, SD_PNG]
    assert all(d.url is None for d in result.data)
    assert sorted(r.path for r in fake.received() if r.method == "GET") == [
        "/sd/out/0.png",
        "/sd/out/1.png",
    ]
    assert all("authorization" not in r.headers for r in fake.received() if r.method == "GET")


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/?x=secret",
        "file:///etc/passwd",
        "http://10.0.0.8/img.png",
    ],
)
def test_refused_download_is_502_naming_the_provider(
    client: openai.OpenAI, fake: FakeUpstream, url: str
) -> None:
    fake.route(
        "POST", "/sd/v1/images/generations", lambda r: {"created": 1, "data": [{"url": url}]}
    )
    with pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="sd-urls", prompt="p", response_format="b64_json")
    assert info.value.status_code == 502
    assert info.value.code == "image_download_failed"
    assert "openai returned an image URL the proxy could not download" in info.value.message
    assert "secret" not in info.value.message


def test_broken_image_link_upstream_is_502(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route(
        "POST",
        "/sd/v1/images/generations",
        lambda r: {"created": 1, "data": [{"url": f"{fake.base}/sd/missing.png"}]},
    )
    with pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="sd-urls", prompt="p", response_format="b64_json")
    assert info.value.status_code == 502 and "HTTP 404" in info.value.message


def test_mock_honours_format_size_and_n(client: openai.OpenAI, proxy: Any) -> None:
    linked = client.images.generate(
        model="mock-image", prompt="lighthouse", size="512x256", n=2, response_format="url"
    )
    assert linked.data is not None
    inline = client.images.generate(
        model="mock-image", prompt="lighthouse", size="512x256", n=2, response_format="b64_json"
    )
    assert inline.data is not None
    for i in range(2):
        expected = render_png(512, 256, colour_for("lighthouse", i))
        assert get_link(linked.data[i].url, proxy).content == expected
        assert base64.b64decode(inline.data[i].b64_json or "") == expected
        assert png_size(expected) == (512, 256)


@pytest.mark.parametrize(
    ("name", "path", "image"),
    [
        ("xinf", "/xinference/v1/images/generations", XINF_PNG),
        ("nscale", "/nscale/v1/images/generations", NSCALE_PNG),
    ],
)
def test_base64_only_providers_give_links(
    client: openai.OpenAI, fake: FakeUpstream, proxy: Any, name: str, path: str, image: bytes
) -> None:
    fake.route(
        "POST", path, lambda r: {"created": 1, "data": [{"url": None, "b64_json": b64(image)}]}
    )
    linked = client.images.generate(model=name, prompt="p", response_format="url")
    assert linked.data is not None
    assert get_link(linked.data[0].url, proxy).content == image
    inline = client.images.generate(model=name, prompt="p", response_format="b64_json")
    assert inline.data is not None
    assert base64.b64decode(inline.data[0].b64_json or "") == image
    assert [r.json()["response_format"] for r in fake.received(path)] == ["b64_json"] * 2


# --- the file route -------------------------------------------------------------------


def flip(sig: str) -> str:
    return ("A" if sig[0] != "A" else "B") + sig[1:]


def test_signed_links_over_http(client: openai.OpenAI, proxy: Any) -> None:
    data = client.images.generate(
        model="mock-image", prompt="p", size="8x8", n=2, response_format="url"
    ).data
    assert data is not None
    a, b = data
    assert a.url and b.url
    url_a, url_b = httpx.URL(a.url), httpx.URL(b.url)
    get_link(a.url, proxy)
    head = httpx.head(a.url)
    assert head.status_code == 200 and head.content == b""
    id_a = url_a.path.rsplit("/", 1)[1]
    signer = LinkSigner(derive_secret(None, MASTER_KEY))
    expired = int(time.time()) - 5
    bad = {
        "expired": url_a.copy_with(query=signer.query(id_a, expired).encode()),
        "tampered": url_a.copy_merge_params({"sig": flip(url_a.params["sig"])}),
        "extended": url_a.copy_merge_params({"expires": str(int(url_a.params["expires"]) + 9)}),
        "wrong id": url_b.copy_with(query=url_a.query),
        "unsigned": url_a.copy_with(query=None),
        "not an id": url_a.copy_with(path="/v1/images/files/..passwd"),
    }
    bodies = set()
    for what, url in bad.items():
        r = httpx.get(url)
        assert r.status_code == 404, what
        bodies.add(r.content)
    assert len(bodies) == 1  # no hint which check failed
    traversal = httpx.get(f"{proxy.base_url}/v1/images/files/..%2f..%2fetc%2fpasswd")
    assert traversal.status_code == 404
    assert traversal.json()["error"]["code"] == "not_found"
    assert "root:" not in traversal.text


# --- chat -----------------------------------------------------------------------------


def chat(client: openai.OpenAI, model: str, **extra: Any) -> Any:
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "a red kite"}], extra_body=extra or None
    )


def image_url(message: Any) -> str:
    return str(message.model_extra["image"]["url"])


def test_chat_keeps_data_uris_by_default(client: openai.OpenAI) -> None:
    msg = chat(client, "mock-chat").choices[0].message
    assert image_url(msg).startswith("data:image/png;base64,")


def test_chat_links_per_request(client: openai.OpenAI, proxy: Any) -> None:
    inline = image_url(chat(client, "mock-chat").choices[0].message)
    msg = chat(client, "mock-chat", image_response_format="url").choices[0].message
    link = image_url(msg)
    assert msg.model_extra["images"][0]["image_url"]["url"] == link  # one image, one link
    assert get_link(link, proxy).content == base64.b64decode(inline.split(",", 1)[1])


def test_chat_links_per_deployment_and_request_override(client: openai.OpenAI, proxy: Any) -> None:
    link = image_url(chat(client, "mock-chat-links").choices[0].message)
    assert png_size(get_link(link, proxy).content) == (256, 256)
    back = chat(client, "mock-chat-links", image_response_format="b64_json")
    assert image_url(back.choices[0].message).startswith("data:image/png;base64,")


def test_chat_stream_links(client: openai.OpenAI, proxy: Any) -> None:
    chunks = list(
        client.chat.completions.create(
            model="mock-chat",
            messages=[{"role": "user", "content": "kite"}],
            stream=True,
            extra_body={"image_response_format": "url"},
        )
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    images = [
        d.model_extra["image"]["url"]
        for d in deltas
        if d.model_extra is not None and d.model_extra.get("image")
    ]
    assert len(images) == 1
    assert png_size(get_link(images[0], proxy).content) == (256, 256)
    assert "".join(d.content or "" for d in deltas).startswith("This is a placeholder")


def test_chat_param_never_reaches_the_provider(
    client: openai.OpenAI, fake: FakeUpstream, proxy: Any
) -> None:
    uri = f"data:image/png;base64,{b64(GPT_PNG)}"
    fake.route(
        "POST",
        "/v1/chat/completions",
        lambda r: {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {
                        "role": "assistant",
                        "content": "",
                        "images": [{"type": "image_url", "image_url": {"url": uri}}],
                    },
                }
            ],
        },
    )
    msg = chat(client, "chat-model", image_response_format="url").choices[0].message
    link = msg.model_extra["images"][0]["image_url"]["url"]
    assert get_link(link, proxy).content == GPT_PNG
    assert "image_response_format" not in fake.received()[0].json()


def test_chat_bad_image_format_is_400(client: openai.OpenAI, fake: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        chat(client, "chat-model", image_response_format="png")
    assert info.value.param == "image_response_format"
    assert fake.received() == []


def test_bad_base64_from_provider_is_502(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route(
        "POST",
        "/v1/images/generations",
        lambda r: JSONResponse({"created": 1, "data": [{"b64_json": "***"}]}),
    )
    with pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="gpt-image", prompt="x", response_format="url")
    assert info.value.status_code == 502 and "base64" in info.value.message


def test_streamed_images_cannot_be_links(client: openai.OpenAI, fake: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="gpt-image", prompt="x", stream=True, response_format="url")
    assert info.value.param == "response_format"
    assert fake.received() == []
