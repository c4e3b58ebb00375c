#!/usr/bin/env bash
# The images the test bed's pods run. No registry is reachable here, so all of them are built locally and
# imported into containerd's `k8s.io` namespace:
#   localhost/pause:bed                 a static pause program of ours (pause.c), the sandbox image
#   localhost/node-base:20              this machine's Node.js (/usr/bin/node, its shared libraries, npm, a
#                                       busybox shell), the base for the project's Dockerfile
#   localhost/aggregator-operator:dev   the project's image, built from its Dockerfile with
#                                       NODE_IMAGE=localhost/node-base:20
#   localhost/metrics-server:v0.8.0     upstream servers for tests of the operator with images it did not
#   localhost/sample-apiserver:v0.34.4  write, and a load target for HPA tests: static Go binaries built
#   localhost/cpu-burner:bed            from the pinned modules under servers/ (one go.mod each), on a
#                                       small static base (CA certificates, /etc/passwd, /tmp), user 65532
#                                       (docs/decisions/0008-upstream-server-images.md)
#   localhost/etcd:v3.6.17              etcd, etcdctl and etcdutl in /usr/local/bin (etcd the entrypoint),
#                                       from etcd's own modules; the same base, user 65532
#   localhost/local-path-provisioner:v0.0.37  the bed's dynamic volume provisioner (local-path-storage.yaml)
#   localhost/busybox:bed               this machine's static busybox with every applet in /bin, on the same
#                                       base, user root: the provisioner's helper pods, and a shell for tests
#                                       (docs/decisions/0009-bed-storage-and-etcd-image.md)
#   localhost/coredns:v1.15.0           the bed's cluster DNS (coredns.yaml): /coredns from CoreDNS's pinned
#                                       module with only the Corefile's plugins, on the same base, user 65532
#                                       (docs/decisions/0010-bed-cluster-dns.md)
# Image archives are `docker save` tarballs (image-tar.py writes all but the project's) cached under
# test/cluster/build/images/ with stamps of their inputs; unchanged inputs are not rebuilt.
#
# The project image is built by `docker build` when a Docker engine answers (`docker info`, honouring
# DOCKER_HOST), otherwise by buildah (daemonless, from Debian), from the same Dockerfile and build argument.
# CLUSTER_IMAGE_BUILDER=docker|buildah forces one.
#
# Usage: image.sh build            build (or reuse) all the archives
#        image.sh import           import them into the running bed's containerd
#        image.sh project          rebuild the project image and, when the bed runs, import it
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
state="${CLUSTER_STATE_DIR:-$root/.cluster}"
logs="$state/logs"
sock="$state/containerd/containerd.sock"
images="$here/build/images"
# shellcheck source=artifact-cache.sh
source "$here/artifact-cache.sh"
PAUSE_IMAGE="localhost/pause:bed"
NODE_BASE_IMAGE="localhost/node-base:20"
PROJECT_IMAGE="localhost/aggregator-operator:dev"
METRICS_SERVER_IMAGE="localhost/metrics-server:v0.8.0"
SAMPLE_APISERVER_IMAGE="localhost/sample-apiserver:v0.34.4"
CPU_BURNER_IMAGE="localhost/cpu-burner:bed"
ETCD_IMAGE="localhost/etcd:v3.6.17"
LOCAL_PATH_PROVISIONER_IMAGE="localhost/local-path-provisioner:v0.0.37"
BUSYBOX_IMAGE="localhost/busybox:bed"
COREDNS_IMAGE="localhost/coredns:v1.15.0"

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

# The base layer of the Go images and busybox: byte for byte the same in each, so containerd stores it once.
write_base() { # dir
  mkdir -p "$1/etc/ssl/certs" "$1/tmp"
  chmod 1777 "$1/tmp"
  cp -L /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/tmp:/sbin/nologin\n' >"$1/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$1/etc/group"
}

