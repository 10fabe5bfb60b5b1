#!/usr/bin/env bash
# Stop the cluster started by start-cluster.sh: SIGTERM by PID, then SIGKILL after a grace period.
set -uo pipefail
STATE=${1:?usage: stop-cluster.sh STATE_DIR}
for role in worker master; do
    pidfile="$STATE/$role.pid"
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null
    rm -f "$pidfile"
done
exit 0
