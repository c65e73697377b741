#!/usr/bin/env bash
# Create .venv and install srprune into it. Installs the CPU build of torch 2.13.0 first when the
# environment has no torch, so that pip never pulls the multi-gigabyte CUDA build by accident.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    .venv/bin/pip install -q --disable-pip-version-check "torch==${SRPRUNE_TORCH_VERSION:-2.13.0}"
fi
# pip's status decides (pipefail); grep only hides this machine's noisy index warnings.
.venv/bin/pip install -q --disable-pip-version-check -e ".[dev]" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
.venv/bin/python -c "import av, matplotlib, safetensors, skimage, tqdm, yaml, torch, srprune; \
print(f'srprune ready (torch {torch.__version__})')"
