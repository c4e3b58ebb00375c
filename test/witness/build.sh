#!/usr/bin/env bash
# Builds the tests' Go witnesses (test/witness/build/<name>) from this module, pinned by go.mod/go.sum to
# the bed's client-go. Skips the build when the inputs are unchanged and the binaries exist.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/build"
mkdir -p "$out"
witnesses=(apply)
stamp_now="$(cat "$here/go.mod" "$here/go.sum" "$here"/*/*.go "$0" | sha256sum | cut -d' ' -f1) $(go version)"
if [[ -f "$out/witness.stamp" && "$(cat "$out/witness.stamp")" == "$stamp_now" ]]; then
  up_to_date=1
  for w in "${witnesses[@]}"; do [[ -x "$out/$w" ]] || up_to_date=0; done
  if ((up_to_date)); then
    echo "witnesses up to date ($out)"
    exit 0
  fi
fi
echo "building witnesses ${witnesses[*]} (client-go $(grep 'k8s.io/client-go v' "$here/go.mod" | awk '{print $NF}'))"
start=$(date +%s)
cd "$here"
go mod download
for w in "${witnesses[@]}"; do
  # The same flags as test/cluster/build.sh, so the packages both share come from the Go build cache.
  CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags="-s -w" -o "$out/$w.tmp" "./$w"
  mv "$out/$w.tmp" "$out/$w"
done
echo "$stamp_now" >"$out/witness.stamp"
echo "built witnesses in $(($(date +%s) - start))s"
