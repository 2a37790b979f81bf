# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
import json
import random

import numpy as np
import pytest
import torch

import hieramamba_hf.data_hieramamba as data_module
from hieramamba_hf.data_hieramamba import (
    DATASET_PRESETS,
    GloVeTokenizer,
    HieraMambaGroundingCollator,
    basic_english_tokenize,
    eval_padding_unit,
    load_grounding_dataset,
    seconds_to_grid,
)
from hieramamba_hf.post_processing_hieramamba import grid_to_seconds


def _write_json(path, obj):
    path.write_text(json.dumps(obj))
    return str(path)


def _ego4d_layout(tmp_path, video_dim=16, text_dim=12):
    """Ego4D-NLQ layout: clip 32/8, downsample 2, fps 30, token features per sentence."""
    rng = np.random.default_rng(0)
    vid_dir, text_dir = tmp_path / "video", tmp_path / "text"
    vid_dir.mkdir()
    text_dir.mkdir()
    anno = {"train": {}, "val": {}}
    specs = {"vidA": (60.0, [(2.0, 4.0), (10.0, 20.0), (30.0, 31.5)]), "vidB": (20.0, [(0.0, 5.0)])}
    for vid, (duration, segments) in specs.items():
        num_clips = int(duration * 30 / 8)  # one raw feature every 8 frames
        np.save(vid_dir / f"{vid}.npy", rng.normal(size=(num_clips, video_dim)).astype(np.float32))
        annotations = []
        for i, seg in enumerate(segments):
            sid = f"{vid}_q{i}"
            np.save(text_dir / f"{sid}.npy", rng.normal(size=(3 + 2 * i, text_dim)).astype(np.float32))
            annotations.append({"segment": list(seg), "sentence": f"query {i}", "sentence_id": sid})
        anno["val"][vid] = {"fps": 30.0, "duration": duration, "num_clips": num_clips, "annotations": annotations}
    anno_file = _write_json(tmp_path / "ego4d.json", anno)
    return anno_file, str(vid_dir), str(text_dir)


def _ego4d_kwargs():
    preset = DATASET_PRESETS["ego4d"]
    return {k: preset[k] for k in ("clip_size", "clip_stride", "downsample_rate")}


def test_ego4d_eval_rows_features_and_grid(tmp_path):
    anno_file, vid_dir, text_dir = _ego4d_layout(tmp_path)
    ds = load_grounding_dataset(anno_file, "val", vid_dir, text_dir, **_ego4d_kwargs())
    assert len(ds) == 2  # one row per video in evaluation
    row = ds[0]
    assert row["video_id"] == "vidA" and row["sentence_ids"] == ["vidA_q0", "vidA_q1", "vidA_q2"]
    raw = np.load(f"{vid_dir}/vidA.npy")
    torch.testing.assert_close(row["video_features"], torch.from_numpy(raw[::2]))  # stride downsample_rate
    assert [t.shape for t in row["text_features"]] == [(3, 12), (5, 12), (7, 12)]
    # GT (2, 4) s at 30 fps, effective stride 16, clip 32: (60 / 16 - 1, 120 / 16 - 1) = (2.75, 6.5)
    torch.testing.assert_close(row["segments"][0], torch.tensor([2.75, 6.5]))
    assert (row["clip_size"], row["clip_stride"], row["downsample_rate"]) == (32.0, 8.0, 2)
    # round trip grid -> seconds with the post-processing's inverse map
    back = grid_to_seconds(
        row["segments"],
        row["fps"],
        row["clip_size"],
        row["clip_stride"],
        row["downsample_rate"],
        embedding_stride=1,
        duration=row["duration"],
    )
    torch.testing.assert_close(back, torch.tensor(row["segments_sec"], dtype=torch.float32))


