#!/usr/bin/env bash
# A throw-away PostgreSQL server for the database sink's tests, benches and examples: Debian's
# `postgresql` package (installed with apt-get when missing), a data directory in a temporary
# folder owned by a non-root user, listening on 127.0.0.1 only, on a free port.
#
#   scripts/postgres.sh start          # prints the URL: postgresql://streamflow@127.0.0.1:PORT/postgres
#   scripts/postgres.sh restart URL    # stops and starts that server again (same data, same port)
#   scripts/postgres.sh halt URL       # stops it, keeping its data (`resume URL` starts it again)
#   scripts/postgres.sh stop URL       # stops it and removes its data directory
#
# The binaries are taken from /usr/lib/postgresql/<version>/bin, where the package puts them —
# never from PATH: /usr/local/bin may hold hand-made links to them (the machine had such links
# to PostgreSQL 15's pg_ctl, initdb and postgres), which a fresh machine does not have.
# PostgreSQL refuses to run as root: as root, the server runs as the package's `postgres` user.
set -euo pipefail

say() { echo "postgres.sh: $*" >&2; }

bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; fi
}

install() {
  if [ -n "$(bindir)" ]; then return; fi
  say "installing Debian's postgresql package"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  if [ -z "$(bindir)" ]; then say "postgresql installed, but no initdb under /usr/lib/postgresql/*/bin"; exit 1; fi
}

# Runs a command as the server's user: ourselves, or `postgres` when we are root.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_of() { # URL -> port
  local port=${1##*@127.0.0.1:}
  port=${port%%/*}
  case "$port" in (''|*[!0-9]*) say "not a URL this script printed: $1"; exit 2 ;; esac
  echo "$port"
}

datadir() { echo "${TMPDIR:-/tmp}/streamflow-postgres-$1"; }

free_port() {
  local port tries=0
  while [ $tries -lt 200 ]; do
    port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    tries=$((tries + 1))
    if [ -e "$(datadir "$port")" ]; then continue; fi
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  say "no free port found"; exit 1
}

server_start() { # port
  local dir bin
  dir=$(datadir "$1"); bin=$(bindir)
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $1 -k $dir -c fsync=on" start >/dev/null \
    || { say "the server did not start; its log:"; cat "$dir/server.log" >&2; return 1; }
}

start() {
  install
  local bin port dir
  bin=$(bindir)
  for _ in 1 2 3; do
    port=$(free_port)
    dir=$(datadir "$port")
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
    as_owner "$bin/initdb" -D "$dir/data" -U streamflow --auth=trust -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1; }
    # Another process may have taken the port since we looked: then try another.
    if server_start "$port"; then
      echo "postgresql://streamflow@127.0.0.1:$port/postgres"
      return
    fi
    rm -rf "$dir"
  done
  exit 1
}

stop() { # URL [keep]
  local port dir bin
  port=$(port_of "$1"); dir=$(datadir "$port"); bin=$(bindir)
  if [ -d "$dir/data" ] && [ -n "$bin" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ "${2:-}" != keep ]; then rm -rf "$dir"; fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop "${2:?usage: postgres.sh stop URL}" ;;
  restart) stop "${2:?usage: postgres.sh restart URL}" keep; server_start "$(port_of "$2")" ;;
  halt) stop "${2:?usage: postgres.sh halt URL}" keep ;;
  resume) server_start "$(port_of "${2:?usage: postgres.sh resume URL}")" ;;
  install) install ;;
  *) say "usage: postgres.sh [start | stop URL | restart URL | halt URL | resume URL | install]"; exit 2 ;;
esac
