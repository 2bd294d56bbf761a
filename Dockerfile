# syntax=docker/dockerfile:1
# image-proxy: OpenAI-compatible image generation gateway.
#
#   docker build -t image-proxy .
#   docker run -p 4000:4000 -e PROXY_MASTER_KEY=sk-change-me \
#       -v "$PWD/config.yaml:/app/config.yaml:ro" image-proxy
#
# Configuration: the YAML config is read from /app/config.yaml (mount yours there; the image
# ships config.example.yaml there, whose offline `mock-image` model works with no provider key).
# Environment: PROXY_CONFIG, PROXY_HOST, PROXY_PORT, PROXY_WORKERS, PROXY_LOG_LEVEL set the
# server's flags; any `os.environ/NAME` in the config reads NAME. Extra flags go after the image
# name (e.g. `--check-config`).
#
# BASE_IMAGE: any Debian-like image with Python >= 3.11 (python3, venv, useradd). Both stages use
# it, so the virtualenv's interpreter path is the same in the final image.
ARG BASE_IMAGE=python:3.12-slim-bookworm

# ---------------------------------------------------------------------------------------------
# build: a virtualenv with the dependencies declared in pyproject.toml, then the package itself.
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
WORKDIR /src

# Dependencies first, in their own layer: rebuilt only when the lock changes. Every package
# (setuptools, which builds ours, included) comes pinned from requirements.lock and is checked
# against its hashes; `bash scripts/lock.sh` refreshes the lock from pyproject.toml.
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes --no-deps --requirement requirements.lock

COPY pyproject.toml README.md config.example.yaml ./
COPY proxy ./proxy
# The package, built with the locked setuptools (no build isolation: nothing unpinned is
# fetched), compiled to bytecode at install (the runtime user cannot write the venv); then
# drop the installers, which the running image does not need.
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation . \
 && /opt/venv/bin/python -m pip uninstall --yes pip setuptools wheel \
 && /opt/venv/bin/python -c 'import proxy.app'

# ---------------------------------------------------------------------------------------------
# runtime: the base image, the virtualenv, a non-root user. No compiler, no pip, no sources.
# Nothing in it needs to be writable but /tmp (the default SQLite file, worker metrics), so it
# runs with a read-only root filesystem: `docker run --read-only --tmpfs /tmp ...`.
FROM ${BASE_IMAGE} AS runtime
ARG APP_UID=10001
RUN groupadd --system --gid "${APP_UID}" imageproxy \
 && useradd --system --uid "${APP_UID}" --gid imageproxy --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin imageproxy \
 && mkdir -p /app \
 && chown root:root /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /src/config.example.yaml /app/config.yaml

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PROXY_CONFIG=/app/config.yaml \
    PROXY_HOST=0.0.0.0 \
    PROXY_PORT=4000 \
    PROXY_WORKERS=1 \
    PROXY_LOG_LEVEL=info

WORKDIR /app
USER imageproxy:imageproxy
EXPOSE 4000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-m", "proxy.healthcheck"]
ENTRYPOINT ["image-proxy"]
CMD []
