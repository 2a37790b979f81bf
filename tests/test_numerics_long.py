# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Numerics at long lengths: bf16 and fp16 forwards of both models stay finite and close to fp32; padding (fully
padded steps, levels, frames and mixer rows) never produces NaN; zero-length queries are rejected, not NaN.
The lengths are long relative to the scan chunk (1,024 clips = 1,536 interleaved tokens = 48 Hydra chunks at level
0; 1,920 compressor tokens = 120 chunks). bf16 / fp16 on CPU are slow (depthwise convs take PyTorch's slow conv
path), hence the tiny widths."""

import pytest
import torch
from mambamia_testing import tiny_config

from hieramamba_hf import HieraMambaConfig, HieraMambaForVideoGrounding
from mambamia_hf.modeling_mambamia import MambaMiaCompressor, MambaMiaPreTrainedModel
from ssm_layers import BiMamba2Mixer, Hydra


def _hieramamba_config(**overrides):
    kwargs = dict(
        video_input_dim=16,
        hidden_size=32,
        text_input_dim=8,
        text_hidden_size=16,
        num_amp_blocks=5,
        max_seq_len=256,
        hydra_head_dim=16,
        hydra_state_size=16,
        hydra_chunk_size=32,
        layer_scale_init=0.5,
    )  # large LayerScale: the global mixer really shapes the output
    kwargs.update(overrides)
    return HieraMambaConfig(**kwargs)


def _hieramamba_inputs(length=1024, short=300):
    g = torch.Generator().manual_seed(0)
    video = torch.randn(2, length, 16, generator=g)
    video_mask = torch.ones(2, length, dtype=torch.bool)
    video_mask[1, short:] = False  # second video: a long fully padded tail (whole padded blocks at every level)
    text = torch.randn(2, 6, 8, generator=g)
    text_mask = torch.ones(2, 6, dtype=torch.bool)
    text_mask[1, 1:] = False  # a one-token query
    return video, video_mask, text, text_mask


@pytest.fixture(scope="module")
def hieramamba_fp32():
    torch.manual_seed(0)
    model = HieraMambaForVideoGrounding(_hieramamba_config()).eval()
    with torch.no_grad():
        out = model(*_hieramamba_inputs())
    return model, out


@pytest.mark.parametrize("dtype, prob_tol, rel_tol", [(torch.bfloat16, 0.05, 0.1), (torch.float16, 0.01, 0.02)])
def test_hieramamba_low_precision_long_video_is_finite_and_close(hieramamba_fp32, dtype, prob_tol, rel_tol):
    model, ref = hieramamba_fp32
    low = HieraMambaForVideoGrounding(model.config).eval()
    low.load_state_dict(model.state_dict())
    low.to(dtype)
    video, video_mask, text, text_mask = _hieramamba_inputs()
    with torch.no_grad():
        out = low(video.to(dtype), video_mask, text.to(dtype), text_mask)
    for a in (out.logits, out.offsets, *out.pyramid_features):
        assert a.dtype == dtype and torch.isfinite(a).all()
    valid = ref.points_mask
    prob_diff = (torch.sigmoid(out.logits.float()) - torch.sigmoid(ref.logits))[valid].abs().max()
    assert prob_diff < prob_tol
    offset_rel = (out.offsets.float() - ref.offsets)[valid].abs().max() / ref.offsets[valid].abs().max()
    assert offset_rel < rel_tol
    feat = out.pyramid_features[0].float()
    assert (feat - ref.pyramid_features[0]).norm() / ref.pyramid_features[0].norm() < rel_tol


def test_hieramamba_padding_never_makes_nan(hieramamba_fp32):
    _, out = hieramamba_fp32
    # every position, valid or padded, of every level is finite (padded windows, padded anchors, padded queries)
    for tensors in (out.pyramid_features, out.sequence_features, out.anchor_features):
        for a in tensors:
            assert torch.isfinite(a).all()
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.offsets).all()
    # the short video's deepest levels contain fully padded stretches
    assert (~out.pyramid_masks[-1][1]).any()


def test_hieramamba_attention_baseline_is_finite_with_padding():
    torch.manual_seed(0)
    config = _hieramamba_config(global_mixer_type="attention", num_amp_blocks=4)
    assert _hieramamba_config().global_mixer_type == "hydra"  # the default stays the official Hydra
    model = HieraMambaForVideoGrounding(config).eval()
    with torch.no_grad():
        out = model(*_hieramamba_inputs(length=512, short=100))
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.offsets).all()
    assert not any(isinstance(m, Hydra) for m in model.modules())


def test_zero_length_queries_and_empty_videos_are_rejected_not_nan(hieramamba_fp32):
    model, _ = hieramamba_fp32
    video, video_mask, text, text_mask = _hieramamba_inputs(length=256, short=100)
    empty_text = text_mask.clone()
    empty_text[0] = False
    with pytest.raises(ValueError, match="empty text"):
        model(video, video_mask, text, empty_text)
    with pytest.raises(ValueError, match="empty text"):
        model(video, video_mask, text[:, :0], text_mask[:, :0])  # zero tokens
    empty_video = video_mask.clone()
    empty_video[1] = False
    with pytest.raises(ValueError, match="empty video"):
        model(video, empty_video, text, text_mask)


def _compressor(config):
    torch.manual_seed(0)
    compressor = MambaMiaCompressor(config)
    init_model = MambaMiaPreTrainedModel.__new__(MambaMiaPreTrainedModel)
    init_model.config = config
    compressor.apply(init_model._init_weights)
    return compressor.eval()


@pytest.mark.parametrize("dtype, tol", [(torch.bfloat16, 0.05), (torch.float16, 0.01)])
def test_mambamia_compressor_low_precision_long_video_is_finite_and_close(dtype, tol):
    config = tiny_config()
    compressor = _compressor(config)
    frames = 96  # 96 x (16 patches + 4 queries) = 1,920 tokens, 120 scan chunks of 16
    g = torch.Generator().manual_seed(1)
    features = torch.randn(2, frames, config.num_patches_per_frame, config.vision_config.hidden_size, generator=g)
    frame_mask = torch.ones(2, frames, dtype=torch.bool)
    frame_mask[1, 30:] = False  # the second video is mostly padding frames
    with torch.no_grad():
        anchors, deltas = compressor(features, frame_mask)
        compressor.to(dtype)
        low_anchors, low_deltas = compressor(features.to(dtype), frame_mask)
    assert torch.isfinite(anchors).all() and torch.isfinite(deltas).all()
    assert torch.isfinite(low_anchors).all() and torch.isfinite(low_deltas).all()
    for ref, low in ((anchors[0], low_anchors[0]), (anchors[1, :30], low_anchors[1, :30])):
        assert (low.float() - ref).norm() / ref.norm() < tol
    assert (low_deltas.float() - deltas).abs().max() / deltas.abs().max() < tol
    assert not deltas[1, 30:].any()  # padding frames have Delta_t = 0: never selected


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_bimamba_fully_padded_rows_are_finite_zero_delta(dtype):
    torch.manual_seed(0)
    mixer = BiMamba2Mixer(32, state_size=8, head_dim=16, n_groups=2, chunk_size=16).to(dtype)
    x = torch.randn(3, 100, 32, dtype=dtype)
    mask = torch.ones(3, 100, dtype=torch.bool)
    mask[1] = False  # a fully padded row
    mask[2, 1:] = False  # a single valid step
    with torch.no_grad():
        out, delta = mixer(x, attention_mask=mask, return_delta=True)
    assert torch.isfinite(out).all() and torch.isfinite(delta).all()
    assert not delta[1].any() and not delta[2, 1:].any()
