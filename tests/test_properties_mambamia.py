# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Property tests (hypothesis) for MambaMia: delta sampling (paper Algorithm 1), cutting the dropped frames' tokens,
the processor's token accounting, frame sampling and the training collator."""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mambamia_testing import WORDS, tiny_processor, write_tiny_mp4

from mambamia_hf.data_mambamia import IGNORE_INDEX, MambaMiaDataCollator
from mambamia_hf.modeling_mambamia import delta_sampling, find_video_runs, select_video_tokens
from ssm_layers.video_io import uniform_frame_indices


SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
finite = dict(allow_nan=False, allow_infinity=False)


@SETTINGS
@given(st.lists(st.floats(0, 2, width=32, **finite), min_size=0, max_size=200), st.floats(0.05, 3, **finite))
def test_delta_sampling_keeps_a_frame_exactly_when_the_accumulated_delta_reaches_the_threshold(deltas, threshold):
    keep = delta_sampling(torch.tensor(deltas, dtype=torch.float32), threshold)
    assert keep.dtype == torch.bool and keep.shape == (len(deltas),)
    values = torch.tensor(deltas, dtype=torch.float32).tolist()
    accumulated = 0.0
    for t, delta in enumerate(values):  # segments between kept frames: the sum first reaches the threshold there
        accumulated += delta
        assert bool(keep[t]) == (accumulated >= threshold)
        if keep[t]:
            accumulated = 0.0
    assert int(keep.sum()) <= math.floor(sum(values) / threshold + 1e-9)
    if all(d >= threshold for d in values):
        assert bool(keep.all())
    if sum(values) < threshold:
        assert not keep.any()


@SETTINGS
@given(st.data())
def test_select_video_tokens_removes_exactly_the_dropped_frames(data):
    video, pad, tokens_per_frame = 3, 0, data.draw(st.integers(1, 5))
    rows, kept_rows, frames = [], [], []
    for _ in range(data.draw(st.integers(1, 3))):
        n = data.draw(st.integers(1, 8))
        before = data.draw(st.lists(st.integers(4, 20), max_size=5))
        after = data.draw(st.lists(st.integers(4, 20), min_size=1, max_size=5))
        keep = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
        rows.append(before + [video] * (n * tokens_per_frame) + after)
        kept_rows.append(keep)
        frames.append(n)
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):  # left padding, as for generation
        input_ids[b, width - len(r) :] = torch.tensor(r)
        attention[b, width - len(r) :] = 1
    longest = max(frames)
    kept = torch.zeros(len(rows), longest, dtype=torch.bool)
    for b, keep in enumerate(kept_rows):
        kept[b, : len(keep)] = torch.tensor(keep)
    new_ids, new_mask = select_video_tokens(
        input_ids, attention, kept, torch.tensor(frames), video, tokens_per_frame, pad
    )
    for b, r in enumerate(rows):
        row = new_ids[b][new_mask[b].bool()].tolist()
        n_kept = sum(kept_rows[b])
        assert row.count(video) == n_kept * tokens_per_frame
        assert [t for t in row if t != video] == [t for t in r if t != video]  # text untouched, in order
        assert len(row) == len(r) - (frames[b] - n_kept) * tokens_per_frame
        assert not new_mask[b, : new_ids.shape[1] - len(row)].any()  # still left-padded


@SETTINGS
@given(st.integers(1, 5000), st.floats(1, 60, **finite), st.floats(0.1, 30, **finite), st.integers(1, 400))
def test_frame_sampling_respects_budget_rate_and_never_repeats(num_frames, native_fps, fps, max_frames):
    indices = uniform_frame_indices(num_frames, native_fps, fps, max_frames)
    duration = num_frames / native_fps
    assert len(indices) == max(1, min(math.ceil(duration * fps), max_frames, num_frames))
    assert indices.min() >= 0 and indices.max() < num_frames
    assert np.all(np.diff(indices) > 0)  # strictly increasing: no frame twice


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


@SETTINGS
@given(st.lists(st.integers(1, 6), min_size=1, max_size=3), st.lists(st.sampled_from(WORDS), min_size=1, max_size=6))
def test_processor_placeholder_runs_equal_the_video_token_counts(processor, frame_counts, words):
    text = " ".join(f"{' '.join(words)} {processor.video_token}" for _ in frame_counts) + " " + words[0]
    videos = [np.zeros((n, 32, 32, 3), dtype=np.uint8) for n in frame_counts]
    inputs = processor(text=text, videos=videos)
    runs = [length for _, _, length in find_video_runs(inputs["input_ids"], processor.video_token_id)]
    assert runs == [n * processor.tokens_per_frame for n in frame_counts]
    assert inputs["video_frame_mask"].sum(1).tolist() == frame_counts


@pytest.fixture(scope="module")
def video_path(tmp_path_factory):
    return write_tiny_mp4(str(tmp_path_factory.mktemp("video") / "clip.mp4"), num_frames=12, fps=4)


@st.composite
def conversations(draw):
    sentence = st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join)
    turns = [{"from": "human", "value": "<video>\n" + draw(sentence)}, {"from": "gpt", "value": draw(sentence)}]
    for _ in range(draw(st.integers(0, 2))):
        turns += [{"from": "human", "value": draw(sentence)}, {"from": "gpt", "value": draw(sentence)}]
    return turns


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(st.lists(conversations(), min_size=1, max_size=3), st.integers(1, 12))
def test_collator_trains_exactly_the_assistant_replies(processor, video_path, convs, max_frames):
    collator = MambaMiaDataCollator(processor, fps=4.0, max_frames=max_frames, cache_videos=True)
    records = [{"id": f"r{i}", "video": video_path, "conversations": c} for i, c in enumerate(convs)]
    batch = collator(records)
    tokenizer = processor.tokenizer
    n_frames = min(12, max_frames)
    assert batch["video_frame_mask"].sum(1).tolist() == [n_frames] * len(convs)
    for b, conv in enumerate(convs):
        ids, labels, mask = batch["input_ids"][b], batch["labels"][b], batch["attention_mask"][b].bool()
        assert int((ids[mask] == processor.video_token_id).sum()) == n_frames * processor.tokens_per_frame
        trained = labels != IGNORE_INDEX
        assert not (trained & ~mask).any()
        assert torch.equal(labels[trained], ids[trained])
        assert not (trained & (ids == processor.video_token_id)).any()
        expected = [
            t
            for turn in conv
            if turn["from"] == "gpt"
            for t in tokenizer(turn["value"] + "<|im_end|>", add_special_tokens=False)["input_ids"]
        ]
        assert labels[trained].tolist() == expected
