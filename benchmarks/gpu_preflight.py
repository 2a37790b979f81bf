# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Can this machine run the GPU check? A CUDA device, `mamba_ssm`'s kernels, no `SSM_LAYERS_FORCE_TORCH=1`.

    python benchmarks/gpu_preflight.py      # exit status 0, or 1 with one line on stderr saying what is missing

Imports only torch and `ssm_layers.kernels`, so it answers in the time torch takes to import
(benchmarks/gpu_check.sh runs it before the check's heavier imports).
"""

from __future__ import annotations

import sys

import torch

from ssm_layers.kernels import get_mamba_chunk_scan_combined, kernels_available


def preflight() -> str | None:
    """Why this machine cannot run the GPU check, or None."""
    if not torch.cuda.is_available():
        return (
            f"no CUDA device: torch.cuda.is_available() is False (torch {torch.__version__}). Run the GPU check on "
            "a machine with an NVIDIA GPU and a CUDA build of torch, with the kernels: pip install -e '.[cuda]'"
        )
    if get_mamba_chunk_scan_combined() is None:
        return (
            f"CUDA is there ({torch.cuda.get_device_name()}) but mamba_ssm's kernels cannot be imported: "
            "pip install -e '.[cuda]' (mamba-ssm, causal-conv1d), built for this torch and CUDA"
        )
    if not kernels_available():
        return "SSM_LAYERS_FORCE_TORCH=1 is set: unset it, the check compares the kernels with the PyTorch path"
    return None


def main() -> int:
    problem = preflight()
    if problem:
        print(f"gpu_check: cannot run: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
