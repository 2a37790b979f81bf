# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""State-space duality (SSD) scan: the selective scan of Mamba2, chunked.

The recurrence, per batch `b` and head `h` (group `g = h // (nheads // ngroups)`)::

    h_t = exp(dt_t * A) * h_{t-1} + dt_t * x_t B_t^T        (state h_t: headdim x d_state)
    y_t = h_t C_t  (+ D * x_t) (* silu(z_t))

`ssd_chunk_scan` has the signature and semantics of
`mamba_ssm.ops.triton.ssd_combined.mamba_chunk_scan_combined`. On CUDA tensors it calls that kernel when
`mamba_ssm` can be imported; otherwise (CPU, or `SSM_LAYERS_FORCE_TORCH=1`) it runs `_ssd_chunk_scan_torch`,
a pure-PyTorch chunked SSD written for speed on CPU (see its docstring). `ssd_scan_reference` is the plain
sequential recurrence, used by the tests.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

import torch
import torch.nn.functional as F

from .kernels import get_mamba_chunk_scan_combined


__all__ = ["ssd_chunk_scan", "ssd_scan_reference", "CPU_CHUNK_SIZE", "CPU_BLOCK_CHUNKS"]

# Internal chunk length of the PyTorch path. The result does not depend on it (same math as the kernel's 256):
# 64 keeps the intra-chunk matmul small on CPU. Override with SSM_LAYERS_CPU_CHUNK.
CPU_CHUNK_SIZE = int(os.environ.get("SSM_LAYERS_CPU_CHUNK", "64"))
# Chunks processed together (one "block"); bounds the working set so temporaries stay in cache.
CPU_BLOCK_CHUNKS = int(os.environ.get("SSM_LAYERS_CPU_BLOCK_CHUNKS", "8"))
# Within a chunk the decay exp(Acs_l - Acs_s) is factorised as exp(Acs_l - m) * exp(m - Acs_s) when the
# log-decay range of every chunk is below this bound (no overflow, fp32-exact products); else the exact
# masked-exponential path runs.
_FACTORISE_MAX_RANGE = 60.0


_HUGE_PAGE = 2 << 20
_MADV_HUGEPAGE = 14


@functools.lru_cache(maxsize=None)
def _libc_madvise():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        return libc.madvise
    except (OSError, AttributeError):
        return None


