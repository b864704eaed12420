#!/usr/bin/env bash
# Builds what the e2e suite runs against: a real kube-apiserver and etcd (the envtest approach, no
# kubelet), plus Istio's CRDs. Everything comes from the Go module proxy, the only source of code that
# CI can reach, and lands in .cache/ (git-ignored). A stamp file records the pinned versions, so a
# second run with the same pins returns at once; change a pin and the next run rebuilds.
#
# Choices:
# - kube-apiserver builds from the module k8s.io/kubernetes, at the newest 1.34 patch for which the
#   module proxy serves every staging module it needs (1.34.8 lacks k8s.io/externaljwt, k8s.io/cri-api
#   and k8s.io/kube-proxy at v0.34.8; 1.34.4 lacks only two samples kube-apiserver never loads).
#   Its go.mod points the staging modules (k8s.io/api, k8s.io/client-go, ...) at ./staging/..., which
#   the published module zip leaves out, so a wrapper module replaces every one of them with its
#   published v0.X.Y twin. The list is read from the pinned go.mod, so bumping KUBERNETES_VERSION is
#   the whole upgrade.
# - etcd builds from go.etcd.io/etcd/server/v3 the same way rather than from Debian's etcd-server:
#   bookworm ships etcd 3.4, while Kubernetes 1.34 is released and tested with etcd 3.6, so the 3.6
#   line is what a real cluster would run; its build is a small part of kube-apiserver's.
#   3.6.16's go.mod asks for Go >= 1.26.0.
# - Istio's CRDs are the generated file inside the istio.io/api module.
# - Gateway API's CRDs are the files of the sigs.k8s.io/gateway-api module's config/crd/standard and
#   config/crd/experimental folders (v1.6.x: the newest the Go here can work with; v1.7.0 needs a newer
#   Go). They are fetched before the binaries' stamp is checked, with their own version file, so adding
#   or bumping them never rebuilds kube-apiserver.
# - Flagger's load tester (github.com/fluxcd/flagger/cmd/loadtester, Apache-2.0) is the real webhook
#   receiver of test/e2e/hooks.test.ts: `go install` from the module proxy (its go.mod has no replace
#   directive, so it builds as published; about a minute here). Like Gateway API's CRDs it has its own
#   version file and comes before the stamp check, so it never rebuilds kube-apiserver.
# - The Go module and build caches stay at their defaults (~/go/pkg/mod, ~/.cache/go-build): they
#   outlive a fresh clone, so a rebuild on a machine that built once before only links.
set -euo pipefail

KUBERNETES_VERSION=v1.34.4
ETCD_VERSION=v3.6.16
ISTIO_API_VERSION=v1.28.3
GATEWAY_API_VERSION=v1.6.3
FLAGGER_VERSION=v1.36.1

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="$root/.cache"
stamp="$cache/e2e-binaries.stamp"
wanted="kubernetes=$KUBERNETES_VERSION etcd=$ETCD_VERSION istio-api=$ISTIO_API_VERSION"

# Prints one field (Dir, GoMod, ...) of a module version downloaded through the proxy.
module_field() {
  (cd "$cache/build" && go mod download -json "$1" | sed -n "s/^\t\"$2\": \"\(.*\)\",\$/\1/p")
}

# Only the CustomResourceDefinitions: the folders also hold a kustomization and a
# ValidatingAdmissionPolicy (vap_safeupgrades) that the API server needs no CRD for.
fetch_gateway_api_crds() {
  local dir channel target="$cache/gateway-api"
  [[ -f "$target/version" && "$(cat "$target/version")" == "$GATEWAY_API_VERSION" ]] && return 0
  command -v go >/dev/null || { echo "go is required to fetch Gateway API's CRDs" >&2; exit 1; }
  mkdir -p "$cache/build"
  dir=$(GOTOOLCHAIN=local module_field "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" Dir)
  rm -rf "$target.new" && mkdir -p "$target.new"
  for channel in standard experimental; do
    mkdir -p "$target.new/$channel"
    find "$dir/config/crd/$channel" -name 'gateway.networking*.yaml' ! -name '*_vap_*' \
      -exec cp {} "$target.new/$channel/" \;
  done
  chmod -R u+w,a+r "$target.new"
  echo "$GATEWAY_API_VERSION" >"$target.new/version"
  rm -rf "$target" && mv "$target.new" "$target"
  echo "Gateway API $GATEWAY_API_VERSION CRDs ready in $target"
}
fetch_gateway_api_crds

