# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Initialisation of the state-space parameters, as in the Mamba2 / Hydra reference code."""

from __future__ import annotations

import math

import torch


__all__ = ["init_dt_bias_", "init_A_log_"]


@torch.no_grad()
def init_dt_bias_(dt_bias: torch.Tensor, dt_min: float = 1e-3, dt_max: float = 0.1, dt_init_floor: float = 1e-4):
    """dt ~ exp(U[log dt_min, log dt_max]) clamped below at dt_init_floor; dt_bias = softplus^{-1}(dt)."""
    dt = torch.exp(
        torch.rand(dt_bias.shape, device=dt_bias.device, dtype=torch.float32) * (math.log(dt_max) - math.log(dt_min))
        + math.log(dt_min)
    )
    dt = dt.clamp(min=dt_init_floor)
    inv_dt = dt + torch.log(-torch.expm1(-dt))  # inverse of softplus
    dt_bias.copy_(inv_dt.to(dt_bias.dtype))
    return dt_bias


@torch.no_grad()
def init_A_log_(A_log: torch.Tensor, mode: str = "arange"):
    """`"arange"`: A = -(1..nheads) (Mamba2); `"ones"`: A = -1 for every head (Hydra)."""
    n = A_log.shape[0]
    A = (
        torch.arange(1, n + 1, dtype=torch.float32, device=A_log.device)
        if mode == "arange"
        else torch.ones(n, dtype=torch.float32, device=A_log.device)
    )
    A_log.copy_(torch.log(A).to(A_log.dtype))
    return A_log
