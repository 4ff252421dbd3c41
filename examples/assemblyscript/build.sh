#!/bin/sh
# Builds upper.wasm from assembly/index.ts with npm's assemblyscript and its WASI shim
# (pinned in package.json). Needs node and npm: apt-get install -y nodejs npm
set -eu
cd "$(dirname "$0")"
[ -x node_modules/.bin/asc ] || npm install --no-audit --no-fund --loglevel=error
node_modules/.bin/asc assembly/index.ts \
    --config ./node_modules/@assemblyscript/wasi-shim/asconfig.json \
    --optimize --noAssert \
    --outFile "${1:-upper.wasm}"
