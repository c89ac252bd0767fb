#!/usr/bin/env bash
# A PRIVATE Redis Cluster for the tests: 3 masters (+ one replica each by default), crash-safe like production
# (appendonly yes, appendfsync always), on free ports with its data under .redis-cluster/<first port>/. Built from
# Debian's redis-server and `redis-cli --cluster create`; installs redis-server when it is missing.
#
#   scripts/ensure-redis-cluster.sh run CMD ...   start one, run CMD with MAAS_TEST_REDIS_CLUSTER_URL set, stop it
#                                                 when CMD ends (also on failure or Ctrl-C); exits with CMD's status
#   scripts/ensure-redis-cluster.sh start         start one and print its URL (redis+cluster://127.0.0.1:PORT)
#   scripts/ensure-redis-cluster.sh stop [PORT]   stop the one whose first node is on PORT (default: every one
#                                                 started from this folder)
#
# Environment: MAAS_REDIS_CLUSTER_REPLICAS (replicas per master, default 1; 0 = 3 masters only),
# MAAS_REDIS_CLUSTER_DIR (state folder, default .redis-cluster), MAAS_REDIS_CLUSTER_NODE_TIMEOUT_MS (default 1500:
# how long a master may be silent before its replica takes over -- production keeps Redis's 15000).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/redis-common.sh"
py=${PYTHON:-python3}
state=${MAAS_REDIS_CLUSTER_DIR:-"$here/.redis-cluster"}
replicas=${MAAS_REDIS_CLUSTER_REPLICAS:-1}
node_timeout=${MAAS_REDIS_CLUSTER_NODE_TIMEOUT_MS:-1500}
masters=3


free_ports() {  # n -> n free ports whose cluster bus port (+10000) is free too
  "$py" - "$1" <<'PY'
import socket, sys
n, out, socks = int(sys.argv[1]), [], []
while len(out) < n:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; socks.append(s)
    if p + 10000 > 65535 or p in out:
        continue
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 10000)); out.append(p)
    except OSError:
        pass
    finally:
        b.close()
for s in socks:
    s.close()
print(" ".join(map(str, out)))
PY
}

state_ok() {  # port -> 0 when that node reports cluster_state:ok
  redis-cli -p "$1" cluster info 2>/dev/null | grep -q '^cluster_state:ok'
}

start() {  # prints the first node's port of a fresh cluster
  install_redis
  local n=$((masters * (1 + replicas))) ports dir first p
  ports=$(free_ports "$n")
  first=${ports%% *}
  dir="$state/$first"
  mkdir -p "$dir"
  echo "$ports" >"$dir/ports"
  for p in $ports; do
    mkdir -p "$dir/$p"
    redis-server --port "$p" --bind 127.0.0.1 --daemonize yes --dir "$dir/$p" --appendonly yes \
      --appendfsync always --save "" --pidfile "$dir/$p/redis.pid" --logfile "$dir/$p/redis.log" \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout "$node_timeout" \
      --cluster-require-full-coverage no >&2
  done
  for p in $ports; do
    for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$p" ping >/dev/null 2>&1 || { echo "redis-server on $p did not start; see $dir/$p/redis.log" >&2; stop "$first"; exit 1; }
  done
  # shellcheck disable=SC2046
  redis-cli --cluster create $(for p in $ports; do printf '127.0.0.1:%s ' "$p"; done) \
    --cluster-replicas "$replicas" --cluster-yes >"$dir/create.log" 2>&1 \
    || { cat "$dir/create.log" >&2; stop "$first"; exit 1; }
  for _ in $(seq 100); do
    local all=1
    for p in $ports; do state_ok "$p" || { all=0; break; }; done
    [ "$all" = 1 ] && break
    sleep 0.1
  done
  if [ "$replicas" -gt 0 ]; then  # every replica attached and in sync, so the first failover test finds one
    for _ in $(seq 100); do
      [ "$(for p in $ports; do redis-cli -p "$p" info replication; done | grep -c 'master_link_status:up')" \
        -ge $((masters * replicas)) ] && break
      sleep 0.1
    done
  fi
  state_ok "$first" || { echo "the cluster did not reach cluster_state:ok" >&2; stop "$first"; exit 1; }
  echo "$first"
}

stop() {  # first port: shut every node of that cluster down, remove its data
  local dir="$state/$1" p pid
  [ -f "$dir/ports" ] || { rm -rf "$dir"; return 0; }
  for p in $(cat "$dir/ports"); do
    pid=""; [ -f "$dir/$p/redis.pid" ] && pid=$(cat "$dir/$p/redis.pid")
    redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
    if [ -n "$pid" ]; then
      for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$dir"
}

case "${1:-start}" in
  start)
    port=$(start); echo "redis+cluster://127.0.0.1:$port" ;;
  stop)
    if [ -n "${2:-}" ]; then stop "$2"; else
      for d in "$state"/*/; do [ -d "$d" ] && stop "$(basename "$d")"; done
    fi ;;
  run)
    shift
    if ! install_redis; then  # the cluster runs skip (conftest names the reason); everything else still runs
      echo "redis-server cannot be installed: the Redis Cluster tests will be skipped" >&2
      exec "$@"
    fi
    port=$(start)
    trap 'stop "$port"' EXIT
    export MAAS_TEST_REDIS_CLUSTER_URL="redis+cluster://127.0.0.1:$port"
    run_forwarding "$@" ;;
  *)
    echo "usage: $0 run CMD... | start | stop [PORT]" >&2; exit 2 ;;
esac
