#!/usr/bin/env bash
# Installs schemathesis (PyPI) at the versions pinned in
# deploy/schemathesis/requirements.txt into a venv under the state dir
# (.wattline/schemathesis), once per change of that file, and prints the path
# of its `st` command. The OpenAPI tests (auth-service and read-service,
# tests/it/openapi.rs) run it; deploy/test.sh calls this first.
#
#   deploy/schemathesis.sh          # prints .../schemathesis/bin/st
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${WATTLINE_STATE:-$ROOT/.wattline}
VENV=$STATE/schemathesis
REQUIREMENTS=$ROOT/deploy/schemathesis/requirements.txt
log() { printf '\033[1m[schemathesis]\033[0m %s\n' "$*" >&2; }

hash=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [[ $(cat "$VENV/.wattline-requirements-hash" 2>/dev/null) != "$hash" ]]; then
  command -v python3 >/dev/null || { log "python3 is missing"; exit 1; }
  log "installing the pinned schemathesis into $VENV"
  rm -rf "$VENV"
  mkdir -p "$STATE"
  python3 -m venv "$VENV"
  # --no-deps: the lockfile lists every dependency itself, so nothing
  # unpinned can slip in; pip check then proves the set is complete.
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps \
    --requirement "$REQUIREMENTS" >"$STATE/pip-schemathesis.log" 2>&1 ||
    { tail -20 "$STATE/pip-schemathesis.log" >&2; exit 1; }
  "$VENV/bin/pip" check --disable-pip-version-check >&2
  printf '%s\n' "$hash" >"$VENV/.wattline-requirements-hash"
fi
printf '%s\n' "$VENV/bin/st"
