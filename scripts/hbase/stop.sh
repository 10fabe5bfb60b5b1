#!/usr/bin/env bash
# Stop what start.sh started, by PID file: SIGTERM, wait, then SIGKILL. Gateways first, then the master.
#
#   stop.sh [all|master|thrift] [--name thriftN] [--dir DIR] [--grace S]
#
# `stop.sh` (or `all`) stops every Thrift gateway of DIR, then the master. `stop.sh thrift` stops only the
# default gateway (restart it with `start.sh thrift`), `stop.sh thrift --name thrift2` only that one.
# HBASE_STOP_GRACE (default 30 s) bounds the wait after SIGTERM.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

COMPONENT=all
NAME=thrift
GRACE="${HBASE_STOP_GRACE:-30}"
while [ $# -gt 0 ]; do
  case "$1" in
    all|master|thrift) COMPONENT="$1" ;;
    --name) NAME="$2"; shift ;;
    --dir) HBASE_RUN_DIR="$2"; shift ;;
    --grace) GRACE="$2"; shift ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
  shift
done
check_gateway_name "$NAME"
[ "$NAME" = thrift ] || [ "$COMPONENT" = thrift ] \
  || die "Expected --name with 'stop.sh thrift' (it names a Thrift gateway), but got it with '$COMPONENT'"
[ -d "$HBASE_RUN_DIR" ] || { log "nothing to stop: $HBASE_RUN_DIR does not exist"; exit 0; }
HBASE_RUN_DIR="$(realpath -ms "$HBASE_RUN_DIR")"

stop_one() {  # $1 = name
  local pidfile="$HBASE_RUN_DIR/$1.pid" pid
  running "$1" || return 0
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + GRACE))
  while pid_alive "$1" && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  if pid_alive "$1"; then
    log "$1 (pid $pid) still running after ${GRACE}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while pid_alive "$1"; do sleep 0.1; done
  fi
  rm -f "$pidfile"
  log "stopped $1 (pid $pid)"
}

case "$COMPONENT" in
  thrift) stop_one "$NAME" ;;
  master) stop_one master ;;
  all)
    for name in $(gateway_names); do stop_one "$name"; done
    stop_one master
    ;;
esac
