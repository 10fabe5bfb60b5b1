# Shared by start-cluster.sh and stop-cluster.sh: what each daemon runs and how its PID is checked. Sourced, never run.
# shellcheck shell=bash

SPARK_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$SPARK_SCRIPTS/../lib/pidfile.sh"

die() { echo "spark-cluster: $*" >&2; exit 1; }
log() { echo "spark-cluster: $*" >&2; }

# Daemons are `master` and `worker-1`, `worker-2`, ...; each has STATE/NAME.pid.
daemon_class() {  # $1 = name
  case "$1" in
    master) echo org.apache.spark.deploy.master.Master ;;
    worker*) echo org.apache.spark.deploy.worker.Worker ;;
    *) die "Expected a daemon 'master' or 'worker-N', but got '$1'" ;;
  esac
}

# Every daemon is started with `--properties-file STATE/cluster.conf`: with its class, that argument identifies
# a daemon of this cluster in /proc, both in the spark-class launcher and in the JVM it execs into.
daemon_running() {  # $1 = name
  pid_running "$STATE/$1.pid" "$(daemon_class "$1")" "$STATE/cluster.conf"
}

daemon_stop() {  # $1 = name, $2 = grace seconds
  pid_stop "$STATE/$1.pid" "$2" "spark $1" "$(daemon_class "$1")" "$STATE/cluster.conf"
}

# The daemons that have a PID file in STATE, workers first.
daemon_names() {
  local f
  for f in "$STATE"/worker*.pid "$STATE"/master.pid; do
    [ -f "$f" ] && basename "$f" .pid
  done
  return 0
}
