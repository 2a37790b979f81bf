# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Video grounding data in the SnAG / HieraMamba on-disk format, as a lazily loaded `datasets.Dataset`.

On-disk format (what the official `libs/data/dataset.py` reads):

- annotation JSON `{split: {video_id: {"fps", "duration", ["num_clips"], "annotations": [{"segment": [s, e]
  (seconds), "sentence", ["sentence_id"]}]}}}`; `num_frames = int(duration * fps)`; a missing `sentence_id`
  becomes `f"{video_id}_{index:04d}"`.
- video features `vid_feat_dir/{video_id}.npy` (or `.pt`), shape `(T, C)`, read with stride
  `downsample_rate`. Several directories may be given: their features are concatenated along channels (the shorter
  one padded by repeating its last row when lengths differ by one, as official).
- text features `text_feat_dir/{sentence_id}.npy` of shape `(T_tok, C)` (Ego4D EgoVLP tokens, MAD CLIP tokens), or
  GloVe vectors of the `\\w+` lower-cased tokens of the sentence (TACoS, `GloVeTokenizer`).
- MAD: the HieraMamba configs read MAD like Ego4D (`video/{movie}.npy`, `text/{sentence_id}.npy`, clip 1/1/1 at
  5 fps). The features released by the MAD authors come as two HDF5 files keyed by movie / sentence id; passing such
  a `.h5` file as `vid_feat_dir` / `text_feat_dir` reads it directly (needs `h5py`, imported only then).

