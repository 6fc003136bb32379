#!/usr/bin/env bash
# Fuzzes Wattline's parsers for a bounded time (cargo fuzz + libFuzzer, with
# AddressSanitizer): batch decoding and validation, the line-protocol
# builder, the spool reader (targets in fuzz/fuzz_targets/). For each target:
# writes seeds made by Wattline's own encoders, replays the kept crash inputs
# (fuzz/regressions/<target>/), then fuzzes for N seconds. Exits non-zero if
# any input crashes a target; the input is saved under fuzz/artifacts/.
#
#   deploy/fuzz.sh                     # 30 s a target
#   deploy/fuzz.sh --seconds 600 spool # longer, one target
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_EACH=30
TARGETS=()
while (($#)); do
  case $1 in
    --seconds) SECONDS_EACH=$2; shift 2 ;;
    --seconds=*) SECONDS_EACH=${1#*=}; shift ;;
    -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
((${#TARGETS[@]})) || TARGETS=(batch line_protocol spool)

CARGO_FUZZ_VERSION=0.13.2
log() { printf '\033[1m[fuzz]\033[0m %s\n' "$*" >&2; }
[[ -x $HOME/.cargo/bin/cargo ]] && export PATH=$HOME/.cargo/bin:$PATH
# cargo fuzz passes -Z flags (the sanitizer, coverage options) that only a
# nightly compiler takes; this machine has the stable toolchain only, and
# RUSTC_BOOTSTRAP=1 lets it accept them. Stable ships the ASan runtime.
export RUSTC_BOOTSTRAP=1

if [[ $(cargo fuzz --version 2>/dev/null) != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --locked --quiet --version "$CARGO_FUZZ_VERSION"
fi

cd "$ROOT/fuzz"
log "building the targets (release, debug assertions and overflow checks on, ASan)"
# Its own target dir, whatever CARGO_TARGET_DIR says: instrumented builds
# share nothing with the workspace's.
export CARGO_TARGET_DIR=$ROOT/fuzz/target
# All targets, or the one asked for.
one_target=()
((${#TARGETS[@]} == 1)) && one_target=("${TARGETS[0]}")
cargo fuzz build --release --debug-assertions --sanitizer address "${one_target[@]}"
BIN=$ROOT/fuzz/target/x86_64-unknown-linux-gnu/release

# The spool target writes a small spool directory per input: on tmpfs when
# there is one.
[[ -z ${TMPDIR:-} && -w /dev/shm ]] && export TMPDIR=/dev/shm
failed=()
summary=()
for target in "${TARGETS[@]}"; do
  corpus=$ROOT/fuzz/corpus/$target
  artifacts=$ROOT/fuzz/artifacts/$target
  mkdir -p "$corpus" "$artifacts"
  WATTLINE_FUZZ_SEEDS=$corpus "$BIN/$target"

  regressions=("$ROOT/fuzz/regressions/$target"/*)
  if [[ -e ${regressions[0]} ]]; then
    log "$target: replaying ${#regressions[@]} kept crash input(s)"
    if ! "$BIN/$target" "${regressions[@]}" >"$artifacts/regressions.log" 2>&1; then
      tail -30 "$artifacts/regressions.log" >&2
      failed+=("$target (a kept regression input)")
      continue
    fi
  fi

  log "$target: fuzzing for ${SECONDS_EACH}s (corpus $corpus)"
  output=$artifacts/run.log
  if "$BIN/$target" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$corpus" >"$output" 2>&1; then
    status=ok
  else
    status=CRASH
    tail -40 "$output" >&2
    failed+=("$target (input saved in $artifacts/)")
  fi
  # libFuzzer's last status line ("#N DONE cov: C ft: F corp: K/...") and
  # final stats.
  done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE)' "$output" | tail -1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$done_line")
  features=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$done_line")
  corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$done_line")
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$output")
  rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$output")
  summary+=("$(printf '%-14s %-6s %10s execs %8s/s  cov %6s  ft %6s  corpus %5s' \
    "$target" "$status" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${features:-?}" "${corp:-?}")")
done

log "summary (${SECONDS_EACH}s a target; cov = edges covered, ft = features):"
printf '  %s\n' "${summary[@]}" >&2
if ((${#failed[@]})); then
  log "crashed: ${failed[*]}"
  log "keep a crash input under fuzz/regressions/<target>/ once fixed; it is replayed on every run"
  exit 1
fi
