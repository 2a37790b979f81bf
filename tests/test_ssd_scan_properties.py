# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Property tests (hypothesis): the chunked scan equals the sequential recurrence on random shapes, chunk sizes,
dtypes and options."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ssm_layers import ssd_chunk_scan, ssd_scan_reference
from ssm_layers.ssd import _process_dt, _ssd_chunk_scan_torch


@st.composite
def scan_problem(draw):
    b = draw(st.integers(1, 2))
    l = draw(st.integers(1, 200))
    g = draw(st.sampled_from([1, 2]))
    h = g * draw(st.integers(1, 3))
    p = draw(st.sampled_from([1, 3, 8]))
    n = draw(st.sampled_from([1, 4, 16]))
    seed = draw(st.integers(0, 2**16))
    dt_shift = draw(st.sampled_from([-4.0, 0.0, 3.0, 9.0]))  # weak to very strong decay
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, l, h, p, generator=gen)
    dt = torch.randn(b, l, h, generator=gen) + dt_shift
    A = -(torch.rand(h, generator=gen) * 4 + 0.01)
    B = torch.randn(b, l, g, n, generator=gen)
    C = torch.randn(b, l, g, n, generator=gen)
    options = dict(
        D=draw(st.sampled_from([None, "head", "channel"])),
        z=draw(st.booleans()),
        initial=draw(st.booleans()),
        limit=draw(st.sampled_from([(0.0, float("inf")), (0.001, 5.0)])),
        packed=draw(st.booleans()) and l > 2,
    )
    kw = dict(
        dt_softplus=True, dt_limit=options["limit"], return_final_states=True, dt_bias=torch.randn(h, generator=gen)
    )
    if options["D"] == "head":
        kw["D"] = torch.randn(h, generator=gen)
    elif options["D"] == "channel":
        kw["D"] = torch.randn(h, p, generator=gen)
    if options["z"]:
        kw["z"] = torch.randn(b, l, h, p, generator=gen)
    if options["initial"]:
        kw["initial_states"] = torch.randn(b, h, p, n, generator=gen)
    if options["packed"]:
        cut = draw(st.integers(1, l - 1))
        kw["seq_idx"] = (torch.arange(l) >= cut).long().expand(b, l).contiguous()
    return (x, dt, A, B, C), kw


def scale_err(a, ref):
    return ((a.float() - ref.float()).abs().max() / ref.float().abs().max().clamp(min=1e-6)).item()


@settings(max_examples=40, deadline=None)
@given(scan_problem(), st.sampled_from([16, 64, 256]))
def test_chunked_scan_matches_recurrence(problem, chunk):
    (x, dt, A, B, C), kw = problem
    y, s = ssd_chunk_scan(x, dt, A, B, C, chunk, **kw)
    y_ref, s_ref = ssd_scan_reference(x, dt, A, B, C, chunk, **kw)
    assert y.shape == x.shape and s.shape == s_ref.shape
    assert torch.isfinite(y).all()
    assert scale_err(y, y_ref) <= 1e-4
    assert scale_err(s, s_ref) <= 1e-4


@settings(max_examples=20, deadline=None)
@given(scan_problem(), st.sampled_from([4, 16, 64]), st.integers(1, 9))
def test_internal_chunk_and_block_sizes_do_not_matter(problem, q, k):
    (x, dt, A, B, C), kw = problem
    dtp = _process_dt(dt, kw["dt_bias"], True, kw["dt_limit"])
    y, s = _ssd_chunk_scan_torch(
        x,
        dtp,
        A,
        B,
        C,
        initial_states=kw.get("initial_states"),
        seq_idx=kw.get("seq_idx"),
        chunk_size=q,
        block_chunks=k,
    )
    y_ref, s_ref = _ssd_chunk_scan_torch(
        x,
        dtp,
        A,
        B,
        C,
        initial_states=kw.get("initial_states"),
        seq_idx=kw.get("seq_idx"),
        chunk_size=64,
        block_chunks=8,
    )
    assert scale_err(y, y_ref) <= 1e-4 and scale_err(s, s_ref) <= 1e-4


@settings(max_examples=15, deadline=None)
@given(scan_problem(), st.sampled_from([torch.bfloat16, torch.float16]))
def test_low_precision_inputs_stay_close(problem, dtype):
    (x, dt, A, B, C), kw = problem
    kw = {k: v for k, v in kw.items() if k not in ("initial_states",)}
    low = [t.to(dtype) for t in (x, dt, B, C)]
    y = ssd_chunk_scan(low[0], low[1], A, low[2], low[3], 64, **kw)[0]
    # the same (rounded) inputs in fp32: the scan itself runs in fp32, only the output is rounded
    y32 = ssd_scan_reference(*(t.float() for t in low[:2]), A, *(t.float() for t in low[2:]), **kw)[0]
    assert y.dtype == dtype and torch.isfinite(y).all()
    assert scale_err(y, y32) <= 1e-2
