#!/usr/bin/env bash
# The GPU check: the inference benchmark (parallel limit and imgpipe) with ONNX Runtime's CUDA provider, on a
# machine with an NVIDIA GPU. One command; prints the benchmark's tables and ratio lines.
#
#   scripts/gpu-check.sh [benchmark options]      e.g. scripts/gpu-check.sh --sizes 1000 --repeats 1
#
# It builds .venv-gpu (imgpipe with onnxruntime-gpu instead of onnxruntime), checks that ONNX Runtime sees the
# CUDA provider (and says so and stops when it does not: no GPU, no driver, or a CUDA runtime it cannot load),
# then runs scripts/benchmark.py with IMGPIPE_BENCH_PROVIDERS=CUDAExecutionProvider,CPUExecutionProvider.
# On a cluster, size task slots to GPUs with Spark's resource scheduling (spark.executor.resource.gpu.amount,
# spark.task.resource.gpu.amount and a discovery script); see the README, "Running on a cluster".
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu-check: no NVIDIA GPU here (nvidia-smi finds none); nothing to measure" >&2
    exit 3
fi
nvidia-smi -L
if [ ! -x .venv-gpu/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv-gpu
    .venv-gpu/bin/python -m pip install --quiet --upgrade pip
    .venv-gpu/bin/python -m pip install --quiet -e ".[test]"
    .venv-gpu/bin/python -m pip uninstall --quiet -y onnxruntime
    .venv-gpu/bin/python -m pip install --quiet "onnxruntime-gpu>=1.18"
fi
.venv-gpu/bin/python - <<'PY'
import sys
import onnxruntime as ort
providers = ort.get_available_providers()
print("onnxruntime", ort.__version__, "providers:", providers)
sys.exit(0 if "CUDAExecutionProvider" in providers else 4)
PY
export IMGPIPE_BENCH_PROVIDERS="CUDAExecutionProvider,CPUExecutionProvider"
export IMGPIPE_MODEL_MIRROR=${IMGPIPE_MODEL_MIRROR:-$(cd .. && pwd)/shared/models}
exec .venv-gpu/bin/python scripts/benchmark.py --parts inference --variants parallel-limit,imgpipe "$@"
