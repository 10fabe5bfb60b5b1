#!/usr/bin/env bash
# The GPU check, on a machine with an NVIDIA GPU. One command:
#
#   scripts/gpu-check.sh [benchmark options]      e.g. scripts/gpu-check.sh --sizes 1000 --repeats 1
#
# It builds .venv-gpu (imgpipe with onnxruntime-gpu and its CUDA and cuDNN wheels instead of onnxruntime),
# checks that ONNX Runtime has the CUDA provider (and says so and stops when it does not), then runs
#   1. scripts/bench/gpu.py: the shared photos on the CPU and on CUDA must give the same objects (exit 5 if
#      not, or if a CUDA session fell back to the CPU); model latencies per batch size; the Pipeline's
#      throughput on CUDA against the CPU parallel limit (no Spark needed);
#   2. where Java is installed, scripts/benchmark.py's inference part (parallel limit and imgpipe on Spark)
#      with IMGPIPE_BENCH_PROVIDERS=CUDAExecutionProvider,CPUExecutionProvider.
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
    .venv-gpu/bin/python -m pip install --quiet "onnxruntime-gpu[cuda,cudnn]>=1.18"
fi
# onnxruntime-gpu finds the CUDA and cuDNN libraries of its pip wheels only on the loader's path.
site=$(.venv-gpu/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [ -d "$site/nvidia" ]; then
    LD_LIBRARY_PATH=$(find "$site/nvidia" -maxdepth 3 -type d -name lib | tr '\n' ':')${LD_LIBRARY_PATH:-}
    export LD_LIBRARY_PATH
fi
.venv-gpu/bin/python - <<'PY'
import sys
import onnxruntime as ort
providers = ort.get_available_providers()
print("onnxruntime", ort.__version__, "providers:", providers)
sys.exit(0 if "CUDAExecutionProvider" in providers else 4)
PY
export IMGPIPE_MODEL_MIRROR=${IMGPIPE_MODEL_MIRROR:-$(cd .. && pwd)/shared/models}
mkdir -p out
(cd scripts && ../.venv-gpu/bin/python -m bench.gpu --json ../out/gpu.json)
if ! command -v java >/dev/null 2>&1; then
    echo "gpu-check: no Java here, so imgpipe's Spark run is not measured; bench.gpu's figures above stand" >&2
    exit 0
fi
export IMGPIPE_BENCH_PROVIDERS="CUDAExecutionProvider,CPUExecutionProvider"
exec .venv-gpu/bin/python scripts/benchmark.py --parts inference --variants parallel-limit,imgpipe "$@"
