#!/usr/bin/env bash
# The test bed's node: containerd (Debian) with CRI, CNI bridge networking (Debian's
# containernetworking-plugins), kubelet and kube-proxy from the `kube` binary, and the images pods need,
# built locally by image.sh (no registry is reachable). Called by cluster.sh; `up`, `down`, `status`, `images`.
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
dns_ip="10.96.0.10"
sock="$state/containerd/containerd.sock"
PAUSE_IMAGE="localhost/pause:bed"

log() { printf '[node] %s\n' "$*"; }
# shellcheck source=processes.sh
source "$here/processes.sh"
ctr_k8s() { ctr --address "$sock" -n k8s.io "$@"; }

# ---- containerd, CNI, kubelet, kube-proxy ----

# Writes stdin to a file only when its content differs: kube-proxy exits when its configuration file is
# written while it runs ("content of the proxy server's configuration file was updated"), so a repeated `up`
# must leave unchanged files alone. A component whose file did change is restarted by `up` (see restart_changed).
changed=()
write_file() { # path, component
  local tmp="$1.tmp"
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1" && changed+=("$2"); fi
}

restart_changed() {
  local name
  for name in "${changed[@]}"; do
    if pid_alive "$name"; then log "configuration of $name changed: restarting it"; stop "$name"; fi
  done
}

write_configs() {
  mkdir -p "$state/containerd" "$state/cni/net.d" "$state/kubelet"
  write_file "$state/containerd/config.toml" containerd <<EOF
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
  write_file "$state/cni/net.d/10-bed.conflist" - <<EOF
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
  write_file "$state/kubelet/config.yaml" kubelet <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $state/pki/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failSwapOn: false
# This VM is cgroup v1 (/sys/fs/cgroup is tmpfs); say so explicitly, as kubelet 1.35+ would require.
failCgroupV1: false
podCIDR: $pod_cidr
# Pods with dnsPolicy ClusterFirst (the default) get the cluster DNS Service (cluster.sh, coredns.yaml) as
# their nameserver, with the search list <ns>.svc.cluster.local svc.cluster.local cluster.local.
clusterDNS: [$dns_ip]
clusterDomain: cluster.local
readOnlyPort: 0
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
syncFrequency: 10s
fileCheckFrequency: 5s
EOF
  write_file "$state/kube-proxy.yaml" kube-proxy <<EOF
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

# Pod network namespaces left by a bed that was not torn down (or by an earlier clone at another path)
# keep their veths and pod IPs on the bridge; a new bed's IPAM (its state lives under .cluster) hands the
# same IPs out again and the duplicates answer "connection refused". Only ever called while this bed's
# containerd is not running, and cluster.sh refuses to start while another bed holds the ports.
remove_pod_netns() {
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^cni-/ {print $1}'); do ip netns delete "$ns" 2>/dev/null || true; done
}

runtime_up() {
  mkdir -p "$logs" "$run"
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  write_configs
  restart_changed
  bash "$here/image.sh" build
  pid_alive containerd || remove_pod_netns
  start containerd containerd --config "$state/containerd/config.toml"
  for _ in $(seq 1 100); do ctr --address "$sock" version >/dev/null 2>&1 && break; sleep 0.2; done
  bash "$here/image.sh" import
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
  # Sandboxes' shims outlive containerd; end them so nothing of the bed keeps running. (The shim's
  # command line has `-id <id>` between the namespace and the address.)
  pkill -f "containerd-shim-runc-v2 -namespace k8s.io .*-address $sock" 2>/dev/null || true
  if other_bed_running; then
    log "another bed runs here: its pods' network namespaces are left alone"
  else
    remove_pod_netns
  fi
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
  images) bash "$here/image.sh" build ;;
  runtime) runtime_up ;;
  *) echo "usage: $0 up|down|status|images|runtime" >&2; exit 2 ;;
esac
