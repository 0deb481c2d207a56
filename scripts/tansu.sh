#!/usr/bin/env bash
# The Kafka-protocol broker `tansu` (crates.io) for the Kafka tests, examples and benches.
# Only ever on 127.0.0.1, with in-memory storage.
#
#   scripts/tansu.sh install        build it into the cache when missing (slow the first time)
#   scripts/tansu.sh start [DIR [PORT]]
#                                   install if needed, start a broker on PORT (default: a free
#                                   port); prints the bootstrap address (127.0.0.1:PORT) on
#                                   stdout; DIR (default a new temp dir) gets `tansu.pid`,
#                                   `tansu.addr` and `tansu.log`
#   scripts/tansu.sh stop DIR       stop the broker started with DIR
#   scripts/tansu.sh system-deps    the Debian packages that the `kafka` feature's build needs
#
# The cache is ${STREAMFLOW_CACHE:-$HOME/.cache/streamflow}/tansu; `cargo install --locked`
# with the crate's default features plus `dynostore` (in-memory storage).
set -euo pipefail

TANSU_VERSION="${TANSU_VERSION:-0.6.0}"
cache="${STREAMFLOW_CACHE:-$HOME/.cache/streamflow}/tansu"
bin="$cache/bin/tansu"

log() { echo "tansu.sh: $*" >&2; }

system_deps() {
  # librdkafka (built from rdkafka-sys's bundled sources) needs a C/C++ toolchain, make, cmake
  # is not needed (the default build uses its configure script), zlib for the `libz` feature
  # is built from the libz-sys crate. Perl and Python are not needed.
  local missing=()
  command -v cc >/dev/null 2>&1 || missing+=(gcc)
  command -v c++ >/dev/null 2>&1 || missing+=(g++)
  command -v make >/dev/null 2>&1 || missing+=(make)
  if [ "${#missing[@]}" -gt 0 ]; then
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    log "installing ${missing[*]} (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# The in-memory storage engine (`memory://`) is tansu's `dynostore` feature, not a default one.
TANSU_FEATURES="dynostore"
stamp="$cache/installed"

installed() {
  [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$TANSU_VERSION $TANSU_FEATURES" ]
}

install() {
  if installed; then return 0; fi
  system_deps
  mkdir -p "$cache"
  # Tests run in parallel, each calling this script: one builds, the others wait for it (the
  # lock's descriptor lives in a subshell, so a broker started afterwards does not hold it).
  (
  if command -v flock >/dev/null 2>&1; then flock 9; fi
  if installed; then exit 0; fi
  log "building tansu $TANSU_VERSION into $cache (about 5 CPU-minutes, once)"
  local start=$SECONDS
  # A debug build without debug info (TANSU_PROFILE=release for an optimised one): about
  # 5 CPU-minutes, where the release profile takes 3 times that (benches/RESULTS.md, issue 18);
  # a broker for tests needs no optimiser. A target dir of its own, so a concurrent
  # `cargo build` of the project does not lock it.
  local profile=(--debug)
  if [ "${TANSU_PROFILE:-debug}" = release ]; then profile=(); fi
  CARGO_PROFILE_DEV_DEBUG=0 CARGO_TARGET_DIR="$cache/build" nice -n 10 cargo install --locked --quiet \
    "${profile[@]}" tansu --version "$TANSU_VERSION" --features "$TANSU_FEATURES" --root "$cache" >&2
  echo "$TANSU_VERSION $TANSU_FEATURES" >"$stamp"
  rm -rf "$cache/build"
  log "built tansu in $((SECONDS - start)) s"
  ) 9>"$cache/install.lock"
}

free_port() {
  # Asks the kernel for a free port on 127.0.0.1 (bash's /dev/tcp cannot listen, so python or perl).
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
  else
    perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen=>1,LocalAddr=>"127.0.0.1:0")->sockport,"\n"'
  fi
}

start() {
  install
  local dir="${1:-}" fixed_port="${2:-}"
  if [ -z "$dir" ]; then dir="$(mktemp -d -t tansu.XXXXXX)"; fi
  mkdir -p "$dir"
  if [ -f "$dir/tansu.pid" ] && kill -0 "$(cat "$dir/tansu.pid")" 2>/dev/null; then
    cat "$dir/tansu.addr"
    return 0
  fi
  local attempt
  for attempt in 1 2 3 4 5; do
    local port
    port="${fixed_port:-$(free_port)}"
    local addr="127.0.0.1:$port"
    # setsid: the broker is its own process group, so a test harness killing its children with
    # a group signal does not take the broker with it (and `stop` ends exactly this pid).
    setsid "$bin" broker \
      --listener-url "tcp://$addr" \
      --advertised-listener-url "tcp://$addr" \
      --storage-engine "memory://tansu/" \
      >"$dir/tansu.log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$dir/tansu.pid"
    local i
    for i in $(seq 1 100); do
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "$addr" >"$dir/tansu.addr"
        log "broker pid $pid at $addr (dir $dir)"
        echo "$addr"
        return 0
      fi
      sleep 0.1
    done
    log "attempt $attempt: broker did not listen on $addr; log:"
    tail -5 "$dir/tansu.log" >&2 || true
    kill "$pid" 2>/dev/null || true
    rm -f "$dir/tansu.pid"
  done
  log "could not start tansu"
  return 1
}

stop() {
  local dir="${1:?usage: tansu.sh stop DIR}"
  if [ -f "$dir/tansu.pid" ]; then
    local pid
    pid="$(cat "$dir/tansu.pid")"
    kill "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/tansu.pid"
  fi
}

case "${1:-}" in
  install) install ;;
  start) shift; start "${1:-}" "${2:-}" ;;
  stop) shift; stop "${1:-}" ;;
  system-deps) system_deps ;;
  path) install; echo "$bin" ;;
  *) echo "usage: $0 install|start [DIR [PORT]]|stop DIR|system-deps|path" >&2; exit 2 ;;
esac