def test_eval_collator_pads_to_unit(tmp_path):
    anno_file, vid_dir, text_dir = _ego4d_layout(tmp_path)
    ds = load_grounding_dataset(anno_file, "val", vid_dir, text_dir, **_ego4d_kwargs())
    collator = HieraMambaGroundingCollator(pad_to_multiple_of=eval_padding_unit(num_levels=8, vid_stride=1))
    batch = collator([ds[0], ds[1]])
    # vidA: 225 raw -> 113 loaded clips; vidB: 75 -> 38; both padded to 128
    assert batch["video_features"].shape == (2, 128, 16) and batch["video_features"].dtype == torch.float32
    assert batch["video_mask"].dtype == torch.bool and batch["video_mask"].sum(1).tolist() == [113, 38]
    assert batch["text_features"].shape == (4, 7, 12)
    assert batch["text_mask"].sum(1).tolist() == [3, 5, 7, 3]
    assert batch["queries_per_video"].tolist() == [3, 1] and batch["queries_per_video"].dtype == torch.long
    assert batch["segments"].shape == (4, 2)
    assert torch.equal(batch["video_features"][0, 113:], torch.zeros(15, 16))
    meta = batch["metadata"][1]
    assert meta["video_id"] == "vidB" and meta["gt_segments_sec"] == [(0.0, 5.0)] and meta["num_features"] == 38
    assert meta["fps"] == 30.0 and meta["duration"] == 20.0 and meta["sentence_ids"] == ["vidB_q0"]
    fixed = HieraMambaGroundingCollator(pad_to_multiple_of=128, max_text_len=24)([ds[1]])
    assert fixed["text_features"].shape == (1, 24, 12)
    with pytest.raises(ValueError, match="max_text_len=4"):
        HieraMambaGroundingCollator(pad_to_multiple_of=128, max_text_len=4)([ds[0]])


def _mad_grouping_layout(tmp_path):
    """MAD clock (1/1/1 at 5 fps), 1000 clips, queries given out of order."""
    rng = np.random.default_rng(1)
    vid_dir, text_dir = tmp_path / "video", tmp_path / "text"
    vid_dir.mkdir()
    text_dir.mkdir()
    np.save(vid_dir / "movie.npy", np.arange(1000 * 4, dtype=np.float32).reshape(1000, 4))
    segments = {"E": (150, 200), "C": (20, 45), "A": (0, 10), "D": (100, 110), "B": (5, 30)}
    annotations = []
    for name, seg in segments.items():
        np.save(text_dir / f"s{name}.npy", rng.normal(size=(4, 8)).astype(np.float32))
        annotations.append({"segment": list(seg), "sentence": name, "sentence_id": f"s{name}"})
    anno = {"train": {"movie": {"fps": 5.0, "duration": 200.0, "num_clips": 1000, "annotations": annotations}}}
    return _write_json(tmp_path / "mad.json", anno), str(vid_dir), str(text_dir)


def test_training_greedy_grouping_matches_official_rule(tmp_path):
    anno_file, vid_dir, text_dir = _mad_grouping_layout(tmp_path)
    ds = load_grounding_dataset(
        anno_file,
        "train",
        vid_dir,
        text_dir,
        clip_size=1,
        clip_stride=1,
        is_training=True,
        max_vid_len=200,
        max_text_len=3,
        max_num_text=2,
        crop_ratio=(0.9, 1.0),
    )
    # window = (1 * (200 - 1) + 1) / 5 = 40 s: {A, B} (C ends at 45 > 0 + 40), {C}, {D}, {E} (50 s > window)
    assert [r for r in ds["sentence_ids"]] == [["sA", "sB"], ["sC"], ["sD"], ["sE"]]


def test_training_crop_and_collate(tmp_path):
    anno_file, vid_dir, text_dir = _mad_grouping_layout(tmp_path)
    ds = load_grounding_dataset(
        anno_file,
        "train",
        vid_dir,
        text_dir,
        clip_size=1,
        clip_stride=1,
        is_training=True,
        max_vid_len=200,
        max_text_len=3,
        max_num_text=2,
    )
    random.seed(0)
    full = np.arange(1000 * 4, dtype=np.float32).reshape(1000, 4)
    for i in range(len(ds)):
        row = ds[i]
        feats, segs = row["video_features"], row["segments"]
        assert feats.shape == (200, 4)
        ws = int(feats[0, 0].item()) // 4  # the crop is a contiguous window of the full features
        torch.testing.assert_close(feats, torch.from_numpy(full[ws : ws + 200]))
        gt = seconds_to_grid(row["segments_sec"], 5.0, 1000, 1, 1)  # grid = sec * 5 - 0.5
        expected = np.clip(gt - ws, -0.5, 200 + 0.5)
        torch.testing.assert_close(segs, torch.from_numpy(expected.astype(np.float32)))
        # official truncation rule: more than trunc_thresh of every GT survives
        kept = (np.minimum(gt[:, 1], ws + 200.5) - np.maximum(gt[:, 0], ws - 0.5)) / (gt[:, 1] - gt[:, 0])
        assert np.all(kept > 0.5)
        assert all(t.shape[0] == 3 for t in row["text_features"])  # cut to max_text_len in training
    batch = HieraMambaGroundingCollator(max_seq_len=256)([ds[0], ds[1]])
    assert batch["video_features"].shape == (2, 256, 4) and batch["video_mask"].sum().item() == 400
    assert batch["segments"].shape == (3, 2) and batch["queries_per_video"].tolist() == [2, 1]
    with pytest.raises(ValueError, match="longer than max_seq_len=100"):
        HieraMambaGroundingCollator(max_seq_len=100)([ds[0]])


