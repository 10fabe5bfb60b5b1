#!/usr/bin/env bash
# Creates .venv-airflow: a real Airflow for the example DAGs' tests, in its own virtualenv so Airflow's pins
# never touch imgpipe's .venv. Reused while examples/airflow/requirements.txt and constraints.txt are unchanged.
#   bash scripts/airflow-venv.sh        (scripts/test.sh runs it)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=.venv-airflow
REQS=examples/airflow/requirements.txt
PINS=examples/airflow/constraints.txt
stamp=$(cat "$REQS" "$PINS" | sha256sum | cut -c1-16)
if [ -x "$VENV/bin/airflow" ] && [ "$(cat "$VENV/.imgpipe-pins" 2>/dev/null)" = "$stamp" ]; then
    exit 0
fi
began=$SECONDS
rm -rf "$VENV"  # ours: created by this script only
"${PYTHON:-python3}" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -r "$REQS" -c "$PINS"
echo "$stamp" > "$VENV/.imgpipe-pins"
echo "airflow-venv: $("$VENV/bin/airflow" version 2>/dev/null | tail -1) in $VENV ($((SECONDS - began)) s)"
