#!/usr/bin/env bash
# Print the URL of a reachable Redis for the tests. Uses one already listening on 127.0.0.1:6379 when there is one;
# otherwise installs Debian's redis-server if needed and starts a private one on a free port (AOF on, in .redis/).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
state="$here/.redis"
mkdir -p "$state"

ping() {  # host port -> 0 when a Redis answers PONG
  "$py" - "$1" "$2" <<'PY' 2>/dev/null
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=0.5)
    s.sendall(b"PING\r\n"); ok = s.recv(16).startswith(b"+PONG"); s.close()
except OSError:
    ok = False
sys.exit(0 if ok else 1)
PY
}

if [ -z "${MAAS_FORCE_PRIVATE_REDIS:-}" ] && ping 127.0.0.1 6379; then
  echo "redis://127.0.0.1:6379/15"; exit 0
fi
if [ -f "$state/port" ] && ping 127.0.0.1 "$(cat "$state/port")"; then
  echo "redis://127.0.0.1:$(cat "$state/port")/0"; exit 0
fi
if ! command -v redis-server >/dev/null 2>&1; then
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo"
  echo "installing Debian's redis-server ..." >&2
  $sudo_ apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq redis-server >&2
fi
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$state" --appendonly yes \
  --appendfsync always --save "" --pidfile "$state/redis.pid" --logfile "$state/redis.log" >&2
for _ in $(seq 50); do ping 127.0.0.1 "$port" && break; sleep 0.1; done
ping 127.0.0.1 "$port" || { echo "redis-server did not start; see $state/redis.log" >&2; exit 1; }
echo "$port" > "$state/port"
echo "redis://127.0.0.1:$port/0"
