#!/usr/bin/env bash
# The local single-node Kubernetes test bed: `up`, `down` and `status`.
# Control plane: etcd (Debian), kube-apiserver with RBAC and the aggregation layer, kube-controller-manager
# and kube-scheduler, all from the `kube` binary built by build.sh; the node (node.sh); cluster DNS (CoreDNS,
# coredns.yaml: Service kube-dns at 10.96.0.10, domain cluster.local); the default StorageClass
# (local-path-storage.yaml). State, PKI, kubeconfigs, volumes and component logs live under .cluster/ at
# the repository root. `up` is idempotent: running components are kept.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
state="${CLUSTER_STATE_DIR:-$root/.cluster}"
pki="$state/pki"
logs="$state/logs"
run="$state/run"
# kubectl's discovery cache belongs to this bed, not to ~/.kube/cache (shared by every bed at this address).
export KUBECACHEDIR="$state/kube-cache"
kube="$here/build/kube"
# The API server's address must be reachable from pod network namespaces (the `kubernetes` Service
# DNATs to it), so it lives on an interface of its own (a port-less bridge: this kernel has no dummy driver)
# rather than on loopback.
node_ip="${CLUSTER_NODE_IP:-172.30.255.1}"
node_name="${CLUSTER_NODE_NAME:-bed-node}"
service_cidr="10.96.0.0/16"
service_ip="10.96.0.1"
# The cluster DNS Service's ClusterIP (coredns.yaml), the .10 of the service CIDR as kubeadm picks; node.sh
# gives it to the kubelet as clusterDNS.
dns_ip="10.96.0.10"
pod_cidr="10.244.0.0/24"
etcd_port=23790
apiserver_port=6443

log() { printf '[cluster] %s\n' "$*"; }
# shellcheck source=processes.sh
source "$here/processes.sh"




wait_for() { # description, seconds, command...
  local what="$1" seconds="$2"
  shift 2
  for _ in $(seq 1 $((seconds * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  log "timed out waiting for $what"
  return 1
}

ensure_network() {
  if ! ip link show kubebed0 >/dev/null 2>&1; then
    ip link add kubebed0 type bridge
  fi
  ip link set kubebed0 up
  ip addr replace "$node_ip/32" dev kubebed0
  # A ClusterIP that kube-proxy has not programmed yet (a Service created a moment ago) would otherwise
  # follow the default route out of the VM, where this network's egress proxy accepts any address on
  # :443 and answers 404, and kube-apiserver keeps that connection alive. kube-proxy DNATs programmed
  # ClusterIPs in the nat table before the filter table sees them, so only unprogrammed ones are refused
  # here, as kube-proxy itself refuses Services without endpoints.
  local chain rule
  for chain in OUTPUT FORWARD; do
    rule=(-d "$service_cidr" -m comment --comment "kubebed: unprogrammed ClusterIP" -j REJECT)
    iptables -C "$chain" "${rule[@]}" 2>/dev/null || iptables -I "$chain" 1 "${rule[@]}"
  done
}

# ---- PKI (openssl) ----

cert() { # name, CN, O (may be empty), ca name, kind (server|client), SANs (comma list, may be empty)
  local name="$1" cn="$2" org="$3" ca="$4" kind="$5" sans="$6"
  [[ -f "$pki/$name.crt" ]] && return
  local subj="/CN=$cn"
  [[ -n "$org" ]] && subj="/O=$org$subj"
  local ext="$pki/$name.ext"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ "$kind" == server ]]; then echo "extendedKeyUsage=serverAuth"; else echo "extendedKeyUsage=clientAuth"; fi
    [[ -n "$sans" ]] && echo "subjectAltName=$sans"
  } >"$ext"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/$ca.crt" -CAkey "$pki/$ca.key" -CAcreateserial \
    -days 365 -sha256 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$ext"
}

ca() { # name, CN
  [[ -f "$pki/$1.crt" ]] && return
  openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$pki/$1.key" -subj "/CN=$2" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$pki/$1.crt" 2>/dev/null
}

