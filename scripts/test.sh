#!/usr/bin/env bash
# The test command: installs everything into .venv, checks the import contracts and the types
# (mypy --strict), then runs every test tier: unit, integration on a local Spark, and system tests against
# a real HBase and a standalone Spark cluster started by the repo's own scripts, HTML reports in a real
# headless Chromium, and the example Airflow DAGs in a real Airflow (.venv-airflow).
# Extra arguments go to pytest, e.g. scripts/test.sh tests/unit -q
set -euo pipefail
source "$(dirname "$0")/venv.sh" test,demo

# Tests read the shared photos and models beside the repo; model downloads go to that mirror, never the network.
SHARED=${IMGPIPE_SHARED:-$(cd .. && pwd)/shared}
export IMGPIPE_SHARED="$SHARED"
export IMGPIPE_MODEL_MIRROR=${IMGPIPE_MODEL_MIRROR:-$SHARED/models}

# The browser tests open pages in Debian's Chromium: installed here when missing (CI runs as root with apt).
if ! command -v chromium >/dev/null 2>&1 && [ -z "${IMGPIPE_CHROMIUM:-}" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing Debian's chromium for the browser tests" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "test.sh: no chromium and no root apt-get: browser tests are skipped (and fail with CI=true)" >&2
    fi
fi
# The Airflow tests run the example DAGs in a real Airflow from its own virtualenv.
bash scripts/airflow-venv.sh

.venv/bin/lint-imports
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
