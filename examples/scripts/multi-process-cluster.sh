#!/usr/bin/env bash
# A Skiff cluster of separate processes on loopback, as Kubernetes runs its components:
# the store, two API servers on that store (one CA), two controller managers and two
# schedulers with leader election, and three node agents, each with its own kubeconfig
# and data directory.
#
#   examples/scripts/multi-process-cluster.sh start [DIR] [FLAGS...]  # DIR: .skiff-multi
#   kubectl --kubeconfig DIR/a/admin.kubeconfig get nodes
#   examples/scripts/multi-process-cluster.sh stop [DIR]    # SIGTERM to every component
#
# FLAGS are the components' own, each passed to the components that take it:
#   API servers:         --service-cluster-ip-range CIDR, --service-node-port-range A-B,
#                        --default-not-ready-toleration-seconds N,
#                        --default-unreachable-toleration-seconds N
#   controller managers: --node-monitor-grace-period D, --node-monitor-period D,
#                        --node-startup-grace-period D, --cluster-cidr CIDR,
#                        --allocate-node-cidrs BOOL, --node-cidr-mask-size N
# e.g. a node failure handled in about half a minute instead of six:
#   ... start .skiff-multi --node-monitor-grace-period 20s \
#         --default-not-ready-toleration-seconds 5 --default-unreachable-toleration-seconds 5
# (`--flag=value` works too). APISERVER_FLAGS, CONTROLLER_MANAGER_FLAGS,
# SCHEDULER_FLAGS and NODE_FLAGS add any further flags to every component of a kind.
#
# SKIFF names the binary (default: target/release/skiff, built if missing). Logs go to
# DIR/logs/NAME.log, process ids to DIR/pids. examples/tests/multi_process.rs runs the
# same layout and its failovers.
set -euo pipefail

command=${1:-start}
dir=${2:-.skiff-multi}
shift $(( $# < 2 ? $# : 2 ))
skiff=${SKIFF:-target/release/skiff}
store_port=${STORE_PORT:-2379}
api_ports=(${API_PORTS:-6443 6444})
read -r -a apiserver_flags <<<"${APISERVER_FLAGS:-}"
read -r -a cm_flags <<<"${CONTROLLER_MANAGER_FLAGS:-}"
read -r -a scheduler_flags <<<"${SCHEDULER_FLAGS:-}"
read -r -a node_flags <<<"${NODE_FLAGS:-}"

# Route each flag (with its value) to the components that take it.
while [ $# -gt 0 ]; do
  flag=${1%%=*}
  if [ "$flag" != "$1" ]; then value=${1#*=}; shift; else
    [ $# -ge 2 ] || { echo "$1 needs a value" >&2; exit 2; }
    value=$2; shift 2
  fi
  case $flag in
    --service-cluster-ip-range|--service-node-port-range|\
    --default-not-ready-toleration-seconds|--default-unreachable-toleration-seconds)
      apiserver_flags+=("$flag" "$value") ;;
    --node-monitor-grace-period|--node-monitor-period|--node-startup-grace-period|\
    --cluster-cidr|--allocate-node-cidrs|--node-cidr-mask-size)
      cm_flags+=("$flag" "$value") ;;
    *) echo "unknown flag $flag (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
done

start_component() { # NAME ARGS...
  local name=$1; shift
  "$skiff" "$@" >"$dir/logs/$name.log" 2>&1 &
  echo "$! $name" >>"$dir/pids"
  echo "started $name (pid $!)"
}

wait_for() { # WHAT COMMAND...
  local what=$1; shift
  for _ in $(seq 1 100); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.3
  done
  echo "timed out waiting for $what" >&2
  return 1
}

case $command in
start)
  [ -x "$skiff" ] || cargo build --release -p skiff
  mkdir -p "$dir/logs"
  : >"$dir/pids"
  start_component store store --data-dir "$dir/store" \
    --listen-client-urls "http://127.0.0.1:$store_port"
  for i in 0 1; do
    name=$([ $i = 0 ] && echo a || echo b)
    if [ $i = 1 ]; then mkdir -p "$dir/b/pki" && cp "$dir"/a/pki/* "$dir/b/pki/"; fi
    start_component "apiserver-$name" apiserver --store "etcd://127.0.0.1:$store_port" \
      --data-dir "$dir/$name" --secure-port "${api_ports[$i]}" ${apiserver_flags[@]+"${apiserver_flags[@]}"}
    wait_for "apiserver-$name" test -s "$dir/$name/admin.kubeconfig"
  done
  for i in 0 1; do
    name=$([ $i = 0 ] && echo a || echo b)
    url="https://127.0.0.1:${api_ports[$i]}"
    "$skiff" kubeconfig --data-dir "$dir/a" --user "admin-$name" --group system:masters \
      --server "$url" --output "$dir/admin-$name.kubeconfig"
    start_component "controller-manager-$i" controller-manager --leader-elect \
      --leader-elect-identity "cm-$i" --kubeconfig "$dir/admin-$name.kubeconfig" \
      ${cm_flags[@]+"${cm_flags[@]}"}
    start_component "scheduler-$i" scheduler --leader-elect \
      --leader-elect-identity "sched-$i" --kubeconfig "$dir/admin-$name.kubeconfig" \
      ${scheduler_flags[@]+"${scheduler_flags[@]}"}
  done
  for i in 1 2 3; do
    port=${api_ports[$(( i == 2 ? 1 : 0 ))]}
    "$skiff" kubeconfig --data-dir "$dir/a" --user "system:node:node-$i" \
      --group system:nodes --server "https://127.0.0.1:$port" \
      --output "$dir/node-$i.kubeconfig"
    start_component "node-$i" node --kubeconfig "$dir/node-$i.kubeconfig" \
      --node-name "node-$i" --data-dir "$dir/nodes" ${node_flags[@]+"${node_flags[@]}"}
  done
  echo
  echo "cluster started; try: kubectl --kubeconfig $dir/a/admin.kubeconfig get nodes"
  ;;
stop)
  [ -f "$dir/pids" ] || { echo "no $dir/pids: nothing to stop" >&2; exit 1; }
  # Nodes first (they stop their pods), the store last.
  tac "$dir/pids" | while read -r pid name; do
    if kill -TERM "$pid" 2>/dev/null; then
      echo "stopping $name (pid $pid)"
      while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    fi
  done
  rm -f "$dir/pids"
  ;;
*)
  echo "usage: $0 start|stop [DIR]" >&2
  exit 2
  ;;
esac