build_flagger_loadtester() {
  local bin="$cache/bin/flagger-loadtester" version="$cache/bin/flagger-loadtester.version"
  [[ -x "$bin" && -f "$version" && "$(cat "$version")" == "$FLAGGER_VERSION" ]] && return 0
  command -v go >/dev/null || { echo "go is required to build Flagger's load tester" >&2; exit 1; }
  mkdir -p "$cache/bin" "$cache/build/loadtester"
  (cd "$cache/build/loadtester" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod \
    GOBIN="$cache/build/loadtester" nice -n 19 go install -trimpath -ldflags="-s -w" \
    "github.com/fluxcd/flagger/cmd/loadtester@$FLAGGER_VERSION")
  mv "$cache/build/loadtester/loadtester" "$bin"
  echo "$FLAGGER_VERSION" >"$version"
  echo "Flagger load tester $FLAGGER_VERSION built into $bin"
}
build_flagger_loadtester

if [[ -x "$cache/bin/kube-apiserver" && -x "$cache/bin/etcd" && -f "$cache/istio/crds.yaml" \
  && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
  echo "e2e binaries are up to date ($wanted)"
  exit 0
fi

command -v go >/dev/null || { echo "go is required to build the e2e binaries" >&2; exit 1; }

# A dependency's toolchain line must not make go fetch another toolchain: CI can only use the local one.
export GOTOOLCHAIN=local CGO_ENABLED=0
mkdir -p "$cache/bin" "$cache/istio" "$cache/build"
rm -f "$stamp"
started=$SECONDS

# Creates (anew) the wrapper module .cache/build/<name>, applies each stdin line as a `go mod edit`
# flag, then adds <package>@<version> as a tool, which pins its module.
wrapper_module() {
  local name=$1 package=$2 version=$3 dir="$cache/build/$1" flag
  rm -rf "$dir" && mkdir -p "$dir"
  (
    cd "$dir"
    go mod init "canaria.e2e/$name" 2>/dev/null
    while read -r flag; do go mod edit "$flag"; done
    go get -tool "$package@$version" 2>go-get.log || { cat go-get.log >&2; exit 1; }
  )
}

build_kube_apiserver() {
  local gomod minor patch
  gomod=$(module_field "k8s.io/kubernetes@$KUBERNETES_VERSION" GoMod)
  minor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
  patch=$(echo "$KUBERNETES_VERSION" | cut -d. -f3)
  # Every staging module (each `k8s.io/x => ./staging/...` replace in its go.mod) becomes its published
  # twin v0.<minor>.<patch>; the godebug defaults Kubernetes builds with come along.
  {
    sed -n "s#^\t\(k8s\.io/[^ ]*\) => \./staging/.*#-replace=\1=\1@v0.$minor.$patch#p" "$gomod"
    sed -n 's/^godebug \(.*\)/-godebug=\1/p' "$gomod"
  } | wrapper_module kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$KUBERNETES_VERSION"
  # Kubernetes' own build stamps the version; without it /version says v0.0.0-master.
  local pkg=k8s.io/component-base/version
  local ldflags="-s -w -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean"
  (cd "$cache/build/kube-apiserver" \
    && nice -n 19 go build -trimpath -ldflags="$ldflags" -o "$cache/bin/kube-apiserver.new" \
      k8s.io/kubernetes/cmd/kube-apiserver)
  mv "$cache/bin/kube-apiserver.new" "$cache/bin/kube-apiserver"
}

build_etcd() {
  wrapper_module etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" </dev/null
  (cd "$cache/build/etcd" \
    && nice -n 19 go build -trimpath -ldflags="-s -w" -o "$cache/bin/etcd.new" go.etcd.io/etcd/server/v3)
  mv "$cache/bin/etcd.new" "$cache/bin/etcd"
}

fetch_istio_crds() {
  local dir
  dir=$(module_field "istio.io/api@$ISTIO_API_VERSION" Dir)
  cp "$dir/kubernetes/customresourcedefinitions.gen.yaml" "$cache/istio/crds.yaml.new"
  chmod 644 "$cache/istio/crds.yaml.new"
  mv "$cache/istio/crds.yaml.new" "$cache/istio/crds.yaml"
}

echo "building e2e binaries ($wanted) into $cache"
fetch_istio_crds
echo "istio CRDs ready ($((SECONDS - started))s)"
build_etcd
echo "etcd built ($((SECONDS - started))s)"
build_kube_apiserver
echo "kube-apiserver built ($((SECONDS - started))s)"
echo "$wanted" >"$stamp"
