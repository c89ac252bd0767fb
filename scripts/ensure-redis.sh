#!/usr/bin/env bash
# A PRIVATE Redis for the tests, crash-safe like production (appendonly yes, appendfsync always), on a free port
# with its data under .redis/<port>/. Installs Debian's redis-server when it is missing.
#
#   scripts/ensure-redis.sh run CMD ...   start one, run CMD with MAAS_TEST_REDIS_URL set, stop it when CMD ends
#                                         (trap: also on failure or Ctrl-C); exits with CMD's status
#   scripts/ensure-redis.sh start         start one and print its URL (stop it yourself)
#   scripts/ensure-redis.sh stop [PORT]   stop the one on PORT (default: every one started from this folder)
#
# The machine's Redis on 6379 (if any) is never used: it may run without persistence, and `maas serve` refuses a
# Redis that can lose confirmed bookings.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/redis-common.sh"
py=${PYTHON:-python3}
state="$here/.redis"

ping() {  # port -> 0 when a Redis answers PONG on 127.0.0.1
  "$py" - "$1" <<'PY' 2>/dev/null
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5)
    s.sendall(b"PING\r\n"); ok = s.recv(16).startswith(b"+PONG"); s.close()
except OSError:
    ok = False
sys.exit(0 if ok else 1)
PY
}

start() {  # prints the port of a fresh private Redis
  install_redis
  local port dir
  port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  dir="$state/$port"
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$dir" --appendonly yes \
    --appendfsync always --save "" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >&2
  for _ in $(seq 50); do ping "$port" && break; sleep 0.1; done
  ping "$port" || { echo "redis-server did not start; see $dir/redis.log" >&2; exit 1; }
  echo "$port"
}

stop() {  # port: shut the server down (SHUTDOWN NOSAVE; kill by its pid file as a fallback), remove its data
  local port=$1 dir="$state/$1" pid=""
  [ -f "$dir/redis.pid" ] && pid=$(cat "$dir/redis.pid")
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  for _ in $(seq 30); do ping "$port" || break; sleep 0.1; done
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}

case "${1:-start}" in
  start)
    port=$(start); echo "redis://127.0.0.1:$port/0" ;;
  stop)
    if [ -n "${2:-}" ]; then stop "$2"; else
      for d in "$state"/*/; do [ -d "$d" ] && stop "$(basename "$d")"; done
    fi ;;
  run)
    shift
    port=$(start)
    trap 'stop "$port"' EXIT
    export MAAS_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
    run_forwarding "$@" ;;
  *)
    echo "usage: $0 run CMD... | start | stop [PORT]" >&2; exit 2 ;;
esac
