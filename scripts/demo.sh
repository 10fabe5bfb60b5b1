#!/usr/bin/env bash
# The demo: installs imgpipe into .venv, builds a sample corpus from the real photos scikit-image ships,
# and runs configs/demo.yaml on local Spark. Output: demo-output/ (results/, errors/, summary.json, report.html).
set -euo pipefail
source "$(dirname "$0")/venv.sh" demo

# Models download from their pinned URLs into ~/.cache/imgpipe/models. A checkout beside ../shared/models
# (the development setup, without internet) uses that folder as the mirror instead.
if [ -z "${IMGPIPE_MODEL_MIRROR:-}" ] && [ -d ../shared/models ]; then
    export IMGPIPE_MODEL_MIRROR="$(cd ../shared/models && pwd)"
fi

.venv/bin/python -m imgpipe.demo demo-data/photos
.venv/bin/imgpipe run configs/demo.yaml "$@"
.venv/bin/python - <<'PY'
import pyarrow.dataset as ds
rows = ds.dataset("demo-output/results", format="parquet", partitioning="hive").to_table().to_pylist()
print(f"\n{len(rows)} rows in demo-output/results; a few of them:")
for row in sorted(rows, key=lambda r: r["key"])[:6]:
    objects = ", ".join(f"{o['label_name']} {o['score']:.2f}" for o in row["objects"] or []) or "-"
    print(f"  {row['key'].rsplit('/', 1)[-1]:<28} {row['width']}x{row['height']}  {row['status']:<5} {objects}")
PY
.venv/bin/imgpipe report demo-output --out demo-output/report.html
echo "open demo-output/report.html in a browser to see the boxes, crops and charts"
