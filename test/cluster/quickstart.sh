#!/usr/bin/env bash
# `npm start`: the local cluster (built and started if needed), the operator installed from config/local
# with the image just built from this checkout, and the sample AggregatedAPI, waited for until Ready.
# Prints the kubeconfig export and commands to try. Needs root, as the cluster does.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
state="${CLUSTER_STATE_DIR:-$root/.cluster}"
export KUBECONFIG="$state/kubeconfig"
# kubectl's discovery cache belongs to this bed, not to ~/.kube/cache (shared by every bed at this address).
export KUBECACHEDIR="$state/kube-cache"
step() { printf '\n[quickstart] %s\n' "$*"; }

# The system packages first: a fresh machine must learn what is missing before the long compile, not after.
step "system packages (test/install-deps.sh: installs what is missing as root, or names it)"
bash "$root/test/install-deps.sh"
for tool in go kubectl; do
  command -v "$tool" >/dev/null || { echo "$tool is required on PATH (see the README's Quickstart)" >&2; exit 1; }
done
step "local cluster (the first run compiles Kubernetes and the upstream servers the bed runs: about 17 minutes on 2 cores)"
bash "$here/cluster.sh" up
step "operator (kubectl apply -k config/local)"
kubectl apply -k "$root/config/local"
kubectl wait --for=condition=Established crd/aggregatedapis.aggregation.example.com --timeout=60s
# The image was rebuilt under the same tag when the sources changed: restart onto it.
kubectl -n aggregator-operator-system rollout restart deployment/aggregator-operator
kubectl -n aggregator-operator-system rollout status deployment/aggregator-operator --timeout=300s
step "sample AggregatedAPI (config/samples/aggregatedapi.yaml)"
kubectl apply -f "$root/config/samples/aggregatedapi.yaml"
kubectl wait --for=condition=Ready aggregatedapi/widgets --timeout=300s
# The operator records its image's digest in the server's pod template, so a server left running by an
# earlier start on an older build of the same tag is rolled once onto this one: wait for that.
for i in $(seq 1 90); do
  # Every operator pod runs one image once the old ones are gone.
  operator_image_ids="$(kubectl -n aggregator-operator-system get pods -l app.kubernetes.io/name=aggregator-operator \
    -o jsonpath='{range .items[*]}{.status.containerStatuses[0].imageID}{"\n"}{end}' | sort -u)"
  server_image_id="$(kubectl -n widgets-system get deployment widgets-apiserver \
    -o jsonpath="{.spec.template.metadata.annotations['aggregation\\.example\\.com/image-id']}")"
  [[ -n "$server_image_id" && "$operator_image_ids" == "$server_image_id" ]] && break
  if ((i == 90)); then echo "the operator did not roll the Widget server onto its image" >&2; exit 1; fi
  sleep 2
done
kubectl -n widgets-system rollout status deployment/widgets-apiserver --timeout=300s
kubectl wait --for=condition=Ready aggregatedapi/widgets --timeout=300s
step "waiting for all 3 etcd members (Ready needs a quorum of them)"
kubectl wait --for=jsonpath='{.status.conditions[?(@.type=="StorageReady")].reason}'=MembersHealthy \
  aggregatedapi/widgets --timeout=300s
# Ready may still be the old pod's for a moment, and the aggregator needs the new pod's endpoint: wait
# until the Widget API answers through kube-apiserver (it answers 503 until then).
step "waiting for widgets to be served through kube-apiserver"
for i in $(seq 90); do
  kubectl get widgets -A >/dev/null 2>&1 && break
  if ((i == 90)); then
    echo "widgets are not served after 3 minutes:" >&2
    kubectl get widgets -A >&2 || true
    kubectl get apiservice v1.custom.example.com -o wide >&2 || true
    exit 1
  fi
  sleep 2
done
# No registry is reachable from the bed: the sample runs the bed's own pause image instead of nginx.
sed 's#image: nginx:1.27#image: localhost/pause:bed#' "$root/config/samples/widget.yaml" |
  kubectl apply -n default -f -
step "waiting for the Widget controller to run the sample Widget"
kubectl -n default wait --for=condition=Available widget/sample --timeout=300s
kubectl get aggregatedapis
kubectl get widgets -A
cat <<EOT

The Widget API is served through kube-apiserver's aggregation layer. Try:

  export KUBECONFIG=$KUBECONFIG
  export KUBECACHEDIR=$KUBECACHEDIR
  kubectl get aggregatedapis
  kubectl describe aggregatedapi widgets
  kubectl get widgets -A
  kubectl scale widget sample --replicas=3
  kubectl explain widget.spec
  kubectl -n aggregator-operator-system logs -l app.kubernetes.io/name=aggregator-operator --tail=20

Stop everything with: npm run cluster:down
EOT
