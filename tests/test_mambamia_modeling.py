# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""MambaMia model: GPA equations by hand, query layout, padding invariance, Algorithm 1, preset sizes, training."""

import math

import numpy as np
import pytest
import torch
from mambamia_testing import tiny_config
from transformers import AutoModel, AutoModelForCausalLM

from mambamia_hf import (
    MambaMiaConfig,
    MambaMiaForConditionalGeneration,
    MambaMiaGatedPatchAggregation,
    delta_sampling,
    select_video_tokens,
)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MambaMiaForConditionalGeneration(tiny_config(gpa_dropout=0.0)).eval()


def video(batch=1, frames=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, frames, 3, 32, 32, generator=g)


# ---------------------------------------------------------------------------------------------- config / preset
def test_preset_meta_parameter_count_matches_parts():
    config = MambaMiaConfig.from_preset("mambamia-7b")
    assert (config.vision_config.image_size, config.vision_config.patch_size) == (384, 16)
    assert config.num_patches_per_frame == 576 and config.queries_per_frame == 24 and config.tokens_per_frame == 25
    assert config.text_config.hidden_size == 3584 and config.vision_feature_layer == -2
    with torch.device("meta"):
        model = MambaMiaForConditionalGeneration(config)
        vision = AutoModel.from_config(config.vision_config)
        llm = AutoModelForCausalLM.from_config(config.text_config)
    compressor = n_params(model.model.compressor)
    extras = n_params(model.model.multi_modal_projector) + model.model.frame_separator.numel()
    assert n_params(model) == n_params(vision) + n_params(llm) + compressor + extras
    assert 0.23e9 < compressor < 0.27e9  # paper: ~247M
    assert 0.40e9 < n_params(vision) < 0.43e9 and 7.5e9 < n_params(llm) < 7.7e9


def test_config_errors_and_round_trip():
    with pytest.raises(ValueError, match="Unknown MambaMia preset"):
        MambaMiaConfig.from_preset("mambamia-13b")
    with pytest.raises(ValueError, match="patches_per_query"):
        tiny_config(patches_per_query=3)  # 16 patches per frame
    config = tiny_config(patches_per_query=2)
    assert config.queries_per_frame == 8 and config.tokens_per_frame == 9
    again = MambaMiaConfig.from_dict(config.to_dict())
    assert again.to_dict() == config.to_dict()


# ---------------------------------------------------------------------------------------------- GPA
def test_gated_patch_aggregation_equals_paper_equations():
    config = tiny_config()
    torch.manual_seed(1)
    gpa = MambaMiaGatedPatchAggregation(config).eval()
    with torch.no_grad():  # non-trivial weights so that alpha and g are far from uniform / 0.5
        for p in gpa.parameters():
            p.normal_(0, 0.5)
    n, d = config.query_interval, config.compressor_hidden_size
    hidden = torch.randn(2, 3 * (n + 1), d)
    with torch.no_grad():
        out = gpa(hidden)

    W_a, b_a, W_g, b_g = gpa.weight_proj.weight, gpa.weight_proj.bias, gpa.gate_proj.weight, gpa.gate_proj.bias
    expected = hidden.clone()
    for b in range(2):
        for group in range(3):
            xs = [hidden[b, group * (n + 1) + i] for i in range(n)]
            q = hidden[b, group * (n + 1) + n]
            logits = [float((W_a[i] @ q + b_a[i]).detach()) for i in range(n)]
            alpha = [math.exp(v) / sum(math.exp(u) for u in logits) for v in logits]  # Eq. 2 softmax
            a = sum(alpha[i] * xs[i] for i in range(n))
            g = 1 / (1 + math.exp(-float((W_g[0] @ q + b_g[0]).detach())))
            g = 0.01 + 0.98 * g
            expected[b, group * (n + 1) + n] = (1 - g) * q + g * a  # Eq. 3
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_gpa_initialisation_is_mean_pooling_with_half_gate(model):
    gpa = model.model.compressor.layers[0].gpa
    bound = 1 / math.sqrt(gpa.weight_proj.in_features)  # default nn.Linear bound
    assert gpa.weight_proj.weight.abs().max() <= 1e-3 * bound + 1e-12
    assert gpa.gate_proj.weight.abs().max() <= 1e-3 * bound + 1e-12
    assert gpa.weight_proj.weight.abs().max() > 0
    assert torch.all(gpa.weight_proj.bias == 0) and torch.all(gpa.gate_proj.bias == 0)


