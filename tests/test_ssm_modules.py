# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Hydra, BiMamba2Mixer and RMSNormGated against their defining formulas, computed by hand here."""

import pytest
import torch
import torch.nn.functional as F

from ssm_layers import BiMamba2Mixer, Hydra, RMSNormGated, reverse_valid_index, ssd_scan_reference


def rmsnorm_gate(y, z, weight, eps, norm_before_gate=True):
    if not norm_before_gate:
        y = y * F.silu(z)
        return y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + eps) * weight
    return y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + eps) * weight * F.silu(z)


# ----------------------------------------------------------------------------------------------- RMSNormGated
@pytest.mark.parametrize("norm_before_gate", [True, False])
def test_rmsnorm_gated_formula(norm_before_gate):
    torch.manual_seed(0)
    norm = RMSNormGated(8, eps=1e-5, norm_before_gate=norm_before_gate)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x, z = torch.randn(3, 5, 8), torch.randn(3, 5, 8)
    torch.testing.assert_close(norm(x, z), rmsnorm_gate(x, z, norm.weight, 1e-5, norm_before_gate))
    torch.testing.assert_close(norm(x), x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * norm.weight)


def test_rmsnorm_gated_groups_and_dtype():
    norm = RMSNormGated(8, eps=1e-6, norm_before_gate=True, group_size=4)
    x, z = torch.randn(2, 8), torch.randn(2, 8)
    halves = [rmsnorm_gate(x[:, i : i + 4], z[:, i : i + 4], 1.0, 1e-6) for i in (0, 4)]
    torch.testing.assert_close(norm(x, z), torch.cat(halves, -1))
    assert norm(x.bfloat16(), z.bfloat16()).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="group_size"):
        RMSNormGated(8, group_size=3)


# ------------------------------------------------------------------------------------------------------- Hydra
OFFICIAL_HYDRA_SHAPES = {  # d_model=16, d_state=4, d_conv=7, expand=2, headdim=8 -> d_inner 32, nheads 4
    "in_proj.weight": (2 * 32 + 4 * 4 + 2 * 4, 16),
    "conv1d.weight": (32 + 4 * 4, 1, 7),
    "conv1d.bias": (32 + 4 * 4,),
    "dt_bias": (4,),
    "A_log": (4,),
    "D": (4,),
    "fc_D.weight": (4, 32),
    "norm.weight": (32,),
    "out_proj.weight": (16, 32),
}


def test_hydra_parameters_match_official_names_and_init():
    torch.manual_seed(0)
    hydra = Hydra(16, d_state=4, d_conv=7, expand=2, headdim=8)
    assert {k: tuple(v.shape) for k, v in hydra.state_dict().items()} == OFFICIAL_HYDRA_SHAPES
    assert torch.equal(hydra.A_log, torch.zeros(4)) and torch.equal(hydra.D, torch.ones(4))
    dt = F.softplus(hydra.dt_bias)
    assert (dt >= 1e-3 - 1e-6).all() and (dt <= 0.1 + 1e-6).all()
    with pytest.raises(ValueError, match="odd d_conv"):
        Hydra(16, d_conv=4)


