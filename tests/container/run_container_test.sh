#!/usr/bin/env bash
# Container test: build the image with podman (daemonless; no Docker engine on these machines),
# run it, and check it end to end (tests/container/check_container.py).
#
#   bash tests/container/run_container_test.sh
#
# Installs podman, runc and debootstrap with apt-get when missing (as root). Where this machine
# cannot run containers at all it says why and that the test was SKIPPED, and exits 0; set
# IMAGE_PROXY_CONTAINER_TEST=require to make that a failure, or =skip to skip on purpose.
# Registry images cannot be pulled here, so BASE_IMAGE is built locally by build_base_image.sh
# (cached under /var/cache/image-proxy-test). Another base: BASE_IMAGE=... to skip that step.
set -euo pipefail
cd "$(dirname "$0")/../.."

MODE="${IMAGE_PROXY_CONTAINER_TEST:-auto}"
IMAGE="${IMAGE_PROXY_TEST_IMAGE:-localhost/image-proxy:container-test}"
PODMAN=(podman --cgroup-manager=cgroupfs --runtime runc)
RUN_FLAGS=(--network host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
started_all=$SECONDS

say() { echo "[container-test] $*"; }

skip() {
    say "cannot run containers on this machine: $*"
    if [[ "$MODE" == "require" ]]; then
        say "FAILED: IMAGE_PROXY_CONTAINER_TEST=require"
        exit 1
    fi
    say "container test SKIPPED (the image was not built or run)"
    exit 0
}

if [[ "$MODE" == "skip" ]]; then
    say "container test SKIPPED: IMAGE_PROXY_CONTAINER_TEST=skip"
    exit 0
fi

missing=()
command -v podman > /dev/null || missing+=(podman)
command -v runc > /dev/null || missing+=(runc)
[[ -n "${BASE_IMAGE:-}" ]] || command -v debootstrap > /dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
    [[ $(id -u) == 0 ]] || skip "${missing[*]} missing and not root to install them"
    command -v apt-get > /dev/null || skip "${missing[*]} missing and no apt-get"
    say "installing ${missing[*]} with apt-get"
    t=$SECONDS
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq "${missing[@]}"; } > /tmp/image-proxy-apt.log 2>&1 \
        || { tail -5 /tmp/image-proxy-apt.log; skip "apt-get install ${missing[*]} failed"; }
    say "installed in $((SECONDS - t)) s"
fi

t=$SECONDS
if [[ -n "${BASE_IMAGE:-}" ]]; then
    base="$BASE_IMAGE"
else
    base=$(bash tests/container/build_base_image.sh) || {
        say "FAILED: could not build the local base image (see the lines above)"
        exit 1
    }
fi
say "base image $base ($((SECONDS - t)) s)"

# Can this machine run a container at all? (kernel, namespaces, cgroups, runtime)
if ! smoke=$("${PODMAN[@]}" run --rm "${RUN_FLAGS[@]}" "$base" python3 -c 'print("ok")' 2>&1); then
    skip "podman run of the base image failed: $(echo "$smoke" | tail -3)"
fi

t=$SECONDS
say "podman build (BASE_IMAGE=$base)"
build() {
    "${PODMAN[@]}" build --isolation chroot --network host --format docker --layers \
        --build-arg "BASE_IMAGE=$base" --file Dockerfile "$@" . >> /tmp/image-proxy-build.log 2>&1
}
: > /tmp/image-proxy-build.log
# The build stage is tagged too, so that pruning old dangling images below keeps its layers
# (the installed dependencies) as the cache of the next run.
if ! { build --target build --tag "$IMAGE-build" && build --tag "$IMAGE"; }; then
    tail -40 /tmp/image-proxy-build.log
    say "FAILED: podman build (full log: /tmp/image-proxy-build.log)"
    exit 1
fi
size=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE")
base_size=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$base")
say "built $IMAGE in $((SECONDS - t)) s: $((size / 1000000)) MB" \
    "(base $((base_size / 1000000)) MB + $(((size - base_size) / 1000000)) MB of proxy and dependencies)"
"${PODMAN[@]}" image prune --force > /dev/null 2>&1 || true  # old dangling layers of past builds

t=$SECONDS
status=0
python3 -m tests.container.check_container "$IMAGE" || status=$?
say "checks took $((SECONDS - t)) s; whole container test $((SECONDS - started_all)) s"
exit "$status"
