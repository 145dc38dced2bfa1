#!/usr/bin/env bash
# Create .venv and install Model Workbench with its dev tools. Safe to run again: it reinstalls only when
# pyproject.toml changed. Uses an already-installed torch if there is one; otherwise installs torch 2.13.0
# first (a CPU build where the machine offers one locally; PyPI's default build elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
key=$(sha256sum < pyproject.toml | cut -c1-16)
stamp=".venv/.installed-$key"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
  if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    .venv/bin/python -m pip install -q "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
  fi
  .venv/bin/python -m pip install -q -e ".[dev]" 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -c "import torch, pandas, PySide6, onnxruntime, workbench" \
    || { echo "setup: installation incomplete" >&2; exit 1; }
  rm -f .venv/.installed-*
  touch "$stamp"
fi
