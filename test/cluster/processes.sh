# Sourced by cluster.sh and node.sh: starting and stopping the bed's background processes, each with a
# pid file under $run and a log under $logs. Callers define log() and set $run and $logs.

pid_alive() { [[ -f "$run/$1.pid" ]] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

start() { # name, command...
  local name="$1"
  shift
  if pid_alive "$name"; then
    log "$name already running (pid $(cat "$run/$name.pid"))"
    return
  fi
  log "starting $name"
  nohup "$@" >>"$logs/$name.log" 2>&1 &
  echo $! >"$run/$name.pid"
}

stop() {
  local name="$1"
  if pid_alive "$name"; then
    log "stopping $name"
    kill "$(cat "$run/$name.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do pid_alive "$name" || break; sleep 0.2; done
    if pid_alive "$name"; then kill -9 "$(cat "$run/$name.pid")" 2>/dev/null || true; fi
  fi
  rm -f "$run/$name.pid"
}

# Whether a bed with another state directory is running here: its containerd or kube-apiserver. The
# bridge, the ClusterIP iptables rules and the `cni-*` network namespaces are the host's, shared by
# every bed at this address; a bed that stops (or purges) must leave them to one that still runs.
# Callers set $state.
other_bed_running() {
  local line
  while IFS= read -r line; do
    [[ "$line" == *"$state/"* ]] || return 0
  done < <(pgrep -af -- '(^| )(containerd --config|[^ ]*/kube kube-apiserver) ' 2>/dev/null | grep -v -- 'pgrep' || true)
  return 1
}
