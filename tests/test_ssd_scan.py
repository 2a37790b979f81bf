# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""The chunked SSD scan against the sequential recurrence and against transformers' reference."""

import math

import pytest
import torch

from ssm_layers import ssd_chunk_scan, ssd_scan_reference
from ssm_layers.ssd import _process_dt, _ssd_chunk_scan_torch


def make_inputs(b, l, h, p, g, n, seed=0, dtype=torch.float32, dt_scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, l, h, p, generator=gen)
    dt = torch.randn(b, l, h, generator=gen) * dt_scale - 1.0
    A = -(torch.rand(h, generator=gen) * 3 + 0.05)
    B = torch.randn(b, l, g, n, generator=gen)
    C = torch.randn(b, l, g, n, generator=gen)
    return [t.to(dtype) for t in (x, dt)] + [A] + [t.to(dtype) for t in (B, C)]


def rel_err(a, b):
    return ((a.float() - b.float()).abs().max() / b.float().abs().max().clamp(min=1e-6)).item()


CASES = [
    # b, l, h, p, g, n, chunk
    (2, 100, 4, 8, 2, 16, 256),  # l < chunk, g > 1
    (1, 130, 2, 4, 1, 8, 64),  # l not a multiple of the chunk
    (2, 257, 6, 16, 3, 8, 256),  # just over a kernel chunk
    (1, 1, 2, 4, 1, 4, 256),  # a single token
    (2, 700, 4, 8, 1, 16, 256),  # several internal blocks
]


@pytest.mark.parametrize("b,l,h,p,g,n,chunk", CASES)
@pytest.mark.parametrize("d_shape", ["none", "head", "channel"])
def test_chunked_equals_reference(b, l, h, p, g, n, chunk, d_shape):
    x, dt, A, B, C = make_inputs(b, l, h, p, g, n)
    gen = torch.Generator().manual_seed(1)
    D = {"none": None, "head": torch.randn(h, generator=gen), "channel": torch.randn(h, p, generator=gen)}[d_shape]
    z = torch.randn(b, l, h, p, generator=gen)
    dt_bias = torch.randn(h, generator=gen)
    init = torch.randn(b, h, p, n, generator=gen)
    kw = dict(
        D=D,
        z=z,
        dt_bias=dt_bias,
        dt_softplus=True,
        dt_limit=(0.01, 2.0),
        initial_states=init,
        return_final_states=True,
    )
    y, s = ssd_chunk_scan(x, dt, A, B, C, chunk, **kw)
    y_ref, s_ref = ssd_scan_reference(x, dt, A, B, C, chunk, **kw)
    assert y.shape == (b, l, h, p) and s.shape == (b, h, p, n)
    assert rel_err(y, y_ref) <= 1e-4
    assert rel_err(s, s_ref) <= 1e-4


@pytest.mark.parametrize("chunk,block", [(8, 1), (16, 3), (64, 32), (128, 2)])
def test_internal_chunking_does_not_change_the_result(chunk, block):
    x, dt, A, B, C = make_inputs(2, 300, 4, 8, 2, 8, seed=3)
    dtp = _process_dt(dt, None, True, (0.0, math.inf))
    y, s = _ssd_chunk_scan_torch(x, dtp, A, B, C, chunk_size=chunk, block_chunks=block)
    y_ref, s_ref = ssd_scan_reference(x, dt, A, B, C, dt_softplus=True, return_final_states=True)
    assert rel_err(y, y_ref) <= 1e-4 and rel_err(s, s_ref) <= 1e-4


def test_strong_decay_uses_exact_path_and_matches():
    # softplus(dt) up to ~10 with |A| up to 3: log-decay range per chunk far above the factorisation bound
    x, dt, A, B, C = make_inputs(2, 200, 4, 8, 2, 8, seed=4, dt_scale=4.0)
    y = ssd_chunk_scan(x, dt + 6, A, B, C, 256, dt_softplus=True)
    y_ref = ssd_scan_reference(x, dt + 6, A, B, C, dt_softplus=True)
    assert torch.isfinite(y).all()
    assert rel_err(y, y_ref) <= 1e-4


@pytest.mark.parametrize("dt_shift", [0.0, 8.0])  # factorised and exact paths
def test_seq_idx_resets_state(dt_shift):
    b, l = 2, 230
    x, dt, A, B, C = make_inputs(b, l, 4, 8, 2, 8, seed=5)
    seq_idx = torch.zeros(b, l, dtype=torch.long)
    seq_idx[:, 70:] = 1
    seq_idx[1, 150:] = 2
    init = torch.randn(b, 4, 8, 8)
    kw = dict(seq_idx=seq_idx, dt_softplus=True, initial_states=init, return_final_states=True)
    y, s = ssd_chunk_scan(x, dt + dt_shift, A, B, C, 64, **kw)
    y_ref, s_ref = ssd_scan_reference(x, dt + dt_shift, A, B, C, **kw)
    assert rel_err(y, y_ref) <= 1e-4 and rel_err(s, s_ref) <= 1e-4
    # the second sequence alone, from a zero state, gives the same outputs
    y2 = ssd_scan_reference(x[:1, 70:], dt[:1, 70:] + dt_shift, A, B[:1, 70:], C[:1, 70:], dt_softplus=True)
    assert rel_err(y[:1, 70:], y2) <= 1e-4


