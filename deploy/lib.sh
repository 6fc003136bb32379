# Helpers shared by the deploy scripts (sourced; each script
# defines its own `log`).

# Whether a TCP port accepts connections: `port` (on loopback) or `host:port`.
port_open() { # [host:]port
  local addr=$1
  [[ $addr == *:* ]] || addr=127.0.0.1:$addr
  (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null
}
port_closed() { ! port_open "$1"; }

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

# Builds the dashboard (web/dist) from web/package-lock.json. `npm ci` wipes
# and refetches node_modules, so it runs only when the lockfile changed since
# the last one (the stamp holds its hash).
build_web() { # root
  local web=$1/web lock_hash node_version
  node_version=$(node --version 2>/dev/null) || { log "node is missing (deploy/stack.sh installs it)"; exit 1; }
  # Vite needs Node.js 20.19 or newer (Debian 12's own nodejs is 18).
  if ! printf '%s\n' "${node_version#v}" | awk -F. '{ exit !($1 > 20 || ($1 == 20 && $2 >= 19)) }'; then
    log "the dashboard's build needs Node.js 20.19 or newer, this is $node_version"
    exit 1
  fi
  lock_hash=$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)
  if [[ $(cat "$web/node_modules/.wattline-lock-hash" 2>/dev/null) != "$lock_hash" ]]; then
    log "npm ci (web/)"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
    printf '%s\n' "$lock_hash" >"$web/node_modules/.wattline-lock-hash"
  fi
  log "building the dashboard (web/dist)"
  (cd "$web" && npm run --silent build >/dev/null)
}
