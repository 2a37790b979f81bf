# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Shared state-space layers for HieraMamba and MambaMia, and the code both model packages share.

* `ssd_chunk_scan`: chunked SSD scan (`mamba_ssm` kernel on CUDA when available, fast PyTorch otherwise);
* `ssd_scan_reference`: the sequential recurrence, for tests;
* `RMSNormGated`: gated RMSNorm with `mamba_ssm`'s semantics;
* `Hydra`: bidirectional quasi-separable mixer (HieraMamba's global path);
* `BiMamba2Mixer`: bidirectional (or causal) Mamba2 mixer (MambaMia's compressor and TAA).

Modules not imported here: `ssm_layers.video_io` (the one video decoder of both models), `ssm_layers.remote_code`
(the auto_map shims of saved checkpoints) and `ssm_layers.checkpoints` (clear errors for corrupt safetensors).
"""

from .bimamba2 import BiMamba2Mixer, reverse_valid_index
from .hydra import Hydra
from .init import init_A_log_, init_dt_bias_
from .kernels import kernels_available
from .norm import RMSNormGated
from .ssd import ssd_chunk_scan, ssd_scan_reference


__all__ = [
    "BiMamba2Mixer",
    "Hydra",
    "RMSNormGated",
    "init_A_log_",
    "init_dt_bias_",
    "kernels_available",
    "reverse_valid_index",
    "ssd_chunk_scan",
    "ssd_scan_reference",
]
