#!/usr/bin/env bash
# The test bed's node: containerd (Debian) with CRI, CNI bridge networking (Debian's
# containernetworking-plugins), kubelet and kube-proxy from the `kube` binary, and the images pods need,
# built locally (no registry is reachable): a static pause image, a Node.js base image from this
# machine's Node 20 (with npm and a busybox shell), and the project's image from its Dockerfile. Called by cluster.sh; `up`, `down`, `status`, `images`.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
state="${CLUSTER_STATE_DIR:-$root/.cluster}"
logs="$state/logs"
run="$state/run"
kube="$here/build/kube"
node_ip="${CLUSTER_NODE_IP:-172.30.255.1}"
node_name="${CLUSTER_NODE_NAME:-bed-node}"
pod_cidr="10.244.0.0/24"
sock="$state/containerd/containerd.sock"
images="$here/build/images"
PAUSE_IMAGE="localhost/pause:bed"
NODE_BASE_IMAGE="localhost/node-base:20"
PROJECT_IMAGE="localhost/aggregator-operator:dev"

log() { printf '[node] %s\n' "$*"; }
# shellcheck source=processes.sh
source "$here/processes.sh"
ctr_k8s() { ctr --address "$sock" -n k8s.io "$@"; }

# ---- images ----

build_pause() {
  local dir="$images/pause-root"
  [[ -f "$images/pause.tar" && "$images/pause.tar" -nt "$here/pause.c" ]] && return
  mkdir -p "$dir"
  gcc -static -Os -o "$dir/pause" "$here/pause.c"
  python3 "$here/image-tar.py" --out "$images/pause.tar" --tag "$PAUSE_IMAGE" --layer "$dir:/" \
    --entrypoint '["/pause"]' --user 65535:65535
}

build_node_base() {
  local node_bin dir stamp
  node_bin="$(command -v node)"
  stamp="$(cat "$node_bin" "$0" | sha256sum | cut -c1-16)"
  [[ -f "$images/node-base.tar" && "$(cat "$images/node-base.stamp" 2>/dev/null)" == "$stamp" ]] && return
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
  # npm and a shell (busybox), so that the Dockerfile's build stage can run on this base as well.
  mkdir -p "$dir/bin" "$dir/usr/lib/node_modules"
  cp /bin/busybox "$dir/bin/busybox"
  for tool in sh env cat ls mkdir rm cp mv chmod; do ln -sf busybox "$dir/bin/$tool"; done
  ln -sf ../../bin/env "$dir/usr/bin/env"
  cp -r /usr/lib/node_modules/npm "$dir/usr/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$dir/usr/bin/npm"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$dir/etc/group"
  python3 "$here/image-tar.py" --out "$images/node-base.tar" --tag "$NODE_BASE_IMAGE" --layer "$dir:/" \
    --entrypoint '["node"]' --env NODE_ENV=production --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
  echo "$stamp" >"$images/node-base.stamp"
}

# The project's image, built from the repository's Dockerfile with buildah (daemonless; no Docker engine
# runs in this VM) on the local node base, then exported for containerd.
build_project_image() {
  local stamp
  stamp="$(cd "$root" && cat Dockerfile .dockerignore package-lock.json $(git ls-files src crds tsconfig*.json | sort) "$images/node-base.stamp" 2>/dev/null | sha256sum | cut -c1-16)"
  [[ -f "$images/project.tar" && "$(cat "$images/project.stamp" 2>/dev/null)" == "$stamp" ]] && return
  log "building $PROJECT_IMAGE from the Dockerfile (NODE_IMAGE=$NODE_BASE_IMAGE)"
  buildah rmi -f "$NODE_BASE_IMAGE" >/dev/null 2>&1 || true
  buildah pull -q "docker-archive:$images/node-base.tar" >/dev/null
  buildah bud --quiet --network=host --pull=never --isolation=chroot --layers \
    --build-arg "NODE_IMAGE=$NODE_BASE_IMAGE" -t "$PROJECT_IMAGE" -f "$root/Dockerfile" "$root" >>"$logs/image-build.log" 2>&1 ||
    { tail -20 "$logs/image-build.log" >&2; return 1; }
  rm -f "$images/project.tar"
  buildah push -q "$PROJECT_IMAGE" "docker-archive:$images/project.tar:$PROJECT_IMAGE" >/dev/null
  echo "$stamp" >"$images/project.stamp"
}

