#!/usr/bin/env bash
# Runs every Wattline test against real servers: starts the local stack
# (installing it on a fresh Debian machine), then formatting, lints, and the
# whole workspace's unit and integration tests.
#
#   deploy/test.sh              # everything
#   deploy/test.sh -p write-service   # extra args go to `cargo test`
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
"$ROOT/deploy/stack.sh" --no-build
[[ -x $HOME/.cargo/bin/cargo ]] && export PATH=$HOME/.cargo/bin:$PATH

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test"
# Integration tests start real processes and talk to real servers; two at a
# time suits the 2-core machines this runs on.
cargo test --workspace "$@" -- --test-threads="${TEST_THREADS:-2}"
