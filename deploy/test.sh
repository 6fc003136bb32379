#!/usr/bin/env bash
# Runs every Wattline test against real servers: starts the local stack
# (installing it on a fresh Debian machine), then formatting, lints, the
# dashboard's build (and Chromium for its browser test), schemathesis for
# the OpenAPI tests, and the whole workspace's unit and integration tests.
#
#   deploy/test.sh              # everything
#   deploy/test.sh -p write-service   # extra args go to `cargo test`
#   deploy/test.sh --soak 10m   # everything, with a 10-minute chaos soak
#                               # (perf/tests/chaos.rs; 75 s by default)
set -euo pipefail

if [[ ${1:-} == --soak ]]; then
  [[ -n ${2:-} ]] || { echo "--soak needs a duration, e.g. --soak 10m" >&2; exit 2; }
  export WATTLINE_CHAOS_DURATION=$2
  shift 2
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
"$ROOT/deploy/stack.sh" --no-build
[[ -x $HOME/.cargo/bin/cargo ]] && export PATH=$HOME/.cargo/bin:$PATH

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
log() { printf '\033[1m[test]\033[0m %s\n' "$*" >&2; }
# build_web
# shellcheck source=deploy/lib.sh
. "$ROOT/deploy/lib.sh"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
"$ROOT/deploy/fuzz.sh" --seconds 30

step "the dashboard: Chromium, npm ci, npm run build"
# The browser test (web/tests/browser.rs) drives Debian's Chromium (never a
# browser a tool downloads) and serves the built dashboard (web/dist).
if ! command -v chromium >/dev/null; then
  [[ $(id -u) == 0 ]] || { echo "chromium is missing: run this script as root" >&2; exit 1; }
  STATE=${WATTLINE_STATE:-$ROOT/.wattline}
  mkdir -p "$STATE"
  log "installing chromium (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q chromium >"$STATE/apt-chromium.log" 2>&1 ||
    { tail -20 "$STATE/apt-chromium.log"; exit 1; }
fi
CHROMIUM=${CHROMIUM:-$(command -v chromium)}
export CHROMIUM
build_web "$ROOT"

step "schemathesis (pinned, from PyPI)"
# The OpenAPI tests (auth-service and read-service, tests/it/openapi.rs) run it.
SCHEMATHESIS=$("$ROOT/deploy/schemathesis.sh")
export SCHEMATHESIS

step "cargo test"
# Integration tests start real processes and talk to real servers; two at a
# time suits the 2-core machines this runs on.
cargo test --workspace "$@" -- --test-threads="${TEST_THREADS:-2}"
