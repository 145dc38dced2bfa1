#!/usr/bin/env bash
# One prepared GPU check, sized for a short lease on a CUDA machine (see README "Tests"):
#   1. the CUDA/mixed-precision tests (-m gpu);
#   2. the headless suite with CUDA visible, so every "auto" device really trains on the GPU
#      (the Qt tests, the packaging build and the import-linter check are left out: they need no GPU,
#      and PySide6/import-linter are not on a typical GPU image);
#   3. the training benchmark on cuda (engine vs hand-written loops, same process).
# Logs go to $OUT (or /tmp/gpu-check). Each stage has its own time limit so one hang cannot eat the lease.
# Usage: bash scripts/gpu_check.sh   (PYTHON=... picks the interpreter, default python3; STAGES=12 runs 1 and 2)
set -u
PY=${PYTHON:-python3}
LOGS=${OUT:-/tmp/gpu-check}
mkdir -p "$LOGS"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export WORKBENCH_DATA_DIR=${WORKBENCH_DATA_DIR:-$(mktemp -d)}
status=0
STAGES=${STAGES:-123}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$PY" -c "import torch, onnxruntime; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'ort', onnxruntime.__version__)"

if [[ $STAGES == *1* ]]; then
echo "== 1. CUDA tests"
timeout 120 "$PY" -m pytest -q -p no:qt -m gpu tests/test_engine_gpu.py -rs 2>&1 | tee "$LOGS/gpu-tests.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

fi

if [[ $STAGES == *2* ]]; then
echo "== 2. headless suite with CUDA visible"
workers=()
"$PY" -c "import xdist" 2>/dev/null && workers=(-n 6)
timeout 220 "$PY" -m pytest -q -p no:qt "${workers[@]}" tests \
    --ignore-glob='tests/test_ui_*' --ignore=tests/test_packaging.py --durations=10 \
    --deselect tests/test_core_headless.py::test_import_linter_contract_holds 2>&1 \
    | tee "$LOGS/suite.log" | tail -60
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

fi

if [[ $STAGES == *3* ]]; then
echo "== 3. training benchmark on cuda"
timeout 200 "$PY" benchmarks/bench_train.py --device cuda --repeats 3 2>&1 | tee "$LOGS/bench-train.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi

exit $status
