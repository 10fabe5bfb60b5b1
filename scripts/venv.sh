# Sourced by demo.sh and test.sh: cd to the repo and install imgpipe (with the given extras) into .venv.
#   source scripts/venv.sh EXTRAS
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[$1]"