def _empty_output(shape, like: torch.Tensor) -> torch.Tensor:
    """`torch.empty` for the scan output. A large CPU buffer is a fresh mmap whose first touch costs one page
    fault per 4 KiB (~30% of the scan at l = 55296); asking for transparent huge pages before the first write
    (`madvise(MADV_HUGEPAGE)`, a hint the kernel may ignore) removes most of that cost."""
    out = like.new_empty(shape)
    nbytes = out.numel() * out.element_size()
    madvise = _libc_madvise() if out.device.type == "cpu" and nbytes >= 8 * _HUGE_PAGE else None
    if madvise is not None:
        start = -(-out.data_ptr() // _HUGE_PAGE) * _HUGE_PAGE  # whole huge pages inside the buffer
        end = (out.data_ptr() + nbytes) // _HUGE_PAGE * _HUGE_PAGE
        if end > start:
            madvise(start, end - start, _MADV_HUGEPAGE)
    return out


def _is_default_limit(dt_limit) -> bool:
    return dt_limit[0] == 0.0 and dt_limit[1] == float("inf")


def _process_dt(dt, dt_bias, dt_softplus, dt_limit, dtype=torch.float32):
    """dt <- clamp(softplus(dt + dt_bias)), in fp32, as the kernel's `_chunk_cumsum_fwd`."""
    dt = dt.to(dtype)
    if dt_bias is not None:
        dt = dt + dt_bias.to(dtype)
    if dt_softplus:
        dt = F.softplus(dt)  # threshold 20, like the kernel
    if not _is_default_limit(dt_limit):
        dt = dt.clamp(min=dt_limit[0], max=dt_limit[1])
    return dt


def _check_inputs(x, dt, A, B, C, D, z, initial_states, seq_idx):
    if x.dim() != 4:
        raise ValueError(f"x must be (batch, seqlen, nheads, headdim), got shape {tuple(x.shape)}")
    b, l, h, p = x.shape
    if dt.shape != (b, l, h):
        raise ValueError(f"dt must be {(b, l, h)}, got {tuple(dt.shape)}")
    if A.shape != (h,):
        raise ValueError(f"A must be ({h},), got {tuple(A.shape)}")
    if B.dim() != 4 or B.shape[:2] != (b, l) or B.shape != C.shape:
        raise ValueError(
            f"B and C must be (batch, seqlen, ngroups, dstate) with equal shapes, got {tuple(B.shape)} "
            f"and {tuple(C.shape)}"
        )
    g = B.shape[2]
    if h % g != 0:
        raise ValueError(f"nheads ({h}) must be a multiple of ngroups ({g})")
    if D is not None and D.shape not in ((h,), (h, p)):
        raise ValueError(f"D must be ({h},) or ({h}, {p}), got {tuple(D.shape)}")
    if z is not None and z.shape != x.shape:
        raise ValueError(f"z must have the shape of x {tuple(x.shape)}, got {tuple(z.shape)}")
    if initial_states is not None and initial_states.shape != (b, h, p, B.shape[3]):
        raise ValueError(f"initial_states must be {(b, h, p, B.shape[3])}, got {tuple(initial_states.shape)}")
    if seq_idx is not None and seq_idx.shape != (b, l):
        raise ValueError(f"seq_idx must be {(b, l)}, got {tuple(seq_idx.shape)}")


def _segsum(a: torch.Tensor) -> torch.Tensor:
    """(..., T) -> (..., T, T) with S[i, j] = a[j+1] + ... + a[i] for i >= j and -inf above the diagonal.

    Summed from the small terms themselves, not as a difference of two large cumulative sums, so the
    exponent stays exact even when the decay is strong."""
    T = a.shape[-1]
    strict = torch.ones(T, T, dtype=torch.bool, device=a.device).tril(-1)
    S = torch.cumsum(a[..., :, None].expand(*a.shape, T).masked_fill(~strict, 0.0), dim=-2)
    return S.masked_fill(~torch.ones(T, T, dtype=torch.bool, device=a.device).tril(), float("-inf"))


def _finish(y, x, D, z, out_dtype):
    """y + D * x, then * silu(z) (the kernel's order), cast to the input dtype."""
    if D is not None:
        Df = D.to(y.dtype)
        y = y + x.to(y.dtype) * (Df[:, None] if Df.dim() == 1 else Df)
    if z is not None:
        y = y * F.silu(z.to(y.dtype))
    return y.to(out_dtype)


def ssd_scan_reference(
    x,
    dt,
    A,
    B,
    C,
    chunk_size=None,
    D=None,
    z=None,
    dt_bias=None,
    initial_states=None,
    seq_idx=None,
    dt_softplus=False,
    dt_limit=(0.0, float("inf")),
    return_final_states=False,
):
    """Sequential SSM recurrence, one time step at a time, in fp32 (fp64 for fp64 inputs). Same arguments as
    `ssd_chunk_scan`; `chunk_size` is ignored. A state is reset where `seq_idx` changes (the initial state
    belongs to sequence 0, as in the kernel)."""
    _check_inputs(x, dt, A, B, C, D, z, initial_states, seq_idx)
    b, l, h, p = x.shape
    g, n = B.shape[2], B.shape[3]
    cdtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    dt = _process_dt(dt, dt_bias, dt_softplus, dt_limit, cdtype)
    A = A.to(cdtype)
    Bh = B.to(cdtype).repeat_interleave(h // g, dim=2)  # (b, l, h, n)
    Ch = C.to(cdtype).repeat_interleave(h // g, dim=2)
    xf = x.to(cdtype)
    state = initial_states.to(cdtype) if initial_states is not None else xf.new_zeros(b, h, p, n)
    prev_seq = torch.zeros(b, dtype=torch.long, device=x.device)
    ys = []
    for t in range(l):
        decay = torch.exp(dt[:, t] * A)  # (b, h)
        if seq_idx is not None:
            same = (seq_idx[:, t] == prev_seq).to(cdtype)  # a new sequence starts from a zero state
            decay = decay * same[:, None]
            prev_seq = seq_idx[:, t]
        state = decay[:, :, None, None] * state + (dt[:, t, :, None] * xf[:, t])[..., None] * Bh[:, t, :, None, :]
        ys.append(torch.einsum("bhpn,bhn->bhp", state, Ch[:, t]))
    y = torch.stack(ys, dim=1) if ys else xf.new_zeros(b, 0, h, p)
    out = _finish(y, x, D, z, x.dtype)
    return (out, state) if return_final_states else out


def _ssd_chunk_scan_torch(x, dt, A, B, C, initial_states=None, seq_idx=None, chunk_size=None, block_chunks=None):
    """Chunked SSD in pure PyTorch (dt already processed), computed in fp32.

    The sequence is cut into chunks of Q tokens; `block_chunks` chunks form a block that is processed with
    batched matmuls while a running state is carried from block to block (so memory and cache traffic stay
    bounded and time grows linearly with the length). Per block, with Acs the within-chunk cumsum of dt*A:

    * intra-chunk (diagonal) term  y_l = sum_{s<=l} (C_l . B_s) exp(Acs_l - Acs_s) dt_s x_s.  When the log-decay
      range of each chunk is moderate, exp(Acs_l - Acs_s) = u_l v_s with u = exp(Acs - m), v = exp(m - Acs), so
      one (Q x Q) @ (Q x heads*headdim) matmul per group serves every head;
    * chunk states  S_j = sum_s B_s (exp(Acs_last - Acs_s) dt_s x_s)^T, from the same matmul as the diagonal term;
    * states at chunk starts  P_{c+1} = exp(total_c) P_c + S_c  (one fused pass per chunk without autograd, a small
      chunk-to-chunk decay matrix with autograd);
    * inter-chunk (off-diagonal) term  y_l += exp(Acs_l) C_l . P_c.
    Returns y (b, l, h, p) fp32 without the D / z terms, and the final state (b, h, p, n).
    """
    b, l, h, p = x.shape
    g, n = B.shape[2], B.shape[3]
    hg = h // g
    Q = chunk_size or CPU_CHUNK_SIZE
    K = block_chunks or CPU_BLOCK_CHUNKS
    xf, Bf, Cf = x.float(), B.float(), C.float()
    Af = A.float()
    pad = (-l) % Q
    if pad:  # zero dt and inputs: no decay, no contribution
        xf = F.pad(xf, (0, 0, 0, 0, 0, pad))
        dt = F.pad(dt, (0, 0, 0, pad))
        Bf = F.pad(Bf, (0, 0, 0, 0, 0, pad))
        Cf = F.pad(Cf, (0, 0, 0, 0, 0, pad))
        if seq_idx is not None:
            seq_idx = torch.cat([seq_idx, seq_idx[:, -1:].expand(b, pad)], dim=1)  # inert padding
    nchunks = xf.shape[1] // Q
    causal = torch.ones(Q, Q, dtype=torch.bool, device=x.device).tril()
    # in-place updates are only safe when no autograd graph is being recorded
    inplace = not (
        torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, dt, A, B, C, initial_states))
    )

    carry = (
        initial_states.float().view(b, g, hg, p, n).permute(0, 1, 4, 2, 3)  # (b, g, n, hg, p)
        if initial_states is not None
        else xf.new_zeros(b, g, n, hg, p)
    )
    carry_seq = torch.zeros(b, dtype=torch.long, device=x.device)  # sequence the carried state belongs to
    outputs = []
    y_all = _empty_output((b, nchunks * Q, h, p), xf) if inplace else None
    for c0 in range(0, nchunks, K):
        k = min(K, nchunks - c0)
        t0, t1 = c0 * Q, (c0 + k) * Q
        xb = xf[:, t0:t1].reshape(b, k, Q, h, p)
        dtb = dt[:, t0:t1].reshape(b, k, Q, h)
        Bb = Bf[:, t0:t1].reshape(b, k, Q, g, n).transpose(2, 3)  # (b, k, g, Q, n)
        Cb = Cf[:, t0:t1].reshape(b, k, Q, g, n).transpose(2, 3)
        dA = dtb * Af  # (b, k, Q, h)
        Acs = torch.cumsum(dA, dim=2)

        CB = torch.matmul(Cb, Bb.transpose(-1, -2))  # (b, k, g, Q(l), Q(s))
        mask = causal
        if seq_idx is not None:
            sb = seq_idx[:, t0:t1].reshape(b, k, Q)
            mask = causal & (sb[:, :, :, None] == sb[:, :, None, :])[:, :, None]
            last_seq = sb[:, :, -1]  # (b, k)
            Bstate = Bb * (sb == last_seq[..., None]).to(Bb.dtype)[:, :, None, :, None]
            row_seq = torch.cat([carry_seq[:, None], last_seq], dim=1)  # sequence at the end of chunk c-1 (row c)
            # the state entering chunk c only reaches positions of the same sequence
            Cb = Cb * (sb == row_seq[:, :k, None]).to(Cb.dtype)[:, :, None, :, None]
            carry_seq = last_seq[:, -1]
        else:
            Bstate = Bb
        CB = CB.masked_fill_(~mask, 0.0) if inplace else CB.masked_fill(~mask, 0.0)

        Acs_max, Acs_min = Acs.amax(dim=2, keepdim=True), Acs.amin(dim=2, keepdim=True)
        factorise = float((Acs_max - Acs_min).max().detach()) <= _FACTORISE_MAX_RANGE
        if factorise:
            # exp(Acs_l - Acs_s) = u_l v_s with u = exp(Acs - m), v = exp(m - Acs)
            m = (0.5 * (Acs_max + Acs_min)).detach()
            u = torch.exp(Acs - m)  # (b, k, Q, h)
            vx = (xb * (dtb * torch.exp(m - Acs))[..., None]).reshape(b, k, Q, g, hg * p).transpose(2, 3)
            # one matmul gives the intra-chunk outputs (rows :Q) and the chunk states (rows Q:)
            R = torch.matmul(torch.cat([CB, Bstate.transpose(-1, -2)], dim=-2), vx)  # (b, k, g, Q + n, hg*p)
            y_raw, states = R[..., :Q, :], R[..., Q:, :].unflatten(-1, (hg, p))
            u_last = u[:, :, -1].reshape(b, k, g, 1, hg, 1)
            states = states.mul_(u_last) if inplace else states * u_last
        else:
            xdt = xb * dtb[..., None]
            L = torch.exp(_segsum(dA.transpose(2, 3)))  # (b, k, h, Ql, Qs)
            M = CB.repeat_interleave(hg, dim=2) * L
            y_diag = torch.matmul(M, xdt.permute(0, 1, 3, 2, 4)).permute(0, 1, 3, 2, 4)  # (b, k, Q, h, p)
            w = L[..., -1, :]  # (b, k, h, Q): decay from each position to the chunk end
            wx = (xdt * w.transpose(2, 3)[..., None]).reshape(b, k, Q, g, hg * p).transpose(2, 3)
            states = torch.matmul(Bstate.transpose(-1, -2), wx).unflatten(-1, (hg, p))  # (b, k, g, n, hg, p)

        # states at the start of each chunk of the block (rows 0..k-1) and the carry out of it (row k)
        total = Acs[:, :, -1]  # (b, k, h) log-decay over each chunk
        if inplace:
            # P[c+1] = P[c] * exp(total_c) + S_c, one fused pass per chunk (no autograd graph to keep)
            decay = torch.exp(total)
            if seq_idx is not None:  # a state only flows on within its sequence
                decay = decay * (last_seq == row_seq[:, :k]).to(decay.dtype)[..., None]
            decay = decay.reshape(b, k, g, 1, hg, 1)
            P = xf.new_empty(b, k + 1, g, n, hg, p)
            P[:, 0] = carry
            for j in range(k):
                torch.addcmul(states[:, j], P[:, j], decay[:, j], out=P[:, j + 1])
        else:
            # W[c, j] = exp(total_{j+1} + ... + total_{c-1}) for j < c: decay of chunk j's state to chunk c's start
            W = torch.exp(F.pad(_segsum(total.transpose(1, 2)), (0, 0, 1, 0), value=float("-inf")))  # (b,h,k+1,k)
            W = W.permute(0, 2, 3, 1)  # (b, k+1, k, h)
            carry_w = torch.exp(F.pad(torch.cumsum(total, dim=1), (0, 0, 1, 0)))  # (b, k+1, h) decay of the carry
            if seq_idx is not None:
                W = W * (row_seq[:, :, None] == last_seq[:, None, :]).to(W.dtype)[..., None]
                carry_w = carry_w * (row_seq == row_seq[:, :1]).to(W.dtype)[..., None]
            P = torch.einsum("bcjgh,bjgnhp->bcgnhp", W.reshape(b, k + 1, k, g, hg), states)
            P = P + carry_w.reshape(b, k + 1, g, 1, hg, 1) * carry[:, None]
        carry = P[:, k]

        # inter-chunk term: y_l += exp(Acs_l) C_l . P_c
        if factorise and float(Acs_max.max().detach()) <= 0.0:
            # exp(Acs_l) = u_l exp(m) with exp(m) <= 1: scale the (small) states, then y = u * (y_raw + C P)
            Pm = (P[:, :k] * torch.exp(m).reshape(b, k, g, 1, hg, 1)).flatten(-2)  # (b, k, g, n, hg*p)
            if inplace:
                y_raw.view(-1, Q, hg * p).baddbmm_(Cb.reshape(-1, Q, n), Pm.reshape(-1, n, hg * p))
            else:
                y_raw = y_raw + torch.matmul(Cb, Pm)
            y_diag, scale = y_raw.transpose(2, 3).reshape(b, k, Q, h, p), u
            y_off = None
        else:
            if factorise:
                y_diag = y_raw.transpose(2, 3).reshape(b, k, Q, h, p) * u[..., None]
            y_off = torch.matmul(Cb, P[:, :k].flatten(-2)).transpose(2, 3).reshape(b, k, Q, h, p)
            scale = torch.exp(Acs)
        if inplace:  # written straight into the output
            out = y_all[:, t0:t1].view(b, k, Q, h, p)
            if y_off is None:
                torch.mul(y_diag, scale[..., None], out=out)
            else:
                torch.addcmul(y_diag, y_off, scale[..., None], out=out)
        else:
            y_blk = y_diag * scale[..., None] if y_off is None else y_diag + y_off * scale[..., None]
            outputs.append(y_blk.reshape(b, k * Q, h, p))

    if inplace:
        y = y_all[:, :l]
    else:
        y = torch.cat(outputs, dim=1)[:, :l] if outputs else xf.new_zeros(b, 0, h, p)
    final = carry.permute(0, 1, 3, 4, 2).reshape(b, h, p, n)
    return y, final


def ssd_chunk_scan(
    x,
    dt,
    A,
    B,
    C,
    chunk_size,
    D=None,
    z=None,
    dt_bias=None,
    initial_states=None,
    seq_idx=None,
    dt_softplus=False,
    dt_limit=(0.0, float("inf")),
    return_final_states=False,
):
    """Chunked SSD scan with the semantics of `mamba_ssm`'s `mamba_chunk_scan_combined`.

    Args:
        x: (batch, seqlen, nheads, headdim). dt: (batch, seqlen, nheads). A: (nheads,).
        B, C: (batch, seqlen, ngroups, dstate). D: (nheads,) or (nheads, headdim). z: like x (output gate).
        dt_bias: (nheads,), added to dt before `softplus` (if `dt_softplus`) and the `dt_limit` clamp.
        initial_states: (batch, nheads, headdim, dstate). seq_idx: (batch, seqlen) int, packed sequences.
    Returns:
        y (batch, seqlen, nheads, headdim) in x's dtype, and the final state (batch, nheads, headdim, dstate)
        in fp32 when `return_final_states`.
    """
    _check_inputs(x, dt, A, B, C, D, z, initial_states, seq_idx)
    if x.is_cuda and os.environ.get("SSM_LAYERS_FORCE_TORCH", "0") != "1":
        kernel = get_mamba_chunk_scan_combined()
        if kernel is not None:
            kwargs = {} if _is_default_limit(dt_limit) else {"dt_limit": dt_limit}
            return kernel(
                x,
                dt,
                A,
                B,
                C,
                chunk_size,
                D=D,
                z=z,
                dt_bias=dt_bias,
                initial_states=initial_states,
                seq_idx=seq_idx,
                dt_softplus=dt_softplus,
                return_final_states=return_final_states,
                **kwargs,
            )
    # float32 inside, as the kernel: under autocast (accelerate's mixed precision) the matmuls would otherwise run in
    # bf16 and the in-place updates of inference would mix dtypes
    with torch.autocast(device_type=x.device.type, enabled=False):
        dtp = _process_dt(dt, dt_bias, dt_softplus, dt_limit)
        y, final = _ssd_chunk_scan_torch(x, dtp, A, B, C, initial_states=initial_states, seq_idx=seq_idx)
        out = _finish(y, x, D, z, x.dtype)
    return (out, final) if return_final_states else out
