# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest
import torch

from hieramamba_hf.metrics_hieramamba import compute_grounding_metrics, metric_name, segment_iou


def _p(start, end, score):
    return {"segment": (start, end), "score": score}


def test_hand_computed_recalls():
    predictions = [
        # GT (0, 10): top-1 (0, 3) has IoU exactly 0.3 (hit at 0.3, miss at 0.5); the perfect one is 2nd.
        [_p(0, 3, 0.9), _p(0, 10, 0.1)],
        # GT (10, 20): given unsorted; the best-scored (12, 18) has IoU 0.6.
        [_p(30, 40, 0.2), _p(12, 18, 0.8), _p(10, 20, 0.1)],
        # GT (0, 4): five misses ranked before a perfect 6th prediction -> miss at R@5 too.
        [_p(100 + i, 101 + i, 0.9 - 0.1 * i) for i in range(5)] + [_p(0, 4, 0.01)],
        # no prediction at all -> miss everywhere
        [],
        # GT (0, 2): a single prediction with IoU 0.5 counts at R@5 (fewer than k predictions).
        [_p(1, 2, 0.5)],
    ]
    ground_truths = [(0, 10), (10, 20), (0, 4), (3, 5), (0, 2)]
    metrics = compute_grounding_metrics(predictions, ground_truths)
    assert list(metrics) == ["R@1,IoU=0.3", "R@1,IoU=0.5", "R@5,IoU=0.3", "R@5,IoU=0.5", "average"]
    assert metrics["R@1,IoU=0.3"] == pytest.approx(60.0)
    assert metrics["R@1,IoU=0.5"] == pytest.approx(40.0)
    assert metrics["R@5,IoU=0.3"] == pytest.approx(60.0)
    assert metrics["R@5,IoU=0.5"] == pytest.approx(60.0)
    assert metrics["average"] == pytest.approx(55.0)


def test_iou_is_in_seconds_and_official_formula():
    ious = segment_iou(torch.tensor([[0.0, 3.0], [5.0, 15.0], [20.0, 30.0], [2.0, 2.0]]), torch.tensor([0.0, 10.0]))
    torch.testing.assert_close(ious, torch.tensor([0.3, 5 / 15, 0.0, 0.0]))


def test_mad_ranks_and_thresholds_keys():
    metrics = compute_grounding_metrics(
        [[_p(0, 1, 0.9), _p(0, 8, 0.5)]], [(0, 10)], ranks=(1, 5, 10, 50), iou_thresholds=(0.1, 0.3, 0.5)
    )
    assert metric_name(10, 0.1) == "R@10,IoU=0.1"
    assert metrics["R@1,IoU=0.1"] == 100.0 and metrics["R@1,IoU=0.3"] == 0.0
    assert metrics["R@5,IoU=0.5"] == 100.0 and metrics["R@50,IoU=0.5"] == 100.0
    assert metrics["average"] == pytest.approx(100.0 * 10 / 12)


def test_ties_keep_given_order():
    # equal scores: the first listed prediction is the top-1
    hit = compute_grounding_metrics([[_p(0, 10, 0.5), _p(50, 60, 0.5)]], [(0, 10)], ranks=(1,))
    miss = compute_grounding_metrics([[_p(50, 60, 0.5), _p(0, 10, 0.5)]], [(0, 10)], ranks=(1,))
    assert hit["R@1,IoU=0.5"] == 100.0 and miss["R@1,IoU=0.5"] == 0.0


def _official_loop(predictions, ground_truths, ranks, thresholds):
    """Re-statement of EvaluatorOriginal.run's counting (torch argsort, float32 IoU, np threshold compare)."""
    counts = np.zeros((len(ranks), len(thresholds)))
    thresholds = np.array(thresholds)
    for preds, gt in zip(predictions, ground_truths):
        segs = torch.tensor([p["segment"] for p in preds], dtype=torch.float)
        scores = torch.tensor([p["score"] for p in preds], dtype=torch.float)
        idx = scores.argsort(descending=True)
        segs = segs[idx[: max(ranks)]]
        target = torch.as_tensor(gt, dtype=torch.float).expand(len(segs), -1)
        ps, pe, gs, ge = segs[:, 0], segs[:, 1], target[:, 0], target[:, 1]
        overlap = (torch.minimum(pe, ge) - torch.maximum(ps, gs)).clamp(min=0)
        iou = overlap / ((pe - ps) + (ge - gs) - overlap)
        iou_n = np.array([iou[:i].max().item() for i in ranks])
        counts += iou_n[:, None] >= thresholds[None]
    return counts / len(ground_truths) * 100


def test_matches_official_counting_on_random_queries():
    rng = np.random.default_rng(0)
    predictions, ground_truths = [], []
    for _ in range(200):
        duration = rng.uniform(20, 500)
        s = rng.uniform(0, duration - 1)
        ground_truths.append((s, min(duration, s + rng.uniform(0.5, 60))))
        preds = []
        for _ in range(rng.integers(1, 12)):
            ps = rng.uniform(0, duration - 1)
            preds.append(_p(ps, min(duration, ps + rng.uniform(0.1, 80)), rng.uniform()))
        predictions.append(preds)
    ranks, thresholds = (1, 5, 10), (0.1, 0.3, 0.5, 0.7)
    metrics = compute_grounding_metrics(predictions, ground_truths, ranks, thresholds)
    expected = _official_loop(predictions, ground_truths, ranks, thresholds)
    got = np.array([[metrics[metric_name(k, t)] for t in thresholds] for k in ranks])
    np.testing.assert_allclose(got, expected)
    assert metrics["average"] == pytest.approx(expected.mean())
    assert 0 < metrics["average"] < 100  # not a degenerate case


def test_paper_average_convention():
    # "average" = mean of the R@{1,5} x IoU{0.3,0.5} table (HieraMamba Ego4D-NLQ row: 25.66)
    assert np.mean([18.81, 13.04, 40.82, 29.96]) == pytest.approx(25.66, abs=5e-3)


@pytest.mark.parametrize(
    "predictions, ground_truths, message",
    [
        ([[_p(0, 1, 1.0)]], [(0, 1), (2, 3)], "one per query"),
        ([], [], "empty"),
        ([[_p(0, 1, 1.0)]], [(5, 5)], "non-positive length"),
        ([[_p(3, 1, 1.0)]], [(0, 5)], "ends before it starts"),
        ([[{"segment": (0, 1)}]], [(0, 5)], "'segment' and 'score'"),
        ([[_p(0, 1, 1.0)]], [(0, float("nan"))], "finite"),
    ],
)
def test_bad_input_raises(predictions, ground_truths, message):
    with pytest.raises(ValueError, match=message):
        compute_grounding_metrics(predictions, ground_truths)
