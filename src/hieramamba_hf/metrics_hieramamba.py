# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Recall@k at temporal IoU thresholds, as computed by the official HieraMamba / SnAG evaluators.

The official evaluator (`EvaluatorOriginal.run` in `libs/worker.py` of both repositories) does, per query:

1. sort the predicted segments by score (descending) and keep the top `max(ranks)`;
2. compute the IoU of each kept segment with the ground truth *in seconds*, in float32:
   `overlap = clamp(min(pe, ge) - max(ps, gs), 0)`, `union = (pe - ps) + (ge - gs) - overlap`,
   `iou = overlap / union`;
3. for every rank k, take the max IoU over the first k kept segments (fewer than k predictions: the max over the
   ones there are) and count a hit for every threshold theta with `max_iou >= theta`.

`R@k,IoU=theta` is the number of hits over all queries divided by the number of queries, reported in percent.
`average` is the mean over all (k, theta) cells, which is how the papers form their "avg" column
(e.g. HieraMamba Ego4D-NLQ: (18.81 + 13.04 + 40.82 + 29.96) / 4 = 25.66).

Two cases the official code does not handle are made explicit here: a query with no prediction is a miss for
every (k, theta) (the official code raises on `max()` of an empty tensor), and ties in score keep the order in
which the predictions were given (stable sort; the official `argsort` is unstable for ties).
"""

from collections.abc import Mapping, Sequence

import numpy as np
import torch


__all__ = ["compute_grounding_metrics", "segment_iou", "metric_name"]


def metric_name(rank: int, iou_threshold: float) -> str:
    """Key of one metric cell, e.g. `metric_name(1, 0.3) == "R@1,IoU=0.3"`."""
    return f"R@{int(rank)},IoU={float(iou_threshold):g}"


def segment_iou(pred_segments: torch.Tensor, gt_segment: torch.Tensor) -> torch.Tensor:
    """1-D IoU of segments `(N, 2)` with one segment `(2,)`, with the official formula (no epsilon)."""
    ps, pe = pred_segments[..., 0], pred_segments[..., 1]
    gs, ge = gt_segment[..., 0], gt_segment[..., 1]
    overlap = (torch.minimum(pe, ge) - torch.maximum(ps, gs)).clamp(min=0)
    union = (pe - ps) + (ge - gs) - overlap
    return overlap / union


def _as_segment(value, what: str) -> tuple[float, float]:
    try:
        start, end = (float(v) for v in value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what} must be a pair (start_s, end_s), got {value!r}") from error
    if not (np.isfinite(start) and np.isfinite(end)):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return start, end


def compute_grounding_metrics(
    predictions: Sequence[Sequence[Mapping]],
    ground_truths: Sequence[Sequence[float]],
    ranks: Sequence[int] = (1, 5),
    iou_thresholds: Sequence[float] = (0.3, 0.5),
) -> dict[str, float]:
    """Recall@k at IoU thresholds over a set of queries, in percent.

    Args:
        predictions: one list per query of `{"segment": (start_s, end_s), "score": float}` (any order; they are
            sorted by score here). An empty list is a miss.
        ground_truths: one `(start_s, end_s)` per query, in seconds, with `end_s > start_s`.
        ranks: the k of R@k (Ego4D/TACoS `(1, 5)`; MAD `(1, 5, 10, 50)`).
        iou_thresholds: IoU thresholds (Ego4D/TACoS `(0.3, 0.5)`; MAD `(0.1, 0.3, 0.5)`).

    Returns:
        `{"R@1,IoU=0.3": ..., ..., "average": ...}` in percent (keys ordered rank-major as the official log).
    """
    if len(predictions) != len(ground_truths):
        raise ValueError(
            f"got {len(predictions)} prediction lists for {len(ground_truths)} ground truths; need one per query"
        )
    if len(ground_truths) == 0:
        raise ValueError("no queries to evaluate (ground_truths is empty)")
    ranks = [int(k) for k in ranks]
    if len(ranks) == 0 or min(ranks) < 1:
        raise ValueError(f"ranks must be positive integers, got {ranks}")
    thresholds = np.asarray([float(t) for t in iou_thresholds], dtype=np.float64)
    if thresholds.size == 0:
        raise ValueError("iou_thresholds is empty")
    topk = max(ranks)

    counts = np.zeros((len(ranks), len(thresholds)))
    for query_idx, (query_preds, gt) in enumerate(zip(predictions, ground_truths)):
        gs, ge = _as_segment(gt, f"ground truth of query {query_idx}")
        if ge <= gs:
            raise ValueError(f"ground truth of query {query_idx} has non-positive length: {gt!r}")
        if len(query_preds) == 0:
            continue  # miss at every (k, theta)
        segments, scores = [], []
        for pred_idx, pred in enumerate(query_preds):
            if not isinstance(pred, Mapping) or "segment" not in pred or "score" not in pred:
                raise ValueError(
                    f"prediction {pred_idx} of query {query_idx} must be a dict with 'segment' and 'score', "
                    f"got {pred!r}"
                )
            ps, pe = _as_segment(pred["segment"], f"segment of prediction {pred_idx} of query {query_idx}")
            if pe < ps:
                raise ValueError(
                    f"prediction {pred_idx} of query {query_idx} ends before it starts: {pred['segment']!r}"
                )
            segments.append((ps, pe))
            scores.append(float(pred["score"]))
        segments = torch.tensor(segments, dtype=torch.float32)
        scores = torch.tensor(scores, dtype=torch.float32)
        order = torch.sort(scores, descending=True, stable=True).indices[:topk]
        ious = segment_iou(segments[order], torch.tensor([gs, ge], dtype=torch.float32))
        best = np.array([ious[:k].max().item() for k in ranks])  # float32 IoU compared in float64, as official
        counts += best[:, None] >= thresholds[None]

    recall = counts / len(ground_truths) * 100.0
    metrics = {metric_name(k, t): float(recall[i, j]) for i, k in enumerate(ranks) for j, t in enumerate(thresholds)}
    metrics["average"] = float(recall.mean())
    return metrics
