#!/usr/bin/env bash
# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
#
# The GPU check, ready to run on one GPU (aim: under 8 minutes on one H100): the CUDA tests, full-model
# kernel-vs-PyTorch parity of HieraMamba (Hydra) and MambaMia (bidirectional Mamba2, streaming compressor), 50 bf16
# Trainer steps of each model with the kernels, the GPU rows of the benchmarks; one markdown table.
#
#   bash benchmarks/gpu_check.sh [OUTPUT.md]        # default OUTPUT: gpu_check.md in the repository root
#
# Needs: an NVIDIA GPU, a CUDA build of torch, `pip install -e '.[dev,cuda]'` (mamba-ssm, causal-conv1d). Without
# them it stops at once with a message saying what is missing (exit status 1). Steps and limits:
# benchmarks/gpu_check.py --help. Exit status 0 when every step passed.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
output="${1:-$repo/gpu_check.md}"
python="${PYTHON:-python}"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "gpu_check: cannot run: no '$python' on PATH (set PYTHON=/path/to/python)" >&2
    exit 1
fi
if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu_check: note: nvidia-smi is not on PATH; asking torch whether it sees a CUDA device" >&2
else
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2 || true
fi

cd "$repo"
export PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}"
"$python" benchmarks/gpu_preflight.py  # a CUDA device and the kernels, or one line saying what is missing
exec "$python" benchmarks/gpu_check.py --output "$output" "${@:2}"
