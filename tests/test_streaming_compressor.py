# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Memory-lean inference: BiMamba2Mixer.forward_streaming and the streaming compressor equal the normal forward."""

from unittest import mock

import pytest
import torch
from mambamia_testing import tiny_config

from mambamia_hf import MambaMiaConfig
from mambamia_hf.modeling_mambamia import MambaMiaCompressor
from ssm_layers import BiMamba2Mixer


SEQLEN = 53  # prime: no segment length below it divides it


def mixer(bidirectional=True, seed=0, **kwargs):
    torch.manual_seed(seed)
    m = BiMamba2Mixer(
        32,
        state_size=8,
        expand=2,
        head_dim=8,
        n_groups=2,
        conv_kernel=4,
        chunk_size=16,
        bidirectional=bidirectional,
        **kwargs,
    ).eval()
    with torch.no_grad():  # move every parameter off its init value (D = 1, zero biases, ...)
        for p in m.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return m


def inputs(batch=2, seqlen=SEQLEN, seed=1):
    return torch.randn(batch, seqlen, 32, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("segment_length", [1, 2, 7, 16, SEQLEN, 100])  # 1, 2 < conv_kernel - 1; 7, 16 do not divide
def test_mixer_streaming_equals_forward(bidirectional, segment_length):
    m = mixer(bidirectional, use_bias=True)  # out_proj bias must be added once, not once per direction
    x = inputs()
    with torch.no_grad():
        expected = m(x)
        got = m.forward_streaming(x, segment_length)
    assert got.shape == expected.shape == (2, SEQLEN, 32)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_mixer_streaming_delta_equals_forward(bidirectional):
    m = mixer(bidirectional, time_step_limit=(0.0, 0.5))
    x = inputs()
    with torch.inference_mode():
        expected, expected_delta = m(x, return_delta=True)
        got, delta = m.forward_streaming(x, 10, attention_mask=torch.ones(2, SEQLEN), return_delta=True)
    assert delta.shape == (2, SEQLEN, m.num_heads) and delta.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(delta, expected_delta, rtol=1e-6, atol=1e-6)
    assert float(delta.max()) <= 0.5


def test_mixer_streaming_adds_into_residual_in_place():
    m = mixer()
    x, residual = inputs(), inputs(seed=2)
    with torch.no_grad():
        expected = residual + m(x)
        buffer = residual.clone()
        got = m.forward_streaming(x, 9, residual=buffer)
    assert got is buffer
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_mixer_streaming_errors():
    m = mixer()
    x = inputs()
    with pytest.raises(ValueError, match="inference-only"):
        m.forward_streaming(x, 8)
    with torch.no_grad():
        mask = torch.ones(2, SEQLEN)
        mask[1, -3:] = 0
        with pytest.raises(ValueError, match="unpadded"):
            m.forward_streaming(x, 8, attention_mask=mask)
        with pytest.raises(ValueError, match="attention_mask must be"):
            m.forward_streaming(x, 8, attention_mask=torch.ones(2, SEQLEN - 1))
        with pytest.raises(ValueError, match="segment_length"):
            m.forward_streaming(x, 0)
        with pytest.raises(ValueError, match="residual must be"):
            m.forward_streaming(x, 8, residual=torch.zeros(2, SEQLEN, 31))


def compressor(segment_length, **overrides):
    torch.manual_seed(0)
    config = tiny_config(gpa_dropout=0.0, compressor_streaming_segment_length=segment_length, **overrides)
    module = MambaMiaCompressor(config).eval()
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return config, module


def features(config, batch=2, frames=3):
    shape = (batch, frames, config.num_patches_per_frame, config.vision_config.hidden_size)
    return torch.randn(shape, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("segment_length", [1, 13, 1000])
@pytest.mark.parametrize("gpa", [True, False])
def test_compressor_streaming_equals_forward(segment_length, gpa):
    config, module = compressor(segment_length, use_gated_patch_aggregation=gpa)
    x = features(config)
    frame_mask = torch.ones(2, 3, dtype=torch.bool)
    with torch.inference_mode():
        with mock.patch.object(BiMamba2Mixer, "forward", side_effect=AssertionError("normal forward ran")) as spy:
            stage1 = module.stage1_streaming(x, segment_length)
            assert spy.call_count == 0
        anchors, deltas = module(x, frame_mask)
        module.streaming_segment_length = None
        expected_anchors, expected_deltas = module(x, frame_mask)
    assert stage1.shape == (2, 3 * config.queries_per_frame * (config.query_interval + 1), 32)
    assert anchors.shape == expected_anchors.shape == (2, 3, config.queries_per_frame, 32)
    torch.testing.assert_close(anchors, expected_anchors, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(deltas, expected_deltas, rtol=1e-5, atol=1e-5)


def test_compressor_streaming_only_without_grad_and_padding():
    config, module = compressor(8)
    x = features(config)
    padded = torch.tensor([[True, True, True], [True, True, False]])
    with mock.patch.object(MambaMiaCompressor, "stage1_streaming", wraps=module.stage1_streaming) as spy:
        with torch.no_grad():
            module(x, padded)  # padding: normal forward
            assert spy.call_count == 0
            module(x, torch.ones(2, 3, dtype=torch.bool))
            assert spy.call_count == 1
        anchors, _ = module(x, torch.ones(2, 3, dtype=torch.bool))  # grad enabled (training): normal forward
        assert spy.call_count == 1 and anchors.requires_grad


def test_config_rejects_bad_segment_length():
    with pytest.raises(ValueError, match="compressor_streaming_segment_length"):
        tiny_config(compressor_streaming_segment_length=0)
    assert MambaMiaConfig.from_preset("mambamia-7b").compressor_streaming_segment_length is None


def test_compressor_streaming_bfloat16_as_accurate_as_forward():
    config, module = compressor(13)
    x = features(config)
    frame_mask = torch.ones(2, 3, dtype=torch.bool)
    with torch.inference_mode():
        module.streaming_segment_length = None
        reference, _ = module(x, frame_mask)  # float32
        module = module.to(torch.bfloat16)
        normal, _ = module(x.bfloat16(), frame_mask)
        module.streaming_segment_length = 13
        streamed, _ = module(x.bfloat16(), frame_mask)
    assert streamed.dtype == normal.dtype == torch.bfloat16

    def error(anchors):
        return float((anchors.float() - reference).norm() / reference.norm())

    # bf16 rounds differently (out_proj per direction, residual added per direction), not worse
    assert error(normal) < 2e-2 and error(streamed) < 1.5 * error(normal)
    assert float((streamed.float() - normal.float()).norm() / normal.float().norm()) < 2e-2
