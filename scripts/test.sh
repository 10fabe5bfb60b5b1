#!/usr/bin/env bash
# The test command: installs everything into .venv, checks the import contracts and the types
# (mypy --strict), then runs every test tier: unit, integration on a local Spark, and system tests against
# a real HBase and a standalone Spark cluster started by the repo's own scripts.
# Extra arguments go to pytest, e.g. scripts/test.sh tests/unit -q
set -euo pipefail
source "$(dirname "$0")/venv.sh" test,demo

# Tests read the shared photos and models beside the repo; model downloads go to that mirror, never the network.
SHARED=${IMGPIPE_SHARED:-$(cd .. && pwd)/shared}
export IMGPIPE_SHARED="$SHARED"
export IMGPIPE_MODEL_MIRROR=${IMGPIPE_MODEL_MIRROR:-$SHARED/models}

.venv/bin/lint-imports
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
