#!/usr/bin/env bash
# The local Wattline stack on one Debian machine: installs what is missing
# (apt), starts RabbitMQ and InfluxDB if they are not running, creates the
# database, and builds the workspace. Idempotent, and fast when all is there.
#
#   deploy/stack.sh            # install, start, configure, build (debug)
#   deploy/stack.sh --release  # ... and build release binaries
#   deploy/stack.sh --no-build # servers only
#
# Must run as root on a fresh machine (it installs packages); afterwards any
# user may run it while the servers are up. Logs: $WATTLINE_STATE (.wattline/).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${WATTLINE_STATE:-$ROOT/.wattline}
INFLUX_DB=${INFLUX_DB:-wattline}
build=debug
for arg in "$@"; do
  case $arg in
    --release) build=release ;;
    --no-build) build=none ;;
    *) echo "usage: $0 [--release|--no-build]" >&2; exit 2 ;;
  esac
done
mkdir -p "$STATE"

log() { printf '\033[1m[stack]\033[0m %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Polls a command until it succeeds; fails after `seconds`, or at once, with
# the end of the server's log, if the server process (pid, unless empty) has
# died. `condition` says what the command checks, for the messages.
wait_for() { # seconds what condition pid logfile command...
  local seconds=$1 what=$2 condition=$3 pid=$4 logfile=$5
  local deadline=$((SECONDS + seconds))
  shift 5
  until "$@"; do
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      log "$what exited before $condition; the end of $logfile:"
      tail -15 "$logfile" >&2
      exit 1
    fi
    if ((SECONDS > deadline)); then
      log "$what not $condition after ${seconds}s${logfile:+; see $logfile}"
      exit 1
    fi
    sleep 0.3
  done
}

# Waits until a TCP port on loopback accepts connections (see wait_for).
wait_port() { # port seconds what pid logfile
  wait_for "$2" "$3" "listening on port $1" "$4" "$5" port_open "$1"
}

install_packages() {
  local missing=()
  command -v rabbitmq-server >/dev/null || missing+=(rabbitmq-server)
  command -v influxd >/dev/null || missing+=(influxdb)
  command -v curl >/dev/null || missing+=(curl)
  command -v cc >/dev/null || missing+=(build-essential)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  ((${#missing[@]} == 0)) && return
  if [[ $(id -u) != 0 ]]; then log "missing ${missing[*]}: run this script as root once"; exit 1; fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # policy-rc.d on minimal images forbids starting services from apt; we start them below.
  apt-get install -y -q --no-install-recommends "${missing[@]}" >"$STATE/apt.log" 2>&1 ||
    { tail -20 "$STATE/apt.log"; exit 1; }
}

start_rabbitmq() {
  if port_open 5672 && port_open 15672; then return; fi
  if port_open 5672; then
    # Up but without the management listener: enable it on the running node.
    rabbitmq-plugins enable rabbitmq_management rabbitmq_prometheus >/dev/null
    wait_port 15672 60 "RabbitMQ management" "" ""
    return
  fi
  log "starting RabbitMQ"
  # Management (HTTP API used by tests and perf) and Prometheus metrics.
  rabbitmq-plugins enable --offline rabbitmq_management rabbitmq_prometheus >/dev/null
  # The Debian wrapper drops to the rabbitmq user. setsid + closed fds: the
  # node outlives this script and holds none of its pipes open.
  setsid rabbitmq-server </dev/null >"$STATE/rabbitmq.log" 2>&1 &
  local pid=$!
  wait_port 5672 90 RabbitMQ "$pid" "$STATE/rabbitmq.log"
  wait_port 15672 60 "RabbitMQ management" "$pid" "$STATE/rabbitmq.log"
}

start_influxdb() {
  if port_open 8086; then return; fi
  log "starting InfluxDB"
  # Request and query logs off: at a million points a second they cost more than the writes.
  INFLUXDB_REPORTING_DISABLED=true INFLUXDB_HTTP_LOG_ENABLED=false \
    INFLUXDB_DATA_QUERY_LOG_ENABLED=false INFLUXDB_HTTP_MAX_BODY_SIZE=0 \
    setsid runuser -u influxdb -- influxd -config /etc/influxdb/influxdb.conf \
    </dev/null >"$STATE/influxdb.log" 2>&1 &
  local pid=$!
  wait_port 8086 60 InfluxDB "$pid" "$STATE/influxdb.log"
  wait_for 30 InfluxDB "answering /ping" "$pid" "$STATE/influxdb.log" \
    curl -sf -o /dev/null http://127.0.0.1:8086/ping
}

install_packages
start_rabbitmq
start_influxdb
curl -sf -o /dev/null -XPOST http://127.0.0.1:8086/query --data-urlencode "q=CREATE DATABASE \"$INFLUX_DB\""

if ! command -v cargo >/dev/null; then
  [[ -x $HOME/.cargo/bin/cargo ]] && export PATH=$HOME/.cargo/bin:$PATH ||
    { log "cargo not found: install Rust with rustup"; exit 1; }
fi
case $build in
  debug) log "building"; (cd "$ROOT" && cargo build --workspace --quiet) ;;
  release) log "building (release)"; (cd "$ROOT" && cargo build --workspace --release --quiet) ;;
esac
log "ready: amqp://guest:guest@127.0.0.1:5672/%2f  http://127.0.0.1:8086 (db $INFLUX_DB)"