ensure_pki() {
  mkdir -p "$pki"
  ca ca kubernetes-ca
  ca front-proxy-ca front-proxy-ca
  cert apiserver kube-apiserver "" ca server \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$service_ip,IP:$node_ip"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters ca client ""
  cert front-proxy-client front-proxy-client "" front-proxy-ca client ""
  cert admin kubernetes-admin system:masters ca client ""
  cert controller-manager system:kube-controller-manager "" ca client ""
  cert scheduler system:kube-scheduler "" ca client ""
  cert kube-proxy system:kube-proxy "" ca client ""
  cert kubelet "system:node:$node_name" system:nodes ca client ""
  [[ -f "$pki/sa.key" ]] || openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  [[ -f "$pki/sa.pub" ]] || openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
}

kubeconfig() { # name, cert name
  local file="$state/$1.kubeconfig"
  [[ -f "$file" ]] && return
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: bed
  cluster:
    server: https://$node_ip:$apiserver_port
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $1
  user:
    client-certificate-data: $(base64 -w0 "$pki/$2.crt")
    client-key-data: $(base64 -w0 "$pki/$2.key")
contexts:
- name: bed
  context: {cluster: bed, user: $1}
current-context: bed
EOF
  chmod 600 "$file"
}

# ---- control plane ----

# Another bed (e.g. from another checkout) holding the ports would make components fail obscurely.
check_ports_free() {
  local port
  for port in $etcd_port 23800 $apiserver_port 10257 10259 10250; do
    if ss -ltnH "sport = :$port" | grep -q .; then
      pid_alive etcd && pid_alive kube-apiserver && return 0
      echo "port $port is already in use (another test cluster running from a different checkout?):" >&2
      ss -ltnpH "sport = :$port" >&2
      exit 1
    fi
  done
}

up_control_plane() {
  start etcd etcd --name=bed --data-dir="$state/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls=http://127.0.0.1:23800 --initial-advertise-peer-urls=http://127.0.0.1:23800 \
    --initial-cluster=bed=http://127.0.0.1:23800 --log-level=warn --logger=zap
  wait_for etcd 30 curl -sf "http://127.0.0.1:$etcd_port/health"

  start kube-apiserver "$kube" kube-apiserver \
    --advertise-address="$node_ip" --bind-address=0.0.0.0 --secure-port="$apiserver_port" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --service-cluster-ip-range="$service_cidr" --allow-privileged=true \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --client-ca-file="$pki/ca.crt" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local --service-account-key-file="$pki/sa.pub" \
    --service-account-signing-key-file="$pki/sa.key" \
    --requestheader-client-ca-file="$pki/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
    --kubelet-preferred-address-types=InternalIP,Hostname --enable-aggregator-routing=false --v=1
  wait_for kube-apiserver 90 kubectl --kubeconfig "$state/admin.kubeconfig" get --raw /readyz

  start kube-controller-manager "$kube" kube-controller-manager \
    --kubeconfig="$state/controller-manager.kubeconfig" --authentication-kubeconfig="$state/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$state/controller-manager.kubeconfig" --bind-address=127.0.0.1 --secure-port=10257 \
    --use-service-account-credentials=true --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --allocate-node-cidrs=false --leader-elect=false --controllers='*,-nodeipam' --v=1
  start kube-scheduler "$kube" kube-scheduler \
    --kubeconfig="$state/scheduler.kubeconfig" --authentication-kubeconfig="$state/scheduler.kubeconfig" \
    --authorization-kubeconfig="$state/scheduler.kubeconfig" --bind-address=127.0.0.1 --secure-port=10259 \
    --leader-elect=false --v=1
}

# Waits, at most 180 s, until a Deployment of one replica is Available and updated, with its pods'
# states every 15 s.
wait_deployment() { # namespace, name, pod label selector
  local ns="$1" name="$2" selector="$3" available="" waited=0
  while ((waited < 180)); do
    available="$(kubectl --kubeconfig "$state/admin.kubeconfig" -n "$ns" get deployment "$name" \
      -o jsonpath='{.status.conditions[?(@.type=="Available")].status}/{.status.updatedReplicas}/{.status.replicas}' 2>/dev/null)" || true
    [[ "$available" == True/1/1 ]] && return 0
    sleep 1
    if ((++waited % 15 == 0)); then
      log "  waiting for $name (${waited}s): $(kubectl --kubeconfig "$state/admin.kubeconfig" \
        -n "$ns" get pods -l "$selector" --no-headers 2>&1 | tr -s ' ' | tr '\n' ';')"
    fi
  done
  log "$name not Available after 180s; see: kubectl -n $ns describe pods -l $selector"
  return 1
}

# ---- cluster DNS ----

