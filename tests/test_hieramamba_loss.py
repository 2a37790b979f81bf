# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Tests of hieramamba_hf.loss_hieramamba.

Golden data (tests/data/hieramamba_loss/loss_golden.pt) was produced by running the official HieraMamba trainer step
(`TrainerAuxiliary._microbatch_forward_backward`, github jbistanbul/hieramamba) on CPU with a stand-in model that
returns fixed random tensors; the official contrastive draws used the global RNG seeded with `seed`, which a
`torch.Generator` seeded the same way reproduces.
"""

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from hieramamba_hf.loss_hieramamba import (
    HieraMambaContrastiveProjector,
    anchor_child_contrastive_loss,
    assign_points,
    center_offset_iou_loss,
    compute_grounding_loss,
    gt_span_masks,
    segment_prototype_contrastive_loss,
    sigmoid_focal_loss,
    update_loss_norm,
)


GOLDEN = torch.load(Path(__file__).parent / "data" / "hieramamba_loss" / "loss_golden.pt", weights_only=True)


def _projector(state):
    hidden, dim = state["fc1.weight"].shape[1], state["fc2.weight"].shape[0]
    projector = HieraMambaContrastiveProjector(hidden, dim)
    projector.load_state_dict(state)
    return projector


def _golden_loss(case, seed=None, **overrides):
    i = case["inputs"]
    settings = dict(case["settings"], **overrides)
    return compute_grounding_loss(
        i["logits"],
        i["offsets"],
        i["points"],
        i["points_mask"],
        i["segments"],
        i["level_sizes"].tolist(),
        i["sequence_features"],
        i["sequence_masks"],
        i["anchor_features"],
        i["anchor_masks"],
        _projector(case["acc_projector"]),
        _projector(case["spc_projector"]),
        loss_norm=case["loss_norm"],
        queries_per_video=i["queries_per_video"],
        generator=torch.Generator().manual_seed(case["seed"] if seed is None else seed),
        **settings,
    )


# ----------------------------------------------------------------------------------- parity with the official
@pytest.mark.parametrize("name", ["early_fusion_iou", "late_fusion_diou"])
def test_matches_official_trainer_step(name):
    case = GOLDEN[name]
    out = _golden_loss(case)
    expected = case["expected"]
    for key in ("cls", "reg", "acc", "spc", "total"):
        torch.testing.assert_close(out[key].detach(), expected[key], rtol=1e-5, atol=1e-7, msg=key)
    assert int(out["num_pos"]) == int(expected["num_pos"]) > 0
    assert float(out["acc"]) > 0 and float(out["spc"]) > 0


@pytest.mark.parametrize("name", ["early_fusion_iou", "late_fusion_diou"])
def test_assignment_and_span_match_official(name):
    case = GOLDEN[name]
    i = case["inputs"]
    labels, offsets = assign_points(i["points"], i["segments"])
    assert torch.equal(labels, case["expected"]["labels"])
    torch.testing.assert_close(offsets, case["expected"]["gt_offsets"], rtol=0, atol=0)
    assert torch.equal(gt_span_masks(i["segments"], i["level_sizes"].tolist()), case["expected"]["span"])


def test_fixing_quirks_changes_nothing_for_even_lengths_and_gt_inside():
    case = GOLDEN["early_fusion_iou"]
    fixed = _golden_loss(case, fix_quirks=True)
    for key in ("acc", "spc", "total"):
        torch.testing.assert_close(fixed[key].detach(), case["expected"][key], rtol=1e-5, atol=1e-7)


def test_negative_draw_depends_on_the_generator():
    case = GOLDEN["early_fusion_iou"]
    other = _golden_loss(case, seed=case["seed"] + 1)
    assert abs(float(other["acc"]) - float(case["expected"]["acc"])) > 1e-4
    assert abs(float(other["spc"]) - float(case["expected"]["spc"])) > 1e-6
    torch.testing.assert_close(other["cls"].detach(), case["expected"]["cls"])  # cls / reg draw nothing


@pytest.mark.parametrize("variant", ["plain", "radius1_cross", "hard"])
def test_acc_single_level_matches_official_variants(variant):
    """Odd sequence length (13), radius 1 + cross-video negatives, hard negatives."""
    c = GOLDEN["acc_direct"]
    kw = c["cases"][variant]["kwargs"]
    value = anchor_child_contrastive_loss(
        c["anc"],
        c["anc_mask"],
        c["seq"],
        c["seq_mask"],
        _projector(c["projector"]),
        0.07,
        kw["neg_ratio"],
        kw["gap_ratio"],
        kw["radius"],
        kw["hard_neg"],
        kw["cross_video_neg"],
        torch.Generator().manual_seed(c["seed"]),
    )
    torch.testing.assert_close(value.detach(), c["cases"][variant]["value"], rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------ closed forms by hand
def test_focal_loss_by_hand():
    logits = torch.tensor([0.0, 2.0, -1.0])
    labels = torch.tensor([True, False, True])
    expected = 0.0
    for x, y in zip(logits.tolist(), labels.tolist()):
        t = 0.9 if y else 0.1
        p = 1 / (1 + math.exp(-x))
        ce = -(t * math.log(p) + (1 - t) * math.log(1 - p))
        p_t = p * t + (1 - p) * (1 - t)
        expected += 0.5 * ce * (1 - p_t) ** 2
    assert sigmoid_focal_loss(logits, labels) == pytest.approx(expected, rel=1e-6)


def test_iou_and_diou_by_hand():
    pred = torch.tensor([[1.0, 1.0], [1.0, 3.0]])
    gt = torch.tensor([[2.0, 2.0], [2.0, 2.0]])
    # IoU: 2/4 and 3/5; DIoU centre term: 0 and (0.5 * (3 - 1 - 2 + 2) / 5)^2 = 0.04
    assert float(center_offset_iou_loss(pred, gt, "iou")) == pytest.approx(0.5 + 0.4)
    assert float(center_offset_iou_loss(pred, gt, "diou")) == pytest.approx(0.5 + 0.44)
    assert float(center_offset_iou_loss(pred[:0], gt[:0])) == 0.0


def test_point_assignment_by_hand():
    # level 0: t = 0..15, stride 1, range [0, 4); level 1: t = 0, 2, .., 14, stride 2, range [2, 8)
    p0 = torch.stack([torch.arange(16.0), torch.zeros(16), torch.full((16,), 4.0), torch.ones(16)], 1)
    p1 = torch.stack(
        [torch.arange(0, 16, 2.0), torch.full((8,), 2.0), torch.full((8,), 8.0), torch.full((8,), 2.0)], 1
    )
    labels, offsets = assign_points(torch.cat([p0, p1]), torch.tensor([[4.0, 9.0]]))
    # centre 6.5; stride 1: window (5, 8) -> t = 6, 7 (reach 3); stride 2: window (4, 9) clipped -> t = 6, 8
    assert labels[0, :16].nonzero().flatten().tolist() == [6, 7]
    assert (labels[0, 16:].nonzero().flatten() * 2).tolist() == [6, 8]
    torch.testing.assert_close(offsets[0, 16 + 4], torch.tensor([2.0, 0.5]))  # t = 8: (8-4)/2, (9-8)/2


def _acc_by_hand(anc, anc_mask, seq, seq_mask, projector, tau, gap_ratio, drop_wrapped_child):
    n, la, _ = anc.shape
    length = seq.shape[1]
    gap = max(1, int(gap_ratio * la))
    za = projector(anc)
    flat_seq, flat_mask = projector(seq).reshape(n * length, -1), seq_mask.reshape(-1)
    losses = []
    for b in range(n):
        for t in range(la):
            if not anc_mask[b, t]:
                continue
            children = [b * length + 2 * t, b * length + 2 * t + 1]
            if drop_wrapped_child and 2 * t + 1 >= length:
                children = children[:1]
            children = [min(c, n * length - 1) for c in children if flat_mask[min(c, n * length - 1)]]
            if not children:
                continue
            pos = sum(math.exp(float(za[b, t] @ flat_seq[c]) / tau) for c in children)
            neg = sum(
                math.exp(float(za[b, t] @ za[b, u]) / tau)
                for u in range(la)
                if anc_mask[b, u]
                and abs(u - t) > gap
                and (flat_mask[b * length + 2 * u] or (2 * u + 1 < length and flat_mask[b * length + 2 * u + 1]))
            )
            losses.append(-math.log(pos / (pos + neg + 1e-9)))
    return sum(losses) / len(losses)


@pytest.mark.parametrize("fix_quirks", [False, True])
def test_acc_with_all_negatives_equals_closed_form(fix_quirks):
    g = torch.Generator().manual_seed(3)
    length, dim = 11, 8  # odd length: the official second child of the last anchor wraps to the next sample
    seq, anc = torch.randn(2, length, dim, generator=g), torch.randn(2, 6, dim, generator=g)
    seq_mask = torch.arange(length)[None] < torch.tensor([[11], [7]])
    anc_mask = torch.arange(6)[None] < torch.tensor([[6], [4]])
    projector = HieraMambaContrastiveProjector(dim, 16)
    with torch.no_grad():
        expected = _acc_by_hand(anc, anc_mask, seq, seq_mask, projector, 0.07, 0.2, fix_quirks)
        values = [
            float(
                anchor_child_contrastive_loss(
                    anc,
                    anc_mask,
                    seq,
                    seq_mask,
                    projector,
                    0.07,
                    neg_ratio=100.0,
                    gap_ratio=0.2,
                    generator=torch.Generator().manual_seed(s),
                    fix_quirks=fix_quirks,
                )
            )
            for s in (0, 1)
        ]
    assert values[0] == pytest.approx(expected, rel=1e-5)
    assert values[1] == pytest.approx(expected, rel=1e-5)  # all negatives taken: no randomness left


def test_acc_odd_length_quirk_changes_the_loss():
    g = torch.Generator().manual_seed(4)
    seq, anc = torch.randn(2, 5, 8, generator=g), torch.randn(2, 3, 8, generator=g)
    masks = (torch.ones(2, 5, dtype=torch.bool), torch.ones(2, 3, dtype=torch.bool))
    torch.manual_seed(0)  # the projector's initialisation: the test must not depend on the tests run before it
    projector = HieraMambaContrastiveProjector(8, 16)
    kwargs = dict(neg_ratio=100.0, gap_ratio=0.0)
    quirk = anchor_child_contrastive_loss(anc, masks[1], seq, masks[0], projector, **kwargs)
    fixed = anchor_child_contrastive_loss(anc, masks[1], seq, masks[0], projector, fix_quirks=True, **kwargs)
    assert abs(float(quirk) - float(fixed)) > 1e-4


def test_spc_with_all_negatives_equals_closed_form():
    g = torch.Generator().manual_seed(5)
    feats = torch.randn(3, 12, 8, generator=g)
    mask = torch.arange(12)[None] < torch.tensor([[12], [10], [12]])
    positives = torch.zeros(3, 12, dtype=torch.bool)
    positives[0, 3:6] = positives[1, 7:9] = True  # query 2 has no positive: skipped
    span = torch.zeros(3, 12, dtype=torch.bool)
    span[0, 2:7] = span[1, 6:10] = True
    projector = HieraMambaContrastiveProjector(8, 16)
    with torch.no_grad():
        value = segment_prototype_contrastive_loss(feats, mask, positives, span, projector, 0.07, neg_ratio=100.0)
        expected = []
        for q in range(2):
            z = projector(feats[q])
            pos = positives[q] & mask[q]
            neg = ~positives[q] & ~span[q] & mask[q]
            proto = F.normalize(z[pos].mean(0), dim=0)
            s = z @ proto / 0.07
            expected.append(-(torch.logsumexp(s[pos], 0) - torch.logsumexp(s[pos | neg], 0)).item())
    assert float(value) == pytest.approx(sum(expected) / 2, rel=1e-5)


def test_spc_draws_int_pos_times_ratio_negatives():
    feats = torch.randn(1, 40, 8)
    positives = torch.zeros(1, 40, dtype=torch.bool)
    positives[0, :4] = True
    mask, span = torch.ones(1, 40, dtype=torch.bool), positives.clone()
    projector = HieraMambaContrastiveProjector(8, 16)
    # with neg_ratio 0.1, int(4 * 0.1) = 0 negatives -> no term -> 0
    assert float(segment_prototype_contrastive_loss(feats, mask, positives, span, projector, neg_ratio=0.1)) == 0.0
    values = {
        round(
            float(
                segment_prototype_contrastive_loss(
                    feats, mask, positives, span, projector, neg_ratio=1.0, generator=torch.Generator().manual_seed(s)
                )
            ),
            6,
        )
        for s in range(4)
    }
    assert len(values) > 1  # 4 of 36 negatives drawn at random


def test_gt_span_clamp_quirk():
    segments = torch.tensor([[20.0, 30.0], [2.5, 5.0]])  # first GT entirely after a 16-long window
    span = gt_span_masks(segments, [16, 8])
    assert span[0].nonzero().flatten().tolist() == [15, 16 + 7]  # official: last token of each level marked
    assert span[1, :16].nonzero().flatten().tolist() == [3, 4, 5]
    assert span[1, 16:].nonzero().flatten().tolist() == [2]  # ceil(1.25) .. floor(2.5)
    fixed = gt_span_masks(segments, [16, 8], fix_quirks=True)
    assert not fixed[0].any() and torch.equal(fixed[1], span[1])


# ----------------------------------------------------------------------------------------- module behaviour
def test_update_loss_norm():
    assert update_loss_norm(10.0, 0) == pytest.approx(9.1)
    assert update_loss_norm(10.0, torch.tensor(20)) == pytest.approx(11.0)
    assert update_loss_norm(100.0, 50, momentum=0.5) == pytest.approx(75.0)


def test_projector_structure_and_output():
    projector = HieraMambaContrastiveProjector(12, 256)
    assert sorted(projector.state_dict()) == ["fc1.weight", "fc2.bias", "fc2.weight", "ln1.bias", "ln1.weight"]
    assert projector.fc1.weight.shape == (12, 12)
    out = projector(torch.randn(2, 5, 12))
    assert out.shape == (2, 5, 256)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(2, 5))


def test_gradients_reach_the_projectors_and_config_is_read():
    case = GOLDEN["early_fusion_iou"]
    i = case["inputs"]
    acc_p, spc_p = _projector(case["acc_projector"]), _projector(case["spc_projector"])
    config = SimpleNamespace(
        reg_loss="iou",
        acc_loss_weight=100.0,
        acc_neg_ratio=8.0,
        acc_gap_ratio=0.2,
        spc_loss_weight=10.0,
        spc_neg_ratio=1.0,
    )
    out = compute_grounding_loss(
        i["logits"],
        i["offsets"],
        i["points"],
        i["points_mask"],
        i["segments"],
        i["level_sizes"].tolist(),
        i["sequence_features"],
        i["sequence_masks"],
        i["anchor_features"],
        i["anchor_masks"],
        acc_p,
        spc_p,
        loss_norm=case["loss_norm"],
        generator=torch.Generator().manual_seed(case["seed"]),
        config=config,
    )
    torch.testing.assert_close(out["total"].detach(), case["expected"]["total"], rtol=1e-5, atol=1e-6)
    out["total"].backward()
    assert acc_p.fc1.weight.grad.abs().sum() > 0 and spc_p.fc2.weight.grad.abs().sum() > 0


def test_zero_weights_skip_contrastive_terms():
    i = GOLDEN["early_fusion_iou"]["inputs"]
    out = compute_grounding_loss(
        i["logits"],
        i["offsets"],
        i["points"],
        i["points_mask"],
        i["segments"],
        i["level_sizes"].tolist(),
        acc_loss_weight=0.0,
        spc_loss_weight=0.0,
    )
    assert float(out["acc"]) == 0.0 and float(out["spc"]) == 0.0
    torch.testing.assert_close(out["total"], out["cls"] + out["reg"])


def _base_inputs():
    i = GOLDEN["early_fusion_iou"]["inputs"]
    return dict(
        logits=i["logits"],
        offsets=i["offsets"],
        points=i["points"],
        points_mask=i["points_mask"],
        segments=i["segments"],
        level_sizes=i["level_sizes"].tolist(),
        acc_loss_weight=0.0,
        spc_loss_weight=0.0,
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(offsets=torch.zeros(4, 120, 3)), "offsets must be"),
        (dict(points=torch.zeros(120, 3)), "points must be"),
        (dict(points_mask=torch.ones(3, 120, dtype=torch.bool)), "points_mask must be"),
        (dict(segments=torch.zeros(3, 2)), "segments must be"),
        (dict(level_sizes=[64, 32, 16, 7]), "level_sizes"),
        (dict(logits=torch.zeros(0, 120)), "empty"),
        (dict(acc_loss_weight=1.0), "no projector"),
        (dict(bogus_setting=1.0), "Unknown loss settings"),
        (dict(reg_loss="giou"), "reg_loss"),
    ],
)
def test_bad_inputs_raise(change, message):
    kwargs = _base_inputs()
    kwargs.update(change)
    if change.get("logits") is not None:
        kwargs.update(offsets=torch.zeros(0, 120, 2), points_mask=torch.zeros(0, 120, dtype=torch.bool))
    with pytest.raises(ValueError, match=message):
        compute_grounding_loss(**kwargs)


def test_missing_or_misshaped_contrastive_inputs_raise():
    case = GOLDEN["early_fusion_iou"]
    i = case["inputs"]
    kwargs = _base_inputs()
    kwargs.update(acc_loss_weight=1.0, acc_projector=_projector(case["acc_projector"]))
    with pytest.raises(ValueError, match="sequence_features"):
        compute_grounding_loss(**kwargs)
    bad_anchors = list(i["anchor_features"])
    bad_anchors[1] = bad_anchors[1][:, :-1]
    kwargs.update(
        sequence_features=i["sequence_features"],
        sequence_masks=i["sequence_masks"],
        anchor_features=bad_anchors,
        anchor_masks=i["anchor_masks"],
    )
    with pytest.raises(ValueError, match="level 1 anchors"):
        compute_grounding_loss(**kwargs)


def test_negative_predicted_offsets_raise():
    kwargs = _base_inputs()
    kwargs["offsets"] = -torch.ones_like(kwargs["offsets"])
    with pytest.raises(ValueError, match="non-negative"):
        compute_grounding_loss(**kwargs)
