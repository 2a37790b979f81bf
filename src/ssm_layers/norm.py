# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Gated RMSNorm with `mamba_ssm`'s semantics (`mamba_ssm.ops.triton.layernorm_gated.RMSNorm`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


__all__ = ["RMSNormGated"]


class RMSNormGated(nn.Module):
    """RMSNorm over groups of `group_size` channels, optionally gated by `silu(z)`.

    `norm_before_gate=True`:  y = rmsnorm(x) * weight * silu(z)   (Hydra, MambaMia's bidirectional Mamba2)
    `norm_before_gate=False`: y = rmsnorm(x * silu(z)) * weight    (stock Mamba2)
    Computed in fp32, returned in the input dtype. `group_size=None` normalises over all channels.
    """

    def __init__(
        self, hidden_size: int, eps: float = 1e-5, norm_before_gate: bool = True, group_size: int | None = None
    ):
        super().__init__()
        group_size = group_size or hidden_size
        if hidden_size % group_size != 0:
            raise ValueError(f"hidden_size ({hidden_size}) must be a multiple of group_size ({group_size})")
        self.hidden_size = hidden_size
        self.eps = eps
        self.norm_before_gate = norm_before_gate
        self.group_size = group_size
        self.weight = nn.Parameter(torch.ones(hidden_size))

    def forward(self, hidden_states: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        dtype = hidden_states.dtype
        x = hidden_states.float()
        if z is not None and not self.norm_before_gate:
            x = x * F.silu(z.float())
        shape = x.shape
        xg = x.view(*shape[:-1], shape[-1] // self.group_size, self.group_size)
        xg = xg * torch.rsqrt(xg.pow(2).mean(-1, keepdim=True) + self.eps)
        x = xg.view(shape) * self.weight.float()
        if z is not None and self.norm_before_gate:
            x = x * F.silu(z.float())
        return x.to(dtype)

    def extra_repr(self) -> str:
        return (
            f"{self.hidden_size}, eps={self.eps}, norm_before_gate={self.norm_before_gate}, "
            f"group_size={self.group_size}"
        )
