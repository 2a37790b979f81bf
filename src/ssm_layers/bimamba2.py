# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Bidirectional Mamba2 mixer (the "v2" mixer of MambaMia's code), with a unidirectional (causal) mode.

Semantics read from the authors' sister repository (naver-ai/unimambamia-av, `modeling_mambamia2.py`): a stock
Mamba2 mixer (in_proj -> [z | xBC | dt], causal depthwise conv + SiLU, SSD with D, gated RMSNorm called with
`norm_before_gate=True`) plus a backward direction with its own `conv1d_b, dt_bias_b, A_b_log, D_b, norm_b` that
runs the same computation on the time-flipped projections; `in_proj` and `out_proj` are shared:

    out = out_proj(y_f + flip(y_b))

The gated RMSNorm normalises each group of `intermediate_size // n_groups` channels on its own, as the fused kernel
the authors call (`mamba_split_conv1d_scan_combined(..., ngroups=n_groups)` passes `group_size = dim // ngroups` to
its layer norm) and as transformers' Mamba2 norm do. Initialisation as in the sister repo: `dt_bias` from a
log-uniform dt in [time_step_min, time_step_max], the backward `dt_bias_b` left at ones (only the forward one is
re-initialised there), A = -(1..nheads) and D = 1 for both directions; `in_proj`, `out_proj` and the convolutions
keep PyTorch's default initialisation.

`BiMamba2Mixer.forward_streaming` computes the same output segment by segment (inference, unpadded inputs) so that
a 230K-token video fits in memory.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .init import init_A_log_, init_dt_bias_
from .norm import RMSNormGated
from .ssd import _process_dt, ssd_chunk_scan


__all__ = ["BiMamba2Mixer", "reverse_valid_index"]


