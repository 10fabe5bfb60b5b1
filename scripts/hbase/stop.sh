#!/usr/bin/env bash
# Stop what start.sh started, by PID file: SIGTERM, wait, then SIGKILL. Thrift first, then the master.
#
#   stop.sh [all|master|thrift] [--dir DIR] [--grace S]
#
# `stop.sh thrift` stops only the Thrift gateway (restart it with `start.sh thrift`).
# HBASE_STOP_GRACE (default 30 s) bounds the wait after SIGTERM.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

COMPONENT=all
GRACE="${HBASE_STOP_GRACE:-30}"
while [ $# -gt 0 ]; do
  case "$1" in
    all|master|thrift) COMPONENT="$1" ;;
    --dir) HBASE_RUN_DIR="$2"; shift ;;
    --grace) GRACE="$2"; shift ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
  shift
done
[ -d "$HBASE_RUN_DIR" ] || { log "nothing to stop: $HBASE_RUN_DIR does not exist"; exit 0; }
HBASE_RUN_DIR="$(cd "$HBASE_RUN_DIR" && pwd)"

stop_one() {  # $1 = name
  local pidfile="$HBASE_RUN_DIR/$1.pid" pid
  if ! pid_alive "$pidfile"; then
    rm -f "$pidfile"
    return 0
  fi
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + GRACE))
  while pid_alive "$pidfile" && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  if pid_alive "$pidfile"; then
    log "$1 (pid $pid) still running after ${GRACE}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while pid_alive "$pidfile"; do sleep 0.1; done
  fi
  rm -f "$pidfile"
  log "stopped $1 (pid $pid)"
}

case "$COMPONENT" in
  thrift) stop_one thrift ;;
  master) stop_one master ;;
  all) stop_one thrift; stop_one master ;;
esac