# CoreDNS (coredns.yaml) behind the Service kube-system/kube-dns at $dns_ip, which the kubelet gives pods
# as their nameserver. Applied at every `up` (kubectl apply leaves an unchanged bed alone), then waited for.
up_dns() {
  local stamp t0
  t0=$(date +%s)
  stamp="$(cat "$here/build/images/coredns.stamp")"
  sed -e "s|@IMAGE_STAMP@|$stamp|g" "$here/coredns.yaml" | kubectl --kubeconfig "$state/admin.kubeconfig" apply -f - >/dev/null
  wait_deployment kube-system coredns k8s-app=kube-dns
  log "cluster DNS (CoreDNS, kube-system/kube-dns at $dns_ip, domain cluster.local) ready in $(($(date +%s) - t0))s"
}

# ---- storage ----

# The default StorageClass `local-path` (local-path-storage.yaml): each volume is a directory under
# $state/local-path on this host, where the kubelet runs, so `down --purge` removes volumes with the rest of
# $state. Applied at every `up` (kubectl apply leaves an unchanged bed alone), then the provisioner is
# waited for, at most 180 s.
up_storage() {
  local dir="$state/local-path" stamp t0
  t0=$(date +%s)
  mkdir -p "$dir"
  stamp="$(cat "$here/build/images/local-path-provisioner.stamp")"
  sed -e "s|@LOCAL_PATH_DIR@|$dir|g" -e "s|@IMAGE_STAMP@|$stamp|g" "$here/local-path-storage.yaml" |
    kubectl --kubeconfig "$state/admin.kubeconfig" apply -f - >/dev/null
  wait_deployment local-path-storage local-path-provisioner app=local-path-provisioner
  log "StorageClass local-path (default) ready in $(($(date +%s) - t0))s; volumes in $dir"
}

up() {
  local t0
  t0=$(date +%s)
  [[ $EUID -eq 0 ]] || { echo "cluster.sh must run as root (it configures networking and runs kubelet)" >&2; exit 1; }
  bash "$here/build.sh"
  mkdir -p "$logs" "$run"
  ensure_network
  ensure_pki
  for c in admin:admin controller-manager:controller-manager scheduler:scheduler kube-proxy:kube-proxy kubelet:kubelet; do
    kubeconfig "${c%%:*}" "${c##*:}"
  done
  cp "$state/admin.kubeconfig" "$state/kubeconfig"
  check_ports_free
  up_control_plane
  if [[ -f "$here/node.sh" ]]; then
    bash "$here/node.sh" up
    up_dns
    up_storage
  fi
  log "up in $(( $(date +%s) - t0 ))s"
  echo "export KUBECONFIG=$state/kubeconfig KUBECACHEDIR=$state/kube-cache"
}

down() {
  if [[ -f "$here/node.sh" ]]; then bash "$here/node.sh" down || true; fi
  for name in kube-scheduler kube-controller-manager kube-apiserver etcd; do stop "$name"; done
  if [[ "${1:-}" == "--purge" ]]; then
    # $state holds the local-path volumes too ($state/local-path; node.sh down unmounted what pods held).
    rm -rf "$state"
    if other_bed_running; then
      log "another bed runs here: the bridge kubebed0 and the ClusterIP rules are left to it"
    else
      ip link del kubebed0 2>/dev/null || true
      for chain in OUTPUT FORWARD; do
        iptables -D "$chain" -d "$service_cidr" -m comment --comment "kubebed: unprogrammed ClusterIP" -j REJECT 2>/dev/null || true
      done
    fi
    log "state removed"
  fi
}

status() {
  local rc=0
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler; do
    if pid_alive "$name"; then echo "$name: running (pid $(cat "$run/$name.pid"))"; else echo "$name: stopped"; rc=1; fi
  done
  if [[ -f "$here/node.sh" ]]; then bash "$here/node.sh" status || rc=1; fi
  if [[ $rc -eq 0 ]]; then kubectl --kubeconfig "$state/kubeconfig" get --raw '/readyz?verbose' | tail -1; fi
  echo "export KUBECONFIG=$state/kubeconfig KUBECACHEDIR=$state/kube-cache"
  return $rc
}

case "${1:-}" in
  up) up ;;
  down) down "${2:-}" ;;
  status) status ;;
  *) echo "usage: $0 up|down [--purge]|status" >&2; exit 2 ;;
esac