def reverse_valid_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index (batch, seqlen) that reverses each sample's valid positions among themselves and leaves padding in
    place. It is its own inverse; with right padding it maps t -> n_valid - 1 - t on the valid part."""
    mask = attention_mask.bool()
    batch, seqlen = mask.shape
    positions = torch.arange(seqlen, device=mask.device).expand(batch, seqlen)
    rank = mask.long().cumsum(-1) - 1  # rank of each valid position among the valid ones
    n_valid = mask.sum(-1, keepdim=True)
    # the valid position whose rank is n_valid - 1 - rank
    valid_sorted = torch.where(mask, positions, seqlen + positions).argsort(dim=-1)  # valid positions first
    target_rank = (n_valid - 1 - rank).clamp(min=0)
    mirrored = valid_sorted.gather(1, target_rank)
    return torch.where(mask, mirrored, positions)


class BiMamba2Mixer(nn.Module):
    """Mamba2 mixer run forward and (optionally) backward over the sequence.

    Args mirror transformers' `Mamba2Config` names. `bidirectional=False` gives a plain causal Mamba2 mixer
    with the same parameter names (used by MambaMia's Temporal Axis Aggregator). The gated RMSNorm of each direction
    is taken per group of `intermediate_size // n_groups` channels (the fused kernel's semantics).

    forward(hidden_states (B, L, H), attention_mask (B, L) with 1 = valid, return_delta=False):
        padding never reaches valid outputs: padded inputs are zeroed before and after the convolution, and the
        backward direction flips each sample's valid part on its own. With `return_delta` it also returns
        Delta_t = clamp(softplus(dt_t + dt_bias)) of the forward direction, (B, L, nheads), zero on padding.

    forward_streaming(hidden_states, segment_length, ...): the same, without grad and padding, in segments.
    """

    def __init__(
        self,
        hidden_size: int,
        state_size: int = 128,
        expand: int = 2,
        head_dim: int = 64,
        n_groups: int = 8,
        conv_kernel: int = 4,
        chunk_size: int = 256,
        time_step_min: float = 1e-3,
        time_step_max: float = 0.1,
        time_step_floor: float = 1e-4,
        time_step_limit: tuple[float, float] = (0.0, float("inf")),
        use_bias: bool = False,
        use_conv_bias: bool = True,
        bidirectional: bool = True,
        norm_before_gate: bool = True,
        layer_norm_epsilon: float = 1e-5,
        layer_idx: int | None = None,
    ):
        super().__init__()
        self.hidden_size = hidden_size
        self.intermediate_size = expand * hidden_size
        if self.intermediate_size % head_dim != 0:
            raise ValueError(
                f"expand * hidden_size ({self.intermediate_size}) must be a multiple of head_dim ({head_dim})"
            )
        self.num_heads = self.intermediate_size // head_dim
        if self.num_heads % n_groups != 0:
            raise ValueError(f"num_heads ({self.num_heads}) must be a multiple of n_groups ({n_groups})")
        self.head_dim = head_dim
        self.n_groups = n_groups
        self.ssm_state_size = state_size
        self.conv_kernel_size = conv_kernel
        self.chunk_size = chunk_size
        self.time_step_min, self.time_step_max, self.time_step_floor = time_step_min, time_step_max, time_step_floor
        self.time_step_limit = tuple(time_step_limit)
        self.bidirectional = bidirectional
        self.layer_idx = layer_idx
        self.conv_dim = self.intermediate_size + 2 * n_groups * state_size

        self.in_proj = nn.Linear(hidden_size, self.intermediate_size + self.conv_dim + self.num_heads, bias=use_bias)
        self.out_proj = nn.Linear(self.intermediate_size, hidden_size, bias=use_bias)
        suffixes = ["", "_b"] if bidirectional else [""]
        for sfx in suffixes:
            setattr(
                self,
                f"conv1d{sfx}",
                nn.Conv1d(
                    self.conv_dim,
                    self.conv_dim,
                    kernel_size=conv_kernel,
                    groups=self.conv_dim,
                    padding=conv_kernel - 1,
                    bias=use_conv_bias,
                ),
            )
            setattr(self, f"dt_bias{sfx}", nn.Parameter(torch.empty(self.num_heads)))
            setattr(self, "A_log" if not sfx else "A_b_log", nn.Parameter(torch.empty(self.num_heads)))
            setattr(self, f"D{sfx}", nn.Parameter(torch.empty(self.num_heads)))
            setattr(
                self,
                f"norm{sfx}",
                RMSNormGated(
                    self.intermediate_size,
                    eps=layer_norm_epsilon,
                    norm_before_gate=norm_before_gate,
                    group_size=self.intermediate_size // n_groups,
                ),
            )
        self.reset_ssm_parameters()

    def _directions(self):
        yield self.conv1d, self.dt_bias, self.A_log, self.D, self.norm
        if self.bidirectional:
            yield self.conv1d_b, self.dt_bias_b, self.A_b_log, self.D_b, self.norm_b

    def initial_ssm_parameters(self) -> dict[str, torch.Tensor]:
        """The sister repo's initial values of the state-space parameters, by parameter name: `dt_bias` =
        softplus^-1(dt) with dt log-uniform in [time_step_min, time_step_max] (floored at time_step_floor) (a fresh
        random draw), `dt_bias_b` = 1 (the backward one is never re-initialised there), `A_log`, `A_b_log` =
        log(1..nheads), `D`, `D_b` = 1.

        Returns:
            `dict[str, torch.Tensor]`: float32 tensors of shape (nheads,), on the parameters' device.
        """
        device = self.A_log.device
        dt_bias = init_dt_bias_(
            torch.empty(self.num_heads, device=device), self.time_step_min, self.time_step_max, self.time_step_floor
        )
        A_log = init_A_log_(torch.empty(self.num_heads, device=device), mode="arange")
        values = {"dt_bias": dt_bias, "A_log": A_log, "D": torch.ones(self.num_heads, device=device)}
        if self.bidirectional:
            values.update(
                {"dt_bias_b": torch.ones_like(A_log), "A_b_log": A_log.clone(), "D_b": torch.ones_like(A_log)}
            )
        return values

    def reset_ssm_parameters(self):
        """Set the state-space parameters to `initial_ssm_parameters()` (marked for no weight decay)."""
        with torch.no_grad():
            for name, value in self.initial_ssm_parameters().items():
                parameter = getattr(self, name)
                parameter.copy_(value.to(parameter.dtype))
                parameter._no_weight_decay = True

    def _direction(self, zxbcdt, mask, conv1d, dt_bias, A_log, D, norm):
        """One causal Mamba2 pass over projected states (B, L, proj) -> gated, normalised y (B, L, I)."""
        seqlen = zxbcdt.shape[1]
        z, xBC, dt = torch.split(zxbcdt, [self.intermediate_size, self.conv_dim, self.num_heads], dim=-1)
        xBC = F.silu(conv1d(xBC.transpose(1, 2))[..., :seqlen].transpose(1, 2))
        if mask is not None:
            xBC = xBC * mask[..., None].to(xBC.dtype)
        return self._scan(xBC, dt, z, dt_bias, A_log, D, norm)[0]

    def _direction_segment(self, zxbcdt, state, conv1d, dt_bias, A_log, D, norm):
        """`_direction` on one segment of a longer unpadded sequence. `state` = (the last conv_kernel - 1
        convolution inputs before the segment, SSM state), `None` where the sequence starts; returns
        (y (B, S, I), the state after the segment)."""
        z, xBC, dt = torch.split(zxbcdt, [self.intermediate_size, self.conv_dim, self.num_heads], dim=-1)
        history = self.conv_kernel_size - 1
        conv_inputs, ssm_state = (
            state if state is not None else (xBC.new_zeros(xBC.shape[0], history, self.conv_dim), None)
        )
        xBC = torch.cat([conv_inputs, xBC], dim=1)  # the causal convolution sees the preceding inputs, zeros at t < 0
        conv_inputs = xBC[:, xBC.shape[1] - history :].clone()
        xBC = F.silu(F.conv1d(xBC.transpose(1, 2), conv1d.weight, conv1d.bias, groups=self.conv_dim).transpose(1, 2))
        y, ssm_state = self._scan(xBC, dt, z, dt_bias, A_log, D, norm, initial_states=ssm_state)
        return y, (conv_inputs, ssm_state)

    def _scan(self, xBC, dt, z, dt_bias, A_log, D, norm, initial_states=None):
        """Convolved xBC -> SSD scan (with D, softplus(dt + dt_bias) clamped) -> gated RMSNorm: (y (B, L, I), final
        SSM state (B, nheads, head_dim, state_size) in fp32)."""
        gn = self.n_groups * self.ssm_state_size
        x, B, C = torch.split(xBC, [self.intermediate_size, gn, gn], dim=-1)
        y, final_state = ssd_chunk_scan(
            x.unflatten(-1, (self.num_heads, self.head_dim)),
            dt,
            -torch.exp(A_log.float()),
            B.unflatten(-1, (self.n_groups, self.ssm_state_size)),
            C.unflatten(-1, (self.n_groups, self.ssm_state_size)),
            self.chunk_size,
            D=D,
            dt_bias=dt_bias,
            dt_softplus=True,
            dt_limit=self.time_step_limit,
            initial_states=initial_states,
            return_final_states=True,
        )
        return norm(y.flatten(2), z), final_state

    def forward(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, return_delta: bool = False
    ):
        batch, seqlen, _ = hidden_states.shape
        mask = None
        if attention_mask is not None:
            if attention_mask.shape != (batch, seqlen):
                raise ValueError(f"attention_mask must be {(batch, seqlen)}, got {tuple(attention_mask.shape)}")
            mask = attention_mask.bool()
            hidden_states = hidden_states * mask[..., None].to(hidden_states.dtype)
        zxbcdt = self.in_proj(hidden_states)
        directions = list(self._directions())
        y = self._direction(zxbcdt, mask, *directions[0])
        if self.bidirectional:
            if mask is None:
                y = y + self._direction(zxbcdt.flip(1), None, *directions[1]).flip(1)
            else:
                rev = reverse_valid_index(mask)[..., None]
                y_b = self._direction(
                    zxbcdt.gather(1, rev.expand_as(zxbcdt)), mask.gather(1, rev[..., 0]), *directions[1]
                )
                y = y + y_b.gather(1, rev.expand_as(y_b))
        out = self.out_proj(y)
        if not return_delta:
            return out
        dt = zxbcdt[..., -self.num_heads :]
        delta = _process_dt(dt, self.dt_bias, True, self.time_step_limit)
        if mask is not None:
            delta = delta * mask[..., None]
        return out, delta

    def forward_streaming(
        self,
        hidden_states: torch.Tensor,
        segment_length: int,
        attention_mask: torch.Tensor | None = None,
        return_delta: bool = False,
        residual: torch.Tensor | None = None,
    ):
        """Inference-only `forward` over the sequence in segments of `segment_length` tokens, for long unpadded
        inputs: the same result as `forward` up to float rounding, with peak memory O(B L H) for the output plus
        O(B segment_length proj) for the intermediates (`forward` holds several (B, L, proj) tensors).

        Per direction, each segment runs in_proj -> causal conv (the last conv_kernel - 1 inputs carried over) ->
        SSD (initial state = the carried state) -> gated RMSNorm -> out_proj, added into the output. The backward
        direction walks the segments from the end on flipped segments (the same as flipping the whole sequence);
        in_proj is therefore computed once per direction.

        `attention_mask` must be `None` or all ones. `residual` (B, L, H), if given, is the output buffer: the
        mixer output is added into it in place (a block's residual connection without a second (B, L, H) tensor)
        and it is returned. `return_delta` as in `forward`.
        """
        if torch.is_grad_enabled():
            raise ValueError(
                "forward_streaming is inference-only: call it under torch.no_grad() or "
                "torch.inference_mode() (use forward for training)"
            )
        batch, seqlen, _ = hidden_states.shape
        if attention_mask is not None:
            if attention_mask.shape != (batch, seqlen):
                raise ValueError(f"attention_mask must be {(batch, seqlen)}, got {tuple(attention_mask.shape)}")
            if not bool(attention_mask.bool().all()):
                raise ValueError(
                    "forward_streaming takes unpadded inputs only (attention_mask all ones); "
                    "use forward for padded batches"
                )
        if int(segment_length) < 1:
            raise ValueError(f"segment_length must be a positive number of tokens, got {segment_length}")
        segment_length = int(segment_length)
        if residual is None:
            residual = hidden_states.new_zeros(batch, seqlen, self.hidden_size)
        elif residual.shape != (batch, seqlen, self.hidden_size):
            raise ValueError(f"residual must be {(batch, seqlen, self.hidden_size)}, got {tuple(residual.shape)}")
        delta = hidden_states.new_empty(batch, seqlen, self.num_heads, dtype=torch.float32) if return_delta else None
        for backward, params in enumerate(self._directions()):
            state = None
            for start in range(0, seqlen, segment_length):
                end = min(start + segment_length, seqlen)
                lo, hi = (seqlen - end, seqlen - start) if backward else (start, end)  # backward: from the end
                zxbcdt = self.in_proj(hidden_states[:, lo:hi])
                if backward:
                    zxbcdt = zxbcdt.flip(1)
                elif delta is not None:
                    delta[:, lo:hi] = _process_dt(
                        zxbcdt[..., -self.num_heads :], self.dt_bias, True, self.time_step_limit
                    )
                y, state = self._direction_segment(zxbcdt, state, *params)
                del zxbcdt
                # out = out_proj(y_f + flip(y_b)) = out_proj(y_f) + out_proj(flip(y_b)) - bias: one bias
                y = F.linear(y, self.out_proj.weight, None if backward else self.out_proj.bias)
                residual[:, lo:hi] += y.flip(1) if backward else y
        return (residual, delta) if return_delta else residual
