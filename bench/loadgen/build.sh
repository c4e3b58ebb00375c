#!/usr/bin/env bash
# Builds the bench load generator (bench/loadgen/build/loadgen) from this module, pinned by go.mod/go.sum to
# the bed's client-go and etcd client. Skips the build when the inputs are unchanged and the binary exists.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/build"
mkdir -p "$out"
stamp_now="$(cat "$here/go.mod" "$here/go.sum" "$here"/*.go "$0" | sha256sum | cut -d' ' -f1) $(go version)"
if [[ -x "$out/loadgen" && -f "$out/loadgen.stamp" && "$(cat "$out/loadgen.stamp")" == "$stamp_now" ]]; then
  echo "loadgen up to date ($out/loadgen)"
  exit 0
fi
echo "building loadgen (client-go $(grep 'k8s.io/client-go v' "$here/go.mod" | awk '{print $NF}'), etcd client $(grep 'go.etcd.io/etcd/client/v3 v' "$here/go.mod" | awk '{print $NF}'))"
start=$(date +%s)
cd "$here"
go mod download
# The same flags as test/cluster/build.sh, so the packages both share come from the Go build cache.
CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags="-s -w" -o "$out/loadgen.tmp" .
mv "$out/loadgen.tmp" "$out/loadgen"
echo "$stamp_now" > "$out/loadgen.stamp"
echo "built $out/loadgen in $(( $(date +%s) - start ))s"
