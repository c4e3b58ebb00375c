#!/usr/bin/env bash
# Builds the test cluster's Kubernetes binary (one `kube` binary dispatching to the five components) from
# the pinned k8s.io/kubernetes module. Skips the build when the inputs are unchanged and the binary exists.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/build"
mkdir -p "$out"
stamp_now="$(cat "$here/go.mod" "$here/go.sum" "$here/cmd/kube/main.go" "$0" | sha256sum | cut -d' ' -f1) $(go version)"
if [[ -x "$out/kube" && -f "$out/kube.stamp" && "$(cat "$out/kube.stamp")" == "$stamp_now" ]]; then
  echo "kube binary up to date ($out/kube)"
  exit 0
fi
# shellcheck source=artifact-cache.sh
source "$here/artifact-cache.sh"
if cache_restore kube "$stamp_now" "$out/kube"; then
  echo "$stamp_now" > "$out/kube.stamp"
  echo "kube binary copied from the artifact cache ($ARTIFACT_CACHE)"
  exit 0
fi
echo "building kube (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy) from k8s.io/kubernetes $(grep 'k8s.io/kubernetes v' "$here/go.mod" | awk '{print $NF}')"
start=$(date +%s)
cd "$here"
go mod download
# Progress: `go build -v` names each package as it compiles; print a running count instead of thousands of lines.
version="$(grep 'k8s.io/kubernetes v' go.mod | awk '{print $NF}')"
minor="$(echo "$version" | cut -d. -f2)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
CGO_ENABLED=0 nice -n 10 go build -v -trimpath -ldflags="$ldflags" -o "$out/kube.tmp" ./cmd/kube 2>&1 |
  awk '/^#|: / { print; next } { n++; if (n % 100 == 0) { printf "  compiled %d packages (last: %s)\n", n, $0; fflush() } } END { printf "  compiled %d packages\n", n }'
mv "$out/kube.tmp" "$out/kube"
echo "$stamp_now" > "$out/kube.stamp"
cache_save kube "$stamp_now" "$out/kube"
echo "built $out/kube in $(( $(date +%s) - start ))s"
