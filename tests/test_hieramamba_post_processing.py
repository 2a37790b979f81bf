# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Tests of hieramamba_hf.post_processing_hieramamba.

Golden data (tests/data/hieramamba_loss/post_processing_golden.pt) was produced by running the official evaluator
(`EvaluatorAuxiliary.predict`, github jbistanbul/hieramamba) on CPU with a stand-in model returning fixed random
logits / offsets, and the official NMS ops built from the official `libs/nms/src/nms_cpu.cpp`.
"""

import math
from pathlib import Path

import pytest
import torch

from hieramamba_hf.configuration_hieramamba import HieraMambaConfig
from hieramamba_hf.post_processing_hieramamba import (
    batched_nms,
    decode_segments,
    grid_to_seconds,
    hard_nms_1d,
    post_process_video_grounding,
    segment_voting,
    soft_nms_1d,
)


GOLDEN = torch.load(
    Path(__file__).parent / "data" / "hieramamba_loss" / "post_processing_golden.pt", weights_only=True
)


def _run_golden(case, **extra):
    nms = case["nms"]
    settings = dict(
        pre_nms_topk=case["pre_nms_topk"],
        nms_mode=nms["mode"],
        nms_iou_thresh=nms["iou_thresh"],
        nms_min_score=nms["min_score"],
        nms_sigma=nms["sigma"],
        voting_thresh=nms["voting_thresh"],
        max_num_segments=nms["max_num_segs"],
        fps=case["fps"],
        clip_size=case["clip_size"],
        clip_stride=case["clip_stride_eff"],
        downsample_rate=1,
        embedding_stride=case["vid_stride"],
    )
    settings.update(extra)
    return post_process_video_grounding(
        case["logits"], case["offsets"], case["points"], case["points_mask"], case["duration"], **settings
    )


def _assert_matches(results, case):
    assert len(results) == len(case["segments"])
    for result, segments, scores in zip(results, case["segments"], case["scores"]):
        assert len(result) == len(segments) > 0
        got_segments = torch.tensor([r["segment"] for r in result])
        got_scores = torch.tensor([r["score"] for r in result])
        torch.testing.assert_close(got_segments, segments, rtol=0, atol=1e-5)
        torch.testing.assert_close(got_scores, scores, rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------------- parity with the official
@pytest.mark.parametrize("name", ["ego4d", "ego4d_ties", "mad", "hard_nms"])
def test_pipeline_matches_official_evaluator(name):
    _assert_matches(_run_golden(GOLDEN[name]), GOLDEN[name])


def test_config_names_match_the_released_presets():
    # the golden Ego4D / MAD cases used exactly the released evaluation and feature-clock settings
    _assert_matches(
        post_process_video_grounding(
            GOLDEN["ego4d"]["logits"],
            GOLDEN["ego4d"]["offsets"],
            GOLDEN["ego4d"]["points"],
            GOLDEN["ego4d"]["points_mask"],
            GOLDEN["ego4d"]["duration"],
            config=HieraMambaConfig(),
        ),
        GOLDEN["ego4d"],
    )
    mad = GOLDEN["mad"]
    results = post_process_video_grounding(
        mad["logits"],
        mad["offsets"],
        mad["points"],
        mad["points_mask"],
        mad["duration"],
        config=HieraMambaConfig.from_preset("mad"),
    )
    _assert_matches(results, mad)
    assert all(len(r) == 50 for r in results)


@pytest.mark.parametrize("name", ["nms_random", "nms_ties", "nms_swap_order"])
def test_full_soft_nms_matches_official_cpp(name):
    case = GOLDEN[name]
    segments, scores = soft_nms_1d(case["segs"], case["scores"], sigma=0.9, min_score=0.001, max_num_segs=0)
    assert torch.equal(segments, case["soft_segs"])  # same selection order, ties included
    torch.testing.assert_close(scores, case["soft_scores"], rtol=0, atol=1e-6)
    first, first_scores = soft_nms_1d(case["segs"], case["scores"], 0.9, 0.001, max_num_segs=7)
    assert torch.equal(first, case["soft_segs"][:7]) and torch.equal(first_scores, scores[:7])


@pytest.mark.parametrize("name", ["nms_random", "nms_ties"])
def test_hard_nms_matches_official_cpp(name):
    case = GOLDEN[name]
    segments, scores = hard_nms_1d(case["segs"], case["scores"], iou_thresh=0.3, min_score=0.05)
    assert torch.equal(segments, case["hard_segs"]) and torch.equal(scores, case["hard_scores"])


# ------------------------------------------------------------------------------------------ hand-made cases
def test_soft_nms_swap_order_by_hand():
    # A, a weak duplicate of A, B, C; B and C never overlap anything, so their scores stay tied at 0.5.
    segs = torch.tensor([[0.0, 1.0], [0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    scores = torch.tensor([0.5, 0.0011, 0.5, 0.5])
    out, out_scores = soft_nms_1d(segs, scores, 0.9, 0.001)
    # i=0 takes A; the duplicate decays to 0.0011 * exp(-1/0.9) < 0.001 and its slot takes the LAST entry (C),
    # so the array is [A, C, B] and the tie at i=1 goes to C.
    assert out.tolist() == [[0.0, 1.0], [4.0, 5.0], [2.0, 3.0]]
    assert out_scores.tolist() == [0.5, 0.5, 0.5]


def test_soft_nms_gaussian_decay_by_hand():
    segs = torch.tensor([[1.0, 3.0], [0.0, 2.0], [0.0, 2.0]])
    scores = torch.tensor([0.8, 0.9, 0.001])
    out, out_scores = soft_nms_1d(segs, scores, sigma=0.9, min_score=0.001)
    iou = 1.0 / ((2 + 1e-6) + (2 + 1e-6) - 1.0)
    assert out.tolist() == [[0.0, 2.0], [1.0, 3.0]]  # the 0.001 copy of [0, 2] decays below min_score
    assert out_scores.tolist() == pytest.approx([0.9, 0.8 * math.exp(-(iou**2) / 0.9)], rel=1e-6)


def test_hard_nms_by_hand():
    segs = torch.tensor([[0.0, 10.0], [1.0, 10.0], [20.0, 30.0], [0.0, 10.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.0005])
    out, out_scores = hard_nms_1d(segs, scores, iou_thresh=0.3, min_score=0.001)
    assert out.tolist() == [[0.0, 10.0], [20.0, 30.0]]  # IoU([1,10],[0,10]) = 0.9 >= 0.3; 0.0005 filtered
    assert out_scores.tolist() == pytest.approx([0.9, 0.7])


def test_segment_voting_by_hand():
    all_segs = torch.tensor([[0.0, 10.0], [0.0, 10.2], [0.0, 12.0]])
    all_scores = torch.tensor([0.8, 0.4, 0.5])
    refined = segment_voting(torch.tensor([[0.0, 10.0]]), all_segs, all_scores, iou_thresh=0.95)
    # IoU 1, 10/10.2 = 0.98 (voted), 10/12 = 0.83 (not voted)
    torch.testing.assert_close(refined, torch.tensor([[0.0, (0.8 * 10 + 0.4 * 10.2) / 1.2]]))


def test_batched_nms_votes_ranks_and_truncates():
    segs = torch.tensor([[0.0, 10.0], [0.0, 10.2], [20.0, 30.0], [40.0, 41.0]])
    scores = torch.tensor([0.8, 0.4, 0.6, 0.7])
    out, out_scores = batched_nms(segs, scores, max_num_segs=3, sigma=0.9, voting_thresh=0.95)
    decayed = 0.4 * math.exp(-((10.0 / 10.2) ** 2) / 0.9)
    assert out_scores.tolist() == pytest.approx([0.8, 0.7, 0.6], rel=1e-6)
    torch.testing.assert_close(out[0], torch.tensor([0.0, (0.8 * 10 + 0.4 * 10.2) / 1.2]))
    torch.testing.assert_close(out[1:], torch.tensor([[40.0, 41.0], [20.0, 30.0]]))
    _, all_scores = batched_nms(segs, scores, max_num_segs=10, voting_thresh=0.0)
    assert all_scores.tolist() == pytest.approx([0.8, 0.7, 0.6, decayed], rel=1e-5)
    empty = batched_nms(torch.zeros(0, 2), torch.zeros(0))
    assert empty[0].shape == (0, 2) and empty[1].shape == (0,)


def test_decode_segments_by_hand():
    points = torch.tensor([[0.0, 0, 4, 1], [1.0, 0, 4, 1], [2.0, 0, 4, 1], [4.0, 2, 8, 2]])
    logits = torch.tensor([1.0, -10.0, 2.0, 0.0])  # sigmoid(-10) = 4.5e-5 <= 0.001: dropped
    offsets = torch.tensor([[1.0, 2.0], [1.0, 1.0], [0.02, 0.03], [1.0, 0.5]])
    mask = torch.tensor([True, True, True, False])
    segs, scores = decode_segments(logits, offsets, points, mask)
    # point 2 is best but its length 0.05 <= 0.1 is dropped; point 3 is masked
    assert segs.tolist() == [[-1.0, 2.0]]
    assert scores.tolist() == pytest.approx([1 / (1 + math.exp(-1.0))])
    segs, _ = decode_segments(logits, offsets, points, None, pre_nms_topk=1, seg_len_thresh=0.0)
    torch.testing.assert_close(segs, torch.tensor([[1.98, 2.03]]))  # top-1 is taken before the length filter


def test_grid_to_seconds_by_hand():
    segs = torch.tensor([[10.0, 100.0], [-2.0, 3.0]])
    out = grid_to_seconds(
        segs, fps=30.0, clip_size=32, clip_stride=8, downsample_rate=2, embedding_stride=1, duration=50.0
    )
    torch.testing.assert_close(out, torch.tensor([[176 / 30, 50.0], [0.0, 64 / 30]]))
    out = grid_to_seconds(
        torch.tensor([[3.0, 4.0]]), fps=5.0, clip_size=1, clip_stride=1, downsample_rate=1, embedding_stride=2
    )
    torch.testing.assert_close(out, torch.tensor([[6.5 / 5, 8.5 / 5]]))


def test_post_process_output_format():
    points = torch.tensor([[0.0, 0, 4, 1], [1.0, 0, 4, 1], [2.0, 0, 4, 1], [3.0, 0, 4, 1]])
    logits = torch.tensor([[3.0, -1.0, 0.0, -9.0], [-9.0, -9.0, -9.0, -9.0]])
    offsets = torch.ones(2, 4, 2)
    results = post_process_video_grounding(
        logits,
        offsets,
        points,
        torch.ones(4, dtype=torch.bool),
        [100.0, 100.0],
        fps=1.0,
        clip_size=0.0,
        clip_stride=1.0,
        downsample_rate=1,
        max_num_segments=2,
    )
    assert len(results) == 2 and results[1] == []  # every score <= pre_nms_thresh
    assert [r["score"] for r in results[0]] == sorted((r["score"] for r in results[0]), reverse=True)
    assert len(results[0]) == 2 and results[0][0]["segment"] == (0.0, 1.0)  # [-1, 1] clamped at 0
    assert isinstance(results[0][0]["segment"][0], float) and isinstance(results[0][0]["score"], float)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(logits=torch.zeros(2, 5)), "points must be"),
        (dict(offsets=torch.zeros(2, 4, 3)), "offsets must be"),
        (dict(points=torch.zeros(4, 3)), "points must be"),
        (dict(points_mask=torch.ones(3, 4, dtype=torch.bool)), "points_mask must be"),
        (dict(durations=[1.0, 2.0, 3.0]), "durations"),
        (dict(durations=None), "durations"),
        (dict(logits=torch.zeros(0, 4), offsets=torch.zeros(0, 4, 2)), "empty"),
        (dict(max_num_segments=0), "max_num_segs"),
        (dict(nms_mode="linear"), "NMS mode"),
        (dict(fps=0.0), "fps"),
        (dict(nms_threshold=0.5), "Unknown post-processing settings"),
    ],
)
def test_bad_inputs_raise(change, message):
    kwargs = dict(
        logits=torch.zeros(2, 4),
        offsets=torch.ones(2, 4, 2),
        points=torch.tensor([[0.0, 0, 4, 1], [1.0, 0, 4, 1], [2.0, 0, 4, 1], [3.0, 0, 4, 1]]),
        points_mask=None,
        durations=10.0,
    )
    kwargs.update(change)
    with pytest.raises(ValueError, match=message):
        post_process_video_grounding(**kwargs)


def test_nms_bad_shapes_raise():
    with pytest.raises(ValueError, match="segments must be"):
        soft_nms_1d(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="scores must be"):
        batched_nms(torch.zeros(3, 2), torch.zeros(2))
