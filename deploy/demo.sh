#!/usr/bin/env bash
# The Wattline demo: the whole system on this machine, left running for you to
# open in a browser.
#
# Starts the local stack and every service (auth-service, write service,
# rollup job, read-service, the dashboard server), then fills it as real
# households would: one household with weeks of history and a live agent
# (the demo login), a few households' agents for a bounded time, and
# households back from a day offline that send their history at once (the
# ingestion rate, measured). Checks that InfluxDB holds exactly what the
# agents had confirmed, computes the rollups of the history, and prints the
# dashboard's URL and the demo login. The services and the live agent keep
# running until `deploy/demo.sh stop` (a new run stops the previous one).
#
#   deploy/demo.sh
#   deploy/demo.sh stop
#   DEMO_HOUSEHOLDS=20 DEMO_DURATION=60s DEMO_HISTORY=8weeks deploy/demo.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${WATTLINE_STATE:-$ROOT/.wattline}
HOUSEHOLDS=${DEMO_HOUSEHOLDS:-4}
SOCKETS=${DEMO_SOCKETS:-8}
DURATION=${DEMO_DURATION:-20s}
BACKFILL_AGENTS=${DEMO_BACKFILL_AGENTS:-2}
BACKFILL=${DEMO_BACKFILL:-1day}
# The demo login's household: this much history at one reading per socket
# every 10 s, then live readings.
HISTORY=${DEMO_HISTORY:-3weeks}
export INFLUX_DB=${INFLUX_DB:-wattline}
export INFLUX_URL=${INFLUX_URL:-http://127.0.0.1:8086}
WRITE_METRICS=127.0.0.1:${DEMO_METRICS_PORT:-9091}
ROLLUP_METRICS=127.0.0.1:${DEMO_ROLLUP_PORT:-9093}
# The internal listener must be where stack.sh told RabbitMQ to ask about
# device logins (same variable, same default).
AUTH_INTERNAL_URL=${WATTLINE_AUTH_INTERNAL_URL:-http://127.0.0.1:8091}
AUTH_INTERNAL_URL=${AUTH_INTERNAL_URL%/}
AUTH_INTERNAL=${AUTH_INTERNAL_URL#http://}
AUTH_PUBLIC=127.0.0.1:${DEMO_AUTH_PORT:-8081}
AUTH_URL=http://$AUTH_PUBLIC
READ_LISTEN=127.0.0.1:${DEMO_READ_PORT:-8082}
WEB_LISTEN=${DEMO_WEB_LISTEN:-127.0.0.1:8080}
# Every demo account has this password (printed at the end, to log in with).
DEMO_PASSWORD=wattline-demo-password
HOME_EMAIL=demo@example.org
# Agents bring no credentials: with a secret they log in as their device id.
AGENT_AMQP_URL=amqp://127.0.0.1:5672/%2f
DEMO=$STATE/demo
PIDS=$STATE/demo.pids
BIN=$ROOT/target/release

log() { printf '\033[1m[demo]\033[0m %s\n' "$*" >&2; }
# port_open, wait_for
# shellcheck source=deploy/lib.sh
. "$ROOT/deploy/lib.sh"

# Stops the services and agents of an earlier run (their pids are in $PIDS),
# gracefully, and waits until they are gone.
stop_demo() {
  [[ -s $PIDS ]] || return 0
  local pid pids=()
  while read -r pid; do kill -0 "$pid" 2>/dev/null && pids+=("$pid"); done <"$PIDS"
  ((${#pids[@]})) && log "stopping the previous demo (${#pids[@]} processes)"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 100); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -f "$PIDS"
}

case ${1:-} in
  stop) stop_demo; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [stop]" >&2; exit 2 ;;
esac

stop_demo
"$ROOT/deploy/stack.sh" --release
rm -rf "$DEMO" && mkdir -p "$DEMO"
# The households of the latest run, kept outside $DEMO so that the next run
# can drop their series (see below).
LAST_HOUSEHOLDS=$STATE/demo-households

influxql() {
  curl -sfG "$INFLUX_URL/query" --data-urlencode "db=$INFLUX_DB" --data-urlencode "q=$1"
}

# Starts a long-running process in its own session (it outlives this script;
# `stop` ends it) with its output in $DEMO/<name>.log, and records its pid.
# Sets $started to the pid.
start() { # name command...
  local name=$1
  shift
  setsid "$@" >"$DEMO/$name.log" 2>&1 </dev/null &
  started=$!
  echo "$started" >>"$PIDS"
}
# Processes that belong to this run only (bounded agents); killed if the
# script fails half-way.
bounded=()
on_exit() {
  local status=$?
  for pid in "${bounded[@]}"; do kill "$pid" 2>/dev/null || true; done
  if ((status != 0)); then
    log "the demo failed; stopping its services (logs: $DEMO)"
    stop_demo
  fi
}
trap on_exit EXIT

# Waits until url answers 2xx (see wait_for).
wait_healthy() { # what pid logfile seconds url
  wait_for "$4" "$1" "answering $5" "$2" "$3" curl -sf -m 2 -o /dev/null "$5"
}
# Sends the JSON on stdin to auth-service's public API with `method`, with the
# access token if given, and prints the body of its 2xx answer; otherwise
# logs the status and body and fails. The token goes to curl through a pipe,
# not its command line (which anyone may read in ps).
auth_call() { # method path [access token]
  local response status
  response=$(curl -sS -m 30 -X "$1" -w '\n%{http_code}' -H 'content-type: application/json' \
    -H @<([[ -z ${3:-} ]] || printf 'authorization: Bearer %s\n' "$3") \
    --data-binary @- "$AUTH_URL$2") ||
    { log "$1 $AUTH_URL$2: no answer from auth-service (see $DEMO/auth-service.log)"; return 1; }
  status=${response##*$'\n'}
  response=${response%$'\n'*}
  if [[ $status != 2?? ]]; then
    log "$1 $AUTH_URL$2 failed: HTTP $status: $response"
    return 1
  fi
  printf '%s\n' "$response"
}
# Prints the given fields (dotted paths) of the JSON object on stdin, on one
# line separated by spaces (ids and tokens hold none).
json_fields() { # path...
  python3 -c '
import json, sys
doc = json.load(sys.stdin)
values = []
for path in sys.argv[1:]:
    value = doc
    for key in path.split("."):
        value = value[key]
    values.append(str(value))
print(*values)
' "$@"
}
# Registers a household as its owner would (an account in `time_zone`, then
# one device) and appends to emails, households, devices, secrets and tokens.
emails=() households=() devices=() secrets=() tokens=()
register_household() { # email device-name [time_zone]
  local session device token household device_id secret
  session=$(auth_call POST /api/auth/register <<<"{\"email\":\"$1\",\"password\":\"$DEMO_PASSWORD\",\"time_zone\":\"${3:-UTC}\"}")
  read -r token household < <(json_fields access_token user.household_id <<<"$session")
  device=$(auth_call POST /api/devices "$token" <<<"{\"name\":\"$2\"}")
  read -r device_id secret < <(json_fields device.id secret <<<"$device")
  emails+=("$1") households+=("$household") devices+=("$device_id") secrets+=("$secret") tokens+=("$token")
}
# This machine's time zone (IANA name), UTC if it has none.
local_time_zone() {
  local zone
  zone=$(timedatectl show -p Timezone --value 2>/dev/null) ||
    zone=$(cat /etc/timezone 2>/dev/null) || zone=
  zone=${zone:-${TZ:-UTC}}
  printf '%s\n' "${zone#:}"
}

# Sets $written to the write service's points written so far (summed over
# label sets); fails if its /metrics cannot be read. Runs only curl.
read_points_written() {
  local metrics name value _
  metrics=$(curl -sf "http://$WRITE_METRICS/metrics") || return
  written=0
  while read -r name value _; do
    case $name in
      wattline_write_points_written_total | wattline_write_points_written_total{*) written=$((written + value)) ;;
    esac
  done <<<"$metrics"
}
# Seconds in a duration such as 3weeks, 2days, 36h (what the agent takes).
duration_seconds() { # duration
  python3 -c '
import re, sys
units = {"s": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400,
         "days": 86400, "w": 604800, "week": 604800, "weeks": 604800}
n, unit = re.fullmatch(r"(\d+)\s*([a-z]+)", sys.argv[1]).groups()
print(int(n) * units[unit])' "$1"
}
# Sets variable $1 to milliseconds since the epoch, without starting a process.
now_ms() { local us=${EPOCHREALTIME/[.,]/}; printf -v "$1" %d $((us / 1000)); }
# Readings the broker confirmed, per the final (" done ") status lines of
# the agent logs given.
confirmed_readings() {
  awk '/ done / { for (i = 1; i <= NF; i++) if (sub(/^readings_confirmed=/, "", $i)) s += $i }
       END { print s + 0 }' "$@"
}
# Messages in a queue of the default vhost per the management API; empty
# when unknown.
queue_messages() {
  curl -sf -u guest:guest "http://127.0.0.1:15672/api/queues/%2f/$1" |
    python3 -c 'import json, sys; print(json.load(sys.stdin).get("messages", ""))' 2>/dev/null || true
}
# Readings InfluxDB holds for a household.
stored_readings() { # household
  influxql "SELECT count(watts) FROM power WHERE household = '$1'" |
    python3 -c 'import json, sys; r = json.load(sys.stdin)["results"][0]; print(r["series"][0]["values"][0][1] if "series" in r else 0)'
}

# A service from elsewhere on our ports would answer in place of ours (with
# another database): stop rather than mix them up.
for addr in "$AUTH_PUBLIC" "$AUTH_INTERNAL" "$WRITE_METRICS" "$ROLLUP_METRICS" "$READ_LISTEN" "$WEB_LISTEN"; do
  if port_open "$addr"; then
    log "$addr is already in use (a service not started by this script?):" \
      "stop it first, e.g. kill the pid that 'ss -ltnp' shows on it"
    exit 1
  fi
done

log "rollup setup (retention policies of database $INFLUX_DB)"
"$BIN/rollup" setup >"$DEMO/rollup-setup.log" 2>&1 ||
  { log "rollup setup failed:"; cat "$DEMO/rollup-setup.log" >&2; exit 1; }

# A fresh account database each run (in $DEMO); the signing key persists in
# $STATE, so tokens of a restarted auth-service on the same database verify.
# Behind the dashboard server, the client address comes from
# X-Forwarded-For; plain http on loopback, hence cookies without Secure.
log "auth-service (public API $AUTH_URL, internal $AUTH_INTERNAL_URL)"
DATABASE_URL="sqlite://$DEMO/auth.db" JWT_SIGNING_KEY_FILE="$STATE/auth-signing-key.pem" \
  start auth-service "$BIN/auth-service" --listen "$AUTH_PUBLIC" --internal-listen "$AUTH_INTERNAL" \
  --login-limit-per-client 1000/1m --trust-forwarded-for --insecure-cookies
wait_healthy auth-service "$started" "$DEMO/auth-service.log" 30 "$AUTH_URL/healthz"
wait_healthy auth-service "$started" "$DEMO/auth-service.log" 30 "$AUTH_INTERNAL_URL/healthz"

log "registering $HOME_EMAIL, $HOUSEHOLDS + $BACKFILL_AGENTS more households, one device each"
time_zone=$(local_time_zone)
register_household "$HOME_EMAIL" "Living room Pi" "$time_zone"
auth_call PUT /api/household/settings "${tokens[0]}" >/dev/null <<<"{\"time_zone\":\"$time_zone\",
  \"tariff\":{\"currency\":\"EUR\",\"price_per_kwh\":0.32,\"daily_charge\":0.45,
  \"bands\":[{\"from\":\"23:00\",\"to\":\"07:00\",\"price_per_kwh\":0.21}]}}"
for i in $(seq 1 "$HOUSEHOLDS"); do
  register_household "demo-$i@example.org" "demo Pi $i"
done
for i in $(seq 1 "$BACKFILL_AGENTS"); do
  register_household "backfill-$i@example.org" "backfill Pi $i"
done
# Each run's households are new; the previous run's are dropped from every
# retention policy (they would otherwise pile up run after run), and this
# run's are recorded for the next one first, so that even a failed run is
# cleaned up.
if [[ -s $LAST_HOUSEHOLDS ]]; then
  influxql "DROP SERIES WHERE \"household\" =~ /^($(paste -sd '|' "$LAST_HOUSEHOLDS"))\$/" >/dev/null
fi
printf '%s\n' "${households[@]}" >"$LAST_HOUSEHOLDS"

# Its own broker account (made by stack.sh; the password is hex, so it goes
# into the URL as is), given in the environment so that it is not in ps.
log "write service (metrics and health on http://$WRITE_METRICS; households from $AUTH_INTERNAL_URL)"
AMQP_URL="amqp://wattline-writer:$(<"$STATE/rabbitmq-writer.password")@127.0.0.1:5672/%2f" \
  start write-service "$BIN/write-service" --listen "$WRITE_METRICS" --auth-url "$AUTH_INTERNAL_URL"
wait_healthy "write service" "$started" "$DEMO/write-service.log" 60 "http://$WRITE_METRICS/healthz"

log "rollup job (every minute; metrics and health on http://$ROLLUP_METRICS)"
start rollup "$BIN/rollup" run --listen "$ROLLUP_METRICS"
wait_healthy "rollup job" "$started" "$DEMO/rollup.log" 30 "http://$ROLLUP_METRICS/healthz"

log "read-service (http://$READ_LISTEN)"
start read-service "$BIN/read-service" --listen "$READ_LISTEN" \
  --auth-url "$AUTH_URL" --auth-internal-url "$AUTH_INTERNAL_URL"
wait_healthy read-service "$started" "$DEMO/read-service.log" 30 "http://$READ_LISTEN/healthz"

log "dashboard (http://$WEB_LISTEN)"
start web "$BIN/web" --listen "$WEB_LISTEN" --assets-dir "$ROOT/web/dist" \
  --auth-url "$AUTH_URL" --read-url "http://$READ_LISTEN"
wait_healthy dashboard "$started" "$DEMO/web.log" 30 "http://$WEB_LISTEN/healthz"

# The demo login's household: $HISTORY of readings at once, then live ones,
# for as long as the demo runs. Each agent gets its device's secret in the
# environment (not in ps).
log "$HOME_EMAIL: $SOCKETS sockets send $HISTORY of history, then live readings every 5 s"
DEVICE_SECRET=${secrets[0]} start agent-home "$BIN/device-agent" --device-id "${devices[0]}" \
  --amqp-url "$AGENT_AMQP_URL" --source simulated --sockets "$SOCKETS" --seed 7 \
  --backfill "$HISTORY" --sample-interval 10s --interval 5s --max-batch-readings 3000 \
  --status-interval 30s --spool-dir "$DEMO/spool-home"
now_ms home_started

log "$HOUSEHOLDS households x $SOCKETS simulated sockets for $DURATION (a batch every 2 s, a reading every 250 ms)"
agents=()
for i in $(seq 1 "$HOUSEHOLDS"); do
  DEVICE_SECRET=${secrets[i]} "$BIN/device-agent" --device-id "${devices[i]}" \
    --amqp-url "$AGENT_AMQP_URL" --source simulated --sockets "$SOCKETS" \
    --seed "$i" --interval 2s --sample-interval 250ms --duration "$DURATION" \
    --status-interval 5s --spool-dir "$DEMO/spool-$i" >"$DEMO/agent-$i.log" 2>&1 &
  agents+=($!)
  bounded+=($!)
done
failed=0
for pid in "${agents[@]}"; do wait "$pid" || failed=$((failed + 1)); done
((failed == 0)) || log "warning: $failed agent(s) exited non-zero; see $DEMO/agent-*.log"

# Households back after $BACKFILL offline: their whole history at once, as
# fast as the pipeline takes it. The rate is measured from the agents' start
# to the moment the write service has written every point.
log "$BACKFILL_AGENTS households x 30 sockets send $BACKFILL of 10-second readings at once"
read_points_written
written_before=$written
now_ms backfill_started
backfill_agents=()
for i in $(seq 1 "$BACKFILL_AGENTS"); do
  k=$((HOUSEHOLDS + i))
  DEVICE_SECRET=${secrets[k]} "$BIN/device-agent" --device-id "${devices[k]}" \
    --amqp-url "$AGENT_AMQP_URL" --source simulated --sockets 30 \
    --seed "$((1000 + i))" --backfill "$BACKFILL" --sample-interval 10s --interval 1s --duration 1s \
    --max-batch-readings 3000 --spool-dir "$DEMO/spool-backfill-$i" >"$DEMO/agent-backfill-$i.log" 2>&1 &
  backfill_agents+=($!)
  bounded+=($!)
done
for pid in "${backfill_agents[@]}"; do wait "$pid" || failed=$((failed + 1)); done
now_ms backfill_confirmed
sent=$(confirmed_readings "$DEMO"/agent-backfill-*.log)
# Polled every 100 ms (one curl each): the written time is up to 100 ms late.
until read_points_written && ((written - written_before >= sent)); do
  now_ms now
  ((now - backfill_started > 600000)) && { log "backfill not written after 10 min"; break; }
  sleep 0.1
done
now_ms backfill_written
elapsed=$((backfill_written - backfill_started))
log "backfill: $sent readings confirmed by the broker after $((backfill_confirmed - backfill_started))ms," \
  "written to InfluxDB after ${elapsed}ms (polled every 100ms): $((sent * 1000 / (elapsed > 0 ? elapsed : 1))) points/s end to end"

# The bounded agents exit once the broker confirmed everything; wait until
# the write service has written and acked it all.
log "waiting for the write queue to drain"
for _ in $(seq 1 100); do
  [[ $(queue_messages wattline.readings.write) == 0 ]] && break
  sleep 1
done

# The bounded households only (the ids are [a-z0-9-], safe in a regex), each
# shown with its owner's email.
log "summary (InfluxDB $INFLUX_URL, database $INFLUX_DB)"
owners=() # household email ...
for k in "${!households[@]}"; do ((k > 0)) && owners+=("${households[k]}" "${emails[k]}"); done
stored=$(influxql "SELECT count(watts) AS readings, mean(watts) AS mean_w, max(watts) AS peak_w
          FROM power WHERE household =~ /^($(IFS='|'; echo "${households[*]:1}"))\$/ GROUP BY household" |
  python3 -c '
import json, sys
emails = dict(zip(sys.argv[1::2], sys.argv[2::2]))
result = json.load(sys.stdin)["results"][0]
rows = {s["tags"]["household"]: s["values"][0][1:] for s in result.get("series", [])}
print("{:<24}{:<20}{:>10}{:>10}{:>10}".format("owner", "household", "readings", "mean W", "peak W"), file=sys.stderr)
total = 0
for h, email in emails.items():  # in the order registered
    if h in rows:
        n, mean_w, peak_w = rows[h]
        total += n
        print(f"{email:<24}{h:<20}{n:>10}{mean_w:>10.1f}{peak_w:>10.1f}", file=sys.stderr)
    else:
        print(f"{email:<24}{h:<20}{0:>10}", file=sys.stderr)
print(total)
' "${owners[@]}")
confirmed=$(confirmed_readings "$DEMO"/agent-[0-9]*.log "$DEMO"/agent-backfill-*.log)
dead=$(queue_messages wattline.readings.dead)
log "agents confirmed $confirmed readings; InfluxDB holds $stored; dead-lettered messages in total: ${dead:-?}"
if ((stored != confirmed || failed > 0)); then
  log "FAILED: stored readings differ from confirmed ones, or an agent failed"
  exit 1
fi

# The history of the demo login's household is in once InfluxDB holds every
# reading of it; then the rollups of the whole range are computed (the
# rollup job itself looks back only a few hours).
history_s=$(duration_seconds "$HISTORY")
history_readings=$((history_s / 10 * SOCKETS))
log "waiting until InfluxDB holds $HOME_EMAIL's $history_readings readings of history"
wait_for 600 "the history" "stored" "" "$DEMO/agent-home.log" \
  eval '(( $(stored_readings "${households[0]}") >= history_readings ))'
now_ms home_stored
log "history stored $((home_stored - home_started)) ms after the agent started"
log "rollups of the history (rollup backfill)"
now_ms rollup_started
# From a day before the history's start, to be sure to cover it.
"$BIN/rollup" backfill --from "$(date -u -d "@$((home_started / 1000 - history_s - 86400))" +%Y-%m-%dT%H:%M:%SZ)" \
  >"$DEMO/rollup-backfill.log" 2>&1 ||
  { log "rollup backfill failed:"; tail -20 "$DEMO/rollup-backfill.log" >&2; exit 1; }
now_ms rollup_done
log "rollups computed in $((rollup_done - rollup_started)) ms"

log "logs: $DEMO; the services and $HOME_EMAIL's agent keep running: stop them with deploy/demo.sh stop"
log "dashboard: http://$WEB_LISTEN   demo login: $HOME_EMAIL / $DEMO_PASSWORD" \
  "($HISTORY of history, live readings; every demo-<i>@ and backfill-<i>@example.org account has this password too)"