def test_tacos_glove_layout(tmp_path):
    rng = np.random.default_rng(2)
    vid_dir = tmp_path / "c3d"
    vid_dir.mkdir()
    torch.save(torch.from_numpy(rng.normal(size=(400, 10)).astype(np.float32)), vid_dir / "s13-d21.pt")  # .pt file
    glove = tmp_path / "glove.txt"
    glove.write_text("the 0.1 0.2 0.3\nperson 1 2 3\nonion -1 -2 -3\nunused 9 9 9\n")
    anno = {
        "test": {
            "s13-d21": {
                "fps": 29.4,
                "duration": 200.0,
                "annotations": [
                    {"segment": [10.0, 30.0], "sentence": "The person cuts an Onion."},
                ],
            }
        }
    }
    anno_file = _write_json(tmp_path / "tacos.json", anno)
    preset = DATASET_PRESETS["tacos"]
    ds = load_grounding_dataset(
        anno_file,
        "test",
        str(vid_dir),
        None,
        glove_path=str(glove),
        glove_dim=3,
        clip_size=preset["clip_size"],
        clip_stride=preset["clip_stride"],
        downsample_rate=preset["downsample_rate"],
    )
    row = ds[0]
    assert row["sentence_ids"] == ["s13-d21_0000"]  # official default id
    assert basic_english_tokenize("The person cuts an Onion.") == ["the", "person", "cuts", "an", "onion"]
    expected = torch.tensor([[0.1, 0.2, 0.3], [1, 2, 3], [0, 0, 0], [0, 0, 0], [-1, -2, -3]])
    torch.testing.assert_close(row["text_features"][0], expected)
    assert row["video_features"].shape == (100, 10)  # 400 raw features, every 4th
    # 10 s * 29.4 fps / 16 - 0.5 * 16 / 16
    torch.testing.assert_close(row["segments"][0, 0], torch.tensor(10 * 29.4 / 16 - 0.5))
    tokenizer = GloVeTokenizer.from_file(glove, 3, words={"onion"})
    assert list(tokenizer.vocab) == ["onion"]  # restricted vocabulary
    no_words = {"segment": [1, 2], "sentence": "?!"}
    bad = _write_json(
        tmp_path / "bad.json", {"test": {"s13-d21": {"fps": 29.4, "duration": 200.0, "annotations": [no_words]}}}
    )
    with pytest.raises(ValueError, match="s13-d21_0000"):
        load_grounding_dataset(
            bad,
            "test",
            str(vid_dir),
            glove_path=str(glove),
            glove_dim=3,
            clip_size=16,
            clip_stride=4,
            downsample_rate=4,
        )[0]


