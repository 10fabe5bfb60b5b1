# PID files checked against /proc before any signal, shared by scripts/hbase and scripts/spark. Sourced,
# never run; the caller defines log() (a message to stderr).
# shellcheck shell=bash

# The PID file names a live process that has every ARG, exactly, among its command-line arguments: the
# class it runs and something naming this instance (its run dir), so a recycled PID never counts.
pid_matches() {  # $1 = pid file, rest = arguments the process must have
  local pidfile="$1" pid args want
  shift
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] || return 1
  args="$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  for want in "$@"; do
    grep -qxF -- "$want" <<<"$args" || return 1
  done
}

# Like pid_matches; a PID file whose process is gone (or is someone else's) is removed, with a message.
pid_running() {  # $1 = pid file, rest = arguments the process must have
  pid_matches "$@" && return 0
  if [ -f "$1" ]; then
    log "removing the stale PID file $1 (pid $(cat "$1") is no longer the process it was written for)"
    rm -f "$1"
  fi
  return 1
}

# SIGTERM, wait up to GRACE seconds, then SIGKILL; remove the PID file. Only a matching process is signalled.
pid_stop() {  # $1 = pid file, $2 = grace seconds, $3 = what it is (for messages), rest = arguments it must have
  local pidfile="$1" grace="$2" what="$3" pid
  shift 3
  pid_running "$pidfile" "$@" || return 0
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + grace))
  while pid_matches "$pidfile" "$@" && [ $SECONDS -lt "$deadline" ]; do sleep 0.2; done
  if pid_matches "$pidfile" "$@"; then
    log "$what (pid $pid) still running after ${grace}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while pid_matches "$pidfile" "$@"; do sleep 0.1; done
  fi
  rm -f "$pidfile"
  log "stopped $what (pid $pid)"
}
