# Sourced by ensure-redis.sh and ensure-redis-cluster.sh: installing Debian's redis-server, and running the
# command a private server was started for.

install_redis() {
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && return 0
  local sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo"
  echo "installing Debian's redis-server ..." >&2
  $sudo_ apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq redis-server >&2
}

run_forwarding() {  # CMD...: run it, then exit with its status (the caller's EXIT trap stops the server)
  # CMD runs in the background so a signal to this script is handled at once (bash defers traps while a
  # foreground child runs): it is passed on to CMD, and the EXIT trap stops Redis once CMD has ended.
  "$@" &
  child=$!
  trap 'kill -INT "$child" 2>/dev/null || true' INT
  trap 'kill -TERM "$child" 2>/dev/null || true' TERM
  local status=0
  while :; do
    wait "$child" && status=0 || status=$?
    kill -0 "$child" 2>/dev/null || break
  done
  exit "$status"
}
