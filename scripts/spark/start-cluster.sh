#!/usr/bin/env bash
# Start a real Spark standalone cluster (one master, N workers) on 127.0.0.1 from the pyspark package alone.
#
#   scripts/spark/start-cluster.sh STATE_DIR [MASTER_PORT] [WORKER_CORES] [WORKER_MEMORY] [--workers N]
#                                  [--worker-env FILE]
#
# MASTER_PORT defaults to 7077 (0 = a free one); each worker gets WORKER_CORES cores (2) and WORKER_MEMORY (2g),
# its own work and scratch dir (STATE_DIR/work/worker-I), log (STATE_DIR/logs/worker-I.out) and PID file.
# --workers N: how many workers (1). --worker-env FILE: KEY=VALUE lines (no quoting, no expansion, # comments)
# added to the workers' environment only, which their executors and Python workers inherit, e.g.
# PYSPARK_PYTHON=/a/bare/venv/bin/python or HOME=/somewhere/else.
# Prints the master URL (spark://127.0.0.1:PORT) on the last line once every worker is ALIVE, and writes it
# with the master's web UI port to STATE_DIR/cluster.env. A failed or interrupted start stops what it started.
# Stop with scripts/spark/stop-cluster.sh STATE_DIR. Environment: PYTHON (with pyspark; python3),
# SPARK_CLUSTER_TIMEOUT (90 s).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

WORKERS=1
WORKER_ENV_FILE=""
POSITIONAL=()
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) WORKERS="$2"; shift ;;
    --worker-env) WORKER_ENV_FILE="$2"; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (try --help)" ;;
    *) POSITIONAL+=("$1") ;;
  esac
  shift
done
if [ ${#POSITIONAL[@]} -lt 1 ] || [ ${#POSITIONAL[@]} -gt 4 ]; then
  die "usage: start-cluster.sh STATE_DIR [MASTER_PORT] [WORKER_CORES] [WORKER_MEMORY] [--workers N] [--worker-env FILE]"
fi
STATE="$(realpath -ms "${POSITIONAL[0]}")"
PORT="${POSITIONAL[1]:-7077}"
CORES="${POSITIONAL[2]:-2}"
MEMORY="${POSITIONAL[3]:-2g}"
PYTHON="${PYTHON:-python3}"
TIMEOUT="${SPARK_CLUSTER_TIMEOUT:-90}"
[[ "$WORKERS" =~ ^[1-9][0-9]*$ ]] || die "Expected --workers to be a number of workers >= 1, but got '$WORKERS'"

# Read as data, never sourced: a value is taken literally, whatever characters it has.
WORKER_ENV=()
if [ -n "$WORKER_ENV_FILE" ]; then
  [ -r "$WORKER_ENV_FILE" ] || die "Expected a readable --worker-env file, but got '$WORKER_ENV_FILE'"
  line_no=0
  while IFS= read -r line || [ -n "$line" ]; do
    line_no=$((line_no + 1))
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    [[ "$line" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] \
      || die "$WORKER_ENV_FILE:$line_no: Expected KEY=VALUE, but got '$line'"
    WORKER_ENV+=("$line")
  done <"$WORKER_ENV_FILE"
fi

# find_spec, not import: importing pyspark takes seconds on a loaded machine.
SPARK_HOME="$("$PYTHON" -c 'import importlib.util as u; print(u.find_spec("pyspark").submodule_search_locations[0])')" \
  || die "Expected PYTHON ($PYTHON) to import pyspark; set PYTHON to the interpreter of a venv that has it"
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# SO_REUSEADDR as Spark's servers set it: a port with only TIME_WAIT connections is free, a listened one is not.
port_free() {
  "$PYTHON" -c 'import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

# Nothing starts while a daemon of this state dir runs (stale PID files are removed, with a message).
for name in $(daemon_names); do
  ! daemon_running "$name" \
    || die "spark $name is already running from $STATE (pid $(cat "$STATE/$name.pid")); stop it first: stop-cluster.sh $STATE"
done
[ "$PORT" = 0 ] && PORT="$(free_port)"
port_free "$PORT" || die "Expected a free master port, but 127.0.0.1:$PORT is in use; choose another (0 = a free one)"
MASTER_UI="$(free_port)"
MASTER_URL="spark://127.0.0.1:$PORT"

mkdir -p "$STATE/logs" "$STATE/work"
rm -f "$STATE/cluster.env"
# A port taken between our check and the bind must fail the start, not move the master to the next port
# (Spark's default), where workers and callers would not find it, or would find another cluster's.
printf '%s\n' "# Written by scripts/spark/start-cluster.sh" "spark.port.maxRetries 0" >"$STATE/cluster.conf"
export SPARK_HOME SPARK_LOCAL_IP=127.0.0.1

READY=0
cleanup() {
  [ "$READY" = 1 ] && return
  log "the cluster did not start; stopping what was started"
  "$SPARK_SCRIPTS/stop-cluster.sh" "$STATE" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master --properties-file "$STATE/cluster.conf" \
    --host 127.0.0.1 --port "$PORT" --webui-port "$MASTER_UI" >"$STATE/logs/master.out" 2>&1 </dev/null &
echo $! >"$STATE/master.pid"
for i in $(seq 1 "$WORKERS"); do
  dir="$STATE/work/worker-$i"
  mkdir -p "$dir/local"
  # Web UI port 0: any free one, nobody needs it. SPARK_LOCAL_DIRS: the executors' scratch space, per worker.
  env SPARK_LOCAL_DIRS="$dir/local" "${WORKER_ENV[@]}" \
    "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker --properties-file "$STATE/cluster.conf" \
    --host 127.0.0.1 --cores "$CORES" --memory "$MEMORY" --webui-port 0 --work-dir "$dir" "$MASTER_URL" \
    >"$STATE/logs/worker-$i.out" 2>&1 </dev/null &
  echo $! >"$STATE/worker-$i.pid"
done

# Ready when the master's JSON status lists every worker ALIVE: a job submitted earlier would wait for them.
deadline=$((SECONDS + TIMEOUT))
until "$PYTHON" - "$MASTER_UI" "$WORKERS" <<'PY' 2>/dev/null
import json, sys, urllib.request
status = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/json/", timeout=2))
sys.exit(0 if sum(w.get("state") == "ALIVE" for w in status.get("workers", [])) >= int(sys.argv[2]) else 1)
PY
do
  for name in $(daemon_names); do
    if ! daemon_running "$name"; then
      log "spark $name exited during start-up:"
      tail -n 30 "$STATE/logs/$name.out" >&2
      exit 1
    fi
  done
  if [ $SECONDS -ge $deadline ]; then
    log "the cluster did not come up within ${TIMEOUT}s; last log lines:"
    tail -n 20 "$STATE"/logs/*.out >&2 || true
    exit 1
  fi
  sleep 1
done
printf 'SPARK_MASTER_URL=%s\nSPARK_MASTER_WEBUI_PORT=%s\n' "$MASTER_URL" "$MASTER_UI" >"$STATE/cluster.env"
READY=1
log "$WORKERS worker(s) ALIVE at $MASTER_URL (web UI http://127.0.0.1:$MASTER_UI)"
echo "$MASTER_URL"
