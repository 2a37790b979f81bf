# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""HieraMamba model: shapes, presets, Auto registration, safetensors round-trip, masking quirk, errors, loss."""

import math

import pytest
import torch
from transformers import AutoConfig, AutoModel

from hieramamba_hf import (
    HieraMambaConfig,
    HieraMambaForVideoGrounding,
    HieraMambaModel,
    make_points,
    regression_ranges,
)
from hieramamba_hf.modeling_hieramamba import pack_pyramid, unpack_pyramid


def tiny_config(preset="ego4d-nlq", **overrides):
    kwargs = dict(
        video_input_dim=12,
        hidden_size=16,
        text_input_dim=10,
        text_hidden_size=8,
        num_amp_blocks=6,
        hydra_state_size=8,
        hydra_head_dim=8,
        max_seq_len=64 // HieraMambaConfig.from_preset(preset).embedding_stride,
        text_num_layers=2,
        projector_dim=8,
    )
    kwargs.update(overrides)
    return HieraMambaConfig.from_preset(preset, **kwargs)


def make_batch(config, lengths=(45, 30), queries=(2, 1), text_lengths=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    video = torch.randn(len(lengths), T, config.video_input_dim, generator=g)
    video_mask = torch.arange(T)[None] < torch.tensor(lengths)[:, None]
    q = sum(queries)
    text_lengths = text_lengths or [5 + 2 * i for i in range(q)]
    L = max(text_lengths)
    text = torch.randn(q, L, config.text_input_dim, generator=g)
    text_mask = torch.arange(L)[None] < torch.tensor(text_lengths)[:, None]
    return video, video_mask, text, text_mask, torch.tensor(queries)


@pytest.fixture(scope="module")
def ego4d_model():
    torch.manual_seed(0)
    return HieraMambaForVideoGrounding(tiny_config()).eval()


def test_output_shapes_and_points(ego4d_model):
    config = ego4d_model.config
    video, video_mask, text, text_mask, qpv = make_batch(config)
    with torch.no_grad():
        out = ego4d_model(video, video_mask, text, text_mask, qpv)
    padded = 64  # 45 -> next multiple of padding_unit = 2^5
    assert config.padding_unit == 32
    level_lengths = [padded // 2**l for l in range(config.num_amp_blocks)]
    P = sum(level_lengths)
    assert out.logits.shape == (3, P)
    assert out.offsets.shape == (3, P, 2)
    assert out.points.shape == (P, 4)
    assert out.points_mask.shape == (3, P)
    assert (out.offsets >= 0).all()
    # queries 0, 1 belong to video 0 (45 valid clips), query 2 to video 1 (30 valid clips)
    valid0 = sum(math.ceil(45 / 2**l) for l in range(config.num_amp_blocks))
    valid1 = sum(math.ceil(30 / 2**l) for l in range(config.num_amp_blocks))
    assert out.points_mask.sum(1).tolist() == [valid0, valid0, valid1]
    # points: level l has t = i * 2^l with the level's regression range, finest level first
    ranges = regression_ranges(config)
    assert ranges[:3] == [(0.0, 4.0), (2.0, 8.0), (4.0, 16.0)]
    assert ranges[-1] == (32.0, max(128.0, config.max_seq_len + 1))  # last level reaches max_seq_len + 1
    start = level_lengths[0]
    assert out.points[:3].tolist() == [[0, 0, 4, 1], [1, 0, 4, 1], [2, 0, 4, 1]]
    assert out.points[start + 1].tolist() == [2, 2, 8, 2]
    assert torch.equal(out.points, make_points(level_lengths, config))
    # early fusion: the backbone ran once per query; the anchors of level l summarise its pairs
    assert [s.shape[0] for s in out.sequence_features] == [3] * config.num_amp_blocks
    assert out.anchor_features[0].shape == (3, padded // 2, config.hidden_size)


def test_late_fusion_runs_backbone_per_video():
    model = HieraMambaForVideoGrounding(tiny_config("tacos")).eval()
    video, video_mask, text, text_mask, qpv = make_batch(model.config)
    with torch.no_grad():
        out = model(video, video_mask, text, text_mask, qpv)
    assert out.sequence_features[0].shape[0] == 2  # videos
    assert out.logits.shape[0] == 3  # queries
    assert model.model.video_proj is None


def test_packed_pyramid_equals_level_by_level():
    """Fusion and heads run once over the levels packed along time; the result must equal level-by-level calls,
    also for levels without padding at their end (there only the gap keeps the k=3 convs from mixing levels)."""
    torch.manual_seed(0)
    model = HieraMambaForVideoGrounding(tiny_config("tacos", head_kernel_size=5)).eval()
    g = torch.Generator().manual_seed(1)
    sizes, valid = (16, 8, 4), (16, 5, 4)  # levels 0 and 2 fully valid
    levels = [torch.randn(2, n, 16, generator=g) for n in sizes]
    masks = [(torch.arange(n) < v)[None].repeat(2, 1) for n, v in zip(sizes, valid)]
    text, text_mask = torch.randn(3, 7, 8, generator=g), torch.ones(3, 7, dtype=torch.bool)
    repeats = torch.tensor([2, 1])
    fusion, cls_head, reg_head = model.model.fusion, model.cls_head, model.reg_head
    reg_head.level_scales.data = torch.arange(1.0, 7.0)  # distinct per level: each step must get its own level's
    with torch.no_grad():
        packed, packed_mask, level = pack_pyramid(levels, masks)
        assert packed.shape == (2, sum(sizes) + 3, 16) and level.tolist() == [0] * 17 + [1] * 9 + [2] * 5
        fused, fused_mask = fusion(packed, packed_mask, text, text_mask, repeats)
        ref = [fusion(x, m, text, text_mask, repeats) for x, m in zip(levels, masks)]
        for ours, ours_mask, (x, m) in zip(unpack_pyramid(fused, sizes), unpack_pyramid(fused_mask, sizes), ref):
            torch.testing.assert_close(ours, x, atol=1e-5, rtol=0)
            assert torch.equal(ours_mask, m)
        fused_levels, fused_masks = [x for x, _ in ref], [m for _, m in ref]
        x, mask, level = pack_pyramid(fused_levels, fused_masks, gap=2)  # k=5 heads need 2 steps
        logits = unpack_pyramid(cls_head(x, mask), sizes, gap=2)
        offsets = unpack_pyramid(reg_head(x, mask, level), sizes, gap=2)
        for lvl, (f, m) in enumerate(ref):
            torch.testing.assert_close(logits[lvl], cls_head(f, m), atol=1e-5, rtol=0)
            torch.testing.assert_close(offsets[lvl], reg_head(f, m, lvl), atol=1e-5, rtol=0)
        # without the gap the convs mix the end of one level with the start of the next
        x, mask, _ = pack_pyramid(fused_levels, fused_masks, gap=0)
        assert not torch.allclose(unpack_pyramid(cls_head(x, mask), sizes, gap=0)[0], logits[0], atol=1e-3)


@pytest.mark.parametrize(
    "preset, official_millions",
    [("ego4d-nlq", 38.56), ("tacos", 17.63), ("mad", 69.95), ("mad-v2", 156.26)],
)
def test_preset_parameter_counts(preset, official_millions):
    """The released counts are those of the official `HieraMamba` module, which does not contain the two
    contrastive projectors (the official trainer builds them in its loss modules and never saves them)."""
    with torch.device("meta"):
        model = HieraMambaForVideoGrounding(HieraMambaConfig.from_preset(preset))
    total = sum(p.numel() for p in model.parameters())
    projectors = sum(p.numel() for n, p in model.named_parameters() if "projector" in n)
    assert round((total - projectors) / 1e6, 2) == official_millions
    assert projectors == 2 * (
        model.config.hidden_size**2 + 2 * model.config.hidden_size + model.config.hidden_size * 256 + 256
    )


def test_presets_hold_the_released_switches():
    tacos, mad, madv2 = (HieraMambaConfig.from_preset(p) for p in ("tacos", "mad", "mad-v2"))
    assert (tacos.early_fusion, tacos.text_encoder, tacos.cross_attention_mode) == (False, "transformer", "affine")
    assert (mad.embedding_stride, mad.num_amp_blocks, mad.padding_unit, mad.use_abs_pe) == (2, 9, 512, True)
    assert madv2.use_abs_pe is False and madv2.hidden_size == 768
    with pytest.raises(ValueError, match="Unknown HieraMamba preset"):
        HieraMambaConfig.from_preset("charades")


def test_auto_classes_and_safetensors_round_trip(ego4d_model, tmp_path):
    ego4d_model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, HieraMambaConfig) and config.model_type == "hieramamba"
    reloaded = HieraMambaForVideoGrounding.from_pretrained(tmp_path, dtype=torch.float32).eval()
    base = AutoModel.from_pretrained(tmp_path, dtype=torch.float32).eval()
    assert isinstance(base, HieraMambaModel)
    batch = make_batch(ego4d_model.config)
    with torch.no_grad():
        ref = ego4d_model(*batch)
        out = reloaded(*batch)
        base_out = base(*batch)
    assert torch.equal(ref.logits, out.logits) and torch.equal(ref.offsets, out.offsets)
    for a, b in zip(ref.pyramid_features, base_out.pyramid_features):
        assert torch.equal(a, b)
    for name, p in ego4d_model.state_dict().items():
        assert torch.equal(p, reloaded.state_dict()[name]), name


def test_batch_summed_mask_modes():
    """The official AMP mask counts valid tokens over the whole forward batch, so a row's result depends on the
    rows batched with it. "sample" makes rows independent, "video" couples only the queries of one video (the
    official evaluator's batches), "batch" couples everything (the official forward on any batch)."""
    video, video_mask, text, text_mask, _ = make_batch(tiny_config(), lengths=(45, 37), queries=(2, 2))
    qpv = torch.tensor([2, 2])  # both videos pad to 64: batching differs from single runs only by the masks

    def batched_minus_alone(mode, alone_queries):
        torch.manual_seed(0)
        # LayerScales at 0.5 instead of 1e-4 so that the masked branches visibly change the output
        model = HieraMambaForVideoGrounding(tiny_config(block_mask_mode=mode, layer_scale_init=0.5)).eval()
        with torch.no_grad():
            both = model(video, video_mask, text, text_mask, qpv).logits
            alone = []
            for q in range(4):
                v = q // 2
                if alone_queries:
                    alone.append(
                        model(
                            video[v : v + 1, :45], video_mask[v : v + 1, :45], text[q : q + 1], text_mask[q : q + 1]
                        ).logits
                    )
                elif q % 2 == 0:
                    alone.append(
                        model(
                            video[v : v + 1, :45],
                            video_mask[v : v + 1, :45],
                            text[q : q + 2],
                            text_mask[q : q + 2],
                            torch.tensor([2]),
                        ).logits
                    )
            alone = torch.cat(alone)
        return (both - alone)[:, :64].abs().max().item()

    assert batched_minus_alone("sample", alone_queries=True) < 1e-5
    assert batched_minus_alone("video", alone_queries=False) < 1e-5  # = one video per forward, all its queries
    assert batched_minus_alone("video", alone_queries=True) > 1e-3
    assert batched_minus_alone("batch", alone_queries=True) > 1e-3
    with pytest.raises(ValueError, match="block_mask_mode"):
        tiny_config(block_mask_mode="exact")


def test_eval_pads_text_like_the_official_evaluator():
    model = HieraMambaForVideoGrounding(tiny_config("tacos")).eval()
    assert model.config.text_pad_length == 50 > model.config.text_max_seq_len == 48
    video, video_mask, text, text_mask, qpv = make_batch(model.config)
    padded = torch.nn.functional.pad(text, (0, 0, 0, 50 - text.shape[1]))
    padded_mask = torch.nn.functional.pad(text_mask, (0, 50 - text.shape[1]))
    with torch.no_grad():
        a = model(video, video_mask, text, text_mask, qpv).logits
        b = model(video, video_mask, padded, padded_mask, qpv).logits
    assert torch.allclose(a, b, atol=1e-6)  # eval pads to 50 tokens either way (PE interpolated 48 -> 50)
    model.train()
    t, m = model.model.pad_text(text, text_mask)
    assert t.shape[1] == text.shape[1]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: {**b, "video_features": b["video_features"][..., :-1]}, "video_input_dim"),
        (lambda b: {**b, "text_features": b["text_features"][..., :-1]}, "text_input_dim"),
        (lambda b: {**b, "video_mask": b["video_mask"][:, :-1]}, "mask/feature length mismatch"),
        (lambda b: {**b, "text_mask": b["text_mask"][:, :-1]}, "mask/feature length mismatch"),
        (lambda b: {**b, "queries_per_video": torch.tensor([1, 1])}, "sums to 2 but there are 3"),
        (lambda b: {**b, "queries_per_video": torch.tensor([3])}, "one entry per video"),
        (lambda b: {**b, "video_mask": b["video_mask"] & torch.tensor([[True], [False]])}, "empty video"),
        (lambda b: {**b, "video_features": b["video_features"].index_fill(1, torch.tensor([3]), float("nan"))}, "NaN"),
        (lambda b: {**b, "video_mask": b["video_mask"].float()}, "bool"),
        (lambda b: {**b, "video_features": b["video_features"][0]}, r"\(B, T, C_video\)"),
        (lambda b: {**b, "segments": torch.zeros(2, 2)}, "segments must be"),
    ],
)
def test_bad_input_raises_clear_errors(ego4d_model, mutate, message):
    video, video_mask, text, text_mask, qpv = make_batch(ego4d_model.config)
    batch = dict(
        video_features=video, video_mask=video_mask, text_features=text, text_mask=text_mask, queries_per_video=qpv
    )
    with pytest.raises(ValueError, match=message):
        ego4d_model(**mutate(batch))


