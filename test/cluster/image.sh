#!/usr/bin/env bash
# The images the test bed's pods run. No registry is reachable here, so all of them are built locally and
# imported into containerd's `k8s.io` namespace:
#   localhost/pause:bed                 a static pause program of ours (pause.c), the sandbox image
#   localhost/node-base:20              this machine's Node.js (/usr/bin/node, its shared libraries, npm, a
#                                       busybox shell), the base for the project's Dockerfile
#   localhost/aggregator-operator:dev   the project's image, built from its Dockerfile with
#                                       NODE_IMAGE=localhost/node-base:20
# Image archives are `docker save` tarballs (image-tar.py writes the first two) cached under
# test/cluster/build/images/ with stamps of their inputs; unchanged inputs are not rebuilt.
#
# The project image is built by `docker build` when a Docker engine answers (`docker info`, honouring
# DOCKER_HOST), otherwise by buildah (daemonless, from Debian), from the same Dockerfile and build argument.
# CLUSTER_IMAGE_BUILDER=docker|buildah forces one.
#
# Usage: image.sh build            build (or reuse) all three archives
#        image.sh import           import them into the running bed's containerd
#        image.sh project          rebuild the project image and, when the bed runs, import it
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
state="${CLUSTER_STATE_DIR:-$root/.cluster}"
logs="$state/logs"
sock="$state/containerd/containerd.sock"
images="$here/build/images"
PAUSE_IMAGE="localhost/pause:bed"
NODE_BASE_IMAGE="localhost/node-base:20"
PROJECT_IMAGE="localhost/aggregator-operator:dev"

log() { printf '[image] %s\n' "$*"; }
ctr_k8s() { ctr --address "$sock" -n k8s.io "$@"; }

build_pause() {
  local dir="$images/pause-root" stamp
  stamp="$(cat "$here/pause.c" "$here/image-tar.py" | sha256sum | cut -c1-16)"
  [[ -f "$images/pause.tar" && "$(cat "$images/pause.stamp" 2>/dev/null)" == "$stamp" ]] && return
  log "building $PAUSE_IMAGE"
  rm -rf "$dir"
  mkdir -p "$dir"
  gcc -static -Os -o "$dir/pause" "$here/pause.c"
  strip "$dir/pause"
  python3 "$here/image-tar.py" --out "$images/pause.tar" --tag "$PAUSE_IMAGE" --layer "$dir:/" \
    --entrypoint '["/pause"]' --user 65535:65535 >/dev/null
  echo "$stamp" >"$images/pause.stamp"
}

build_node_base() {
  local node_bin dir stamp
  node_bin="$(readlink -f "$(command -v node)")"
  # Bump recipe when changing what goes into the image below.
  local recipe=2
  stamp="$( (echo "$recipe"; cat "$node_bin" "$(npm root -g 2>/dev/null)/npm/package.json" "$here/image-tar.py") | sha256sum | cut -c1-16)"
  [[ -f "$images/node-base.tar" && "$(cat "$images/node-base.stamp" 2>/dev/null)" == "$stamp" ]] && return
  log "building $NODE_BASE_IMAGE from $node_bin ($("$node_bin" --version))"
  dir="$images/node-base-root"
  rm -rf "$dir"
  mkdir -p "$dir/usr/bin" "$dir/etc/ssl/certs" "$dir/tmp" "$dir/app"
  chmod 1777 "$dir/tmp"
  cp "$node_bin" "$dir/usr/bin/node"
  # Node's shared libraries, at the paths the dynamic loader expects.
  ldd "$node_bin" | awk '/=> \// {print $3} /^[ \t]*\/lib/ {print $1}' | while read -r lib; do
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$lib" "$dir$lib"
  done
  cp -L /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/"
  # npm and a shell (busybox), so that the Dockerfile's build stage (`RUN npm ci`) can run on this base too.
  mkdir -p "$dir/bin" "$dir/usr/lib/node_modules"
  cp /bin/busybox "$dir/bin/busybox"
  for tool in sh env cat ls mkdir rm cp mv chmod; do ln -sf busybox "$dir/bin/$tool"; done
  ln -sf ../../bin/env "$dir/usr/bin/env"
  cp -r "$(npm root -g 2>/dev/null)/npm" "$dir/usr/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$dir/usr/bin/npm"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$dir/etc/group"
  python3 "$here/image-tar.py" --out "$images/node-base.tar" --tag "$NODE_BASE_IMAGE" --layer "$dir:/" \
    --entrypoint '["node"]' --env NODE_ENV=production \
    --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt >/dev/null
  echo "$stamp" >"$images/node-base.stamp"
}