@pytest.mark.parametrize("dt_shift", [0.0, 8.0])  # factorised and exact paths
@pytest.mark.parametrize("packed", [False, True])
def test_gradients_match_reference(dt_shift, packed):
    b, l, h, p, g, n = 1, 150, 4, 4, 2, 8
    base = make_inputs(b, l, h, p, g, n, seed=6)
    D = torch.randn(h)
    seq_idx = (torch.arange(l) >= 90).long()[None] if packed else None
    grads = []
    # the reference runs in fp64: the fp32 chunked gradients are compared with exact ones
    for fn, dtype in ((ssd_chunk_scan, torch.float32), (ssd_scan_reference, torch.float64)):
        x, dt, A, B, C = [t.clone().to(dtype).requires_grad_(True) for t in base]
        Dp = D.clone().to(dtype).requires_grad_(True)
        y = fn(x, dt + dt_shift, A, B, C, 64, D=Dp, dt_softplus=True, seq_idx=seq_idx)
        (y * torch.linspace(-1, 1, y.numel(), dtype=dtype).view_as(y)).sum().backward()
        grads.append([t.grad for t in (x, dt, A, B, C, Dp)])
    for name, g_fast, g_ref in zip("x dt A B C D".split(), *grads):
        assert rel_err(g_fast, g_ref) <= 1e-4, name


def test_equals_transformers_mamba2_chunk_scan():
    from transformers.models.mamba2.modeling_mamba2 import mamba2_chunk_scan

    x, dt, A, B, C = make_inputs(2, 300, 4, 8, 2, 16, seed=7)
    D, dt_bias = torch.randn(4), torch.randn(4)
    init = torch.randn(2, 4, 8, 16)
    kw = dict(D=D, dt_bias=dt_bias, dt_softplus=True, initial_states=init, return_final_states=True)
    y, s = ssd_chunk_scan(x, dt, A, B, C, 64, **kw)
    y_tf, s_tf = mamba2_chunk_scan(x, dt, A, B, C, 64, **kw)
    assert rel_err(y, y_tf) <= 1e-4 and rel_err(s, s_tf) <= 1e-4


def test_no_grad_and_autograd_paths_agree():
    x, dt, A, B, C = make_inputs(2, 500, 4, 8, 1, 16, seed=9)
    init = torch.randn(2, 4, 8, 16)
    with torch.no_grad():
        y0, s0 = ssd_chunk_scan(x, dt, A, B, C, 256, dt_softplus=True, initial_states=init, return_final_states=True)
    y1, s1 = ssd_chunk_scan(
        x.requires_grad_(True), dt, A, B, C, 256, dt_softplus=True, initial_states=init, return_final_states=True
    )
    assert rel_err(y0, y1) <= 1e-5 and rel_err(s0, s1) <= 1e-5


def test_bf16_long_sequence_is_finite_and_close_to_fp32():
    l = 65536
    x, dt, A, B, C = make_inputs(1, l, 2, 16, 1, 16, seed=8)
    y32 = ssd_chunk_scan(x, dt, A, B, C, 256, D=torch.ones(2), dt_softplus=True)
    y16 = ssd_chunk_scan(
        *(t.bfloat16() for t in (x, dt)), A, *(t.bfloat16() for t in (B, C)), 256, D=torch.ones(2), dt_softplus=True
    )
    assert y16.dtype == torch.bfloat16 and torch.isfinite(y16).all()
    # bf16 inputs carry ~3 significant digits; the scan itself runs in fp32
    assert rel_err(y16, y32) <= 3e-2


def test_bad_inputs_raise_clear_errors():
    x, dt, A, B, C = make_inputs(1, 10, 2, 4, 1, 4)
    with pytest.raises(ValueError, match="dt must be"):
        ssd_chunk_scan(x, dt[:, :5], A, B, C, 8)
    with pytest.raises(ValueError, match="multiple of ngroups"):
        ssd_chunk_scan(x, dt, A, torch.randn(1, 10, 3, 4), torch.randn(1, 10, 3, 4), 8)
    with pytest.raises(ValueError, match="D must be"):
        ssd_chunk_scan(x, dt, A, B, C, 8, D=torch.ones(3))
    with pytest.raises(ValueError, match="initial_states"):
        ssd_chunk_scan(x, dt, A, B, C, 8, initial_states=torch.zeros(1, 2, 4, 5))
