"""Run the built image with podman and check it serves as a user would run it.

``python3 -m tests.container.check_container IMAGE`` starts a fake OpenAI upstream on loopback,
mounts a config at the image's documented path (/app/config.yaml), passes the flags through the
environment (PROXY_PORT, PROXY_WORKERS, PROXY_LOG_LEVEL) and the secrets as ``os.environ/``
variables, then checks through the official SDK: an image request reaches the fake upstream with
the upstream key swapped in and comes back intact, the offline mock provider answers at the exact
size, a wrong key is refused, the process runs as a non-root user, the image's HEALTHCHECK passes,
and SIGTERM stops the container cleanly. Prints one line per check and a closing count.
"""

from __future__ import annotations

import argparse
import base64
import json
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai
import yaml

from tests.container.compose_env import REPO, proxy_environment
from tests.fakes.server import FakeUpstream, Received, free_port

# Measured on this machine kind: cgroupfs (no systemd), runc, host networking, explicit ulimits.
PODMAN = ["podman", "--cgroup-manager=cgroupfs", "--runtime", "runc"]
RUN_FLAGS = ["--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]

MASTER_KEY = "sk-container-master-3c81"
UPSTREAM_KEY = "sk-container-upstream-77d2"
PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\ncontainer-test-image").decode()
CONFIG_PATH_IN_IMAGE = "/app/config.yaml"


class CheckFailed(AssertionError):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


T = TypeVar("T")


def expect_present(value: T | None, message: str) -> T:
    if value is None:
        raise CheckFailed(message)
    return value


def podman(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise CheckFailed(
            f"podman {' '.join(args)} exited {result.returncode}: {result.stderr.strip()[-800:]}"
        )
    return result


def png_dimensions(data: bytes) -> tuple[int, int]:
    expect(data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def write_config(directory: Path, upstream: FakeUpstream) -> Path:
    config = {
        "model_list": [
            {
                "model_name": "container-image",
                "litellm_params": {
                    "model": "openai/gpt-image-2",
                    "api_base": f"{upstream.base}/v1",
                    "api_key": "os.environ/UPSTREAM_API_KEY",
                },
            },
            {"model_name": "mock-image", "litellm_params": {"model": "mock/placeholder"}},
        ],
        "general_settings": {"master_key": "os.environ/PROXY_MASTER_KEY"},
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    # The container runs as an unprivileged user: the mounted file must be world-readable.
    directory.chmod(0o755)
    path.chmod(0o644)
    return path


class Container:
    def __init__(self, image: str, config: Path, port: int) -> None:
        self.image, self.config, self.port = image, config, port
        self.name = f"image-proxy-test-{uuid.uuid4().hex[:8]}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        podman(
            "run",
            "--detach",
            "--name",
            self.name,
            *RUN_FLAGS,
            "--read-only",  # podman mounts a tmpfs on /tmp, as `--tmpfs /tmp` does in docker
            "--volume",
            f"{self.config}:{CONFIG_PATH_IN_IMAGE}:ro",
            "--env",
            f"PROXY_PORT={self.port}",
            "--env",
            "PROXY_WORKERS=2",
            "--env",
            "PROXY_LOG_LEVEL=info",
            "--env",
            f"PROXY_MASTER_KEY={MASTER_KEY}",
            "--env",
            f"UPSTREAM_API_KEY={UPSTREAM_KEY}",
            self.image,
        )

    def state(self) -> dict[str, Any]:
        out = podman("inspect", "--format", "{{json .State}}", self.name).stdout
        return dict(json.loads(out))

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return (result.stdout + result.stderr)[-4000:]

    def wait_live(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if not state.get("Running"):
                raise CheckFailed(f"container exited ({state.get('ExitCode')}):\n{self.logs()}")
            try:
                if httpx.get(f"{self.base_url}/health/liveness", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)  # polling interval while waiting for the port, not synchronisation
        raise CheckFailed(f"no liveness answer within {timeout} s:\n{self.logs()}")

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name, check=False)


def gpt_image_answer(request: Received) -> dict[str, Any]:
    n = int(request.json().get("n", 1))
    return {
        "created": 1713833628,
        "data": [{"b64_json": PNG_B64} for _ in range(n)],
        "output_format": "png",
        "size": "1536x1024",
        "quality": "high",
        "usage": {"total_tokens": 30, "input_tokens": 10, "output_tokens": 20},
    }


def check_image_through_fake_upstream(box: Container, upstream: FakeUpstream) -> None:
    upstream.route("POST", "/v1/images/generations", gpt_image_answer)
    client = openai.OpenAI(base_url=f"{box.base_url}/v1", api_key=MASTER_KEY, max_retries=0)
    result = client.images.generate(
        model="container-image",
        prompt="a lighthouse at dusk",
        n=2,
        size="1536x1024",
        quality="high",
        extra_body={"some_new_param": {"kept": True}},
    )
    data = expect_present(result.data, "the answer has no data")
    expect(
        [d.b64_json for d in data] == [PNG_B64, PNG_B64],
        f"images changed on the way back: {data!r}",
    )
    (sent,) = upstream.received("/v1/images/generations")
    body = sent.json()
    expect(
        sent.headers.get("authorization") == f"Bearer {UPSTREAM_KEY}",
        "the upstream did not get the upstream key from os.environ/UPSTREAM_API_KEY",
    )
    expect(MASTER_KEY not in json.dumps(sent.headers), "the client's key leaked upstream")
    expect(body["model"] == "gpt-image-2", f"upstream model is {body.get('model')!r}")
    expect(
        body["prompt"] == "a lighthouse at dusk"
        and body["n"] == 2
        and body["size"] == "1536x1024"
        and body["quality"] == "high",
        f"parameters changed on the way: {body!r}",
    )
    expect(body.get("some_new_param") == {"kept": True}, "unknown parameter dropped")


def check_mock_provider(box: Container, upstream: FakeUpstream) -> None:
    client = openai.OpenAI(base_url=f"{box.base_url}/v1", api_key=MASTER_KEY, max_retries=0)
    result = client.images.generate(
        model="mock-image", prompt="offline", size="512x256", n=2, response_format="b64_json"
    )
    data = expect_present(result.data, "the mock answer has no data")
    expect(len(data) == 2, f"mock returned {len(data)} images")
    for item in data:
        expect(item.b64_json is not None, "mock image without b64_json")
        size = png_dimensions(base64.b64decode(item.b64_json or ""))
        expect(size == (512, 256), f"mock image is {size}, asked for 512x256")


def check_wrong_key_refused(box: Container, upstream: FakeUpstream) -> None:
    before = len(upstream.received())
    response = httpx.post(
        f"{box.base_url}/v1/images/generations",
        timeout=10,
        headers={"Authorization": "Bearer sk-wrong"},
        json={"model": "container-image", "prompt": "x"},
    )
    expect(response.status_code == 401, f"wrong key got {response.status_code}")
    expect("error" in response.json(), "401 without an OpenAI error body")
    expect(len(upstream.received()) == before, "a refused request reached the upstream")


def check_runs_as_non_root(box: Container, upstream: FakeUpstream) -> None:
    ids = [podman("exec", box.name, "id", flag).stdout.strip() for flag in ("-u", "-g")]
    expect(ids == ["10001", "10001"], f"the proxy runs as uid/gid {ids!r}, not 10001/10001")
    ps = podman("top", box.name, "user", "args", check=False).stdout
    expect(" root " not in f" {ps} ", f"a process runs as root:\n{ps}")


def check_read_only_root(box: Container, upstream: FakeUpstream) -> None:
    """It served the checks before this one with nothing writable but /tmp."""
    for path in ("/app/written", "/opt/venv/written", "/written"):
        result = podman("exec", box.name, "touch", path, check=False)
        expect(result.returncode != 0, f"{path} could be written: the root is not read-only")
        expect("Read-only file system" in result.stderr, f"touch {path}: {result.stderr}")


def check_healthcheck(box: Container, upstream: FakeUpstream) -> None:
    configured = podman("inspect", "--format", "{{json .Config.Healthcheck}}", box.name).stdout
    expect(
        "proxy.healthcheck" in configured,
        f"the image's HEALTHCHECK was not kept: {configured.strip()}",
    )
    result = podman("healthcheck", "run", box.name, check=False)
    expect(
        result.returncode == 0,
        f"healthcheck failed ({result.returncode}): {result.stdout}{result.stderr}",
    )


def check_workers_from_env(box: Container, upstream: FakeUpstream) -> None:
    # PROXY_WORKERS=2: uvicorn's supervisor plus two worker processes.
    args = podman("top", box.name, "args", check=False).stdout
    workers = sum(1 for line in args.splitlines() if "multiprocessing" in line)
    expect(workers >= 2, f"expected 2 uvicorn workers from PROXY_WORKERS=2, got:\n{args}")


def check_graceful_stop(box: Container, upstream: FakeUpstream) -> None:
    podman("stop", "--time", "20", box.name, timeout=60)
    code = box.state().get("ExitCode")
    expect(code == 0, f"SIGTERM stop exited {code} (not a clean shutdown):\n{box.logs()}")


def check_compose_config_in_image(box: Container, upstream: FakeUpstream) -> None:
    # docker-compose.yaml's config and environment, validated by the image's own CLI.
    env = proxy_environment({"PROXY_MASTER_KEY": MASTER_KEY, "OPENAI_API_KEY": "sk-test"})
    flags = [arg for name, value in env.items() for arg in ("--env", f"{name}={value}")]
    result = podman(
        "run",
        "--rm",
        *RUN_FLAGS,
        *flags,
        "--volume",
        f"{REPO / 'deploy' / 'config.yaml'}:{CONFIG_PATH_IN_IMAGE}:ro",
        box.image,
        "--check-config",
    )
    expect(
        "config ok: 2 deployments" in result.stdout,
        f"--check-config said: {result.stdout}{result.stderr}",
    )


CHECKS: list[tuple[str, Callable[[Container, FakeUpstream], None]]] = [
    ("image request through the container to a fake upstream", check_image_through_fake_upstream),
    ("mock provider answers at the exact size", check_mock_provider),
    ("wrong key refused with 401, nothing sent upstream", check_wrong_key_refused),
    ("runs as a non-root user", check_runs_as_non_root),
    ("serves with a read-only root filesystem", check_read_only_root),
    ("PROXY_WORKERS from the environment", check_workers_from_env),
    ("image HEALTHCHECK passes", check_healthcheck),
    ("SIGTERM stops it cleanly (exit 0)", check_graceful_stop),
    ("compose's deploy/config.yaml validates in the image", check_compose_config_in_image),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("image")
    args = parser.parse_args(argv)

    upstream = FakeUpstream().start()
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="image-proxy-container-") as tmp:
        box = Container(args.image, write_config(Path(tmp), upstream), free_port())
        try:
            box.start()
            started = time.monotonic()
            box.wait_live()
            print(f"container live after {time.monotonic() - started:.1f} s")
            for title, check in CHECKS:
                try:
                    check(box, upstream)
                except (CheckFailed, openai.OpenAIError, httpx.HTTPError) as exc:
                    failed += 1
                    print(f"FAIL {title}: {exc}")
                else:
                    passed += 1
                    print(f"ok   {title}")
        except CheckFailed as exc:
            failed += 1
            print(f"FAIL container start: {exc}")
        finally:
            if failed:
                print(f"--- container logs ---\n{box.logs()}")
            box.remove()
            upstream.stop()
    print(f"container: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
