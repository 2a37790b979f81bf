# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""MambaMia training data: LLaVA-Video style records (JSON / JSONL), the collator (frame sampling, chat template,
assistant-only labels), the synthetic video QA generator, clear errors naming bad records."""

import json
import math
import os

import numpy as np
import pytest
import torch
from conftest import load_example

from mambamia_hf.data_mambamia import IGNORE_INDEX, MambaMiaDataCollator, load_video_records, validate_record
from ssm_layers.video_io import open_video


load_example("synthetic_video_qa/synthetic_qa")  # its folder first on sys.path
from synthetic_qa import (  # noqa: E402
    COLORS,
    NUMBER_WORDS,
    QUESTIONS,
    answer_choices,
    generate_synthetic_video_qa,
    synthetic_qa_config,
    synthetic_qa_processor,
)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("qa"))
    paths = generate_synthetic_video_qa(root, num_train=4, num_test=2, seed=3)
    return root, paths


@pytest.fixture(scope="module")
def processor():
    return synthetic_qa_processor(synthetic_qa_config())


def records_of(path):
    with open(path) as f:
        return json.load(f) if path.endswith(".json") else [json.loads(line) for line in f]


# ---------------------------------------------------------------------------------------------- loading
def test_load_json_and_jsonl_resolve_videos_against_root(synthetic):
    root, paths = synthetic
    train = load_video_records(paths["train"])  # root defaults to the data file's folder
    test = load_video_records(paths["test"], video_root=root)
    assert len(train) == 4 and len(test) == 2
    assert train.column_names == ["id", "video", "conversations"]
    for record, raw in zip(train, records_of(paths["train"])):
        assert record["video"] == os.path.join(root, raw["video"]) and os.path.isfile(record["video"])
        assert record["conversations"] == raw["conversations"]
    assert [r["id"] for r in test] == [r["id"] for r in records_of(paths["test"])]


# ---------------------------------------------------------------------------------------------- collator
def test_collator_matches_processor_and_masks_all_but_assistant(synthetic, processor):
    root, paths = synthetic
    records = list(load_video_records(paths["train"]))
    collator = MambaMiaDataCollator(processor, fps=2.0, max_frames=64)
    batch = collator(records[:2])
    config = synthetic_qa_config()
    for b, record in enumerate(records[:2]):
        n = int(batch["video_frame_mask"][b].sum())
        # 4 fps video of 1.5 s per square sampled at <= 2 fps: n = ceil(duration * 2)
        duration = len(open_video(record["video"]).read_uniform_frames(fps=1000.0, max_frames=10**6)) / 4.0
        assert n == math.ceil(duration * 2.0)
        ids = batch["input_ids"][b][batch["attention_mask"][b].bool()]
        assert batch["attention_mask"][b, : len(ids)].all()  # right padding
        # same ids and pixels as the processor on the chat-templated conversation
        messages = [
            {"role": {"human": "user", "gpt": "assistant"}[t["from"]], "content": t["value"]}
            for t in record["conversations"]
        ]
        text = processor.apply_chat_template(messages, tokenize=False)
        reference = processor(text=text, videos=record["video"], fps=2.0, max_frames=64)
        assert ids.tolist() == reference["input_ids"][0].tolist()
        torch.testing.assert_close(batch["pixel_values_videos"][b, :n], reference["pixel_values_videos"][0])
        assert int((ids == config.video_token_id).sum()) == n * config.tokens_per_frame
        # labels: exactly "answer <|im_end|>" of every gpt turn, nothing else
        labels = batch["labels"][b]
        kept = labels[labels != IGNORE_INDEX]
        answers = [t["value"] for t in record["conversations"] if t["from"] == "gpt"]
        assert processor.tokenizer.decode(kept) == " ".join(f"{a} <|im_end|>" for a in answers)
        trained = (labels != IGNORE_INDEX).nonzero().flatten()
        assert (batch["input_ids"][b][trained] == labels[trained]).all()
        assert (labels[batch["attention_mask"][b] == 0] == IGNORE_INDEX).all()
    assert batch["pixel_values_videos"].shape[:2] == batch["video_frame_mask"].shape


def test_collator_frame_budget_and_cache(synthetic, processor):
    _, paths = synthetic
    record = dict(load_video_records(paths["train"])[0])
    collator = MambaMiaDataCollator(processor, fps=2.0, max_frames=3, cache_videos=True)
    first = collator([record])
    assert first["pixel_values_videos"].shape[1] == 3
    assert int((first["input_ids"] == processor.video_token_id).sum()) == 3 * processor.tokens_per_frame
    torch.testing.assert_close(collator([record])["pixel_values_videos"], first["pixel_values_videos"])
    assert len(collator.cache) == 1


# ---------------------------------------------------------------------------------------------- synthetic set
def _square_colors(frames):
    """Per sampled frame: the nearest synthetic colour of the brightest pixel, or None for a blank frame."""
    out = []
    for frame in frames.astype(int):
        pixel = frame.reshape(-1, 3)[frame.reshape(-1, 3).sum(1).argmax()]
        if pixel.max() < 100:
            out.append(None)
            continue
        out.append(min(COLORS, key=lambda c: np.abs(np.array(COLORS[c]) - pixel).sum()))
    return out


def test_synthetic_answers_match_the_rendered_videos(synthetic):
    root, paths = synthetic
    records = records_of(paths["train"]) + records_of(paths["test"])
    assert all(r["conversations"][0]["value"].startswith("<video>\n") for r in records)
    for record in records:
        frames = open_video(os.path.join(root, record["video"])).read_uniform_frames(fps=2.0, max_frames=64)
        colors = _square_colors(frames)
        squares = [c for i, c in enumerate(colors) if c is not None and (i == 0 or colors[i - 1] is None)]
        truth = {
            QUESTIONS["first_color"]: squares[0],
            QUESTIONS["last_color"]: squares[-1],
            QUESTIONS["count"]: NUMBER_WORDS[len(squares) - 1],
        }
        turns = record["conversations"]
        assert [t["from"] for t in turns] == ["human", "gpt"] * 3  # multi-turn, every question type once
        for question, answer in zip(turns[::2], turns[1::2]):
            q = question["value"].replace("<video>\n", "")
            assert answer["value"] == truth[q] and answer["value"] in answer_choices(q)
    with pytest.raises(ValueError, match="Not a synthetic QA question"):
        answer_choices("what is in the video ?")


# ---------------------------------------------------------------------------------------------- errors
def test_bad_records_give_clear_errors_naming_the_record(synthetic, processor, tmp_path):
    root, paths = synthetic
    good = records_of(paths["train"])[0]
    video = os.path.join(root, good["video"])
    cases = {
        "missing video": (
            {**good, "id": "bad-1", "video": "videos/nope.mp4"},
            r"Record 'bad-1': video file not found",
        ),
        "no placeholder": (
            {**good, "id": "bad-2", "conversations": [{"from": "human", "value": "what ?"}, good["conversations"][1]]},
            r"Record 'bad-2': no '<video>' placeholder",
        ),
        "empty conversation": ({**good, "id": "bad-3", "conversations": []}, r"Record 'bad-3': empty conversation"),
        "no video field": (
            {"id": "bad-4", "conversations": good["conversations"]},
            r"Record 'bad-4': missing 'video'",
        ),
        "no answer": (
            {**good, "id": "bad-5", "conversations": good["conversations"][:1]},
            r"Record 'bad-5': the conversation has no 'gpt'",
        ),
        "two placeholders": (
            {
                **good,
                "id": "bad-6",
                "conversations": [{"from": "human", "value": "<video> <video> a"}, good["conversations"][1]],
            },
            r"Record 'bad-6': 2 '<video>' placeholders",
        ),
    }
    collator = MambaMiaDataCollator(processor, video_root=root)
    for name, (record, message) in cases.items():
        data_file = tmp_path / f"{name.replace(' ', '_')}.jsonl"
        data_file.write_text(json.dumps(good) + "\n" + json.dumps(record) + "\n")
        with pytest.raises(ValueError, match=message):
            load_video_records(str(data_file), video_root=root)
        with pytest.raises(ValueError, match=message):
            collator([good, record])
    with pytest.raises(ValueError, match=r"Record 'bad-8': 'video' must be one path"):
        collator([{**good, "id": "bad-8", "video": [good["video"], good["video"]]}])
    # an existing file that is not a video: the decoding error names the record too
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(ValueError, match=r"Record 'bad-7': .*(decode|frame)"):
        collator([{**good, "id": "bad-7", "video": str(broken)}])
    validate_record({**good, "video": video})  # the good record passes
