# Helpers shared by deploy/stack.sh and deploy/demo.sh (sourced; each script
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