import_images() {
  for tar in pause node-base project; do
    ctr_k8s images import --no-unpack=false "$images/$tar.tar" >/dev/null
  done
  log "images: $(ctr_k8s images ls -q | grep '^localhost/' | tr '\n' ' ')"
}

images_up() {
  mkdir -p "$images"
  build_pause
  build_node_base
  build_project_image
}

# ---- containerd, CNI, kubelet, kube-proxy ----

write_configs() {
  mkdir -p "$state/containerd" "$state/cni/net.d" "$state/kubelet"
  cat >"$state/containerd/config.toml" <<EOF
version = 2
root = "$state/containerd/root"
state = "$state/containerd/state"
[grpc]
  address = "$sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This VM forbids lowering oom_score_adj (kubelet asks -998 for sandboxes); clamp to containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni/net.d"
EOF
  cat >"$state/cni/net.d/10-bed.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "bed",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$pod_cidr" }]], "routes": [{ "dst": "0.0.0.0/0" }],
                "dataDir": "$state/cni/ipam" }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  cat >"$state/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $state/pki/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failSwapOn: false
podCIDR: $pod_cidr
readOnlyPort: 0
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
syncFrequency: 10s
fileCheckFrequency: 5s
EOF
  cat >"$state/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $state/kube-proxy.kubeconfig}
hostnameOverride: $node_name
mode: iptables
clusterCIDR: 10.244.0.0/16
iptables: {masqueradeAll: true}
conntrack: {maxPerCore: 0}
EOF
}

runtime_up() {
  mkdir -p "$logs" "$run"
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  write_configs
  images_up
  start containerd containerd --config "$state/containerd/config.toml"
  for _ in $(seq 1 100); do ctr --address "$sock" version >/dev/null 2>&1 && break; sleep 0.2; done
  import_images
}

up() {
  runtime_up
  start kubelet "$kube" kubelet --config="$state/kubelet/config.yaml" --kubeconfig="$state/kubelet.kubeconfig" \
    --container-runtime-endpoint="unix://$sock" --hostname-override="$node_name" --node-ip="$node_ip" \
    --root-dir="$state/kubelet/root" --cert-dir="$state/kubelet/pki" --v=1
  start kube-proxy "$kube" kube-proxy --config="$state/kube-proxy.yaml" --v=1
  for _ in $(seq 1 300); do
    if kubectl --kubeconfig "$state/admin.kubeconfig" get node "$node_name" \
      -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True; then
      log "node $node_name Ready"
      return 0
    fi
    sleep 0.5
  done
  log "node $node_name did not become Ready; see $logs/kubelet.log"
  return 1
}

down() {
  stop kube-proxy
  stop kubelet
  if [[ -S "$sock" ]]; then
    for task in $(ctr_k8s tasks ls -q 2>/dev/null); do ctr_k8s tasks kill -s KILL "$task" >/dev/null 2>&1 || true; done
  fi
  stop containerd
  # Sandboxes' shims outlive containerd; end them so nothing of the bed keeps running.
  pkill -f "containerd-shim-runc-v2 -namespace k8s.io -address $sock" 2>/dev/null || true
  # kubelet bind-mounts its root dir and pods' volumes; release them so the state dir can be removed.
  findmnt -rn -o TARGET | { grep "^$state/" || true; } | sort -r | while read -r mount; do
    umount "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null || true
  done
}

status() {
  local rc=0
  for name in containerd kubelet kube-proxy; do
    if pid_alive "$name"; then echo "$name: running (pid $(cat "$run/$name.pid"))"; else echo "$name: stopped"; rc=1; fi
  done
  return $rc
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  images) mkdir -p "$logs" "$run"; images_up ;;
  runtime) runtime_up ;;
  *) echo "usage: $0 up|down|status|images|runtime" >&2; exit 2 ;;
esac
