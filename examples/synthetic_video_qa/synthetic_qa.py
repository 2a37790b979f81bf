# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Synthetic video QA for CPU-scale training checks: rendered mp4 videos and LLaVA-Video-178K style records.

Each video shows `K` (1..`max_squares`) coloured squares one after another: a square is on screen for
`square_seconds`, then the frame is blank for `gap_seconds`; consecutive squares have different colours and random
positions. Questions have a closed answer set, so accuracy is measurable and chance is known:

    "what color is the first square ?"  -> red / green / blue / yellow      (colour)
    "what color is the last square ?"   -> red / green / blue / yellow      (order)
    "how many squares are shown ?"      -> one / two / three / four         (count)

Records follow LLaVA-Video-178K: `{"id", "video", "conversations": [{"from": "human", "value": "<video>\\n..."},
{"from": "gpt", "value": ...}, ...]}` (multi-turn: every question type in random order, the placeholder in the
first human turn). Also here: a word-level ChatML tokenizer covering the vocabulary, and a tiny config/processor
matching it (random-init tiny SigLIP + tiny Qwen2 of `tiny_models.py`).

`examples/train_mambamia.py --synthetic_dir DIR --make_synthetic NTRAIN,NTEST` renders a set and trains on it (see
`README.md` next to this file).
"""

import json
import os

import numpy as np
from tiny_models import (
    CHATML_SPECIAL_TOKENS,
    TINY_COMPRESSOR,
    TINY_VISION,
    WORDS,
    tiny_text_config,
    tiny_tokenizer,
)


COLORS = {"red": (230, 30, 30), "green": (30, 200, 40), "blue": (40, 70, 240), "yellow": (235, 225, 30)}
NUMBER_WORDS = ["one", "two", "three", "four", "five", "six"]
QUESTIONS = {
    "first_color": "what color is the first square ?",
    "last_color": "what color is the last square ?",
    "count": "how many squares are shown ?",
}
EXTRA_WORDS = ["You", "first", "last", "how", "many", "squares", "shown", "yellow"] + NUMBER_WORDS
VOCAB_WORDS = WORDS + [w for w in EXTRA_WORDS if w not in WORDS]


def answer_choices(question: str, max_squares: int = 4) -> list[str]:
    """The closed answer set of a synthetic question (raises for a question the generator never asks)."""
    if question in (QUESTIONS["first_color"], QUESTIONS["last_color"]):
        return list(COLORS)
    if question == QUESTIONS["count"]:
        return NUMBER_WORDS[:max_squares]
    raise ValueError(f"Not a synthetic QA question: {question!r}")


def render_video(
    path: str,
    colors: list[str],
    positions: list[tuple[int, int]],
    fps: int = 4,
    size: int = 32,
    square: int = 14,
    square_seconds: float = 1.0,
    gap_seconds: float = 0.5,
) -> str:
    """Write an mp4 (mpeg4, yuv420p) showing each square of `colors` at its (row, col) for `square_seconds`,
    each followed by `gap_seconds` of blank frames."""
    import av

    on, off = round(square_seconds * fps), round(gap_seconds * fps)
    frames = []
    for color, (row, col) in zip(colors, positions):
        image = np.full((size, size, 3), 16, dtype=np.uint8)
        image[row : row + square, col : col + square] = COLORS[color]
        frames += [image] * on + [np.full((size, size, 3), 16, dtype=np.uint8)] * off
    with av.open(path, mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 400_000
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_record(video_id: str, video: str, colors: list[str], rng: np.random.Generator, turns: int = 3) -> dict:
    """One LLaVA-Video style record asking `turns` distinct question types in random order."""
    answers = {
        "first_color": colors[0],
        "last_color": colors[-1],
        "count": NUMBER_WORDS[len(colors) - 1],
    }
    kinds = [list(QUESTIONS)[i] for i in rng.permutation(len(QUESTIONS))[:turns]]
    conversations = []
    for i, kind in enumerate(kinds):
        question = ("<video>\n" if i == 0 else "") + QUESTIONS[kind]
        conversations += [{"from": "human", "value": question}, {"from": "gpt", "value": answers[kind]}]
    return {"id": video_id, "video": video, "conversations": conversations}


def generate_synthetic_video_qa(
    output_dir: str,
    num_train: int = 400,
    num_test: int = 100,
    max_squares: int = 4,
    seed: int = 2025,
    fps: int = 4,
    size: int = 32,
    turns: int = 3,
) -> dict[str, str]:
    """Render `num_train + num_test` videos under `output_dir/videos/` and write `train.jsonl` (JSON lines) and
    `test.json` (a JSON list) with video paths relative to `output_dir`. Returns the paths of both files.

    Square counts are uniform in 1..`max_squares`, colours uniform with consecutive squares differing, so every
    answer of a question is (close to) equally likely: chance = 1/4 for every question type by default."""
    if not 1 <= max_squares <= len(NUMBER_WORDS):
        raise ValueError(f"max_squares must be in 1..{len(NUMBER_WORDS)}, got {max_squares}")
    if not 1 <= turns <= len(QUESTIONS):
        raise ValueError(f"turns must be in 1..{len(QUESTIONS)}, got {turns}")
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(output_dir, "videos"), exist_ok=True)
    square = size * 7 // 16
    names = list(COLORS)
    splits = {"train": [], "test": []}
    for index in range(num_train + num_test):
        split = "train" if index < num_train else "test"
        count = int(rng.integers(1, max_squares + 1))
        colors = [names[int(rng.integers(len(names)))]]
        while len(colors) < count:  # consecutive squares differ
            colors.append(names[int(rng.choice([i for i in range(len(names)) if names[i] != colors[-1]]))])
        positions = [tuple(int(v) for v in rng.integers(0, size - square + 1, size=2)) for _ in colors]
        video_id = f"synth-{split}-{index:05d}"
        relative = os.path.join("videos", f"{video_id}.mp4")
        render_video(os.path.join(output_dir, relative), colors, positions, fps=fps, size=size, square=square)
        splits[split].append(make_record(video_id, relative, colors, rng, turns=turns))
    train_path, test_path = os.path.join(output_dir, "train.jsonl"), os.path.join(output_dir, "test.json")
    with open(train_path, "w") as f:
        for record in splits["train"]:
            f.write(json.dumps(record) + "\n")
    with open(test_path, "w") as f:
        json.dump(splits["test"], f, indent=1)
    return {"train": train_path, "test": test_path}


# ---------------------------------------------------------------------------------------------- tiny parts
def synthetic_qa_tokenizer():
    """Word-level ChatML tokenizer over `VOCAB_WORDS` (special tokens first: pad = 0, eos = <|im_end|> = 2,
    <video> = 3): `tiny_models.tiny_tokenizer` with the synthetic QA words."""
    return tiny_tokenizer(VOCAB_WORDS)


def synthetic_qa_config(**overrides):
    """Tiny MambaMia config (tiny SigLIP 32x32 / patch 8, tiny Qwen2, tiny compressor) sized to the synthetic QA
    tokenizer. Delta sampling keeps the paper's M_thresh = 180 so short videos are never sampled."""
    from mambamia_hf.configuration_mambamia import MambaMiaConfig

    compressor = dict(TINY_COMPRESSOR, delta_sampling_min_frames=180)
    kwargs = dict(
        vision_config=dict(TINY_VISION),
        text_config=tiny_text_config(len(CHATML_SPECIAL_TOKENS) + 1 + len(VOCAB_WORDS)),
        video_token_id=CHATML_SPECIAL_TOKENS.index("<video>"),
        **compressor,
    )
    kwargs.update(overrides)
    return MambaMiaConfig(**kwargs)


def synthetic_qa_processor(config=None, fps: float = 2.0, max_frames: int = 64):
    """MambaMiaProcessor for `synthetic_qa_config` (training sampling: <= 2 fps, 64 frames by default)."""
    from mambamia_hf import MambaMiaProcessor, MambaMiaVideoProcessor

    config = config if config is not None else synthetic_qa_config()
    size = config.vision_config.image_size
    video_processor = MambaMiaVideoProcessor(size={"height": size, "width": size}, fps=fps, max_frames=max_frames)
    return MambaMiaProcessor(video_processor, synthetic_qa_tokenizer(), tokens_per_frame=config.tokens_per_frame)


__all__ = [
    "COLORS",
    "QUESTIONS",
    "answer_choices",
    "generate_synthetic_video_qa",
    "render_video",
    "synthetic_qa_config",
    "synthetic_qa_processor",
    "synthetic_qa_tokenizer",
]