def hydra_by_hand(m: Hydra, u):
    """The spec's formula with explicit sums over the quasi-separable matrix (no scan, no flips)."""
    Bsz, L, _ = u.shape
    I, N, H, P = m.d_inner, m.d_state, m.nheads, m.headdim
    zxbcdt = u @ m.in_proj.weight.T
    z, xBC, dt = zxbcdt[..., :I], zxbcdt[..., I : 2 * I + 4 * N], zxbcdt[..., 2 * I + 4 * N :]
    k = m.d_conv
    padded = F.pad(xBC, (0, 0, k // 2, k // 2))
    conv = torch.stack([(padded[:, t : t + k] * m.conv1d.weight[:, 0].T).sum(1) for t in range(L)], 1)
    xBC = F.silu(conv + m.conv1d.bias)
    x, Bf, Cf, Bb, Cb = xBC.split([I, N, N, N, N], -1)
    A = -torch.exp(m.A_log)
    dtf = F.softplus(dt[..., :H] + m.dt_bias)
    dtb = F.softplus(dt[..., H:] + m.dt_bias)
    xh = x.view(Bsz, L, H, P)
    y = torch.zeros(Bsz, L, H, P)
    for t in range(L):
        for s in range(L):
            if s <= t - 1:  # forward, shifted: y_f[t] = s_f[t-1]
                decay = torch.exp(A * dtf[:, s + 1 : t].sum(1))  # (B, H)
                w = (Cf[:, t - 1] * Bf[:, s]).sum(-1)[:, None] * decay * dtf[:, s]
                y[:, t] += w[..., None] * xh[:, s]
            if s >= t + 1:  # backward, shifted: y_b[t] = s_b[t+1]
                decay = torch.exp(A * dtb[:, t + 1 : s].sum(1))
                w = (Cb[:, t + 1] * Bb[:, s]).sum(-1)[:, None] * decay * dtb[:, s]
                y[:, t] += w[..., None] * xh[:, s]
    y = y + xh * (x @ m.fc_D.weight.T + m.D)[..., None]  # diagonal: x_t * (fc_D(x_t) + D)
    y = rmsnorm_gate(y.reshape(Bsz, L, I), z, m.norm.weight, m.norm.eps)
    return y @ m.out_proj.weight.T


def test_hydra_matches_shifted_bidirectional_formula():
    torch.manual_seed(0)
    m = Hydra(8, d_state=4, d_conv=3, expand=2, headdim=4)
    with torch.no_grad():  # make every term matter
        m.A_log.copy_(torch.tensor([-0.5, 0.0, 0.3, 0.7]))
        m.D.copy_(torch.tensor([0.5, -1.0, 2.0, 0.1]))
        m.norm.weight.uniform_(0.5, 1.5)
        m.conv1d.bias.uniform_(-0.5, 0.5)
    u = torch.randn(2, 11, 8)
    with torch.no_grad():
        torch.testing.assert_close(m(u), hydra_by_hand(m, u), rtol=1e-5, atol=1e-5)


def test_hydra_is_bidirectional_and_excludes_self_from_scan():
    torch.manual_seed(0)
    m = Hydra(8, d_state=4, d_conv=1, expand=2, headdim=4).eval()
    u = torch.randn(1, 20, 8)
    u2 = u.clone()
    u2[:, 15] += 1.0
    with torch.no_grad():
        d = (m(u2) - m(u)).abs().amax(-1)[0]
    assert (d[:15] > 0).all() and (d[16:] > 0).all()  # information flows both ways


def test_hydra_long_input_kernel_chunking_is_invisible():
    torch.manual_seed(0)
    m = Hydra(16, d_state=8, headdim=8, chunk_size=256)
    u = torch.randn(1, 600, 16)
    with torch.no_grad():
        full = m(u)
        m.chunk_size = 64  # the kernel's chunk must not change the result
        torch.testing.assert_close(m(u), full, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------- BiMamba2Mixer
def small_mixer(bidirectional=True, **kw):
    torch.manual_seed(0)
    m = BiMamba2Mixer(
        16, state_size=8, expand=2, head_dim=8, n_groups=2, conv_kernel=4, bidirectional=bidirectional, **kw
    )
    with torch.no_grad():  # nonzero, distinct backward parameters
        for p in m.parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
    return m


def mamba2_direction_by_hand(m, zxbcdt, conv, dt_bias, A_log, D, norm):
    I, G, N, H = m.intermediate_size, m.n_groups, m.ssm_state_size, m.num_heads
    z, xBC, dt = zxbcdt.split([I, m.conv_dim, H], -1)
    L = xBC.shape[1]
    k = m.conv_kernel_size
    padded = F.pad(xBC, (0, 0, k - 1, 0))  # causal
    xBC = F.silu(torch.stack([(padded[:, t : t + k] * conv.weight[:, 0].T).sum(1) for t in range(L)], 1) + conv.bias)
    x, B, C = xBC.split([I, G * N, G * N], -1)
    y = ssd_scan_reference(
        x.unflatten(-1, (H, m.head_dim)),
        dt,
        -torch.exp(A_log),
        B.unflatten(-1, (G, N)),
        C.unflatten(-1, (G, N)),
        D=D,
        dt_bias=dt_bias,
        dt_softplus=True,
    )
    return grouped_rmsnorm_gate(y.flatten(2), z, norm.weight, norm.eps, G)


def grouped_rmsnorm_gate(y, z, weight, eps, groups):
    """The fused kernel's gated RMSNorm with `ngroups`: each group of I / groups channels normalised on its own."""
    size = y.shape[-1] // groups
    parts = [slice(g * size, (g + 1) * size) for g in range(groups)]
    return torch.cat([rmsnorm_gate(y[..., p], z[..., p], weight[p], eps) for p in parts], -1)


def test_bimamba2_matches_shared_projection_formula():
    m = small_mixer()
    names = {k for k, _ in m.named_parameters()}
    assert {
        "in_proj.weight",
        "out_proj.weight",
        "conv1d.weight",
        "conv1d_b.weight",
        "dt_bias",
        "dt_bias_b",
        "A_log",
        "A_b_log",
        "D",
        "D_b",
        "norm.weight",
        "norm_b.weight",
    } <= names
    u = torch.randn(2, 37, 16)
    with torch.no_grad():
        zxbcdt = u @ m.in_proj.weight.T
        y_f = mamba2_direction_by_hand(m, zxbcdt, m.conv1d, m.dt_bias, m.A_log, m.D, m.norm)
        y_b = mamba2_direction_by_hand(m, zxbcdt.flip(1), m.conv1d_b, m.dt_bias_b, m.A_b_log, m.D_b, m.norm_b)
        expected = (y_f + y_b.flip(1)) @ m.out_proj.weight.T  # out = out_proj(y_f + flip(y_b))
        torch.testing.assert_close(m(u), expected, rtol=1e-4, atol=1e-5)


def test_bimamba2_norm_is_per_group_like_the_fused_kernel():
    """`test_bimamba2_matches_shared_projection_formula` checks the mixer against the per-group formula; here: the
    groups are I / n_groups channels, and one norm over all I channels would be a different block."""
    m = small_mixer()  # n_groups = 2: two groups of 16 of the 32 intermediate channels
    assert m.norm.group_size == m.norm_b.group_size == m.intermediate_size // m.n_groups == 16
    u = torch.randn(1, 21, 16)
    with torch.no_grad():
        zxbcdt = m.in_proj(u)
        y_f = mamba2_direction_by_hand(m, zxbcdt, m.conv1d, m.dt_bias, m.A_log, m.D, m.norm)
        torch.testing.assert_close(m._direction(zxbcdt, None, *next(m._directions())), y_f, rtol=1e-4, atol=1e-5)
        grouped = m(u)
        m.norm.group_size = m.norm_b.group_size = m.intermediate_size  # one norm over all channels
        assert (m(u) - grouped).abs().max() > 1e-3


def test_bimamba2_init_follows_the_sister_repo():
    m = BiMamba2Mixer(32, state_size=8, head_dim=8, n_groups=2)
    for A_log in (m.A_log, m.A_b_log):
        torch.testing.assert_close(A_log, torch.log(torch.arange(1.0, m.num_heads + 1)))
    dt = F.softplus(m.dt_bias)
    assert (dt >= 1e-3 - 1e-6).all() and (dt <= 0.1 + 1e-6).all() and dt.std() > 0
    assert torch.equal(m.dt_bias_b, torch.ones(m.num_heads))  # the backward dt_bias is never re-initialised there
    assert torch.equal(m.D, torch.ones(m.num_heads)) and torch.equal(m.D_b, torch.ones(m.num_heads))


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_bimamba2_padding_never_leaks(side, bidirectional):
    m = small_mixer(bidirectional)
    lengths, total = [23, 9], 30
    samples = [torch.randn(1, n, 16) for n in lengths]
    batch = torch.zeros(2, total, 16) + 7.0  # garbage in the padding
    mask = torch.zeros(2, total, dtype=torch.bool)
    for i, (s, n) in enumerate(zip(samples, lengths)):
        sl = slice(0, n) if side == "right" else slice(total - n, total)
        batch[i, sl], mask[i, sl] = s[0], True
    with torch.no_grad():
        out, delta = m(batch, attention_mask=mask, return_delta=True)
        for i, (s, n) in enumerate(zip(samples, lengths)):
            ref, ref_delta = m(s, return_delta=True)
            torch.testing.assert_close(out[i][mask[i]], ref[0], rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(delta[i][mask[i]], ref_delta[0])
            assert torch.all(delta[i][~mask[i]] == 0)


def test_unidirectional_mixer_is_causal_and_delta_is_softplus_dt():
    m = small_mixer(bidirectional=False, time_step_limit=(0.0, 0.05))
    assert not hasattr(m, "conv1d_b")
    u = torch.randn(1, 40, 16)
    u2 = u.clone()
    u2[:, 25] += 1.0
    with torch.no_grad():
        (o1, d1), (o2, _) = m(u, return_delta=True), m(u2, return_delta=True)
        torch.testing.assert_close(o1[:, :25], o2[:, :25])
        assert (o1[:, 25:] - o2[:, 25:]).abs().amax() > 0
        expected = F.softplus((u @ m.in_proj.weight.T)[..., -m.num_heads :] + m.dt_bias).clamp(max=0.05)
    assert d1.shape == (1, 40, m.num_heads)
    torch.testing.assert_close(d1, expected)


def test_reverse_valid_index():
    mask = torch.tensor([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], dtype=torch.bool)
    idx = reverse_valid_index(mask)
    assert idx.tolist() == [[2, 1, 0, 3, 4], [0, 1, 4, 3, 2], [4, 3, 2, 1, 0], [0, 1, 2, 3, 4]]
    assert torch.equal(idx.gather(1, idx), torch.arange(5).expand(4, 5))  # an involution


def test_bimamba2_mask_shape_error():
    m = small_mixer()
    with pytest.raises(ValueError, match="attention_mask"):
        m(torch.randn(2, 5, 16), attention_mask=torch.ones(2, 6))
