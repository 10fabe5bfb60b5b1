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

case "$COMPONENT" in
  thrift) stop_component "$NAME" "$GRACE" ;;
  master) stop_component master "$GRACE" ;;
  all)
    for name in $(gateway_names); do stop_component "$name" "$GRACE"; done
    stop_component master "$GRACE"
    ;;
esac
