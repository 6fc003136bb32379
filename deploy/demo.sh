#!/usr/bin/env bash
# The Wattline demo: the local stack, auth-service, the write service, and a
# few simulated households' device agents for a bounded time; then households
# back from a day offline send their history at once (the ingestion rate,
# measured); then a summary of what landed in InfluxDB, checked against what
# the agents had confirmed.
#
# Every household is registered in auth-service (an owner account and one
# device each) as a user would; each agent logs in to RabbitMQ with its
# device's id and secret, and the write service, with its own broker account,
# asks auth-service which household a device belongs to.
#
#   deploy/demo.sh
#   DEMO_HOUSEHOLDS=20 DEMO_DURATION=60s DEMO_BACKFILL_AGENTS=4 deploy/demo.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${WATTLINE_STATE:-$ROOT/.wattline}
HOUSEHOLDS=${DEMO_HOUSEHOLDS:-4}
SOCKETS=${DEMO_SOCKETS:-8}
DURATION=${DEMO_DURATION:-20s}
BACKFILL_AGENTS=${DEMO_BACKFILL_AGENTS:-2}
BACKFILL=${DEMO_BACKFILL:-1day}
export INFLUX_DB=${INFLUX_DB:-wattline}
export INFLUX_URL=${INFLUX_URL:-http://127.0.0.1:8086}
METRICS=127.0.0.1:${DEMO_METRICS_PORT:-9091}
# The internal listener must be where stack.sh told RabbitMQ to ask about
# device logins (same variable, same default).
AUTH_INTERNAL_URL=${WATTLINE_AUTH_INTERNAL_URL:-http://127.0.0.1:8091}
AUTH_INTERNAL_URL=${AUTH_INTERNAL_URL%/}
AUTH_INTERNAL=${AUTH_INTERNAL_URL#http://}
AUTH_PUBLIC=127.0.0.1:${DEMO_AUTH_PORT:-8081}
AUTH_URL=http://$AUTH_PUBLIC
# Every demo account has this password (printed at the end, to log in with).
DEMO_PASSWORD=wattline-demo-password
# Agents bring no credentials: with a secret they log in as their device id.
AGENT_AMQP_URL=amqp://127.0.0.1:5672/%2f

"$ROOT/deploy/stack.sh" --release
BIN=$ROOT/target/release
DEMO=$STATE/demo
rm -rf "$DEMO" && mkdir -p "$DEMO"
# The households of the latest run, kept outside $DEMO so that the next run
# can drop their series (see below).
LAST_HOUSEHOLDS=$STATE/demo-households

log() { printf '\033[1m[demo]\033[0m %s\n' "$*" >&2; }
influxql() {
  curl -sfG "$INFLUX_URL/query" --data-urlencode "db=$INFLUX_DB" --data-urlencode "q=$1"
}
# port_open, wait_for
# shellcheck source=deploy/lib.sh
. "$ROOT/deploy/lib.sh"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

# Waits until url answers 2xx (see wait_for).
wait_healthy() { # what pid logfile seconds url
  wait_for "$4" "$1" "answering $5" "$2" "$3" curl -sf -m 2 -o /dev/null "$5"
}
# POSTs the JSON on stdin to auth-service's public API, with the access token
# if given, and prints the body of its 201 answer; otherwise logs the status
# and body and fails. The token goes to curl through a pipe, not its command
# line (which anyone may read in ps).
auth_post() { # path [access token]
  local response status
  response=$(curl -sS -m 30 -w '\n%{http_code}' -H 'content-type: application/json' \
    -H @<([[ -z ${2:-} ]] || printf 'authorization: Bearer %s\n' "$2") \
    --data-binary @- "$AUTH_URL$1") ||
    { log "POST $AUTH_URL$1: no answer from auth-service (see $DEMO/auth-service.log)"; return 1; }
  status=${response##*$'\n'}
  response=${response%$'\n'*}
  if [[ $status != 201 ]]; then
    log "POST $AUTH_URL$1 failed: HTTP $status: $response"
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
# Registers a household as its owner would (an account, then one device) and
# appends to emails, households, devices and secrets.
emails=() households=() devices=() secrets=()
register_household() { # email device-name
  local session device token household device_id secret
  session=$(auth_post /api/auth/register <<<"{\"email\":\"$1\",\"password\":\"$DEMO_PASSWORD\"}")
  read -r token household < <(json_fields access_token user.household_id <<<"$session")
  device=$(auth_post /api/devices "$token" <<<"{\"name\":\"$2\"}")
  read -r device_id secret < <(json_fields device.id secret <<<"$device")
  emails+=("$1") households+=("$household") devices+=("$device_id") secrets+=("$secret")
}

# Sets $written to the write service's points written so far (summed over
# label sets); fails if its /metrics cannot be read. Runs only curl.
read_points_written() {
  local metrics name value _
  metrics=$(curl -sf "http://$METRICS/metrics") || return
  written=0
  while read -r name value _; do
    case $name in
      wattline_write_points_written_total | wattline_write_points_written_total{*) written=$((written + value)) ;;
    esac
  done <<<"$metrics"
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

# A service from an earlier run still on our ports would answer in place of
# ours (with another database): stop rather than mix them up.
for addr in "$AUTH_PUBLIC" "$AUTH_INTERNAL" "$METRICS"; do
  if port_open "$addr"; then
    log "$addr is already in use (an auth-service or write-service left from an earlier demo?):" \
      "stop it first, e.g. kill the pid that 'ss -ltnp' shows on it"
    exit 1
  fi
done

# A fresh account database each run (in $DEMO); the signing key persists in
# $STATE, so tokens of a restarted auth-service on the same database verify.
# The demo registers all its households from one address: hence the higher
# limit per client.
log "auth-service (public API $AUTH_URL, internal $AUTH_INTERNAL_URL)"
DATABASE_URL="sqlite://$DEMO/auth.db" JWT_SIGNING_KEY_FILE="$STATE/auth-signing-key.pem" \
  "$BIN/auth-service" --listen "$AUTH_PUBLIC" --internal-listen "$AUTH_INTERNAL" \
  --login-limit-per-client 1000/1m >"$DEMO/auth-service.log" 2>&1 &
auth_service=$!
pids+=("$auth_service")
wait_healthy auth-service "$auth_service" "$DEMO/auth-service.log" 30 "$AUTH_URL/healthz"
wait_healthy auth-service "$auth_service" "$DEMO/auth-service.log" 30 "$AUTH_INTERNAL_URL/healthz"

log "registering $HOUSEHOLDS + $BACKFILL_AGENTS households, one device each"
for i in $(seq 1 "$HOUSEHOLDS"); do
  register_household "demo-$i@example.org" "demo Pi $i"
done
for i in $(seq 1 "$BACKFILL_AGENTS"); do
  register_household "backfill-$i@example.org" "backfill Pi $i"
done
# Each run's households are new, so the summary need only look at them. The
# previous run's are dropped (they would otherwise pile up run after run),
# and this run's are recorded for the next one first, so that even a failed
# run is cleaned up.
if [[ -s $LAST_HOUSEHOLDS ]]; then
  influxql "DROP SERIES FROM \"power\" WHERE \"household\" =~ /^($(paste -sd '|' "$LAST_HOUSEHOLDS"))\$/" >/dev/null
fi
printf '%s\n' "${households[@]}" >"$LAST_HOUSEHOLDS"

# Its own broker account (made by stack.sh; the password is hex, so it goes
# into the URL as is), given in the environment so that it is not in ps.
log "write service (metrics and health on http://$METRICS; households from $AUTH_INTERNAL_URL)"
AMQP_URL="amqp://wattline-writer:$(<"$STATE/rabbitmq-writer.password")@127.0.0.1:5672/%2f" \
  "$BIN/write-service" --listen "$METRICS" --auth-url "$AUTH_INTERNAL_URL" \
  >"$DEMO/write-service.log" 2>&1 &
write_service=$!
pids+=("$write_service")
wait_healthy "write service" "$write_service" "$DEMO/write-service.log" 60 "http://$METRICS/healthz"

# Each agent gets its device's secret in the environment (not in ps).
log "$HOUSEHOLDS households x $SOCKETS simulated sockets for $DURATION (a batch every 2 s, a reading every 250 ms)"
agents=()
for i in $(seq 1 "$HOUSEHOLDS"); do
  k=$((i - 1))
  DEVICE_SECRET=${secrets[k]} "$BIN/device-agent" --device-id "${devices[k]}" \
    --amqp-url "$AGENT_AMQP_URL" --source simulated --sockets "$SOCKETS" \
    --seed "$i" --interval 2s --sample-interval 250ms --duration "$DURATION" \
    --status-interval 5s --spool-dir "$DEMO/spool-$i" >"$DEMO/agent-$i.log" 2>&1 &
  agents+=($!)
  pids+=($!)
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
  k=$((HOUSEHOLDS + i - 1))
  DEVICE_SECRET=${secrets[k]} "$BIN/device-agent" --device-id "${devices[k]}" \
    --amqp-url "$AGENT_AMQP_URL" --source simulated --sockets 30 \
    --seed "$((1000 + i))" --backfill "$BACKFILL" --sample-interval 10s --interval 1s --duration 1s \
    --max-batch-readings 3000 --spool-dir "$DEMO/spool-backfill-$i" >"$DEMO/agent-backfill-$i.log" 2>&1 &
  backfill_agents+=($!)
  pids+=($!)
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

# The agents exit once the broker confirmed everything; wait until the write
# service has written and acked it all, then stop it gracefully.
log "waiting for the write queue to drain"
for _ in $(seq 1 100); do
  [[ $(queue_messages wattline.readings.write) == 0 ]] && break
  sleep 1
done
curl -sf "http://$METRICS/metrics" >"$DEMO/metrics.txt" || true
kill -TERM "$write_service"
wait "$write_service" || log "write service exited non-zero; see $DEMO/write-service.log"

# This run's households only (the ids are [a-z0-9-], safe in a regex), each
# shown with its owner's email.
log "summary (InfluxDB $INFLUX_URL, database $INFLUX_DB)"
owners=() # household email ...
for k in "${!households[@]}"; do owners+=("${households[k]}" "${emails[k]}"); done
stored=$(influxql "SELECT count(watts) AS readings, mean(watts) AS mean_w, max(watts) AS peak_w
          FROM power WHERE household =~ /^($(IFS='|'; echo "${households[*]}"))\$/ GROUP BY household" |
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
confirmed=$(confirmed_readings "$DEMO"/agent-*.log)
dead=$(queue_messages wattline.readings.dead)
log "agents confirmed $confirmed readings; InfluxDB holds $stored; dead-lettered messages in total: ${dead:-?}"
log "auth-service was at $AUTH_URL (public) and $AUTH_INTERNAL_URL (internal); it stops with the demo." \
  "To log in again, start it on the demo's database:" \
  "DATABASE_URL=sqlite://$DEMO/auth.db JWT_SIGNING_KEY_FILE=$STATE/auth-signing-key.pem $BIN/auth-service"
log "demo login: ${emails[0]} / $DEMO_PASSWORD (every demo-<i>@ and backfill-<i>@example.org account has this password)"
log "logs (auth-service, write service, agents) and metrics: $DEMO"
if ((stored != confirmed || failed > 0)); then
  log "FAILED: stored readings differ from confirmed ones, or an agent failed"
  exit 1
fi
