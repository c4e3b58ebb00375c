#!/usr/bin/env bash
# A cache of the bed's built artifacts (the kube binary, the Go servers' binaries and image archives)
# outside the checkout, keyed by the stamp of their inputs, so that a fresh clone on a machine that has
# built the same inputs before copies them instead of linking them again. Go's build cache already
# skips compiling; linking the six servers and kube still took about 35 s of every CI run on a clean
# clone. A key is a hash of everything the stamp covers (sources, go.sum, Go version, recipe), so a hit
# is byte for byte what a build would make here; each name keeps its latest key only.
#
# BED_ARTIFACT_CACHE sets the directory (default ~/.cache/aggregator-operator/bed); BED_ARTIFACT_CACHE=off
# turns the cache off. Sourced by build.sh and image.sh.

ARTIFACT_CACHE="${BED_ARTIFACT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aggregator-operator/bed}"

artifact_key() { # stamp
  printf '%s' "$1" | sha256sum | cut -c1-24
}

# cache_restore NAME STAMP PATH...: copies each PATH (file or directory, by its base name) from the cache
# entry of NAME at STAMP; fails, copying nothing, when there is no complete entry.
cache_restore() {
  local name="$1" dir p
  [[ "$ARTIFACT_CACHE" == off ]] && return 1
  dir="$ARTIFACT_CACHE/$name/$(artifact_key "$2")"
  shift 2
  [[ -f "$dir/.complete" ]] || return 1
  for p in "$@"; do [[ -e "$dir/$(basename "$p")" ]] || return 1; done
  for p in "$@"; do
    rm -rf "$p.restoring"
    cp -a "$dir/$(basename "$p")" "$p.restoring" && rm -rf "$p" && mv "$p.restoring" "$p" || return 1
  done
}

# cache_save NAME STAMP PATH...: stores the PATHs as NAME's entry at STAMP (written aside, then renamed,
# so a reader never sees half an entry) and drops NAME's other entries. A failure only costs the cache.
cache_save() {
  local name="$1" key tmp p
  [[ "$ARTIFACT_CACHE" == off ]] && return 0
  key="$(artifact_key "$2")"
  shift 2
  (
    mkdir -p "$ARTIFACT_CACHE/$name" || exit 0
    tmp="$(mktemp -d "$ARTIFACT_CACHE/$name/.tmp.XXXXXX")" || exit 0
    for p in "$@"; do cp -a "$p" "$tmp/" || { rm -rf "$tmp"; exit 0; }; done
    touch "$tmp/.complete"
    rm -rf "${ARTIFACT_CACHE:?}/$name/$key"
    mv "$tmp" "$ARTIFACT_CACHE/$name/$key" || { rm -rf "$tmp"; exit 0; }
    find "$ARTIFACT_CACHE/$name" -mindepth 1 -maxdepth 1 ! -name "$key" -exec rm -rf {} +
  ) || true
}