Rows of the returned dataset only hold ids, paths and annotations; features are read when a row is accessed
(`set_transform`), so building the dataset never reads a feature file. Rows are grouped as the official
`VideoCentricDataset`: for evaluation one row per video with all its queries; for training the greedy grouping
(queries sorted by start, each group = the first ungrouped query and every ungrouped query inside a window of the
worst-case training length after it, at most `max_num_text` sampled). At access time a training row is randomly
cropped/truncated as official (`crop_ratio`, `trunc_thresh`, `max_vid_len`) with Python's global `random`
(seed it, or let the Trainer's worker seeding do it), and text features are cut to `max_text_len` tokens.

Ground truth in seconds maps to the feature grid as
`clip(sec * fps, 0, num_frames) / (clip_stride * downsample_rate) - 0.5 * clip_size / (clip_stride * downsample_rate)`
(feature `i` is centred on frame `i * stride + clip_size / 2`); predictions go back with
`(grid * clip_stride * downsample_rate + 0.5 * clip_size) / fps`
(`hieramamba_hf.post_processing_hieramamba.grid_to_seconds`). Rows and collated metadata carry `fps`,
`clip_size`, `clip_stride` (as given, in frames) and `downsample_rate`, the arguments of that function.

`HieraMambaGroundingCollator` pads a list of accessed rows into the model's forward inputs. With the
`Trainer`, pass `remove_unused_columns=False` (the transform needs the id/path columns) and drop the collated
`metadata` entry before calling the model (or let `**kwargs` absorb it).

Not ported (unused by the released HieraMamba configs): `to_fixed_len` resizing, external scores
(`ext_score_dir`), the text-centric dataset.
"""

import json
import math
import os
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch


__all__ = [
    "DATASET_PRESETS",
    "GloVeTokenizer",
    "HieraMambaGroundingCollator",
    "basic_english_tokenize",
    "eval_padding_unit",
    "load_grounding_dataset",
    "load_text_features",
    "load_video_features",
    "parse_grounding_annotations",
    "seconds_to_grid",
]


# Data settings of the released configs (opts/*_hieramamba.yaml). `max_vid_len` is the training window in input
# clips, i.e. the model's max_seq_len times its input stride (official `_update_opt`); `max_text_len` is the
# text net's max_seq_len (training truncation); `eval_padding_unit` = 2**(num_levels - 1) * vid_stride.
DATASET_PRESETS = {
    "ego4d": {
        "clip_size": 32,
        "clip_stride": 8,
        "downsample_rate": 2,
        "crop_ratio": None,
        "max_num_text": 2,
        "max_vid_len": 2304,
        "max_text_len": 24,
        "eval_padding_unit": 128,
    },
    "tacos": {
        "clip_size": 16,
        "clip_stride": 4,
        "downsample_rate": 4,
        "crop_ratio": (0.9, 1.0),
        "max_num_text": 4,
        "max_vid_len": 2304,
        "max_text_len": 48,
        "eval_padding_unit": 128,
    },
    "mad": {
        "clip_size": 1,
        "clip_stride": 1,
        "downsample_rate": 1,
        "crop_ratio": (0.9, 1.0),
        "max_num_text": 16,
        "max_vid_len": 8192,
        "max_text_len": 75,
        "eval_padding_unit": 512,
    },
    "madv2": {
        "clip_size": 1,
        "clip_stride": 1,
        "downsample_rate": 1,
        "crop_ratio": (0.9, 1.0),
        "max_num_text": 16,
        "max_vid_len": 8192,
        "max_text_len": 75,
        "eval_padding_unit": 512,
    },
}


# ----------------------------------------------------------------------------------------------------------------
# clock
# ----------------------------------------------------------------------------------------------------------------
def seconds_to_grid(segments_sec, fps: float, num_frames: int, clip_size: float, clip_stride_eff: float) -> np.ndarray:
    """GT seconds -> feature grid: `clip(sec * fps, 0, num_frames) / stride - 0.5 * clip_size / stride`.

    `clip_stride_eff` is the effective stride `clip_stride * downsample_rate` (frames between two loaded features).
    """
    segments_sec = np.asarray(segments_sec, dtype=np.float64)
    return np.clip(segments_sec * fps, 0, num_frames) / clip_stride_eff - 0.5 * clip_size / clip_stride_eff


def eval_padding_unit(num_levels: int, vid_stride: int = 1) -> int:
    """Evaluation padding unit of the official evaluator: `2**(num_levels - 1) * vid_stride` (128 Ego4D, 512 MAD)."""
    return 2 ** (num_levels - 1) * vid_stride


# ----------------------------------------------------------------------------------------------------------------
# GloVe
# ----------------------------------------------------------------------------------------------------------------
_WORD = re.compile(r"\w+")


def basic_english_tokenize(text: str) -> list[str]:
    """Official TACoS tokenizer: `re.findall(r"\\w+", text.lower())`."""
    return _WORD.findall(text.lower())


class GloVeTokenizer:
    """Sentence -> GloVe token vectors `(T, dim)` float32; unknown words give zero vectors (official TACoS).

    Build it with `from_file` from a GloVe text file (`word v1 ... v_dim` per line). `words` restricts the
    vocabulary kept in memory (e.g. the words of a dataset's sentences) so a 6B file need not be held whole.
    """

    def __init__(self, vocab: dict[str, int], vectors: np.ndarray):
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or (vocab and max(vocab.values()) >= len(vectors)):
            raise ValueError("GloVeTokenizer needs a (num_words, dim) vector table that covers every vocab index")
        self.vocab = dict(vocab)
        self.vectors = vectors
        self.embedding_dim = vectors.shape[1]

    @classmethod
    def from_file(cls, glove_path: str | os.PathLike, embedding_dim: int = 300, words: Iterable[str] | None = None):
        glove_path = os.fspath(glove_path)
        if not os.path.isfile(glove_path):
            raise FileNotFoundError(f"GloVe file not found: {glove_path}")
        keep = None if words is None else set(words)
        vocab, rows = {}, []
        with open(glove_path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                parts = line.rstrip().split(" ")
                word, values = parts[0], parts[1:]
                if keep is not None and word not in keep:
                    continue
                if len(values) != embedding_dim:  # official: such a word keeps a zero vector
                    vector = np.zeros(embedding_dim, dtype=np.float32)
                else:
                    try:
                        vector = np.asarray(values, dtype=np.float32)
                    except ValueError as error:
                        raise ValueError(f"{glove_path}:{line_no}: malformed GloVe vector for {word!r}") from error
                if word in vocab:  # official: the last occurrence wins
                    rows[vocab[word]] = vector
                else:
                    vocab[word] = len(rows)
                    rows.append(vector)
        if not vocab and keep is None:
            raise ValueError(f"GloVe file {glove_path} holds no vectors")
        vectors = np.stack(rows) if rows else np.zeros((0, embedding_dim), dtype=np.float32)
        return cls(vocab, vectors)

    def tokenize(self, text: str) -> list[str]:
        return basic_english_tokenize(text)

    def __call__(self, text: str) -> np.ndarray:
        tokens = self.tokenize(text)
        out = np.zeros((len(tokens), self.embedding_dim), dtype=np.float32)
        for i, token in enumerate(tokens):
            index = self.vocab.get(token)
            if index is not None:
                out[i] = self.vectors[index]
        return out


# ----------------------------------------------------------------------------------------------------------------
# annotations
# ----------------------------------------------------------------------------------------------------------------
def _read_json(anno_file: str) -> dict:
    if not os.path.isfile(anno_file):
        raise FileNotFoundError(f"annotation file not found: {anno_file}")
    try:
        with open(anno_file, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as error:
        raise ValueError(f"malformed JSON in annotation file {anno_file}: {error}") from error


def parse_grounding_annotations(
    anno_file: str | os.PathLike,
    split: str | Sequence[str],
    clip_stride: int,
    downsample_rate: int = 1,
    invalid_segments: str = "error",
) -> dict[str, dict]:
    """Read the annotation JSON into `{video_id: {fps, duration, num_frames, num_clips, sentence_ids, sentences,
    segments}}` (`segments` an `(n, 2)` array in seconds), following the official `_parse_annotations`.

    Segments are clamped to `[0, duration]`. A segment of non-positive length after clamping (e.g. one entirely
    outside the video) is dropped silently by the official code; here it raises a `ValueError` naming the file,
    video and sentence unless `invalid_segments="drop"` (official behaviour). Videos without valid annotations
    are skipped, as official.
    """
    if invalid_segments not in ("error", "drop"):
        raise ValueError(f"invalid_segments must be 'error' or 'drop', got {invalid_segments!r}")
    if not isinstance(downsample_rate, int) or downsample_rate < 1:
        raise ValueError(f"downsample_rate must be a positive int, got {downsample_rate!r}")
    anno_file = os.fspath(anno_file)
    anno = _read_json(anno_file)
    splits = (split,) if isinstance(split, str) else tuple(split)
    if not isinstance(anno, dict):
        raise ValueError(f"annotation file {anno_file} must hold a JSON object {{split: {{video_id: ...}}}}")
    database = {}
    for s in splits:
        if s not in anno:
            raise ValueError(f"split {s!r} not in annotation file {anno_file} (it has {sorted(anno)})")
        if not isinstance(anno[s], dict):
            raise ValueError(f"split {s!r} of {anno_file} must map video ids to video entries")
        database.update(anno[s])

    videos = {}
    for video_id, value in database.items():
        where = f"video {video_id!r} of {anno_file}"
        if not isinstance(value, dict):
            raise ValueError(f"{where}: entry must be an object, got {type(value).__name__}")
        if "annotations" not in value:
            continue
        try:
            fps, duration = float(value["fps"]), float(value["duration"])
        except KeyError as error:
            raise ValueError(f"{where}: missing field {error.args[0]!r}") from error
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: fps and duration must be numbers") from error
        if not (fps > 0 and math.isfinite(fps)):
            raise ValueError(f"{where}: fps must be positive, got {fps}")
        if not (duration > 0 and math.isfinite(duration)):
            raise ValueError(f"{where}: zero-length or invalid video (duration {duration})")
        num_frames = int(duration * fps)
        if "num_clips" in value:
            num_clips = (int(value["num_clips"]) + downsample_rate - 1) // downsample_rate
        else:  # official estimate from the clock
            num_clips = max(1, int(duration * fps / clip_stride))
            num_clips = (num_clips + downsample_rate - 1) // downsample_rate

        sentence_ids, sentences, segments = [], [], []
        for index, pair in enumerate(value["annotations"]):
            try:
                start, end = (float(x) for x in pair["segment"])
                sentence = str(pair["sentence"]).strip()
            except KeyError as error:
                raise ValueError(f"{where}, annotation {index}: missing field {error.args[0]!r}") from error
            except (TypeError, ValueError) as error:
                raise ValueError(f"{where}, annotation {index}: segment must be [start, end] seconds") from error
            sentence_id = str(pair.get("sentence_id", f"{video_id}_{index:04d}"))
            start, end = max(start, 0.0), min(end, duration)
            if not end - start > 0:
                if invalid_segments == "drop":
                    continue
                raise ValueError(
                    f"{where}, sentence {sentence_id!r}: ground truth {pair['segment']} is empty or outside the "
                    f"video [0, {duration}] (pass invalid_segments='drop' to skip such queries as the official code)"
                )
            sentence_ids.append(sentence_id)
            sentences.append(sentence)
            segments.append((start, end))
        if not sentence_ids:
            continue
        videos[video_id] = {
            "fps": fps,
            "duration": duration,
            "num_frames": num_frames,
            "num_clips": num_clips,
            "sentence_ids": sentence_ids,
            "sentences": sentences,
            "segments": np.asarray(segments, dtype=np.float64),
        }
    if not videos:
        raise ValueError(f"no video with valid annotations in split(s) {list(splits)} of {anno_file}")
    return videos


def _group_with_max_len(video: dict, max_vid_len, crop_ratio, clip_size, clip_stride_eff, max_num_text, rng):
    """Official greedy video-centric grouping (`_group_with_max_len`): tuples of query indices."""
    if video["num_clips"] <= max_vid_len:
        win_len = video["num_clips"]
        if crop_ratio is not None:
            win_len = max(np.ceil(crop_ratio[0] * win_len), 1)
    else:
        win_len = max_vid_len
    win_len = (clip_stride_eff * (win_len - 1) + clip_size) / video["fps"]  # worst-case window in seconds

    sort_idx = np.argsort(video["segments"][:, 0])
    segments = video["segments"][sort_idx]
    mask = np.ones(len(segments), dtype=bool)
    groups = []
    while mask.sum() > 0:
        ptr = np.nonzero(mask)[0].min()  # probe: first ungrouped query
        ws, we = segments[ptr, 0], segments[ptr, 0] + win_len
        if segments[ptr, 1] - segments[ptr, 0] > win_len:
            idx = np.array([ptr])
        else:
            idx = np.nonzero((segments[:, 0] >= ws) & (segments[:, 1] <= we) & mask)[0]
            if max_num_text is not None and len(idx) > max_num_text:
                idx = rng.choice(idx, max_num_text, replace=False)
        groups.append(tuple(int(i) for i in sort_idx[idx]))
        mask[idx] = False
    return groups


# ----------------------------------------------------------------------------------------------------------------
# feature files
# ----------------------------------------------------------------------------------------------------------------
def _is_h5(path: str) -> bool:
    return path.endswith((".h5", ".hdf5")) and os.path.isfile(path)


def _open_h5(path: str):
    try:
        import h5py
    except ImportError as error:
        raise ImportError(f"reading HDF5 features ({path}) needs h5py: pip install h5py") from error
    return h5py.File(path, "r")


def _h5_keys(path: str) -> set[str]:
    with _open_h5(path) as f:
        return set(f.keys())


def _resolve_video_source(feat_dir: str, video_id: str) -> str:
    """`.npy` first, then `.pt` (official order), or `file.h5::video_id`."""
    if _is_h5(feat_dir):
        return f"{feat_dir}::{video_id}"
    for ext in (".npy", ".pt"):
        path = os.path.join(feat_dir, video_id + ext)
        if os.path.exists(path):
            return path
    return os.path.join(feat_dir, video_id + ".npy")


def _text_source(text_feat_dir: str, sentence_id: str) -> str:
    if _is_h5(text_feat_dir):
        return f"{text_feat_dir}::{sentence_id}"
    return os.path.join(text_feat_dir, sentence_id + ".npy")


def _source_exists(source: str, h5_keys: dict) -> bool:
    if "::" in source and source.split("::", 1)[0] in h5_keys:
        file, key = source.split("::", 1)
        return key in h5_keys[file]
    return os.path.isfile(source)


def _read_array(source: str, stride: int = 1) -> np.ndarray:
    """Read a `(T, C)` feature array from `.npy` / `.pt` / `file.h5::key`, every `stride`-th row."""
    try:
        if "::" in source and _is_h5(source.split("::", 1)[0]):
            file, key = source.split("::", 1)
            with _open_h5(file) as f:
                if key not in f:
                    raise FileNotFoundError(f"key {key!r} not in {file}")
                array = np.asarray(f[key][::stride])
        elif source.endswith(".pt"):
            if not os.path.isfile(source):
                raise FileNotFoundError(source)
            tensor = torch.load(source, map_location="cpu", weights_only=True)
            if not isinstance(tensor, torch.Tensor):
                raise ValueError(f"expected a tensor, got {type(tensor).__name__}")
            array = tensor.detach().float().numpy()[::stride]
        else:
            if not os.path.isfile(source):
                raise FileNotFoundError(source)
            array = np.load(source, mmap_mode="r")[::stride]
        array = np.array(array, dtype=np.float32, order="C")  # an in-memory copy (not a view of the memmap)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"feature file not found: {source}") from error
    except ImportError:
        raise
    except Exception as error:
        raise ValueError(f"could not read features from {source}: {error}") from error
    if array.ndim != 2:
        raise ValueError(f"features in {source} must have shape (T, C), got {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"features in {source} are empty (zero-length video or sentence)")
    return array


def load_video_features(sources: Sequence[str], downsample_rate: int = 1) -> np.ndarray:
    """Video features `(T, C)` from one or several sources (channels concatenated), then `[::downsample_rate]`."""
    feats = [_read_array(s) for s in sources]
    if len(feats) > 1:
        lengths = [len(x) for x in feats]
        if max(lengths) - min(lengths) > 1:
            raise ValueError(f"misaligned features {dict(zip(sources, lengths))} (lengths may differ by at most 1)")
        feats = [
            np.concatenate([x, np.repeat(x[-1:], max(lengths) - len(x), axis=0)]) if len(x) < max(lengths) else x
            for x in feats
        ]
        feats = np.concatenate(feats, axis=1)
    else:
        feats = feats[0]
    return np.ascontiguousarray(feats[::downsample_rate])


def load_text_features(source: str) -> np.ndarray:
    """Token features `(T_tok, C)` of one sentence."""
    return _read_array(source)


# ----------------------------------------------------------------------------------------------------------------
# the dataset
# ----------------------------------------------------------------------------------------------------------------
def _truncate(feats, segments, offset, max_vid_len, crop_ratio, trunc_thresh, video_id, num_trials=5000):
    """Official `_truncate_vid_feats` on `feats (T, C)` and grid `segments (n, 2)` (global `random`)."""
    vid_len = feats.shape[0]
    if vid_len <= max_vid_len:
        if crop_ratio is None:
            return feats, segments
        max_vid_len = random.randint(
            int(max(np.ceil(crop_ratio[0] * vid_len), 1)), int(min(np.ceil(crop_ratio[1] * vid_len), vid_len))
        )
        if max_vid_len == vid_len:
            return feats, segments
    s0 = int(max(0, np.floor(segments[:, 0].max() - max_vid_len)))
    s1 = int(min(vid_len - max_vid_len, np.ceil(segments[:, 1].min())))
    if s0 > s1:
        raise ValueError(f"video {video_id!r}: its queries cannot fit in one window of {max_vid_len} clips")
    seg_lens = np.clip(segments[:, 1] - segments[:, 0], 1e-5, None)
    for _ in range(num_trials):
        ws = random.randint(s0, s1)
        we = ws + max_vid_len
        overlap = np.clip(np.minimum(segments[:, 1], we + offset) - np.maximum(segments[:, 0], ws - offset), 0, None)
        if np.all(overlap / seg_lens > trunc_thresh):
            return feats[ws:we], np.clip(segments - ws, -offset, we - ws + offset)
    raise ValueError(f"video {video_id!r}: no valid truncation found in {num_trials} trials")


@dataclass
class _Loader:
    """The `set_transform` function: reads a batch of rows' features (picklable for DataLoader workers)."""

    is_training: bool
    clip_size: float
    clip_stride_eff: float
    downsample_rate: int
    max_vid_len: int | None
    max_text_len: int | None
    crop_ratio: tuple | None
    trunc_thresh: float
    normalize_vid: bool
    normalize_text: bool
    glove: GloVeTokenizer | None = None

    def __call__(self, batch: dict) -> dict:
        out = {key: list(value) for key, value in batch.items()}
        out["video_features"], out["text_features"], out["segments"] = [], [], []
        for i in range(len(batch["video_id"])):
            video_id = batch["video_id"][i]
            feats = load_video_features(batch["video_feature_paths"][i], self.downsample_rate)
            if self.normalize_vid:
                feats = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
            segments = seconds_to_grid(
                batch["segments_sec"][i], batch["fps"][i], batch["num_frames"][i], self.clip_size, self.clip_stride_eff
            ).astype(np.float32)
            if self.is_training:
                offset = 0.5 * self.clip_size / self.clip_stride_eff
                feats, segments = _truncate(
                    feats, segments, offset, self.max_vid_len, self.crop_ratio, self.trunc_thresh, video_id
                )
            texts = []
            for sentence_id, sentence, path in zip(
                batch["sentence_ids"][i], batch["sentences"][i], batch["text_feature_paths"][i]
            ):
                if self.glove is not None:
                    text = self.glove(sentence)
                    if len(text) == 0:
                        raise ValueError(f"sentence {sentence_id!r} of video {video_id!r} has no \\w+ token")
                else:
                    text = load_text_features(path)
                if self.is_training and self.max_text_len is not None:
                    text = text[: self.max_text_len]
                if self.normalize_text:
                    text = text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-12)
                texts.append(torch.from_numpy(np.ascontiguousarray(text)))
            out["video_features"].append(torch.from_numpy(np.ascontiguousarray(feats)))
            out["text_features"].append(texts)
            out["segments"].append(torch.from_numpy(np.ascontiguousarray(segments, dtype=np.float32)))
        return out


def load_grounding_dataset(
    anno_file: str | os.PathLike,
    split: str | Sequence[str],
    vid_feat_dir: str | os.PathLike | Sequence[str | os.PathLike],
    text_feat_dir: str | os.PathLike | None = None,
    *,
    clip_size: float,
    clip_stride: int,
    downsample_rate: int = 1,
    is_training: bool = False,
    max_vid_len: int | None = None,
    max_text_len: int | None = None,
    max_num_text: int | None = None,
    crop_ratio: tuple[float, float] | None = (0.9, 1.0),
    trunc_thresh: float = 0.5,
    glove_tokenizer: GloVeTokenizer | None = None,
    glove_path: str | os.PathLike | None = None,
    glove_dim: int = 300,
    normalize_vid: bool = False,
    normalize_text: bool = False,
    invalid_segments: str = "error",
    check_files: bool = True,
    seed: int = 1234567891,
):
    """Build a lazily loaded `datasets.Dataset` of video-centric grounding samples.

    Args:
        anno_file: annotation JSON (format in the module docstring).
        split: split name(s) to read (several are merged, as official).
        vid_feat_dir: directory (or directories, channels concatenated) of `{video_id}.npy|.pt`, or an `.h5` file.
        text_feat_dir: directory of `{sentence_id}.npy` (or an `.h5` file); not needed with GloVe.
        clip_size, clip_stride, downsample_rate: the feature clock (see :data:`DATASET_PRESETS`).
        is_training: training rows (greedy groups, random crop at access, text cut to `max_text_len`) or
            evaluation rows (one per video, all queries, full video).
        max_vid_len: training window in loaded clips (model `max_seq_len * vid_stride`); required for training.
        max_text_len: training truncation of text tokens.
        max_num_text: max queries per training row.
        crop_ratio, trunc_thresh: official random cropping / truncation (`crop_ratio=None` disables cropping).
        glove_tokenizer / glove_path, glove_dim: TACoS-style text (GloVe vectors of `\\w+` tokens). With
            `glove_path` only the words of the loaded sentences are kept in memory.
        normalize_vid, normalize_text: L2-normalise every feature vector (official options, off in all configs).
        invalid_segments: `"error"` (default) or `"drop"` (official) for GT that is empty after clamping.
        check_files: check that every feature file exists when building (cheap `stat`; errors name the file).
        seed: seed of the random subset choice in training grouping.

    Returns:
        `datasets.Dataset` with columns `video_id, sentence_ids, sentences, segments_sec, fps, duration,
        num_frames, num_clips, clip_size, clip_stride, video_feature_paths, text_feature_paths`; accessing rows
        adds `video_features (T, C)`, `text_features` (list of `(L, C)`) and `segments` (grid units,
        cropped in training) as torch tensors.
    """
    import datasets

    if not isinstance(downsample_rate, int) or downsample_rate < 1:
        raise ValueError(f"downsample_rate must be a positive int, got {downsample_rate!r}")
    if is_training and (max_vid_len is None or max_vid_len < 1):
        raise ValueError("training needs max_vid_len (the training window in clips, model max_seq_len * vid_stride)")
    if crop_ratio is not None and (len(crop_ratio) != 2 or not 0 < crop_ratio[0] <= crop_ratio[1] <= 1):
        raise ValueError(f"crop_ratio must be (low, high) with 0 < low <= high <= 1, got {crop_ratio}")
    if glove_tokenizer is not None and glove_path is not None:
        raise ValueError("pass either glove_tokenizer or glove_path, not both")
    use_glove = glove_tokenizer is not None or glove_path is not None
    if not use_glove and text_feat_dir is None:
        raise ValueError("text features need text_feat_dir, or GloVe (glove_path / glove_tokenizer)")

    anno_file = os.fspath(anno_file)
    vid_dirs = (
        [os.fspath(vid_feat_dir)]
        if isinstance(vid_feat_dir, (str, os.PathLike))
        else [os.fspath(d) for d in vid_feat_dir]
    )
    for d in vid_dirs:
        if not (os.path.isdir(d) or _is_h5(d)):
            raise FileNotFoundError(f"video feature directory not found: {d}")
    if not use_glove:
        text_feat_dir = os.fspath(text_feat_dir)
        if not (os.path.isdir(text_feat_dir) or _is_h5(text_feat_dir)):
            raise FileNotFoundError(f"text feature directory not found: {text_feat_dir}")

    clip_stride_eff = clip_stride * downsample_rate
    videos = parse_grounding_annotations(anno_file, split, clip_stride, downsample_rate, invalid_segments)

    if glove_path is not None:
        words = {w for v in videos.values() for s in v["sentences"] for w in basic_english_tokenize(s)}
        glove_tokenizer = GloVeTokenizer.from_file(glove_path, glove_dim, words=words)

    h5_keys = {}
    if check_files:
        for d in vid_dirs + ([] if use_glove else [text_feat_dir]):
            if _is_h5(d):
                h5_keys[d] = _h5_keys(d)

    rng = np.random.RandomState(seed)
    rows = {
        key: []
        for key in (
            "video_id",
            "sentence_ids",
            "sentences",
            "segments_sec",
            "fps",
            "duration",
            "num_frames",
            "num_clips",
            "clip_size",
            "clip_stride",
            "downsample_rate",
            "video_feature_paths",
            "text_feature_paths",
        )
    }
    for video_id, video in videos.items():
        video_sources = [_resolve_video_source(d, video_id) for d in vid_dirs]
        text_sources = ["" if use_glove else _text_source(text_feat_dir, s) for s in video["sentence_ids"]]
        if check_files:
            for source in video_sources + [s for s in text_sources if s]:
                if not _source_exists(source, h5_keys):
                    raise FileNotFoundError(f"feature file not found: {source} (video {video_id!r} of {anno_file})")
        if is_training:
            groups = _group_with_max_len(video, max_vid_len, crop_ratio, clip_size, clip_stride_eff, max_num_text, rng)
        else:
            groups = [tuple(range(len(video["sentence_ids"])))]
        for group in groups:
            rows["video_id"].append(video_id)
            rows["sentence_ids"].append([video["sentence_ids"][i] for i in group])
            rows["sentences"].append([video["sentences"][i] for i in group])
            rows["segments_sec"].append(video["segments"][list(group)].tolist())
            rows["fps"].append(video["fps"])
            rows["duration"].append(video["duration"])
            rows["num_frames"].append(video["num_frames"])
            rows["num_clips"].append(video["num_clips"])
            rows["clip_size"].append(float(clip_size))
            rows["clip_stride"].append(float(clip_stride))
            rows["downsample_rate"].append(int(downsample_rate))
            rows["video_feature_paths"].append(video_sources)
            rows["text_feature_paths"].append([text_sources[i] for i in group])

    dataset = datasets.Dataset.from_dict(rows)
    dataset.set_transform(
        _Loader(
            is_training=is_training,
            clip_size=float(clip_size),
            clip_stride_eff=float(clip_stride_eff),
            downsample_rate=downsample_rate,
            max_vid_len=max_vid_len,
            max_text_len=max_text_len,
            crop_ratio=None if crop_ratio is None else tuple(crop_ratio),
            trunc_thresh=trunc_thresh,
            normalize_vid=normalize_vid,
            normalize_text=normalize_text,
            glove=glove_tokenizer,
        )
    )
    return dataset


# ----------------------------------------------------------------------------------------------------------------
# collator
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class HieraMambaGroundingCollator:
    """Pads accessed dataset rows into HieraMamba forward inputs.

    Video padding follows the official workers: in training every video is zero-padded to exactly `max_seq_len`
    clips (the training window, `model max_seq_len * vid_stride`); in evaluation each video is padded to the next
    multiple of `pad_to_multiple_of` (`2**(num_levels-1) * vid_stride`, `eval_padding_unit`) and the batch
    to its longest padded video. Text is padded to the longest query of the batch, or to `max_text_len` when given
    (official: the text net's max_seq_len; a longer query raises).

    Returns a dict with `video_features (B, T, C)` float, `video_mask (B, T)` bool, `text_features (Q, L, C)`,
    `text_mask (Q, L)` bool, `queries_per_video (B,)` long (queries of video b are the rows
    `sum(q[:b]) .. sum(q[:b+1])` of the text tensors), `segments (Q, 2)` GT in input-feature grid units (when
    `return_segments`; the model divides them by its input stride, as official `target / vid_stride`), and
    `metadata`: one dict per video with `video_id, duration, fps, num_frames, clip_size, clip_stride,
    downsample_rate` (the arguments of `post_processing_hieramamba.grid_to_seconds`), `num_features` (unpadded
    length), `sentence_ids` and `gt_segments_sec` (for `compute_grounding_metrics`).
    """

    max_seq_len: int | None = None
    pad_to_multiple_of: int | None = None
    max_text_len: int | None = None
    return_segments: bool = True

    def __post_init__(self):
        if (self.max_seq_len is None) == (self.pad_to_multiple_of is None):
            raise ValueError("give exactly one of max_seq_len (training) or pad_to_multiple_of (evaluation)")

    def __call__(self, examples: list[dict]) -> dict:
        if len(examples) == 0:
            raise ValueError("cannot collate an empty batch")
        videos = [torch.as_tensor(e["video_features"], dtype=torch.float32) for e in examples]
        dims = {v.shape[1] for v in videos}
        if len(dims) != 1:
            raise ValueError(f"video feature dims differ within the batch: {sorted(dims)}")
        lengths = [v.shape[0] for v in videos]
        if self.max_seq_len is not None:
            too_long = [e["video_id"] for e, n in zip(examples, lengths) if n > self.max_seq_len]
            if too_long:
                raise ValueError(f"videos {too_long} are longer than max_seq_len={self.max_seq_len} (not truncated?)")
            padded_len = self.max_seq_len
        else:
            unit = self.pad_to_multiple_of
            padded_len = max((n + unit - 1) // unit * unit for n in lengths)
        video_features = videos[0].new_zeros((len(videos), padded_len, videos[0].shape[1]))
        for b, v in enumerate(videos):
            video_features[b, : v.shape[0]] = v
        video_mask = torch.arange(padded_len)[None] < torch.tensor(lengths)[:, None]

        texts = [torch.as_tensor(t, dtype=torch.float32) for e in examples for t in e["text_features"]]
        if not texts:
            raise ValueError("the batch has no text query")
        text_dims = {t.shape[1] for t in texts}
        if len(text_dims) != 1:
            raise ValueError(f"text feature dims differ within the batch: {sorted(text_dims)}")
        text_lengths = [t.shape[0] for t in texts]
        text_len = max(text_lengths) if self.max_text_len is None else self.max_text_len
        if max(text_lengths) > text_len:
            ids = [s for e in examples for s in e["sentence_ids"]]
            long_ids = [s for s, n in zip(ids, text_lengths) if n > text_len]
            raise ValueError(f"queries {long_ids} have more than max_text_len={text_len} tokens")
        text_features = texts[0].new_zeros((len(texts), text_len, texts[0].shape[1]))
        for q, t in enumerate(texts):
            text_features[q, : t.shape[0]] = t
        text_mask = torch.arange(text_len)[None] < torch.tensor(text_lengths)[:, None]

        batch = {
            "video_features": video_features,
            "video_mask": video_mask,
            "text_features": text_features,
            "text_mask": text_mask,
            "queries_per_video": torch.tensor([len(e["text_features"]) for e in examples], dtype=torch.long),
        }
        if self.return_segments:
            batch["segments"] = torch.cat([torch.as_tensor(e["segments"], dtype=torch.float32) for e in examples])
        batch["metadata"] = [
            {
                "video_id": e["video_id"],
                "duration": float(e["duration"]),
                "fps": float(e["fps"]),
                "num_frames": int(e["num_frames"]),
                "clip_size": float(e["clip_size"]),
                "clip_stride": float(e["clip_stride"]),
                "downsample_rate": int(e["downsample_rate"]),
                "sentence_ids": list(e["sentence_ids"]),
                "gt_segments_sec": [tuple(s) for s in e["segments_sec"]],
                "num_features": int(n),
            }
            for e, n in zip(examples, lengths)
        ]
        return batch