def test_mad_layouts_npy_and_h5(tmp_path):
    rng = np.random.default_rng(3)
    video = rng.normal(size=(600, 6)).astype(np.float32)
    tokens = {"1001": rng.normal(size=(5, 6)).astype(np.float32), "1002": rng.normal(size=(9, 6)).astype(np.float32)}
    anno = {
        "test": {
            "3001_21_JUMP_STREET": {
                "fps": 5,
                "duration": 120.0,
                "annotations": [
                    {"segment": [10.0, 14.2], "sentence": "He smiles.", "sentence_id": "1001"},
                    {"segment": [50.0, 52.0], "sentence": "Someone runs.", "sentence_id": "1002"},
                ],
            }
        }
    }
    anno_file = _write_json(tmp_path / "mad.json", anno)
    (tmp_path / "video").mkdir()
    (tmp_path / "text").mkdir()
    np.save(tmp_path / "video" / "3001_21_JUMP_STREET.npy", video)
    for sid, t in tokens.items():
        np.save(tmp_path / "text" / f"{sid}.npy", t)
    preset = DATASET_PRESETS["mad"]
    clock = {k: preset[k] for k in ("clip_size", "clip_stride", "downsample_rate")}
    ds = load_grounding_dataset(anno_file, "test", str(tmp_path / "video"), str(tmp_path / "text"), **clock)
    row = ds[0]
    torch.testing.assert_close(row["segments"], torch.tensor([[49.5, 70.5], [249.5, 259.5]]))
    batch = HieraMambaGroundingCollator(pad_to_multiple_of=preset["eval_padding_unit"])([row])
    assert batch["video_features"].shape == (1, 1024, 6) and batch["text_features"].shape == (2, 9, 6)

    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "CLIP_frames_features_5fps.h5", "w") as f:
        f["3001_21_JUMP_STREET"] = video
    with h5py.File(tmp_path / "CLIP_language_tokens_features.h5", "w") as f:
        for sid, t in tokens.items():
            f[sid] = t
    ds_h5 = load_grounding_dataset(
        anno_file,
        "test",
        str(tmp_path / "CLIP_frames_features_5fps.h5"),
        str(tmp_path / "CLIP_language_tokens_features.h5"),
        **clock,
    )
    row_h5 = ds_h5[0]
    torch.testing.assert_close(row_h5["video_features"], row["video_features"])
    for a, b in zip(row_h5["text_features"], row["text_features"]):
        torch.testing.assert_close(a, b)
    with h5py.File(tmp_path / "CLIP_language_tokens_features.h5", "a") as f:
        del f["1002"]
    with pytest.raises(FileNotFoundError, match="CLIP_language_tokens_features.h5::1002"):
        load_grounding_dataset(
            anno_file,
            "test",
            str(tmp_path / "CLIP_frames_features_5fps.h5"),
            str(tmp_path / "CLIP_language_tokens_features.h5"),
            **clock,
        )


def test_building_reads_no_feature_file(tmp_path, monkeypatch):
    anno_file, vid_dir, text_dir = _ego4d_layout(tmp_path)

    def forbidden(*args, **kwargs):
        raise AssertionError("a feature file was read while building the dataset")

    monkeypatch.setattr(data_module, "_read_array", forbidden)
    ds = load_grounding_dataset(anno_file, "val", vid_dir, text_dir, **_ego4d_kwargs())
    assert "video_features" not in ds.column_names and len(ds) == 2
    with pytest.raises(AssertionError, match="was read"):
        ds[0]


def test_multiple_feature_dirs_concatenate(tmp_path):
    anno_file, vid_dir, text_dir = _ego4d_layout(tmp_path)
    flow = tmp_path / "flow"
    flow.mkdir()
    for vid in ("vidA", "vidB"):
        raw = np.load(f"{vid_dir}/{vid}.npy")
        np.save(flow / f"{vid}.npy", raw[:-1, :3] * 0 + 7)  # one row shorter: last row is repeated
    ds = load_grounding_dataset(anno_file, "val", [vid_dir, str(flow)], text_dir, **_ego4d_kwargs())
    feats = ds[0]["video_features"]
    assert feats.shape == (113, 19) and torch.all(feats[:, 16:] == 7)


