#!/usr/bin/env bash
# Build (once) a local Python base image for the container test and print its name.
#
# Registry images cannot be pulled on the test machines, so this stands in for the official
# python slim image: a debootstrap of Debian stable with python3, python3-venv, python3-pip and
# ca-certificates, imported with `podman import`. The machine's own CA bundle goes in, so that
# `pip install` inside `podman build` reaches PyPI the same way the host does.
#
# Cached: the rootfs tarball under $CACHE_DIR and the imported image in podman's store, both
# keyed by the package list and the CA bundle's hash. A warm run takes about a second.
set -euo pipefail

SUITE="${BASE_SUITE:-bookworm}"
PACKAGES="python3,python3-venv,python3-pip,ca-certificates"
CACHE_DIR="${IMAGE_PROXY_TEST_CACHE:-/var/cache/image-proxy-test}"
HOST_CA="${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

log() { echo "[base-image] $*" >&2; }

# The Debian mirror the host itself uses (deb822 sources first, then sources.list).
debian_mirror() {
    local uri=""
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
        uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    fi
    if [[ -z "$uri" && -f /etc/apt/sources.list ]]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ {print ($2 ~ /^\[/ ? $3 : $2); exit}' \
            /etc/apt/sources.list)
    fi
    [[ -n "$uri" ]] || { log "no Debian mirror found in the host's apt sources"; return 1; }
    echo "$uri"
}

ca_hash=$(sha256sum "$HOST_CA" | cut -c1-12)
pkg_hash=$(echo "$SUITE $PACKAGES v1" | sha256sum | cut -c1-12)
key="${SUITE}-${pkg_hash}-${ca_hash}"
image="localhost/image-proxy-test-base:${key}"

if podman image exists "$image"; then
    log "cached image $image"
    echo "$image"
    exit 0
fi

mkdir -p "$CACHE_DIR"
tarball="$CACHE_DIR/rootfs-${key}.tar"
if [[ ! -s "$tarball" ]]; then
    rootfs=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
    trap 'rm -rf "$rootfs"' EXIT
    mirror=$(debian_mirror)
    log "debootstrap $SUITE ($PACKAGES) from the host's Debian mirror into $rootfs"
    started=$SECONDS
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$mirror" \
        > "$CACHE_DIR/debootstrap.log" 2>&1 || {
        log "debootstrap failed; last lines of $CACHE_DIR/debootstrap.log:"
        tail -20 "$CACHE_DIR/debootstrap.log" >&2
        exit 1
    }
    log "debootstrap took $((SECONDS - started)) s"
    cp "$HOST_CA" "$rootfs/etc/ssl/certs/ca-certificates.crt"
    # Keep the base small: no package caches, lists, docs or man pages.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
        "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old
    tar --numeric-owner -C "$rootfs" -cf "$tarball.partial" .
    mv "$tarball.partial" "$tarball"
    rm -rf "$rootfs"
    trap - EXIT
fi

log "podman import $tarball as $image"
podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["python3"]' \
    "$tarball" "$image" > /dev/null
echo "$image"