def test_mixer_initialisation_follows_the_sister_repo(model):
    """in_proj, out_proj and the convolutions at PyTorch's defaults (their bias too), dt_bias log-uniform, the
    backward dt_bias_b at ones, A = -(1..nheads), D = 1; the same through from_pretrained of a checkpoint missing
    the compressor (its _init_weights path)."""
    for mixer in (model.model.compressor.layers[0].mixer, model.model.compressor.temporal_aggregator.mixer):
        torch.testing.assert_close(mixer.A_log, torch.log(torch.arange(1, mixer.num_heads + 1).float()))
        dt = torch.nn.functional.softplus(mixer.dt_bias)
        assert torch.all(dt >= 1e-3 - 1e-7) and torch.all(dt <= 0.1 + 1e-6) and dt.std() > 0
        assert torch.equal(mixer.D, torch.ones(mixer.num_heads))
        for linear in (mixer.in_proj, mixer.out_proj):
            bound = 1 / math.sqrt(linear.in_features)  # kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), ..)
            assert bound / 2 < linear.weight.abs().max() <= bound
        conv = mixer.conv1d  # depthwise: fan_in = kernel size
        bound = 1 / math.sqrt(mixer.conv_kernel_size)
        assert bound / 2 < conv.weight.abs().max() <= bound and bound / 2 < conv.bias.abs().max() <= bound
    stage1 = model.model.compressor.layers[0].mixer
    assert torch.equal(stage1.dt_bias_b, torch.ones(stage1.num_heads))
    assert stage1.conv1d_b.bias.abs().max() > 0


def test_block_is_norm_gpa_mixer_plus_residual(model):
    block = model.model.compressor.layers[0]
    n = model.config.query_interval
    hidden = torch.randn(1, 4 * (n + 1), model.config.compressor_hidden_size)
    with torch.no_grad():
        expected = block.mixer(block.gpa(block.norm(hidden))) + hidden
        torch.testing.assert_close(block(hidden), expected)


# ---------------------------------------------------------------------------------------------- query layout
def test_query_layout_and_kept_positions(model):
    compressor = model.model.compressor
    config = model.config
    n, k, d = config.query_interval, config.queries_per_frame, config.compressor_hidden_size
    assert (n, k) == (4, 4)  # 4x4 patch grid: one query after each row of 4 patches
    features = torch.randn(2, 3, k * n, d)
    sequence = compressor.insert_queries(features)
    assert sequence.shape == (2, 3 * k * (n + 1), d)
    positions = torch.arange(sequence.shape[1])
    is_query = positions % (n + 1) == n
    assert torch.equal(sequence[:, is_query], compressor.query.expand(2, 3 * k, d))
    assert torch.equal(sequence[:, ~is_query], features.reshape(2, 3 * k * n, d))  # patches keep raster order

    captured = {}
    hook = compressor.norm_f.register_forward_hook(lambda m, i, o: captured.setdefault("seq", o))
    try:
        with torch.no_grad():
            anchors, deltas = compressor(
                torch.randn(1, 3, 16, config.vision_config.hidden_size), torch.ones(1, 3, dtype=torch.bool)
            )
    finally:
        hook.remove()
    kept = captured["seq"][:, n :: n + 1].reshape(1, 3, k, d)  # the query positions only
    taa = compressor.temporal_aggregator
    with torch.no_grad():
        expected, expected_deltas = taa(kept, torch.ones(1, 3, dtype=torch.bool))
    torch.testing.assert_close(anchors, expected)
    torch.testing.assert_close(deltas, expected_deltas)
    assert deltas.shape == (1, 3) and torch.all(deltas > 0)


