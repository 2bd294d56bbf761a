#!/usr/bin/env bash
# Install the LiteLLM proxy into bench/.venv-litellm (gitignored; never a project dependency),
# so `bench/run.py --with-litellm` can measure it beside image-proxy in the same run.
#   bench/install-litellm.sh            # latest litellm[proxy]
#   LITELLM_VERSION=1.106.2 bench/install-litellm.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv-litellm"
SPEC="litellm[proxy]${LITELLM_VERSION:+==$LITELLM_VERSION}"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "$SPEC"
"$VENV/bin/python" -c "import importlib.metadata as m; print('installed litellm', m.version('litellm'), 'in $VENV')"
