#!/usr/bin/env bash
# The local Wattline stack on one Debian machine: installs what is missing
# (apt), starts RabbitMQ, InfluxDB and PostgreSQL if they are not running,
# configures them (RabbitMQ asks auth-service about devices and has a service
# account for the write service; the InfluxDB database; PostgreSQL's role and
# database for auth-service and the tests), and builds the workspace and the
# dashboard (web/dist).
# Idempotent, and fast when all is there.
#
#   deploy/stack.sh            # install, start, configure, build (debug)
#   deploy/stack.sh --release  # ... and build release binaries
#   deploy/stack.sh --no-build # servers only
#
# Must run as root on a fresh machine (it installs packages and writes
# /etc/rabbitmq/rabbitmq.conf); afterwards any user may run it while the
# servers are up and configured. Logs and the write service's broker password:
# $WATTLINE_STATE (.wattline/).
#
# WATTLINE_AUTH_INTERNAL_URL (default http://127.0.0.1:8091): auth-service's
# internal listener, which RabbitMQ asks whether a device may log in.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${WATTLINE_STATE:-$ROOT/.wattline}
INFLUX_DB=${INFLUX_DB:-wattline}
AUTH_INTERNAL_URL=${WATTLINE_AUTH_INTERNAL_URL:-http://127.0.0.1:8091}
RABBITMQ_CONF=/etc/rabbitmq/rabbitmq.conf
RABBITMQ_PLUGINS_FILE=/etc/rabbitmq/enabled_plugins
# Management (HTTP API used by tests and perf), Prometheus metrics, and the
# HTTP auth backend (devices are asked of auth-service) behind its cache.
RABBITMQ_PLUGINS=(rabbitmq_management rabbitmq_prometheus
  rabbitmq_auth_backend_http rabbitmq_auth_backend_cache)
WRITER_USER=wattline-writer
WRITER_PASSWORD_FILE=$STATE/rabbitmq-writer.password
PG_VERSION=15
# Dev/test only: a well-known password is tolerable because PostgreSQL
# listens on loopback only (Debian's default listen_addresses = 'localhost').
PG_URL=postgres://wattline:wattline@127.0.0.1:5432/wattline_auth
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

# port_open, port_closed, wait_for, build_web
# shellcheck source=deploy/lib.sh
. "$ROOT/deploy/lib.sh"

# Fails with `why` unless we are root.
need_root() { # why
  [[ $(id -u) == 0 ]] && return
  log "$1: run this script as root"
  exit 1
}

# Whether a process runs; a zombie does not (a container's PID 1 may never
# reap the orphans it inherits).
process_alive() { # pid
  local stat
  [[ -n $1 ]] && stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) } # "pid (comm) state ...": comm may hold spaces
  [[ ${stat:0:1} != Z && ${stat:0:1} != X ]]
}

# Waits until a TCP port on loopback accepts connections (see wait_for).
wait_port() { # port seconds what pid logfile
  wait_for "$2" "$3" "listening on port $1" "$4" "$5" port_open "$1"
}