def test_video_tokens_are_kept_frames_anchors_then_separator(model):
    with torch.no_grad():
        out = model.get_video_features(video(frames=3))
        anchors, _ = model.model.compressor(
            model.model.vision_tower(video(frames=3)[0], output_hidden_states=True).hidden_states[-2][None],
            torch.ones(1, 3, dtype=torch.bool),
        )
        tokens = model.model.multi_modal_projector(anchors)[0]  # (3, k, D)
    k = model.config.queries_per_frame
    got = out.pooler_output[0].view(3, k + 1, -1)
    torch.testing.assert_close(got[:, :k], tokens)
    torch.testing.assert_close(got[:, k], model.model.frame_separator.expand(3, -1))


# ---------------------------------------------------------------------------------------------- padding
def test_padding_invariance_of_video_batch(model):
    long, short = video(frames=6, seed=1)[0], video(frames=3, seed=2)[0]
    batch = torch.zeros(2, 6, 3, 32, 32)
    batch[0], batch[1, :3] = long, short
    mask = torch.tensor([[1] * 6, [1, 1, 1, 0, 0, 0]])
    with torch.no_grad():
        together = model.get_video_features(batch, video_frame_mask=mask)
        alone_long = model.get_video_features(long[None])
        alone_short = model.get_video_features(short[None])
    torch.testing.assert_close(together.pooler_output[0], alone_long.pooler_output[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(together.pooler_output[1], alone_short.pooler_output[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(together.frame_deltas[1, :3], alone_short.frame_deltas[0], atol=1e-6, rtol=1e-5)
    assert torch.all(together.frame_deltas[1, 3:] == 0)
    # 6 frames > delta_sampling_min_frames = 4: the long video is sampled in both cases, the short one is not
    assert torch.equal(together.kept_frames[0], alone_long.kept_frames[0])
    assert together.kept_frames[1].tolist() == [True] * 3 + [False] * 3


def test_text_padding_invariance_of_logits(model):
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    padded = torch.tensor([[0, 0, 5, 6, 7, 8, 9], [5, 6, 7, 8, 9, 10, 11]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1], [1] * 7])
    with torch.no_grad():
        alone = model(input_ids=ids).logits
        batched = model(input_ids=padded, attention_mask=mask).logits
    torch.testing.assert_close(batched[0, 2:], alone[0], atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------------------------- delta sampling
def algorithm_1(deltas, threshold):
    """Paper Algorithm 1, written out: returns the kept frame indices."""
    A, S = 0.0, []
    for t in range(len(deltas)):
        A = A + deltas[t]
        if A >= threshold:
            S.append(t)
            A = 0.0
    return S


def test_delta_sampling_equals_algorithm_1():
    deltas = torch.tensor([0.3, 0.3, 0.1, 0.7, 0.2, 0.2, 0.25, 0.6], dtype=torch.float64)
    assert delta_sampling(deltas, 0.6).nonzero().flatten().tolist() == [1, 3, 6, 7]
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        d = torch.rand(50, generator=g, dtype=torch.float64) * 0.5
        assert delta_sampling(d, 0.6).nonzero().flatten().tolist() == algorithm_1(d.tolist(), 0.6)
    assert not delta_sampling(torch.full((10,), 0.01), 0.6).any()  # Algorithm 1 can keep nothing


def test_model_selects_frames_only_in_eval_and_above_threshold(model):
    deltas = torch.tensor([[0.5, 0.2, 0.1, 0.9, 0.3, 0.35], [0.5, 0.2, 0.1, 0.9, 0.0, 0.0]])
    mask = torch.tensor([[1] * 6, [1, 1, 1, 1, 0, 0]]).bool()
    kept = model.model.select_frames(deltas, mask)
    assert kept[0].nonzero().flatten().tolist() == algorithm_1(deltas[0].tolist(), 0.6) == [1, 3, 5]
    assert kept[1].tolist() == [True] * 4 + [False] * 2  # 4 frames <= M_thresh = 4: all kept
    tiny = model.model.select_frames(torch.full((1, 6), 0.01), torch.ones(1, 6, dtype=torch.bool))
    assert tiny.sum() == 1  # nothing reaches the threshold: the largest-Delta frame is kept
    model.train()
    try:
        assert torch.equal(model.model.select_frames(deltas, mask), mask)  # training: never sampled
    finally:
        model.eval()


def test_delta_sampled_tokens_are_a_subset_of_all_tokens(model):
    pixels = video(frames=6, seed=3)
    with torch.no_grad():
        sampled = model.get_video_features(pixels)
        model.config.delta_sampling = False
        try:
            full = model.get_video_features(pixels)
        finally:
            model.config.delta_sampling = True
    kept = sampled.kept_frames[0]
    assert 0 < kept.sum() < 6
    k1 = model.config.tokens_per_frame
    torch.testing.assert_close(sampled.pooler_output[0], full.pooler_output[0].view(6, k1, -1)[kept].flatten(0, 1))
    assert full.kept_frames.all()


def test_select_video_tokens_cuts_dropped_frames():
    ids = torch.tensor([[1, 3, 3, 3, 3, 3, 3, 9], [0, 0, 1, 3, 3, 3, 3, 9]])  # 3 frames x 2, then 2 frames x 2
    kept = torch.tensor([[True, False, True], [False, True, False]])
    mask = torch.tensor([[1] * 8, [0, 0] + [1] * 6])
    new_ids, new_mask = select_video_tokens(ids, mask, kept, torch.tensor([3, 2]), 3, 2, pad_token_id=0)
    assert new_ids.tolist() == [[1, 3, 3, 3, 3, 9], [0, 0, 1, 3, 3, 9]]
    assert new_mask.tolist() == [[1] * 6, [0, 0, 1, 1, 1, 1]]


# ---------------------------------------------------------------------------------------------- LLM side
def prompt_with_video(config, frames, text_ids=(5, 6, 7, 8)):
    return torch.tensor([[1, 5, *([config.video_token_id] * config.num_video_tokens(frames)), *text_ids, 2]])


def test_loss_decreases_on_single_batch():
    torch.manual_seed(0)
    config = tiny_config()
    model = MambaMiaForConditionalGeneration(config).train()
    ids = prompt_with_video(config, 3)
    labels = ids.clone()
    labels[ids == config.video_token_id] = -100
    pixels = video(frames=3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        out = model(input_ids=ids, pixel_values_videos=pixels, labels=labels)
        losses.append(out.loss.item())
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert math.isfinite(losses[0]) and losses[-1] < 0.7 * losses[0]
    # the compressor gets gradients through the video tokens
    out = model(input_ids=ids, pixel_values_videos=pixels, labels=labels)
    out.loss.backward()
    assert model.model.compressor.query.grad.abs().sum() > 0
    assert model.model.compressor.layers[0].gpa.gate_proj.weight.grad.abs().sum() > 0


def test_forward_scatters_video_tokens(model):
    config = model.config
    ids = prompt_with_video(config, 3)
    with torch.no_grad():
        out = model(input_ids=ids, pixel_values_videos=video(frames=3))
        video_out = model.get_video_features(video(frames=3))
    assert out.logits.shape == (1, ids.shape[1], config.text_config.vocab_size)
    torch.testing.assert_close(out.video_outputs.pooler_output[0], video_out.pooler_output[0])


def test_adjacent_videos_fill_one_placeholder_run_in_order(model):
    """Two videos whose placeholders touch (a tokenizer may drop the newline between two video items) take the run
    in order: the same logits as with a text token between them, up to the positions."""
    config = model.config
    pixels = video(batch=2, frames=3, seed=5)
    n = config.num_video_tokens(3)
    adjacent = torch.tensor([[1, 5, *([config.video_token_id] * (2 * n)), 6, 2]])
    with torch.no_grad():
        out = model(input_ids=adjacent, pixel_values_videos=pixels)
        videos = model.get_video_features(pixels)
        embeds = model.get_input_embeddings()(adjacent)
        embeds[0, 2 : 2 + 2 * n] = torch.cat(videos.pooler_output)  # first video, then the second
        expected = model(inputs_embeds=embeds).logits
    torch.testing.assert_close(out.logits, expected)


# ---------------------------------------------------------------------------------------------- errors
def test_bad_inputs_give_clear_errors(model):
    config = model.config
    ids = prompt_with_video(config, 3)
    with pytest.raises(ValueError, match="takes 32x32 frames, got 48x48"):
        model(input_ids=ids, pixel_values_videos=torch.randn(1, 3, 3, 48, 48))
    with pytest.raises(ValueError, match="at least one frame"):
        model.get_video_features(torch.randn(1, 0, 3, 32, 32))
    with pytest.raises(ValueError, match="at least one frame"):
        model.get_video_features(video(frames=2), video_frame_mask=torch.tensor([[0, 0]]))
    with pytest.raises(ValueError, match="num_frames, channels, height, width"):
        model.get_video_features(torch.randn(3, 3, 32, 32))
    with pytest.raises(ValueError, match="placeholders and video tokens disagree"):
        model(input_ids=prompt_with_video(config, 2), pixel_values_videos=video(frames=3))
    two_rows = torch.cat([prompt_with_video(config, 2)] * 2)  # 2 x 2 frames' placeholders, one 4-frame video
    with pytest.raises(ValueError, match="a video's tokens stay in one row"):
        model(input_ids=two_rows, pixel_values_videos=video(frames=4))
    with pytest.raises(ValueError, match="no video"):
        model(input_ids=ids)
    with pytest.raises(ValueError, match="video 0 has 3 frames but 2 timestamps"):
        model.get_video_features(video(frames=3), video_timestamps=[[0.0, 1.0]])
    with torch.no_grad(), pytest.raises(ValueError, match="Delta sampling dropped frames"):
        model(input_ids=prompt_with_video(config, 6), pixel_values_videos=video(frames=6, seed=3))


# ---------------------------------------------------------------------------------------------- SigLIP2 NaFlex
def test_siglip2_naflex_vision_tower_gets_processor_patch_layout():
    from transformers.models.siglip2.image_processing_pil_siglip2 import convert_image_to_patches

    vision = dict(
        model_type="siglip2_vision_model",
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=2,
        patch_size=8,
        num_patches=16,
    )
    config = tiny_config(vision_config=vision)
    assert config.frame_size == 32 and config.queries_per_frame == 4
    torch.manual_seed(0)
    model = MambaMiaForConditionalGeneration(config).eval()
    frames = torch.randn(2, 3, 32, 32)
    patches = torch.from_numpy(np.stack([convert_image_to_patches(f.numpy(), 8) for f in frames]))
    with torch.no_grad():
        ours = model.model._run_vision_tower(frames).hidden_states[-2]
        reference = model.model.vision_tower(
            patches,
            pixel_attention_mask=torch.ones(2, 16, dtype=torch.long),
            spatial_shapes=torch.tensor([[4, 4], [4, 4]]),
            output_hidden_states=True,
        ).hidden_states[-2]
        features = model.get_video_features(frames[None])
    torch.testing.assert_close(ours, reference)
    assert features.pooler_output[0].shape == (2 * config.tokens_per_frame, config.text_config.hidden_size)
    with pytest.raises(ValueError, match="SigLIP or SigLIP2"):
        tiny_config(vision_config=dict(model_type="clip_vision_model", image_size=32, patch_size=8))


def test_activation_checkpointing_gives_same_gradients():
    torch.manual_seed(0)
    config = tiny_config(gpa_dropout=0.0)
    ids = prompt_with_video(config, 3)
    labels = ids.masked_fill(ids == config.video_token_id, -100)
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = MambaMiaForConditionalGeneration(config).train()
        if checkpointing:
            model.activation_checkpointing_enable()
            assert model.model.compressor.layers[0].gradient_checkpointing
        model(input_ids=ids, pixel_values_videos=video(frames=3), labels=labels).loss.backward()
        grads.append(model.model.compressor.layers[0].mixer.in_proj.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


def test_vision_batch_size_does_not_change_features(model):
    pixels = video(batch=2, frames=3, seed=4)
    with torch.no_grad():
        model.config.vision_batch_size = None
        try:
            whole = model.get_video_features(pixels)
        finally:
            model.config.vision_batch_size = 2
        chunked = model.get_video_features(pixels)
        model.config.vision_batch_size = 32
    torch.testing.assert_close(chunked.last_hidden_state, whole.last_hidden_state)
    for a, b in zip(chunked.pooler_output, whole.pooler_output):
        torch.testing.assert_close(a, b)
