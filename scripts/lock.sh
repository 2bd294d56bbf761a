#!/usr/bin/env bash
# Refresh requirements.lock: every package the container installs (the dependencies in
# pyproject.toml and the setuptools that builds the package), pinned with their hashes, for
# every platform and Python >= 3.11. Run it after changing the dependencies in pyproject.toml;
# tests/unit/test_lock.py fails until you do.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet 'uv>=0.9'
build_requires=$(python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))')
echo "$build_requires" | python3 -m uv pip compile pyproject.toml - \
    --universal --python-version 3.11 --generate-hashes --quiet \
    --custom-compile-command 'bash scripts/lock.sh' --output-file requirements.lock