# ------------------------------------------------------------------------------------------------ bad data
def test_missing_video_feature_file_named(tmp_path):
    anno_file, vid_dir, text_dir = _ego4d_layout(tmp_path)
    (tmp_path / "video" / "vidB.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"video[/\\]vidB\.npy"):
        load_grounding_dataset(anno_file, "val", vid_dir, text_dir, **_ego4d_kwargs())
    ds = load_grounding_dataset(anno_file, "val", vid_dir, text_dir, check_files=False, **_ego4d_kwargs())
    with pytest.raises(FileNotFoundError, match=r"vidB\.npy"):
        ds[1]


def test_missing_text_feature_file_named(tmp_path):
    anno_file, vid_dir, text_dir = _ego4d_layout(tmp_path)
    (tmp_path / "text" / "vidA_q1.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"vidA_q1\.npy"):
        load_grounding_dataset(anno_file, "val", vid_dir, text_dir, **_ego4d_kwargs())


def test_gt_outside_video_named(tmp_path):
    anno_file, vid_dir, text_dir = _ego4d_layout(tmp_path)
    anno = json.loads(open(anno_file).read())
    anno["val"]["vidB"]["annotations"].append({"segment": [25.0, 30.0], "sentence": "x", "sentence_id": "late"})
    _write_json(tmp_path / "ego4d.json", anno)
    with pytest.raises(ValueError, match=r"ego4d\.json.*late.*outside the video"):
        load_grounding_dataset(anno_file, "val", vid_dir, text_dir, **_ego4d_kwargs())
    ds = load_grounding_dataset(anno_file, "val", vid_dir, text_dir, invalid_segments="drop", **_ego4d_kwargs())
    assert ds[1]["sentence_ids"] == ["vidB_q0"]  # official: dropped


def test_zero_length_video_named(tmp_path):
    anno_file, vid_dir, text_dir = _ego4d_layout(tmp_path)
    anno = json.loads(open(anno_file).read())
    anno["val"]["vidB"]["duration"] = 0.0
    _write_json(tmp_path / "ego4d.json", anno)
    with pytest.raises(ValueError, match=r"vidB.*ego4d\.json.*zero-length"):
        load_grounding_dataset(anno_file, "val", vid_dir, text_dir, **_ego4d_kwargs())
    anno["val"]["vidB"]["duration"] = 20.0
    _write_json(tmp_path / "ego4d.json", anno)
    np.save(tmp_path / "video" / "vidB.npy", np.zeros((0, 16), dtype=np.float32))
    ds = load_grounding_dataset(anno_file, "val", vid_dir, text_dir, **_ego4d_kwargs())
    with pytest.raises(ValueError, match=r"vidB\.npy are empty"):
        ds[1]


def test_malformed_json_and_split_named(tmp_path):
    anno_file, vid_dir, text_dir = _ego4d_layout(tmp_path)
    with pytest.raises(ValueError, match=r"split 'test' not in annotation file .*ego4d\.json"):
        load_grounding_dataset(anno_file, "test", vid_dir, text_dir, **_ego4d_kwargs())
    (tmp_path / "ego4d.json").write_text('{"val": {"vidA": ')
    with pytest.raises(ValueError, match=r"malformed JSON in annotation file .*ego4d\.json"):
        load_grounding_dataset(anno_file, "val", vid_dir, text_dir, **_ego4d_kwargs())
    _write_json(tmp_path / "ego4d.json", {"val": {"vidA": {"fps": 30, "annotations": []}}})
    with pytest.raises(ValueError, match=r"'vidA'.*missing field 'duration'"):
        load_grounding_dataset(anno_file, "val", vid_dir, text_dir, **_ego4d_kwargs())


def test_collator_needs_one_padding_mode():
    with pytest.raises(ValueError, match="exactly one"):
        HieraMambaGroundingCollator()
    with pytest.raises(ValueError, match="exactly one"):
        HieraMambaGroundingCollator(max_seq_len=10, pad_to_multiple_of=4)


def test_training_short_video_crop_ratio_and_no_crop(tmp_path):
    anno_file, vid_dir, text_dir = _ego4d_layout(tmp_path)
    anno = json.loads(open(anno_file).read())
    anno["train"] = anno.pop("val")
    _write_json(tmp_path / "ego4d.json", anno)
    kwargs = dict(is_training=True, max_vid_len=2304, max_text_len=4, max_num_text=2, **_ego4d_kwargs())
    # Ego4D preset: crop_ratio None -> a video shorter than the window is used whole
    ds = load_grounding_dataset(anno_file, "train", vid_dir, text_dir, crop_ratio=None, **kwargs)
    # the 61 s window holds all 3 queries of vidA: 2 are sampled, the 3rd makes its own row (official greedy rule)
    groups = [r for r in ds["sentence_ids"]]
    assert [len(g) for g in groups] == [2, 1, 1] and groups[2] == ["vidB_q0"]
    assert sorted(groups[0] + groups[1]) == ["vidA_q0", "vidA_q1", "vidA_q2"]
    row = ds[2]
    assert row["video_features"].shape == (38, 16)  # whole video, not cropped
    torch.testing.assert_close(row["video_features"], torch.from_numpy(np.load(f"{vid_dir}/vidB.npy")[::2]))
    torch.testing.assert_close(row["segments"][0], torch.tensor([-1.0, 5 * 30 / 16 - 1]))
    assert all(t.shape[0] <= 4 for t in ds[0]["text_features"])  # cut to max_text_len
    # crop_ratio (0.9, 1.0): a window of ceil(0.9 * 113) = 102 .. 113 clips keeping > 50% of each GT
    ds = load_grounding_dataset(anno_file, "train", vid_dir, text_dir, crop_ratio=(0.9, 1.0), **kwargs)
    random.seed(1)
    lengths = set()
    for _ in range(20):
        row = ds[1]
        n = row["video_features"].shape[0]
        lengths.add(n)
        assert 102 <= n <= 113 and torch.all(row["segments"] >= -1.0) and torch.all(row["segments"] <= n + 1.0)
    assert len(lengths) > 1
