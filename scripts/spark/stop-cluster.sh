#!/usr/bin/env bash
# Stop the cluster started by start-cluster.sh: every worker, then the master. SIGTERM, then SIGKILL after
# SPARK_STOP_GRACE seconds (default 10). A PID is signalled only while /proc shows it running that daemon's
# Spark class for this STATE_DIR, so a recycled PID is never killed; stale PID files are removed.
#
#   scripts/spark/stop-cluster.sh STATE_DIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[ $# -eq 1 ] || die "usage: stop-cluster.sh STATE_DIR"
STATE="$(realpath -ms "$1")"
GRACE="${SPARK_STOP_GRACE:-10}"
[ -d "$STATE" ] || { log "nothing to stop: $STATE does not exist"; exit 0; }
for name in $(daemon_names); do
  daemon_stop "$name" "$GRACE"
done
rm -f "$STATE/cluster.env"
