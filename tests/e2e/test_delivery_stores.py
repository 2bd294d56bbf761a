"""Stores shared by replicas: two proxy processes on one directory, and S3 (moto server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import openai

from proxy.providers.mock.png import colour_for, render_png
from tests.conftest import MASTER_KEY
from tests.fakes.s3 import ACCESS_KEY, REGION, SECRET_KEY, moto_s3

PUBLIC = "https://images.example.com/gw"


def generate_link(proxy: Any, prompt: str) -> str:
    client = openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)
    result = client.images.generate(
        model="mock-image", prompt=prompt, size="16x8", response_format="url"
    )
    assert result.data is not None
    assert result.data[0].url is not None
    return result.data[0].url


def test_two_proxies_share_a_local_directory(proxy_factory: Any, tmp_path: Path) -> None:
    def config() -> dict[str, Any]:
        return {
            "model_list": [
                {"model_name": "mock-image", "litellm_params": {"model": "mock/painter"}}
            ],
            "general_settings": {
                "public_base_url": PUBLIC,
                "image_store": {"type": "local", "path": str(tmp_path)},
            },
        }

    a, b = proxy_factory(config()), proxy_factory(config())
    link = generate_link(a, "shared")
    assert link.startswith(f"{PUBLIC}/v1/images/files/")  # the configured public address
    expected = render_png(16, 8, colour_for("shared", 0))
    for replica in (b, a):  # the other replica serves what the first one stored
        r = httpx.get(link.replace(PUBLIC, replica.base_url))
        assert r.status_code == 200 and r.content == expected
        assert r.headers["content-type"] == "image/png"
    assert len(list(tmp_path.iterdir())) == 1


def test_s3_store_hands_out_presigned_links(proxy_factory: Any) -> None:
    with moto_s3("proxy-images") as endpoint:
        proxy = proxy_factory(
            {
                "model_list": [
                    {"model_name": "mock-image", "litellm_params": {"model": "mock/painter"}}
                ],
                "general_settings": {
                    "image_store": {
                        "type": "s3",
                        "bucket": "proxy-images",
                        "prefix": "gen/",
                        "region": REGION,
                        "endpoint_url": endpoint,
                        "aws_access_key_id": ACCESS_KEY,
                        "aws_secret_access_key": SECRET_KEY,
                        "ttl_seconds": 600,
                    }
                },
            }
        )
        link = generate_link(proxy, "bucket")
        assert link.startswith(f"{endpoint}/proxy-images/gen/") and "X-Amz-Expires=600" in link
        r = httpx.get(link)
        assert r.status_code == 200 and r.content == render_png(16, 8, colour_for("bucket", 0))
        assert r.headers["content-type"] == "image/png"
        proxy.stop()
