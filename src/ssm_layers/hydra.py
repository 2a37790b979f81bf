# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Hydra: the bidirectional quasi-separable state-space mixer (Hwang et al., 2024), as used by HieraMamba.

Parameter names and shapes follow the official `hydra.modules.hydra.Hydra` so its weights load as they are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .init import init_A_log_, init_dt_bias_
from .norm import RMSNormGated
from .ssd import ssd_chunk_scan


__all__ = ["Hydra"]


class Hydra(nn.Module):
    """Bidirectional quasi-separable mixer.

    in_proj splits into `[z | x | B_f | C_f | B_b | C_b | dt_f | dt_b]`; a non-causal depthwise conv (kernel
    `d_conv`, "same" padding) + SiLU runs over `[x | B_f | C_f | B_b | C_b]`. With the SSD scan `s` (no D):

        s_f = SSD(x, dt_f, A, B_f, C_f);   s_b = SSD(flip x, flip dt_b, A, flip B_b, flip C_b)
        y_t = s_f[t-1] + flip(s_b)[t+1] + x_t * (fc_D(x_t) + D)        (shifted forward/backward + diagonal)
        out = out_proj(RMSNorm(y) * silu(z))                              (norm before gate)

    Both directions share A (one value per head, A = -exp(A_log)), dt_bias and D, and run batched in one scan.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        d_conv: int = 7,
        expand: int = 2,
        headdim: int = 64,
        ngroups: int = 1,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        dt_limit: tuple[float, float] = (0.0, float("inf")),
        chunk_size: int = 256,
        bias: bool = False,
        conv_bias: bool = True,
        norm_eps: float = 1e-5,
        layer_idx: int | None = None,
    ):
        super().__init__()
        if d_conv % 2 != 1:
            raise ValueError(f"Hydra needs an odd d_conv for its non-causal 'same' convolution, got {d_conv}")
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.d_inner = expand * d_model
        self.headdim = headdim
        self.ngroups = ngroups
        if self.d_inner % headdim != 0:
            raise ValueError(f"expand * d_model ({self.d_inner}) must be a multiple of headdim ({headdim})")
        self.nheads = self.d_inner // headdim
        self.dt_min, self.dt_max, self.dt_init_floor = dt_min, dt_max, dt_init_floor
        self.dt_limit = tuple(dt_limit)
        self.chunk_size = chunk_size
        self.layer_idx = layer_idx

        d_in_proj = 2 * self.d_inner + 4 * ngroups * d_state + 2 * self.nheads
        self.in_proj = nn.Linear(d_model, d_in_proj, bias=bias)
        conv_dim = self.d_inner + 4 * ngroups * d_state
        self.conv1d = nn.Conv1d(
            conv_dim, conv_dim, kernel_size=d_conv, groups=conv_dim, padding=d_conv // 2, bias=conv_bias
        )
        self.dt_bias = nn.Parameter(torch.empty(self.nheads))
        self.A_log = nn.Parameter(torch.empty(self.nheads))
        self.D = nn.Parameter(torch.empty(self.nheads))
        self.fc_D = nn.Linear(self.d_inner, self.nheads, bias=False)
        self.norm = RMSNormGated(self.d_inner, eps=norm_eps, norm_before_gate=True)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias)
        self.reset_ssm_parameters()

    def reset_ssm_parameters(self):
        """dt_bias from log-uniform dt in [dt_min, dt_max]; A = -1 per head; D = 1 (official Hydra init)."""
        init_dt_bias_(self.dt_bias, self.dt_min, self.dt_max, self.dt_init_floor)
        init_A_log_(self.A_log, mode="ones")
        with torch.no_grad():
            self.D.fill_(1.0)
        for p in (self.dt_bias, self.A_log, self.D):
            p._no_weight_decay = True

    def forward(self, hidden_states: torch.Tensor, seq_idx: torch.Tensor | None = None) -> torch.Tensor:
        """hidden_states: (batch, seqlen, d_model) -> (batch, seqlen, d_model)."""
        batch, seqlen, _ = hidden_states.shape
        gn = self.ngroups * self.d_state
        zxbcdt = self.in_proj(hidden_states)
        z, xBC, dt = torch.split(zxbcdt, [self.d_inner, self.d_inner + 4 * gn, 2 * self.nheads], dim=-1)
        xBC = F.silu(self.conv1d(xBC.transpose(1, 2)).transpose(1, 2))
        x, B_f, C_f, B_b, C_b = torch.split(xBC, [self.d_inner, gn, gn, gn, gn], dim=-1)

        # both directions as one batch of 2 * batch sequences; the backward one reads the sequence flipped
        def both(fwd, bwd):
            return torch.cat([fwd, bwd.flip(1)], dim=0)

        dt2 = both(dt[..., : self.nheads], dt[..., self.nheads :])
        x2 = both(x, x).unflatten(-1, (self.nheads, self.headdim))
        B2 = both(B_f, B_b).unflatten(-1, (self.ngroups, self.d_state))
        C2 = both(C_f, C_b).unflatten(-1, (self.ngroups, self.d_state))
        seq_idx2 = None if seq_idx is None else torch.cat([seq_idx, seq_idx.flip(1)], dim=0)
        A = -torch.exp(self.A_log.float())
        scan = ssd_chunk_scan(
            x2,
            dt2,
            A,
            B2,
            C2,
            self.chunk_size,
            dt_bias=self.dt_bias,
            dt_softplus=True,
            dt_limit=self.dt_limit,
            seq_idx=seq_idx2,
        ).flatten(2)

        # shift by one (each direction excludes the current token): y_f[t] = s_f[t-1], y_b[t] = s_b[t+1]
        scan = F.pad(scan[:, :-1], (0, 0, 1, 0))
        y = scan[:batch] + scan[batch:].flip(1)
        # diagonal (quasi-separable) term: x_t * (fc_D(x_t) + D), per head
        y = y + x * F.linear(x, self.fc_D.weight, self.D).repeat_interleave(self.headdim, dim=-1)
        return self.out_proj(self.norm(y, z))
