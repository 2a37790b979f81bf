# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Property tests (hypothesis) for HieraMamba decoding, soft-NMS + voting, post-processing, metrics, the collator and
frame sampling. Each property is checked on random inputs against its definition, not against the implementation."""

import math

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hieramamba_hf.data_hieramamba import HieraMambaGroundingCollator
from hieramamba_hf.metrics_hieramamba import compute_grounding_metrics, metric_name
from hieramamba_hf.post_processing_hieramamba import (
    batched_nms,
    decode_segments,
    post_process_video_grounding,
    soft_nms_1d,
)
from ssm_layers.video_io import num_clock_frames, sample_frame_array


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
finite = dict(allow_nan=False, allow_infinity=False)


@st.composite
def scored_segments(draw, max_n=40):
    n = draw(st.integers(1, max_n))
    starts = draw(st.lists(st.floats(0, 100, **finite), min_size=n, max_size=n))
    lengths = draw(st.lists(st.floats(0.2, 50, **finite), min_size=n, max_size=n))
    scores = draw(st.lists(st.floats(0.002, 1.0, **finite), min_size=n, max_size=n))
    segments = torch.tensor([[s, s + w] for s, w in zip(starts, lengths)], dtype=torch.float32)
    return segments, torch.tensor(scores, dtype=torch.float32)


@SETTINGS
@given(scored_segments(), st.integers(1, 10))
def test_soft_nms_scores_never_increase_and_selection_is_an_input_segment(data, max_segs):
    segments, scores = data
    kept, kept_scores = soft_nms_1d(segments, scores, sigma=0.9, min_score=0.001, max_num_segs=max_segs)
    assert len(kept) <= min(max_segs, len(segments))
    assert kept_scores[0] == scores.max()  # the first pick is the undecayed maximum
    for segment, score in zip(kept, kept_scores):
        same = (segments == segment).all(dim=1)
        assert same.any(), "soft-NMS must return input segments"
        assert score <= scores[same].max() + 1e-7  # Gaussian decay only lowers scores
        assert score >= 0.001


@SETTINGS
@given(scored_segments(), st.integers(1, 10), st.sampled_from(["soft_nms", "nms"]), st.sampled_from([0.0, 0.5, 0.95]))
def test_batched_nms_sorted_bounded_and_voted_segments_stay_in_the_hull(data, max_segs, mode, voting):
    segments, scores = data
    out, out_scores = batched_nms(segments, scores, mode=mode, max_num_segs=max_segs, voting_thresh=voting)
    assert 1 <= len(out) <= max_segs
    assert torch.all(out_scores[:-1] >= out_scores[1:])  # sorted, best first
    assert out_scores.max() <= scores.max() + 1e-7  # scores never increase
    assert torch.all(out[:, 0] >= segments[:, 0].min() - 1e-4)  # voting = convex combination of input segments
    assert torch.all(out[:, 1] <= segments[:, 1].max() + 1e-4)
    assert torch.all(out[:, 1] >= out[:, 0] - 1e-4)


@st.composite
def point_predictions(draw):
    levels = draw(st.integers(1, 4))
    base = draw(st.integers(1, 24))
    points = []
    for level in range(levels):
        n = max(1, base // 2**level)
        t = torch.arange(n, dtype=torch.float32) * 2**level
        points.append(torch.stack([t, torch.zeros(n), torch.full((n,), 4.0), torch.full((n,), 2.0**level)], 1))
    points = torch.cat(points)
    p = len(points)
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(p, generator=g) * 4
    offsets = torch.rand(p, 2, generator=g) * draw(st.floats(0.0, 5.0, **finite))
    mask = torch.rand(p, generator=g) > draw(st.floats(0.0, 0.9, **finite))
    return logits, offsets, points, mask


@SETTINGS
@given(point_predictions(), st.integers(1, 50), st.floats(0.0, 0.9), st.floats(0.0, 2.0))
def test_decoding_properties(pred, topk, thresh, seg_len):
    logits, offsets, points, mask = pred
    segments, scores = decode_segments(
        logits, offsets, points, mask, pre_nms_thresh=thresh, pre_nms_topk=topk, seg_len_thresh=seg_len
    )
    assert len(segments) == len(scores) <= topk
    assert torch.all(scores > thresh) and torch.all(scores <= 1)
    assert torch.all(scores[:-1] >= scores[1:])
    assert torch.all(segments[:, 1] - segments[:, 0] > seg_len)
    expected = torch.sigmoid(logits) * mask  # every decoded score is a valid point's score
    for s in scores:
        assert torch.isclose(expected, s).any()
    # each segment contains a point t with start = t - o0 * stride, end = t + o1 * stride (offsets >= 0)
    for a, b in segments.tolist():
        assert any(a <= t + 1e-5 and t <= b + 1e-5 for t in points[:, 0].tolist())


@SETTINGS
@given(point_predictions(), st.integers(1, 3), st.floats(0.5, 500, **finite), st.integers(1, 8))
def test_post_processing_segments_inside_the_video_and_sorted(pred, num_queries, duration, max_segs):
    logits, offsets, points, mask = pred
    q_logits = logits[None].repeat(num_queries, 1) + torch.arange(num_queries)[:, None]
    results = post_process_video_grounding(
        q_logits,
        offsets[None].repeat(num_queries, 1, 1),
        points,
        mask[None].repeat(num_queries, 1),
        duration,
        max_num_segments=max_segs,
        fps=2.0,
        clip_size=2,
        clip_stride=2,
        downsample_rate=1,
    )
    assert len(results) == num_queries
    for ranked in results:
        assert len(ranked) <= max_segs
        scores = [r["score"] for r in ranked]
        assert scores == sorted(scores, reverse=True)
        for r in ranked:
            start, end = r["segment"]
            assert 0.0 <= start <= end <= duration * (1 + 1e-6)  # float32 clamp: within one ulp
            assert 0.0 < r["score"] <= 1.0


@st.composite
def grounding_predictions(draw):
    n_queries = draw(st.integers(1, 8))
    preds, gts = [], []
    for _ in range(n_queries):
        gs = draw(st.floats(0, 100, **finite))
        gts.append((gs, gs + draw(st.floats(0.1, 50, **finite))))
        k = draw(st.integers(0, 12))
        preds.append(
            [
                {"segment": (s, s + w), "score": c}
                for s, w, c in zip(
                    draw(st.lists(st.floats(0, 120, **finite), min_size=k, max_size=k)),
                    draw(st.lists(st.floats(0, 60, **finite), min_size=k, max_size=k)),
                    draw(st.lists(st.floats(0, 1, **finite), min_size=k, max_size=k)),
                )
            ]
        )
    return preds, gts


@SETTINGS
@given(grounding_predictions())
def test_recall_monotone_in_k_and_theta_and_bounded(data):
    preds, gts = data
    ranks, thresholds = (1, 2, 5, 10, 50), (0.1, 0.3, 0.5, 0.7)
    metrics = compute_grounding_metrics(preds, gts, ranks=ranks, iou_thresholds=thresholds)
    for value in metrics.values():
        assert 0.0 <= value <= 100.0
    for theta in thresholds:
        row = [metrics[metric_name(k, theta)] for k in ranks]
        assert row == sorted(row)  # R@k non-decreasing in k
    for k in ranks:
        col = [metrics[metric_name(k, t)] for t in thresholds]
        assert col == sorted(col, reverse=True)  # non-increasing in the IoU threshold
    # every recall is a multiple of 100 / #queries
    for value in metrics.values():
        if value is not metrics["average"]:
            assert math.isclose(value * len(gts) / 100, round(value * len(gts) / 100), abs_tol=1e-6)


@st.composite
def collator_examples(draw):
    examples = []
    dim, text_dim = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    for b in range(draw(st.integers(1, 4))):
        n = draw(st.integers(1, 40))
        queries = draw(st.integers(1, 3))
        rng = np.random.default_rng(draw(st.integers(0, 10**6)))
        examples.append(
            {
                "video_id": f"v{b}",
                "video_features": rng.standard_normal((n, dim)).astype(np.float32),
                "text_features": [
                    rng.standard_normal((draw(st.integers(1, 7)), text_dim)).astype(np.float32) for _ in range(queries)
                ],
                "segments": np.sort(rng.uniform(0, n, (queries, 2)), axis=1).astype(np.float32),
                "segments_sec": [(0.0, 1.0)] * queries,
                "sentence_ids": [f"v{b}q{i}" for i in range(queries)],
                "duration": 10.0,
                "fps": 30.0,
                "num_frames": 300,
                "clip_size": 32,
                "clip_stride": 8,
                "downsample_rate": 2,
            }
        )
    return examples


@SETTINGS
@given(collator_examples(), st.sampled_from([1, 4, 16]))
def test_eval_collator_pads_without_touching_the_data(examples, unit):
    batch = HieraMambaGroundingCollator(pad_to_multiple_of=unit)(examples)
    lengths = [len(e["video_features"]) for e in examples]
    texts = [t for e in examples for t in e["text_features"]]
    assert batch["video_features"].shape[1] % unit == 0
    assert batch["video_features"].shape[1] == max(-(-n // unit) * unit for n in lengths)
    assert batch["video_mask"].sum(1).tolist() == lengths
    assert batch["queries_per_video"].tolist() == [len(e["text_features"]) for e in examples]
    assert batch["text_mask"].sum(1).tolist() == [len(t) for t in texts]
    for b, e in enumerate(examples):
        assert torch.equal(batch["video_features"][b, : lengths[b]], torch.from_numpy(e["video_features"]))
        assert not batch["video_features"][b, lengths[b] :].any()  # zero padding
        assert not batch["video_mask"][b, lengths[b] :].any()
    for q, t in enumerate(texts):
        assert torch.equal(batch["text_features"][q, : len(t)], torch.from_numpy(t))
    assert batch["segments"].shape == (len(texts), 2)


@SETTINGS
@given(collator_examples())
def test_training_collator_pads_to_max_seq_len(examples):
    batch = HieraMambaGroundingCollator(max_seq_len=48)(examples)
    assert batch["video_features"].shape[1] == 48
    assert batch["video_mask"].sum(1).tolist() == [len(e["video_features"]) for e in examples]


@SETTINGS
@given(st.integers(1, 300), st.floats(1.0, 60.0, **finite), st.floats(0.25, 60.0, **finite))
def test_frame_sampling_follows_the_clock(num_native, native_fps, fps):
    frames = np.zeros((num_native, 1, 1, 3), dtype=np.uint8)
    frames[:, 0, 0, 0] = np.arange(num_native) % 256
    frames[:, 0, 0, 1] = np.arange(num_native) // 256
    out = sample_frame_array(frames, fps, native_fps)
    index = out[:, 0, 0, 0].astype(int) + 256 * out[:, 0, 0, 1].astype(int)
    duration = num_native / native_fps
    if abs(native_fps - fps) > 1e-6 * fps:
        assert len(out) == num_clock_frames(duration, fps)  # one frame per instant k / fps < duration
    assert np.all(np.diff(index) >= 0) and index.min() >= 0 and index.max() < num_native
    for k, i in enumerate(index):  # the frame on screen at t_k = k / fps
        assert i / native_fps <= k / fps + 1e-6
        assert i == num_native - 1 or k / fps < (i + 1) / native_fps + 1e-6