builder() {
  case "${CLUSTER_IMAGE_BUILDER:-}" in
    docker | buildah) echo "$CLUSTER_IMAGE_BUILDER" ;;
    "") if command -v docker >/dev/null && timeout 5 docker info >/dev/null 2>&1; then echo docker; else echo buildah; fi ;;
    *) echo "CLUSTER_IMAGE_BUILDER must be docker or buildah" >&2; return 1 ;;
  esac
}

build_project_image() {
  local stamp tool t0
  stamp="$(cd "$root" && cat Dockerfile .dockerignore package.json package-lock.json \
    $(git ls-files -co --exclude-standard src crds tsconfig.json tsconfig.build.json | sort) \
    "$images/node-base.stamp" 2>/dev/null | sha256sum | cut -c1-16)"
  [[ -f "$images/project.tar" && "$(cat "$images/project.stamp" 2>/dev/null)" == "$stamp" ]] && return
  tool="$(builder)"
  t0=$(date +%s)
  mkdir -p "$logs"
  log "building $PROJECT_IMAGE from the Dockerfile with $tool (NODE_IMAGE=$NODE_BASE_IMAGE; log: $logs/image-build.log)"
  rm -f "$images/project.tar"
  if [[ "$tool" == docker ]]; then
    docker load -q -i "$images/node-base.tar" >/dev/null
    DOCKER_BUILDKIT=0 docker build --network=host --build-arg "NODE_IMAGE=$NODE_BASE_IMAGE" \
      -t "$PROJECT_IMAGE" -f "$root/Dockerfile" "$root" >>"$logs/image-build.log" 2>&1 ||
      { tail -20 "$logs/image-build.log" >&2; return 1; }
    docker save -o "$images/project.tar" "$PROJECT_IMAGE"
  else
    buildah rmi -f "$NODE_BASE_IMAGE" >/dev/null 2>&1 || true
    buildah pull -q "docker-archive:$images/node-base.tar" >/dev/null
    buildah bud --network=host --pull=never --isolation=chroot --layers \
      --build-arg "NODE_IMAGE=$NODE_BASE_IMAGE" -t "$PROJECT_IMAGE" -f "$root/Dockerfile" "$root" >>"$logs/image-build.log" 2>&1 ||
      { tail -20 "$logs/image-build.log" >&2; return 1; }
    buildah push -q "$PROJECT_IMAGE" "docker-archive:$images/project.tar:$PROJECT_IMAGE" >/dev/null
  fi
  echo "$stamp" >"$images/project.stamp"
  log "built $PROJECT_IMAGE in $(($(date +%s) - t0))s"
}

build_all() {
  mkdir -p "$images"
  build_pause
  build_node_base
  build_project_image
}

import_images() { # archive names (default: all three)
  local names=("$@") name
  ((${#names[@]})) || names=(pause node-base project)
  for name in "${names[@]}"; do ctr_k8s images import --no-unpack=false "$images/$name.tar" >/dev/null; done
  log "in containerd: $(ctr_k8s images ls -q | grep '^localhost/' | tr '\n' ' ')"
}

case "${1:-}" in
  build) build_all ;;
  import) import_images ;;
  project)
    build_all
    if ctr --address "$sock" version >/dev/null 2>&1; then import_images project; else log "bed not running: not imported"; fi
    ;;
  *) echo "usage: $0 build|import|project" >&2; exit 2 ;;
esac
