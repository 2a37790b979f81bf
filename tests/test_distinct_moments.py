# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""The grounding pipeline lists each moment once: soft-NMS with voting can select one moment several times with
decayed scores (the official output, kept by `post_process_video_grounding` for evaluation); the pipeline keeps
the distinct ones (`config.distinct_moment_iou`)."""

import json
import os

import pytest
import torch
from conftest import load_example
from transformers import pipeline

from hieramamba_hf.post_processing_hieramamba import distinct_moments


def _moment(start, end, score):
    return {"segment": (start, end), "score": score}


def _iou(a, b):
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def test_distinct_moments_keeps_the_best_of_each_moment_in_rank_order():
    ranked = [
        _moment(50.0, 53.0, 0.97),
        _moment(50.0, 53.0, 0.32),  # the same moment again
        _moment(50.1, 53.0, 0.10),  # IoU 0.967: the same moment
        _moment(53.0, 55.8, 0.03),  # touches it: a different moment
        _moment(10.0, 20.0, 0.02),
        _moment(11.0, 20.0, 0.01),  # IoU 0.9: counts as the same at threshold 0.9
    ]
    assert distinct_moments(ranked, 0.9, top_k=10) == [ranked[0], ranked[3], ranked[4]]
    assert distinct_moments(ranked, 0.9, top_k=2) == [ranked[0], ranked[3]]
    assert distinct_moments(ranked, 0.95, top_k=10) == [ranked[0], ranked[3], ranked[4], ranked[5]]
    assert distinct_moments(ranked, 1.0, top_k=10) == [ranked[0], ranked[2], ranked[3], ranked[4], ranked[5]]


@pytest.fixture(scope="module")
def demo_case():
    """The shipped checkpoint on the clip features of demo video 5, whose ordinal query soft-NMS answers with the
    same moment four times."""
    demo, synthetic = load_example("ground_video"), load_example("synthetic_grounding/synthetic")
    grounder = pipeline("video-grounding", model=demo.DEFAULT_MODEL)
    config = grounder.model.config
    with open(os.path.join(demo.DEFAULT_MODEL, "synthetic_info.json")) as f:
        settings = json.load(f)["config"]
    clock = config.fps, config.clip_size, config.clip_stride
    synth, spec, queries = synthetic.sample_demo_video(5, 3, *clock, settings)
    features = torch.from_numpy(synthetic.render_clip_features(spec, synth, grounder.model.model.vision_model))
    return grounder, features, [q["sentence"] for q in queries]


def test_pipeline_lists_each_moment_once_and_keeps_the_best_one(demo_case):
    grounder, features, queries = demo_case
    raw = grounder(features, queries, top_k=5, distinct_moment_iou=None)
    distinct = grounder(features, queries, top_k=5)
    repeated = 0
    for before, after in zip(raw, distinct):
        assert after[0] == before[0]  # the best moment is the same
        assert len(after) == 5
        spans = [(m["start"], m["end"]) for m in after]
        assert all(_iou(a, b) < 0.9 for i, a in enumerate(spans) for b in spans[:i])
        assert [m["score"] for m in after] == sorted((m["score"] for m in after), reverse=True)
        raw_spans = [(m["start"], m["end"]) for m in before]
        repeated += sum(_iou(a, b) >= 0.9 for i, a in enumerate(raw_spans) for b in raw_spans[:i])
    assert repeated > 0, "the case no longer shows soft-NMS repeating a moment: pick another"


def test_distinct_moment_iou_none_is_the_official_post_processing(demo_case):
    grounder, features, queries = demo_case
    raw = grounder(features, queries, top_k=3, distinct_moment_iou=None)
    outputs = grounder.forward(grounder.preprocess({"video": features, "query": queries}))
    official = grounder.processor.post_process_video_grounding(
        outputs["outputs"], [outputs["duration"]], grounder.model.config, max_num_segments=3
    )
    assert [[(m["start"], m["end"], m["score"]) for m in q] for q in raw] == [
        [(*m["segment"], m["score"]) for m in q] for q in official
    ]
    with pytest.raises(ValueError, match="distinct_moment_iou must be in"):
        grounder(features, queries, distinct_moment_iou=1.5)
