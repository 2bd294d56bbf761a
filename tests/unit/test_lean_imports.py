"""Start-up and the request path load only what the configured features need.

Idle memory is mostly imported code, so a module pulled in by a feature that is switched off
is memory every replica pays for. Each check runs in a fresh interpreter: other tests import
whatever they like into this one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Switched on as in bench/configs/image-proxy.yaml: master key, routing with retries, prices,
# spend logs in SQLite, metrics. No mock deployment, guardrail, callback or image download.
CONFIG = """
model_list:
  - model_name: image
    litellm_params: {model: openai/dall-e-3, api_base: "@UPSTREAM@/v1", api_key: fake}
    model_info: {id: image-a, output_cost_per_image: 0.04}
  - model_name: image
    litellm_params: {model: openai/dall-e-3, api_base: "@UPSTREAM@/v1", api_key: fake}
    model_info: {id: image-b, output_cost_per_image: 0.04}
  - model_name: chat
    litellm_params: {model: openai/gpt-4o-mini, api_base: "@UPSTREAM@/v1", api_key: fake}
    model_info: {id: chat, input_cost_per_token: 0.00000015, output_cost_per_token: 0.0000006}
router_settings: {routing_strategy: simple-shuffle, num_retries: 2}
general_settings: {master_key: sk-lean}
"""

# Starts a fake OpenAI upstream, builds the app, runs its lifespan and sends an image request,
# a chat request and a streamed chat request through it as raw ASGI (an HTTP client library
# here would load what is being checked). Prints statuses and the loaded modules as JSON.
SCRIPT = r"""
import asyncio, json, sys
from pathlib import Path
from typing import Any

IMAGE = b'{"created": 1, "data": [{"b64_json": "aGk="}]}'
CHAT = (b'{"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": '
        b'[{"index": 0, "message": {"role": "assistant", "content": "hi"}, '
        b'"finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}')
CHUNK = (b'data: {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", '
         b'"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}\n\n'
         b'data: [DONE]\n\n')


async def upstream(reader, writer):
    try:
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            length = next((int(line.split(":")[1]) for line in head.split("\r\n")
                           if line.lower().startswith("content-length:")), 0)
            body = await reader.readexactly(length)
            if "/images/" in head.split("\r\n")[0]:
                kind, answer = b"application/json", IMAGE
            elif b'"stream":true' in body.replace(b" ", b""):
                kind, answer = b"text/event-stream", CHUNK
            else:
                kind, answer = b"application/json", CHAT
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: " + kind
                         + b"\r\ncontent-length: %d\r\n\r\n" % len(answer) + answer)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def call(app, path, body):
    raw = json.dumps(body).encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "root_path": "", "query_string": b"", "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80),
             "headers": [(b"authorization", b"Bearer sk-lean"), (b"host", b"proxy"),
                         (b"content-type", b"application/json"),
                         (b"content-length", str(len(raw)).encode())]}
    sent = []
    messages = [{"type": "http.request", "body": raw, "more_body": False}]
    finished = asyncio.Event()

    async def receive():
        if messages:
            return messages.pop(0)
        await finished.wait()  # the client stays connected until the answer is complete
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


async def main():
    server = await asyncio.start_server(upstream, "127.0.0.1", 0)
    base = "http://127.0.0.1:%d" % server.sockets[0].getsockname()[1]
    config_path = Path(sys.argv[1])
    config_path.write_text(config_path.read_text().replace("@UPSTREAM@", base))

    from proxy.app import create_app
    from proxy.configure import load_config

    app = create_app(load_config(config_path))
    inbox, outbox = asyncio.Queue(), asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"},
                                        "state": {}}, inbox.get, outbox.put))
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    started = list(sys.modules)
    statuses = [
        await call(app, "/v1/images/generations",
                   {"model": "image", "prompt": "a cat", "response_format": "b64_json"}),
        await call(app, "/v1/chat/completions",
                   {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}),
        await call(app, "/v1/chat/completions",
                   {"model": "chat", "stream": True,
                    "messages": [{"role": "user", "content": "hi"}]}),
    ]
    await inbox.put({"type": "lifespan.shutdown"})
    assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
    await lifespan
    server.close()
    print(json.dumps({"statuses": [[s, b.decode()[:200]] for s, b in statuses],
                      "at_start": sorted(started), "after": sorted(sys.modules)}))


asyncio.run(main())
"""

# FastAPI (the application) is loaded, and with it opentelemetry-api, which it imports itself.
NOT_NEEDED = (
    "httpx",
    "httpcore",
    "trio",
    "sqlalchemy.dialects.postgresql",
    "sqlalchemy.orm",  # the store runs Core statements only (proxy.db.engine)
    "sqlalchemy.ext.asyncio",
)


def run(tmp_path: Path, config: str) -> dict[str, Any]:
    config_path = tmp_path / "config.yaml"
    config_path.write_text(config)
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def loaded(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(n + ".") for n in NOT_NEEDED)]


def test_a_plain_gateway_loads_no_unneeded_module(tmp_path: Path) -> None:
    result = run(tmp_path, CONFIG)
    assert [s for s, _ in result["statuses"]] == [200, 200, 200], result["statuses"]
    assert loaded(result["at_start"]) == []
    assert loaded(result["after"]) == []  # nor on the image and chat paths


def test_a_mock_deployment_loads_httpx_at_start_up(tmp_path: Path) -> None:
    """The mock server speaks httpx: loaded with the app, not on the event loop later."""
    mock = "  - model_name: mock\n    litellm_params: {model: mock/placeholder}\n"
    config = CONFIG.replace("model_list:\n", "model_list:\n" + mock)
    result = run(tmp_path, config)
    assert {"httpx", "proxy.providers.mock.server"} <= set(result["at_start"])
