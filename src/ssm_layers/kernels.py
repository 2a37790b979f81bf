# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Optional CUDA kernels (`mamba_ssm`, `causal_conv1d`), imported lazily and only when asked for.

`mamba_ssm` cannot even be imported on a machine without CUDA, so nothing here is imported at module load.
Set `SSM_LAYERS_FORCE_TORCH=1` to force the pure-PyTorch path everywhere.
"""

from __future__ import annotations

import functools
import os


__all__ = ["get_mamba_chunk_scan_combined", "kernels_available", "use_torch_path"]


def use_torch_path() -> bool:
    """True when the environment forces the PyTorch path (`SSM_LAYERS_FORCE_TORCH=1`)."""
    return os.environ.get("SSM_LAYERS_FORCE_TORCH", "0") == "1"


@functools.lru_cache(maxsize=None)
def get_mamba_chunk_scan_combined():
    """`mamba_ssm`'s `mamba_chunk_scan_combined` or None when mamba_ssm (or CUDA) is unavailable."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined
    except Exception:  # ImportError, or the CUDA extension failing to load
        return None
    return mamba_chunk_scan_combined


def kernels_available() -> bool:
    """Whether the fused `mamba_ssm` kernels can be used in this process."""
    return get_mamba_chunk_scan_combined() is not None and not use_torch_path()
