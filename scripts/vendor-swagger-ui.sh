#!/usr/bin/env bash
# Refresh the Swagger UI that /docs serves (vendored: the proxy works offline and needs no CDN).
# Usage: scripts/vendor-swagger-ui.sh [version]   (then update SWAGGER_UI_VERSION in
# proxy/api/docs.py if the version changed, run the tests, and commit the files).
set -euo pipefail
version="${1:-5.32.0}"
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/proxy/api/static/swagger-ui"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "swagger-ui-dist@$version" >/dev/null && tar xzf swagger-ui-dist-*.tgz)
rm -rf "$dest"
mkdir -p "$dest"
for f in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png \
         LICENSE NOTICE package.json; do
  cp "$work/package/$f" "$dest/$f"
done
echo "swagger-ui-dist $version -> $dest"