install_packages() {
  local missing=()
  command -v rabbitmq-server >/dev/null || missing+=(rabbitmq-server)
  command -v influxd >/dev/null || missing+=(influxdb)
  [[ -x /usr/lib/postgresql/$PG_VERSION/bin/postgres ]] || missing+=(postgresql)
  command -v curl >/dev/null || missing+=(curl)
  command -v cc >/dev/null || missing+=(build-essential)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  # The dashboard's build (web/: TypeScript, Vite) and its browser test.
  command -v npm >/dev/null || missing+=(nodejs npm)
  ((${#missing[@]} == 0)) && return
  need_root "missing ${missing[*]}"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # policy-rc.d on minimal images forbids starting services from apt; we start them below.
  apt-get install -y -q --no-install-recommends "${missing[@]}" >"$STATE/apt.log" 2>&1 ||
    { tail -20 "$STATE/apt.log"; exit 1; }
}

# rabbitmq.conf as this script wants it.
rabbitmq_config() {
  cat <<EOF
# Written by deploy/stack.sh, which overwrites edits (and restarts the node).
#
# Who may log in: RabbitMQ's internal users first, which are the service
# accounts (guest for tests and tools, loopback only; $WRITER_USER for the
# write service). Anyone else is a device: RabbitMQ asks auth-service's
# internal listener ($AUTH_INTERNAL_URL) whether it may log in and what it
# may touch (publish to wattline.readings as readings.<device id>, read
# nothing). Answers are cached for 15 s (refusals are not), so a revoked
# device may still log in for up to 15 s. An internal user's name shadows a
# device of that name: auth-service must not register such ids.
loopback_users.guest = true

auth_backends.1 = internal
auth_backends.2 = cache
auth_cache.cached_backend = http
auth_cache.cache_ttl = 15000
auth_http.http_method = post
auth_http.user_path = $AUTH_INTERNAL_URL/internal/rabbitmq/user
auth_http.vhost_path = $AUTH_INTERNAL_URL/internal/rabbitmq/vhost
auth_http.resource_path = $AUTH_INTERNAL_URL/internal/rabbitmq/resource
auth_http.topic_path = $AUTH_INTERNAL_URL/internal/rabbitmq/topic

# What any client (a device above all) may ask of the node; testkit's private
# nodes use the same values (PrivateRabbit::MAX_MESSAGE_SIZE, CHANNEL_MAX).
# Messages up to 16 MiB: the agent's largest batch (--max-batch-readings
# 100000) holds at most 4 MB of values plus its socket ids (a default one of
# 5000 readings, 25-200 KB); a larger message closes the publisher's channel.
# 16 channels a connection: a device needs 1, the write service 3. RabbitMQ 3.10 applies per-user connection and
# channel limits to internal users only, not to devices of the HTTP backend.
max_message_size = 16777216
channel_max = 16
EOF
}

# Writes rabbitmq.conf and the enabled plugins if they are not what this
# script wants (a running node reads neither again: see rabbitmq_current).
configure_rabbitmq() {
  local config plugin enabled
  config=$(rabbitmq_config)
  if [[ $(cat "$RABBITMQ_CONF" 2>/dev/null) != "$config" ]]; then
    need_root "$RABBITMQ_CONF is out of date"
    log "writing $RABBITMQ_CONF"
    printf '%s\n' "$config" >"$RABBITMQ_CONF.tmp"
    chmod 644 "$RABBITMQ_CONF.tmp"
    mv "$RABBITMQ_CONF.tmp" "$RABBITMQ_CONF"
  fi
  enabled=$(cat "$RABBITMQ_PLUGINS_FILE" 2>/dev/null || true)
  for plugin in "${RABBITMQ_PLUGINS[@]}"; do
    if [[ ! $enabled =~ (^|[^a-z_])${plugin}([^a-z_]|$) ]]; then
      need_root "RabbitMQ plugins to enable"
      log "enabling RabbitMQ plugins ${RABBITMQ_PLUGINS[*]}"
      rabbitmq-plugins enable --offline "${RABBITMQ_PLUGINS[@]}" >/dev/null
      return
    fi
  done
}

# Whether the running node has the current configuration: it runs every
# plugin we want, and it started after rabbitmq.conf and enabled_plugins last
# changed (configure_rabbitmq rewrites them only when their content changes).
# Asked of the node itself, which only root (or rabbitmq) may do; anyone else
# could not restart it anyway, and trusts it. (The management API's node
# uptime is no substitute: it lags by up to 5 s and is missing at first.)
rabbitmq_current() {
  [[ $(id -u) == 0 ]] || return 0
  local answer started_ms plugin file
  answer=$(rabbitmqctl eval '{erlang:system_time(millisecond)
    - element(1, erlang:statistics(wall_clock)), rabbit_plugins:active()}.' 2>/dev/null) ||
    return 1
  [[ $answer =~ ^\{([0-9]+), ]] || return 1
  started_ms=${BASH_REMATCH[1]}
  for plugin in "${RABBITMQ_PLUGINS[@]}"; do
    [[ $answer =~ [^a-z_]${plugin}[^a-z_] ]] || return 1
  done
  for file in "$RABBITMQ_CONF" "$RABBITMQ_PLUGINS_FILE"; do
    ((started_ms >= $(date -r "$file" +%s%3N))) || return 1
  done
}

rabbitmq_gone() { # pid
  ! process_alive "$1" && port_closed 5672 && port_closed 25672
}

# Stops the node and waits until it is gone: its process, its AMQP port and
# its distribution port (25672), which a node still shutting down holds.
stop_rabbitmq() {
  need_root "RabbitMQ must restart to take its new configuration"
  log "stopping RabbitMQ (started before its configuration changed)"
  local pid
  pid=$(rabbitmqctl eval 'os:getpid().' 2>/dev/null | tr -dc 0-9) || true
  # It fails if the node is going down already: then we wait all the same.
  rabbitmqctl stop >"$STATE/rabbitmqctl.log" 2>&1 ||
    log "rabbitmqctl stop failed (see $STATE/rabbitmqctl.log); waiting for the node to go"
  wait_for 90 RabbitMQ "gone (process ${pid:-?}, ports 5672 and 25672)" "" \
    "$STATE/rabbitmqctl.log" rabbitmq_gone "$pid"
}

start_rabbitmq() {
  configure_rabbitmq
  if port_open 5672; then
    rabbitmq_current && return
    stop_rabbitmq
  fi
  # A node shutting down (stopped above or by anyone) still holds its
  # distribution port; a new node started meanwhile fails to come up.
  wait_for 90 "the previous RabbitMQ node" "off port 25672" "" "" port_closed 25672
  need_root "RabbitMQ is not running"
  log "starting RabbitMQ"
  # The Debian wrapper drops to the rabbitmq user. setsid + closed fds: the
  # node outlives this script and holds none of its pipes open.
  setsid rabbitmq-server </dev/null >"$STATE/rabbitmq.log" 2>&1 &
  local pid=$!
  wait_port 5672 90 RabbitMQ "$pid" "$STATE/rabbitmq.log"
  wait_port 15672 60 "RabbitMQ management" "$pid" "$STATE/rabbitmq.log"
}

# The management API as guest, the JSON body on stdin (so that no secret
# shows in the process list).
rabbitmq_api() { # method path
  curl -sf -m 30 -o /dev/null -u guest:guest -X "$1" -H 'content-type: application/json' \
    --data-binary @- "http://127.0.0.1:15672/api/$2"
}

# The write service's internal account, limited to its own objects: the
# exchanges wattline.readings and wattline.readings.dead, the queues
# wattline.readings.write and wattline.readings.dead, and their bindings. Its
# password is made once and kept in $WRITER_PASSWORD_FILE, and set on every
# run (creating the user or resetting its password), so the file always works.
# Through the management API rather than rabbitmqctl: one idempotent request
# each, and it works for any user.
ensure_rabbitmq_writer() {
  if [[ ! -s $WRITER_PASSWORD_FILE ]]; then
    # Hex, so that it goes into an AMQP URL as is.
    (umask 077 && od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$WRITER_PASSWORD_FILE.tmp")
    mv "$WRITER_PASSWORD_FILE.tmp" "$WRITER_PASSWORD_FILE"
  fi
  if [[ ! -r $WRITER_PASSWORD_FILE ]]; then
    log "cannot read $WRITER_PASSWORD_FILE: leaving RabbitMQ user $WRITER_USER as it is"
    return
  fi
  chmod 600 "$WRITER_PASSWORD_FILE" 2>/dev/null || true
  local password objects='^wattline\\.readings.*' # JSON-escaped regex
  password=$(<"$WRITER_PASSWORD_FILE")
  rabbitmq_api PUT "users/$WRITER_USER" <<<"{\"password\":\"$password\",\"tags\":\"\"}" ||
    { log "could not create or update RabbitMQ user $WRITER_USER"; exit 1; }
  rabbitmq_api PUT "permissions/%2F/$WRITER_USER" \
    <<<"{\"configure\":\"$objects\",\"write\":\"$objects\",\"read\":\"$objects\"}" ||
    { log "could not set the permissions of RabbitMQ user $WRITER_USER"; exit 1; }
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

# Whether auth-service's role and database are as wanted: the role logs in
# with its password, may create databases, and owns the database.
postgres_ready() {
  [[ $(PGCONNECT_TIMEOUT=5 psql -X -Atq "$PG_URL" -c "SELECT r.rolcreatedb AND d.datdba = r.oid
      FROM pg_roles r, pg_database d
      WHERE r.rolname = current_user AND d.datname = current_database()" 2>/dev/null) == t ]]
}

start_postgres() {
  if port_closed 5432; then
    need_root "PostgreSQL is not running"
    if [[ ! -d /etc/postgresql/$PG_VERSION/main ]]; then
      log "creating PostgreSQL cluster $PG_VERSION/main"
      pg_createcluster "$PG_VERSION" main >"$STATE/postgresql.log" 2>&1 ||
        { tail -15 "$STATE/postgresql.log" >&2; exit 1; }
    fi
    log "starting PostgreSQL"
    # pg_ctl underneath: returns once the server accepts connections.
    pg_ctlcluster "$PG_VERSION" main start </dev/null >"$STATE/postgresql.log" 2>&1 ||
      { tail -15 "$STATE/postgresql.log" "/var/log/postgresql/postgresql-$PG_VERSION-main.log" >&2
        exit 1; }
    wait_port 5432 60 PostgreSQL "" "/var/log/postgresql/postgresql-$PG_VERSION-main.log"
  fi
  postgres_ready && return
  need_root "PostgreSQL role wattline or database wattline_auth missing"
  log "creating PostgreSQL role wattline and database wattline_auth"
  # Dev/test only, on loopback: a well-known password, and CREATEDB so that
  # tests create (and drop) databases of their own. As the postgres superuser
  # (peer authentication), from a directory it may read.
  (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1) <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'wattline') THEN
    CREATE ROLE wattline LOGIN CREATEDB PASSWORD 'wattline';
  ELSE
    ALTER ROLE wattline LOGIN CREATEDB PASSWORD 'wattline';
  END IF;
END
$$;
SELECT 'CREATE DATABASE wattline_auth OWNER wattline'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'wattline_auth') \gexec
ALTER DATABASE wattline_auth OWNER TO wattline;
SQL
  postgres_ready || { log "PostgreSQL: cannot log in as $PG_URL"; exit 1; }
}

install_packages
start_rabbitmq
ensure_rabbitmq_writer
start_influxdb
curl -sf -o /dev/null -XPOST http://127.0.0.1:8086/query --data-urlencode "q=CREATE DATABASE \"$INFLUX_DB\""
start_postgres

if [[ $build != none ]] && ! command -v cargo >/dev/null; then
  [[ -x $HOME/.cargo/bin/cargo ]] && export PATH=$HOME/.cargo/bin:$PATH ||
    { log "cargo not found: install Rust with rustup"; exit 1; }
fi
case $build in
  debug) log "building"; (cd "$ROOT" && cargo build --workspace --quiet) ;;
  release) log "building (release)"; (cd "$ROOT" && cargo build --workspace --release --quiet) ;;
esac
[[ $build == none ]] || build_web "$ROOT"
log "ready: amqp://guest:guest@127.0.0.1:5672/%2f  \
write service: amqp://$WRITER_USER:<$WRITER_PASSWORD_FILE>@127.0.0.1:5672/%2f  \
http://127.0.0.1:8086 (db $INFLUX_DB)  $PG_URL"
