#!/usr/bin/env bash
# Create .venv and install srprune into it. Where the environment has no torch, installs an
# explicitly CPU build first (torch==X+cpu: a local wheel folder pip is configured with, else
# PyTorch's CPU index), so pip never pulls the multi-gigabyte CUDA build by accident: on PyPI a
# plain `torch==2.13.0` for Linux x86_64 is the CUDA build with its nvidia-* packages.
# Want CUDA? Install the torch build you need into .venv first; this script keeps any torch.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    TORCH="torch==${SRPRUNE_TORCH_VERSION:-2.13.0}+cpu"
    # a configured local wheel folder first (torch alone, offline; its small dependencies then
    # come from the usual index), else PyTorch's CPU-only index
    if .venv/bin/pip install -q --disable-pip-version-check --no-index --no-deps "$TORCH" \
            2>/dev/null; then
        .venv/bin/pip install -q --disable-pip-version-check "$TORCH" 2>&1 \
            | { grep -v "is ignored: it is neither a file nor a directory" || true; }
    elif ! .venv/bin/pip install -q --disable-pip-version-check "$TORCH" \
            --index-url "${SRPRUNE_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"; then
        echo "setup: could not install the CPU build $TORCH; install a torch >= 2.3 into .venv" \
             "yourself (e.g. from https://download.pytorch.org/whl/cpu) and rerun" >&2
        exit 1
    fi
fi
# pip's status decides (pipefail); grep only hides this machine's noisy index warnings.
.venv/bin/pip install -q --disable-pip-version-check -e ".[dev]" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
.venv/bin/python -c "import av, matplotlib, safetensors, skimage, tqdm, yaml, torch, srprune; \
print(f'srprune ready (torch {torch.__version__})')"
