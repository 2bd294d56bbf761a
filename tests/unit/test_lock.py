"""requirements.lock, from which the container installs every package checked against its
hashes, still matches pyproject.toml. When this fails, refresh it: ``bash scripts/lock.sh``."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)")
FROM_PYPROJECT = "image-proxy (pyproject.toml)"


class Pin:
    def __init__(self, version: str) -> None:
        self.version = Version(version)
        self.hashes = 0
        self.via: set[str] = set()


def read_lock() -> dict[NormalizedName, list[Pin]]:
    pins: dict[NormalizedName, list[Pin]] = {}
    pin: Pin | None = None
    in_via = False
    for line in (REPO / "requirements.lock").read_text().splitlines():
        text = line.strip()
        if match := PIN.match(line):
            pin = Pin(match[2])
            pins.setdefault(canonicalize_name(match[1]), []).append(pin)
            in_via = False
        elif pin is not None and text.startswith("--hash=sha256:"):
            pin.hashes += 1
        elif pin is not None and text.startswith("# via"):
            rest = text.removeprefix("# via").strip()
            in_via = not rest
            if rest:
                pin.via.add(rest)
        elif pin is not None and in_via and text.startswith("#   "):
            pin.via.add(text.removeprefix("#   ").strip())
    return pins


def declared() -> list[Requirement]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    requires = pyproject["project"]["dependencies"] + pyproject["build-system"]["requires"]
    return [Requirement(r) for r in requires]


def test_every_declared_dependency_is_locked_at_a_version_it_allows() -> None:
    pins = read_lock()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in requirements.lock: bash scripts/lock.sh"
        for pin in pins[name]:
            assert requirement.specifier.contains(pin.version, prereleases=True), (
                f"requirements.lock pins {name}=={pin.version}, pyproject.toml asks for "
                f"{requirement}: bash scripts/lock.sh"
            )


def test_the_lock_holds_no_dependency_pyproject_no_longer_declares() -> None:
    pins = read_lock()
    direct = {name for name in pins if any(FROM_PYPROJECT in pin.via for pin in pins[name])}
    project = {canonicalize_name(r.name) for r in declared()} - {"setuptools"}
    assert direct == project, "requirements.lock is stale: bash scripts/lock.sh"


def test_every_pin_carries_hashes() -> None:
    unhashed = [name for name, pins in read_lock().items() if any(p.hashes == 0 for p in pins)]
    assert not unhashed
