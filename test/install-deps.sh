#!/usr/bin/env bash
# Installs the Debian packages the test suite starts for real (etcd, and the test cluster's containerd,
# runc, CNI plugins, iptables, conntrack; gcc for the pause image; buildah and busybox to build images;
# lua5.1 for the Argo CD health check test; prometheus for its promtool, which checks and unit-tests the
# alerting rules in config/prometheus), when any is missing. Needs root,
# as the test cluster itself does; prints what is missing otherwise.
set -euo pipefail
packages=(etcd-server containerd runc containernetworking-plugins iptables conntrack openssl gcc libc6-dev python3 curl
  buildah busybox-static lua5.1 prometheus)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
((${#missing[@]})) || exit 0
if [[ $EUID -ne 0 ]]; then
  echo "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The tests start their own etcd and containerd, and need only promtool from prometheus; keep the
# packages from starting daemons.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
