#!/usr/bin/env bash
# The Wattline demo: the local stack, the write service, and a few simulated
# households' device agents for a bounded time; then households back from a
# day offline send their history at once (the ingestion rate, measured); then
# a summary of what landed in InfluxDB, checked against what the agents had
# confirmed.
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
export AMQP_URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
METRICS=127.0.0.1:${DEMO_METRICS_PORT:-9091}

"$ROOT/deploy/stack.sh" --release
BIN=$ROOT/target/release
DEMO=$STATE/demo
rm -rf "$DEMO" && mkdir -p "$DEMO"

log() { printf '\033[1m[demo]\033[0m %s\n' "$*" >&2; }
influxql() {
  curl -sfG "$INFLUX_URL/query" --data-urlencode "db=$INFLUX_DB" --data-urlencode "q=$1"
}

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

# Until auth-service exists, the write service learns households from flags.
household_flags=()
for i in $(seq 1 "$HOUSEHOLDS"); do
  household_flags+=(--household "demo-device-$i=demo household $i")
done
for i in $(seq 1 "$BACKFILL_AGENTS"); do
  household_flags+=(--household "demo-backfill-$i=demo backfill household $i")
done
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

# Each run starts from a clean slate for the demo households, so the summary
# can compare what is stored with what the agents confirmed.
influxql 'DROP SERIES FROM "power" WHERE "household" =~ /^demo /' >/dev/null
log "write service (metrics and health on http://$METRICS)"
"$BIN/write-service" --listen "$METRICS" "${household_flags[@]}" >"$DEMO/write-service.log" 2>&1 &
write_service=$!
pids+=("$write_service")
until curl -sf -o /dev/null "http://$METRICS/healthz"; do
  kill -0 "$write_service" 2>/dev/null || { tail -20 "$DEMO/write-service.log"; exit 1; }
  sleep 0.2
done

log "$HOUSEHOLDS households x $SOCKETS simulated sockets for $DURATION (a batch every 2 s, a reading every 250 ms)"
agents=()
for i in $(seq 1 "$HOUSEHOLDS"); do
  "$BIN/device-agent" --device-id "demo-device-$i" --source simulated --sockets "$SOCKETS" \
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
  "$BIN/device-agent" --device-id "demo-backfill-$i" --source simulated --sockets 30 \
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

log "summary (InfluxDB $INFLUX_URL, database $INFLUX_DB)"
stored=$(influxql "SELECT count(watts) AS readings, mean(watts) AS mean_w, max(watts) AS peak_w
          FROM power WHERE household =~ /^demo / GROUP BY household" |
  python3 -c '
import json, sys
result = json.load(sys.stdin)["results"][0]
rows = []
for s in result.get("series", []):
    _, readings, mean_w, peak_w = s["values"][0]
    rows.append((s["tags"]["household"], readings, mean_w, peak_w))
print("{:<28}{:>10}{:>10}{:>10}".format("household", "readings", "mean W", "peak W"), file=sys.stderr)
for h, n, mean_w, peak_w in sorted(rows):
    print(f"{h:<28}{n:>10}{mean_w:>10.1f}{peak_w:>10.1f}", file=sys.stderr)
print(sum(r[1] for r in rows))
')
confirmed=$(confirmed_readings "$DEMO"/agent-*.log)
dead=$(queue_messages wattline.readings.dead)
log "agents confirmed $confirmed readings; InfluxDB holds $stored; dead-lettered messages in total: ${dead:-?}"
log "logs and metrics: $DEMO"
if ((stored != confirmed || failed > 0)); then
  log "FAILED: stored readings differ from confirmed ones, or an agent failed"
  exit 1
fi
