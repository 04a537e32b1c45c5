#!/usr/bin/env bash
# The GPU comparison in one go (< 8 min on one modern GPU): first the CUDA correctness tests
# (tests/test_gpu.py: exactness against sam2's predictor under the same bfloat16 autocast, a
# correction, a batch run), then the benchmark at image size 1024 on CUDA with sam2's
# vos_optimized (torch.compile) reference as an extra row, then the device-stub host check.
# Run from the repository root:  bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export PYTHONPATH=${PYTHONPATH:-$PWD}
if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "gpu_check: no CUDA GPU here (torch.cuda.is_available() is False)" >&2
  exit 2
fi
"$PY" -c 'import torch; print("GPU:", torch.cuda.get_device_name(0), "torch", torch.__version__)'
echo "== 1/3 CUDA correctness tests"
timeout 240 "$PY" -m pytest -q -m gpu tests/test_gpu.py -p no:cacheprovider
echo "== 2/3 benchmark on CUDA (1024, 16 frames, torch's default threads; vos_optimized reference row)"
timeout 300 "$PY" benchmarks/run.py --device cuda --threads 0 --frames 16 --factors 1 --sweep "" --long 0 \
  --no-classic --no-export --speed-reps 3 --speed-frames 16
echo "== 3/3 host side with a stubbed device (1920x1080)"
timeout 120 "$PY" benchmarks/device_stub.py --latency-ms 5 10 --objects 1 3 --frames 60 --reps 1