# Static Go programs from their module under servers/NAME (go.mod and go.sum pin them and everything they
# link) as an image of two layers: the shared base and the binaries, each at the path named after its
# package (default /NAME); the first is the entrypoint. Go's module and build caches make a rebuild after a
# stamp change cheap; the stamp covers the module's files, the Go version, image-tar.py and the recipe.
# GO_BUILD_TAGS (a comma list) is passed to `go build -tags` and is part of the stamp when set.
build_go_image() { # name, image, extra -ldflags, package[=path in the image]...
  local name="$1" image="$2" ldflags="$3" mod="$here/servers/$1" bin="$here/build/servers/$1"
  local tags="${GO_BUILD_TAGS:-}"
  shift 3
  local specs=() dir="$images/$name-root" stamp t0 log="$logs/$name-build.log" spec
  for spec in "$@"; do if [[ "$spec" == *=* ]]; then specs+=("$spec"); else specs+=("$spec=/$name"); fi; done
  # Bump recipe when changing what goes into the image below.
  local recipe=1
  stamp="$( (echo "$recipe $image ${specs[*]} $ldflags${tags:+ tags=$tags}"; go version; find "$mod" -type f | sort | xargs cat
    cat "$here/image-tar.py" /etc/ssl/certs/ca-certificates.crt) | sha256sum | cut -c1-16)"
  [[ -f "$images/$name.tar" && "$(cat "$images/$name.stamp" 2>/dev/null)" == "$stamp" ]] && return
  mkdir -p "$(dirname "$bin")"
  if cache_restore "image-$name" "$stamp" "$images/$name.tar" "$bin"; then
    echo "$stamp" >"$images/$name.stamp"
    log "$image copied from the artifact cache"
    return
  fi
  t0=$(date +%s)
  mkdir -p "$logs"
  log "building $image from ${specs[*]%%=*} ($(go env GOVERSION); log: $log)"
  rm -rf "$images/$name.tar" "$bin.tmp"
  mkdir -p "$bin.tmp"
  # `go build -v` names each package it compiles: print a running count, not hundreds of lines.
  (
    cd "$mod" && go mod download
    for spec in "${specs[@]}"; do
      CGO_ENABLED=0 nice -n 10 go build -v -trimpath -buildvcs=false ${tags:+-tags=$tags} -ldflags="-s -w $ldflags" \
        -o "$bin.tmp/$(basename "${spec#*=}")" "${spec%%=*}"
    done
  ) >"$log" 2>&1 &
  local builder=$! waited=0
  while kill -0 "$builder" 2>/dev/null; do
    sleep 1
    if ((++waited % 60 == 0)); then log "  $image: $(grep -c . "$log") packages compiled so far (${waited}s)"; fi
  done
  if ! wait "$builder"; then tail -20 "$log" >&2; return 1; fi
  rm -rf "$bin" "$dir"
  mv "$bin.tmp" "$bin"
  write_base "$dir/base"
  for spec in "${specs[@]}"; do
    mkdir -p "$dir/bin$(dirname "${spec#*=}")"
    cp "$bin/$(basename "${spec#*=}")" "$dir/bin${spec#*=}"
  done
  python3 "$here/image-tar.py" --out "$images/$name.tar" --tag "$image" --layer "$dir/base:/" --layer "$dir/bin:/" \
    --entrypoint "[\"${specs[0]#*=}\"]" --user 65532:65532 --workdir /tmp >/dev/null
  echo "$stamp" >"$images/$name.stamp"
  cache_save "image-$name" "$stamp" "$images/$name.tar" "$bin"
  log "built $image in $(($(date +%s) - t0))s ($(grep -c . "$log") packages compiled; binaries $(du -cm "$bin"/* | tail -1 | cut -f1) MB, image $(du -m "$images/$name.tar" | cut -f1) MB)"
}

# This machine's busybox (Debian's busybox-static: one static binary) with a link in /bin for every applet
# it has, on the shared base. User root, as upstream's busybox image: local-path-provisioner's helper pods
# create and remove volume directories in a root-owned host directory.
build_busybox() {
  local dir="$images/busybox-root" stamp applet
  # Bump recipe when changing what goes into the image below.
  local recipe=1
  stamp="$( (echo "$recipe $BUSYBOX_IMAGE"; cat /bin/busybox "$here/image-tar.py" /etc/ssl/certs/ca-certificates.crt) |
    sha256sum | cut -c1-16)"
  [[ -f "$images/busybox.tar" && "$(cat "$images/busybox.stamp" 2>/dev/null)" == "$stamp" ]] && return
  if readelf -l /bin/busybox | grep -q INTERP; then echo "/bin/busybox is not static (busybox-static?)" >&2; return 1; fi
  log "building $BUSYBOX_IMAGE from /bin/busybox ($(/bin/busybox | head -1 | cut -d' ' -f1-2))"
  rm -rf "$dir"
  write_base "$dir/base"
  mkdir -p "$dir/bin/bin"
  cp /bin/busybox "$dir/bin/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [[ "$applet" == busybox ]] || ln -s busybox "$dir/bin/bin/$applet"
  done
  python3 "$here/image-tar.py" --out "$images/busybox.tar" --tag "$BUSYBOX_IMAGE" --layer "$dir/base:/" \
    --layer "$dir/bin:/" --cmd '["sh"]' --workdir /tmp >/dev/null
  echo "$stamp" >"$images/busybox.stamp"
}

build_all() {
  mkdir -p "$images"
  build_pause
  build_node_base
  build_project_image
  # metrics-server's own Makefile stamps only client-go's version (its --version prints it). sample-apiserver
  # is cut from Kubernetes v1.34.4, whose build stamps both version packages as below (and as build.sh does):
  # k8s.io/apiserver derives its binary version from component-base's, so a v0.x there would read as 0.34.
  local kube_ldflags="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    kube_ldflags+=" -X $pkg.gitVersion=v1.34.4 -X $pkg.gitMajor=1 -X $pkg.gitMinor=34 -X $pkg.gitTreeState=clean"
  done
  build_go_image metrics-server "$METRICS_SERVER_IMAGE" "-X k8s.io/client-go/pkg/version.gitVersion=v0.8.0" \
    sigs.k8s.io/metrics-server/cmd/metrics-server
  build_go_image sample-apiserver "$SAMPLE_APISERVER_IMAGE" "$kube_ldflags" k8s.io/sample-apiserver
  build_go_image cpu-burner "$CPU_BURNER_IMAGE" "-X main.version=bed" .
  # etcd's build stamps only version.GitSHA (from its git checkout; a module has none, so it says "Not
  # provided"); the version itself is a constant of go.etcd.io/etcd/api/v3. Layout as etcd's own image.
  build_go_image etcd "$ETCD_IMAGE" "" go.etcd.io/etcd/server/v3=/usr/local/bin/etcd \
    go.etcd.io/etcd/etcdctl/v3=/usr/local/bin/etcdctl go.etcd.io/etcd/etcdutl/v3=/usr/local/bin/etcdutl
  # Upstream's scripts/build stamps main.VERSION; its image has the binary at /usr/bin.
  build_go_image local-path-provisioner "$LOCAL_PATH_PROVISIONER_IMAGE" "-X main.VERSION=v0.0.37" \
    github.com/rancher/local-path-provisioner=/usr/bin/local-path-provisioner
  # CoreDNS with only the plugins the bed's Corefile uses: our main package (servers/coredns/main.go), not
  # the release's, which links every default plugin. As CoreDNS's Makefile: the tag grpcnotrace, and
  # coremain.GitCommit stamped with `git describe`, which at a release's tag prints the tag; its image has
  # /coredns.
  GO_BUILD_TAGS=grpcnotrace build_go_image coredns "$COREDNS_IMAGE" \
    "-X github.com/coredns/coredns/coremain.GitCommit=v1.15.0" .=/coredns
  build_busybox
}

import_images() { # archive names (default: all)
  local names=("$@") name
  ((${#names[@]})) || names=(pause node-base project metrics-server sample-apiserver cpu-burner etcd local-path-provisioner coredns busybox)
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
