"""Structured request logs (JSON and text, prompts only when asked) and callbacks (the built-in
webhook, delivering every record even after the receiver was down; custom import-path classes)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.responses import JSONResponse, Response

from proxy.config import ConfigError
from proxy.configure import parse_config
from tests.conftest import MASTER_KEY
from tests.fakes.server import FakeUpstream, free_port

UPSTREAM_KEY = "sk-logs-upstream-key-6a6a"
WEBHOOK_TOKEN = "webhook-bearer-secret-9f9f"
PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 600).decode()  # > 200 chars
IMAGES = "/v1/images/generations"
PROMPT = "a watercolour heron at dawn"


def wait_for(check: Callable[[], Any], timeout: float = 15, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def models(base: str) -> list[dict[str, Any]]:
    return [
        {
            "model_name": "img",
            "litellm_params": {
                "model": "openai/gpt-image-1",
                "api_key": UPSTREAM_KEY,
                "api_base": f"{base}/v1",
            },
            "model_info": {"id": "img-dep"},
        },
        {
            "model_name": "broken",
            "litellm_params": {
                "model": "openai/gpt-image-1",
                "api_key": UPSTREAM_KEY,
                "api_base": f"{base}/broken/v1",
            },
        },
    ]


def route(fake: FakeUpstream) -> None:
    fake.route(
        "POST",
        IMAGES,
        lambda r: {
            "created": 1,
            "data": [{"b64_json": PNG_B64}],
            "usage": {"input_tokens": 5, "output_tokens": 7, "total_tokens": 12},
        },
    )
    fake.route(
        "POST",
        "/broken/v1/images/generations",
        lambda r: JSONResponse({"error": {"message": "boom"}}, 500),
    )


def post(base_url: str, model: str = "img", prompt: str = PROMPT, **extra: Any) -> httpx.Response:
    return httpx.post(
        f"{base_url}{IMAGES}",
        timeout=10,
        headers={"authorization": f"Bearer {MASTER_KEY}", "x-end-user": "eu-1"},
        json={"model": model, "prompt": prompt, **extra},
    )


def request_lines(proxy: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for line in proxy.logs().splitlines():
        if line.startswith("{") and '"event":"request"' in line:
            record = json.loads(line)
            out[record["request_id"]] = record
    return out


# --- structured logs ------------------------------------------------------------------


def test_one_json_line_per_request_with_every_field(proxy_factory: Any, fake: FakeUpstream) -> None:
    proxy = proxy_factory({"model_list": models(fake.base)})
    route(fake)
    ok = post(proxy.base_url, user="end-user-7")
    bad = post(proxy.base_url, model="broken")
    assert ok.status_code == 200 and bad.status_code == 502
    ids = [ok.headers["x-request-id"], bad.headers["x-request-id"]]
    lines = wait_for(
        lambda: (r := request_lines(proxy)) and all(i in r for i in ids) and r,
        what="request log lines",
    )
    good = lines[ids[0]]
    assert good["route"] == IMAGES and good["endpoint"] == "images"
    assert good["key_alias"] == "master" and good["end_user"] == "end-user-7"
    assert good["model_group"] == "img" and good["deployment"] == "img-dep"
    assert good["provider"] == "openai" and good["status"] == 200
    assert good["images"] == 1 and good["retries"] == 0 and good["fallbacks"] == 0
    assert good["usage"]["total_tokens"] == 12
    assert good["latency_ms"] >= good["upstream_latency_ms"] > 0
    assert good["gateway_overhead_ms"] == pytest.approx(
        good["latency_ms"] - good["upstream_latency_ms"], abs=0.01
    )
    assert "cost" in good and good["error_class"] is None
    failed = lines[ids[1]]
    assert failed["status"] == 502 and failed["error_class"] == "UpstreamError"
    logs = proxy.logs()
    assert PROMPT not in logs  # prompts stay out unless prompt logging is on
    assert PNG_B64[:100] not in logs
    assert UPSTREAM_KEY not in logs and MASTER_KEY not in logs
    assert sum(1 for i in ids for line in logs.splitlines() if i in line) == 2  # one line each


def test_text_format_and_prompt_logging(proxy_factory: Any, fake: FakeUpstream) -> None:
    proxy = proxy_factory(
        {
            "model_list": models(fake.base),
            "general_settings": {"log_format": "text", "log_prompts": True},
        }
    )
    route(fake)
    r = post(proxy.base_url)
    rid = r.headers["x-request-id"]
    line = wait_for(
        lambda: next((x for x in proxy.logs().splitlines() if rid in x), None),
        what="text request line",
    )
    assert " request " in line and f"request_id={rid}" in line and "status=200" in line
    assert "model_group=img" in line and "deployment=img-dep" in line
    assert json.dumps(PROMPT) in line  # prompt logging is on
    assert not any(x.startswith("{") for x in proxy.logs().splitlines())


def test_log_level_from_config_hides_request_lines(proxy_factory: Any, fake: FakeUpstream) -> None:
    proxy = proxy_factory(
        {"model_list": models(fake.base), "general_settings": {"log_level": "warning"}}
    )
    route(fake)
    ok = post(proxy.base_url)
    bad = post(proxy.base_url, model="broken")  # 5xx lines are warnings
    wait_for(lambda: bad.headers["x-request-id"] in proxy.logs(), what="warning line")
    assert ok.headers["x-request-id"] not in proxy.logs()


# --- callbacks ------------------------------------------------------------------------


def test_webhook_delivers_every_record_after_the_receiver_was_down(
    proxy_factory: Any, fake: FakeUpstream, tmp_path: Path
) -> None:
    port = free_port()
    custom_file = tmp_path / "custom.jsonl"
    proxy = proxy_factory(
        {
            "model_list": models(fake.base),
            "litellm_settings": {
                "success_callback": ["webhook"],
                "failure_callback": ["webhook"],
                "callbacks": ["tests.fakes.recording_callback.RecordingCallback"],
                "callback_settings": {
                    "webhook": {
                        "url": f"http://127.0.0.1:{port}/ingest",
                        "batch_size": 3,
                        "flush_interval": 0.05,
                        "retry_initial_delay": 0.05,
                        "retry_max_delay": 0.2,
                        "headers": {"authorization": f"Bearer {WEBHOOK_TOKEN}"},
                    },
                    "tests.fakes.recording_callback.RecordingCallback": {"path": str(custom_file)},
                },
            },
        }
    )
    route(fake)
    # the receiver does not exist yet: requests are answered all the same
    sent = {}
    for model in ("img", "img", "broken", "img", "img", "broken", "img"):
        r = post(proxy.base_url, model=model)
        sent[r.headers["x-request-id"]] = r.status_code
    assert sorted(sent.values()) == [200] * 5 + [502] * 2
    wait_for(lambda: "webhook callback: delivery failed" in proxy.logs(), what="a failed try")

    receiver = FakeUpstream(port=port)
    answers = iter([503, 503])  # up, but failing for two more tries
    batches: list[list[dict[str, Any]]] = []

    def ingest(req: Any) -> Response:
        status = next(answers, 200)
        assert req.headers["authorization"] == f"Bearer {WEBHOOK_TOKEN}"
        if status == 200:
            batches.append(req.json())
        return Response(b"", status)

    receiver.route("POST", "/ingest", ingest)
    receiver.start()
    try:
        got = wait_for(
            lambda: (ids := {r["request_id"] for b in batches for r in b}) >= set(sent) and ids,
            what="every record delivered",
        )
        # and a record made after the outage arrives too
        late = post(proxy.base_url).headers["x-request-id"]
        wait_for(
            lambda: any(r["request_id"] == late for b in batches for r in b), what="the late record"
        )
    finally:
        receiver.stop()
    assert got == set(sent)
    assert all(len(b) <= 3 for b in batches)
    records = {r["request_id"]: r for b in batches for r in b}
    for rid, status in sent.items():
        assert records[rid]["status"] == status
        assert records[rid]["outcome"] == ("success" if status == 200 else "failure")
        assert "prompt" not in records[rid]
    assert len(receiver.received("/ingest")) >= 3  # the two 503s were retried

    custom = wait_for(
        lambda: (
            custom_file.exists() and [json.loads(x) for x in custom_file.read_text().splitlines()]
        ),
        what="custom records",
    )
    wait_for(
        lambda: len(custom_file.read_text().splitlines()) >= len(sent) + 1,
        what="every custom record",
    )
    hooks = {
        json.loads(x)["request_id"]: json.loads(x)["hook"]
        for x in custom_file.read_text().splitlines()
    }
    assert custom and all(
        hooks[rid] == ("on_success" if s == 200 else "on_failure") for rid, s in sent.items()
    )


def test_failure_only_callback_sees_only_failures(
    proxy_factory: Any, fake: FakeUpstream, tmp_path: Path
) -> None:
    path = tmp_path / "failures.jsonl"
    name = "tests.fakes.recording_callback.RecordingCallback"
    proxy = proxy_factory(
        {
            "model_list": models(fake.base),
            "litellm_settings": {
                "failure_callback": [name],
                "callback_settings": {name: {"path": str(path)}},
            },
        }
    )
    route(fake)
    ok = post(proxy.base_url).headers["x-request-id"]
    bad = post(proxy.base_url, model="broken").headers["x-request-id"]
    wait_for(lambda: path.exists() and bad in path.read_text(), what="the failure record")
    # the success was logged before the failure, so its callback would have run by now
    wait_for(lambda: ok in proxy.logs(), what="the success log line")
    assert ok not in path.read_text()


def test_custom_callback_given_as_an_instance(
    proxy_factory: Any, fake: FakeUpstream, tmp_path: Path
) -> None:
    path = tmp_path / "instance.jsonl"
    proxy = proxy_factory(
        {
            "model_list": models(fake.base),
            "litellm_settings": {"callbacks": ["tests.fakes.recording_callback.handler_instance"]},
        },
        env={"RECORDING_CALLBACK_PATH": str(path)},
    )
    route(fake)
    ok = post(proxy.base_url).headers["x-request-id"]
    bad = post(proxy.base_url, model="broken").headers["x-request-id"]
    wait_for(lambda: path.exists() and len(path.read_text().splitlines()) == 2, what="both records")
    hooks = {
        json.loads(x)["request_id"]: json.loads(x)["hook"] for x in path.read_text().splitlines()
    }
    assert hooks == {ok: "on_success", bad: "on_failure"}


def test_a_provider_echoing_the_prompt_does_not_put_it_in_logs_or_records(
    proxy_factory: Any, fake: FakeUpstream, tmp_path: Path
) -> None:
    path = tmp_path / "records.jsonl"
    name = "tests.fakes.recording_callback.RecordingCallback"
    proxy = proxy_factory(
        {
            "model_list": models(fake.base),
            "litellm_settings": {
                "callbacks": [name],
                "callback_settings": {name: {"path": str(path)}},
            },
        }
    )
    prompt = "a heron painted by the unmistakable Zyx Quorble"
    fake.route(
        "POST",
        IMAGES,
        lambda r: JSONResponse(
            {
                "error": {
                    "message": f"Invalid prompt: '{r.json()['prompt']}' is not allowed",
                    "type": "invalid_request_error",
                }
            },
            400,
        ),
    )
    r = post(proxy.base_url, prompt=prompt)
    assert r.status_code == 400 and prompt in r.json()["error"]["message"]  # the caller's own
    rid = r.headers["x-request-id"]
    line = wait_for(lambda: request_lines(proxy).get(rid), what="the request line")
    assert line["status"] == 400 and "Invalid prompt" in line["error"]
    wait_for(lambda: path.exists() and rid in path.read_text(), what="the callback record")
    assert "Quorble" not in proxy.logs() and "Quorble" not in path.read_text()


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (
            {"callbacks": ["no_such_module_xyz.Thing"]},
            "litellm_settings.callbacks[0]: cannot import module 'no_such_module_xyz'",
        ),
        (
            {"callbacks": ["tests.fakes.recording_callback.Missing"]},
            "litellm_settings.callbacks[0]: 'tests.fakes.recording_callback' has no class",
        ),
        (
            {
                "callbacks": ["tests.fakes.recording_callback.handler_instance"],
                "callback_settings": {"tests.fakes.recording_callback.handler_instance": {"x": 1}},
            },
            "litellm_settings.callback_settings.tests.fakes.recording_callback.handler_instance: "
            "tests.fakes.recording_callback.handler_instance is an instance",
        ),
        (
            {"failure_callback": ["tests.fakes.recording_callback.SuccessOnly"]},
            "litellm_settings.failure_callback[0]: tests.fakes.recording_callback.SuccessOnly "
            "must define async on_failure",
        ),
        (
            {"success_callback": ["tests.fakes.recording_callback.NotAsync"]},
            "litellm_settings.success_callback[0]: tests.fakes.recording_callback.NotAsync must",
        ),
        (
            {"success_callback": ["webhook"]},
            "litellm_settings.callback_settings.webhook.url: required",
        ),
        (
            {
                "success_callback": ["webhook"],
                "callback_settings": {"webhook": {"url": "http://x", "batch_size": 0}},
            },
            "litellm_settings.callback_settings.webhook.batch_size:",
        ),
        (
            {"success_callback": "webhook", "callback_settings": {"webhook": {"url": "file:///x"}}},
            "litellm_settings.callback_settings.webhook.url: must be an http",
        ),
        ({"json_logs": "yes"}, "litellm_settings.json_logs: must be true or false"),
    ],
)
def test_bad_callback_settings_name_the_field(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"litellm_settings": settings}, env={})
    assert str(exc.value).startswith(problem), str(exc.value)


def test_litellm_integrations_load_with_a_warning_not_an_exit() -> None:
    config = parse_config(
        {
            "litellm_settings": {
                "success_callback": ["langfuse", "prometheus"],
                "failure_callback": ["datadog"],
            }
        },
        env={},
    )
    assert any(
        w.startswith("litellm_settings.success_callback[0]: 'langfuse' is a LiteLLM integration")
        for w in config.warnings
    )
    assert any("failure_callback[0]: 'datadog'" in w for w in config.warnings)
    assert not any("prometheus" in w for w in config.warnings)  # /metrics is always on


def test_bad_log_settings_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"^general_settings.log_format: must be 'json'"):
        parse_config({"general_settings": {"log_format": "xml"}}, env={})
    with pytest.raises(ConfigError, match=r"^general_settings.log_level: must be one of"):
        parse_config({"general_settings": {"log_level": "loud"}}, env={})
