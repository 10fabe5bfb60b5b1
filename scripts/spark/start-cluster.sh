#!/usr/bin/env bash
# Start a real Spark standalone cluster (one master, one worker) on 127.0.0.1 from the pyspark package alone.
#
#   scripts/spark/start-cluster.sh STATE_DIR [MASTER_PORT] [WORKER_CORES] [WORKER_MEMORY]
#
# Prints the master URL (spark://127.0.0.1:PORT) on the last line once a worker has registered.
# Stop with scripts/spark/stop-cluster.sh STATE_DIR.
set -euo pipefail

STATE=${1:?usage: start-cluster.sh STATE_DIR [MASTER_PORT] [WORKER_CORES] [WORKER_MEMORY]}
PORT=${2:-7077}
CORES=${3:-2}
MEMORY=${4:-2g}
PYTHON=${PYTHON:-python3}
TIMEOUT=${SPARK_CLUSTER_TIMEOUT:-90}

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

SPARK_HOME=$("$PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
export SPARK_HOME SPARK_LOCAL_IP=127.0.0.1 SPARK_LOG_DIR="$STATE/logs" SPARK_WORKER_DIR="$STATE/work"
mkdir -p "$SPARK_LOG_DIR" "$SPARK_WORKER_DIR"
MASTER_UI=$(free_port)
WORKER_UI=$(free_port)

"$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
    --host 127.0.0.1 --port "$PORT" --webui-port "$MASTER_UI" >"$STATE/logs/master.out" 2>&1 &
echo $! >"$STATE/master.pid"
"$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker "spark://127.0.0.1:$PORT" \
    --host 127.0.0.1 --cores "$CORES" --memory "$MEMORY" --webui-port "$WORKER_UI" \
    --work-dir "$SPARK_WORKER_DIR" >"$STATE/logs/worker.out" 2>&1 &
echo $! >"$STATE/worker.pid"

# Ready when the master's JSON status lists an ALIVE worker: a job submitted earlier would wait for one.
deadline=$((SECONDS + TIMEOUT))
until "$PYTHON" - "$MASTER_UI" <<'PY' 2>/dev/null
import json, sys, urllib.request
status = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/json/", timeout=2))
sys.exit(0 if any(w.get("state") == "ALIVE" for w in status.get("workers", [])) else 1)
PY
do
    if [ $SECONDS -ge $deadline ]; then
        echo "Spark cluster did not come up within ${TIMEOUT}s; last log lines:" >&2
        tail -n 20 "$STATE/logs/master.out" "$STATE/logs/worker.out" >&2 || true
        exit 1
    fi
    for role in master worker; do
        if ! kill -0 "$(cat "$STATE/$role.pid")" 2>/dev/null; then
            echo "Spark $role exited during start-up:" >&2
            tail -n 30 "$STATE/logs/$role.out" >&2
            exit 1
        fi
    done
    sleep 1
done
echo "spark://127.0.0.1:$PORT"