def test_init_weights_follow_the_official_initialisation():
    model = HieraMambaForVideoGrounding(tiny_config(cls_prior_prob=0.01))
    block = model.model.backbone.blocks[0]
    assert torch.all(block.global_scale.scale == 1e-4)
    assert torch.all(block.global_mixer.A_log == 0) and torch.all(block.global_mixer.D == 1)
    dt = torch.nn.functional.softplus(block.global_mixer.dt_bias)
    assert ((dt >= 1e-3 - 1e-6) & (dt <= 0.1 + 1e-6)).all()
    assert torch.all(block.gate1.bias == 0) and torch.all(block.global_mixer.conv1d.bias == 0)
    assert torch.all(model.reg_head.level_scales == 1)
    assert torch.allclose(model.cls_head.output.bias, torch.tensor([-math.log(99.0)]))


def test_training_loss_backward_reaches_projectors():
    torch.manual_seed(0)
    model = HieraMambaForVideoGrounding(tiny_config()).train()
    video, video_mask, text, text_mask, qpv = make_batch(model.config)
    segments = torch.tensor([[3.0, 20.0], [10.0, 40.0], [0.0, 12.0]])
    out = model(
        video, video_mask, text, text_mask, qpv, segments=segments, loss_generator=torch.Generator().manual_seed(0)
    )
    assert set(out.loss_dict) >= {"cls", "reg", "acc", "spc", "total", "num_pos"}
    assert torch.isfinite(out.loss) and out.loss_dict["num_pos"] > 0
    out.loss.backward()
    assert model.acc_projector.fc1.weight.grad.abs().sum() > 0
    assert model.spc_projector.fc1.weight.grad.abs().sum() > 0
    assert model.model.backbone.blocks[0].global_mixer.in_proj.weight.grad.abs().sum() > 0


def test_post_processing_ranks_segments_in_seconds(ego4d_model):
    video, video_mask, text, text_mask, qpv = make_batch(ego4d_model.config)
    with torch.no_grad():
        out = ego4d_model(video, video_mask, text, text_mask, qpv)
    durations = [40.0, 25.0]
    results = ego4d_model.post_process_video_grounding(out, durations=durations, fps=[30.0, 15.0])
    assert len(results) == 3
    for query, duration in zip(results, [40.0, 40.0, 25.0]):
        assert 0 < len(query) <= ego4d_model.config.max_num_segments
        scores = [r["score"] for r in query]
        assert scores == sorted(scores, reverse=True)
        for r in query:
            start, end = r["segment"]
            assert 0.0 <= start <= end <= duration
    with pytest.raises(ValueError, match="describe the 3 queries"):
        ego4d_model.post_process_video_grounding(out, durations=[40.0], queries_per_video=[1])
