#!/usr/bin/env bash
# Installs what bench/gateway_overhead.py compares Candela with, outside the
# project's own environment:
#   - nginx and wrk from Debian (the fake upstream and the load generator),
#   - LiteLLM's proxy from PyPI into its own venv, bench/.venvs/litellm,
#   - Portkey's gateway from npm into bench/.node,
#   - py-spy (for --profile) into bench/.venvs/tools.
# @hono/node-server is pinned to 1.13.5, the version Portkey's own repository
# patches (patches/@hono+node-server+1.13.5.patch, applied below as its
# postinstall would; the npm package ships neither the patch nor a lockfile).
# With what npm resolves today (1.19.x; 1.14.2 too, tried) every chat
# completion answers 500 "TypeError: immutable" (Portkey-AI/gateway#1389).
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
    apt-get install -y nginx wrk
fi

if [ ! -x .venvs/litellm/bin/litellm ]; then
    uv venv .venvs/litellm --python 3.11
    uv pip install --python .venvs/litellm/bin/python 'litellm[proxy]'
fi

if [ ! -x .venvs/tools/bin/py-spy ]; then
    uv venv .venvs/tools --python 3.11
    uv pip install --python .venvs/tools/bin/python py-spy
fi

mkdir -p .node
cp portkey-package.json .node/package.json
(cd .node && npm install --no-audit --no-fund --ignore-scripts)
sed -i 's/      return responseViaResponseObject(res, outgoing, options);/      return await responseViaResponseObject(res, outgoing, options);/' \
    .node/node_modules/@hono/node-server/dist/index.mjs
