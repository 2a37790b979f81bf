# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""The synthetic grounding set (examples/synthetic_grounding/synthetic.py): its layout and clock, its features (the
library's frame encoder, clip pooling and text path), determinism, frame-encoder reuse, the generative process, and
the kind report / feature probe scripts. The frame encoder itself: tests/test_simple_frame_encoder.py."""

import json
import os

import numpy as np
import pytest
import torch
from conftest import load_example

from hieramamba_hf import ClipPooler, HieraMambaForVideoGrounding, HieraMambaProcessor, SimpleFrameEncoderModel
from hieramamba_hf.data_hieramamba import HieraMambaGroundingCollator, load_grounding_dataset
from ssm_layers.video_io import open_video


# the example modules: load_example puts examples/synthetic_grounding/ first on sys.path and imports them
load_example("synthetic_grounding/kind_report")  # (kind_report imports synthetic)
from kind_report import query_kind_report  # noqa: E402
from synthetic import (  # noqa: E402
    FORMER_ENCODER_SETTINGS,
    SyntheticGroundingConfig,
    _event_frames,
    _kind,
    _parse_weights,
    _query_candidates,
    _sample_kinds,
    generate_synthetic_grounding_set,
    load_frame_encoder,
    main,
    make_queries,
    render_frames,
    sample_demo_video,
    sample_video_spec,
)


ONE_TINY_VIDEO = "--num-videos 1 --min-clips 40 --max-clips 48 --queries-per-video 3 --no-videos".split()
SHIPPED = os.path.normpath(os.path.join(os.path.dirname(__file__), os.pardir, "checkpoints", "hieramamba-synthetic"))
TINY = {
    "num_videos": 3,
    "min_clips": 40,
    "max_clips": 48,
    "queries_per_video": 3,
    "train_fraction": 2 / 3,
    "val_fraction": 1 / 3,
}


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    info = generate_synthetic_grounding_set(out, seed=3, render_videos=True, **TINY)
    return out, info


@pytest.fixture(scope="module")
def shipped():
    """The demo checkpoint (trained on such sets): its model and processor."""
    return HieraMambaForVideoGrounding.from_pretrained(SHIPPED).eval(), HieraMambaProcessor.from_pretrained(SHIPPED)


# ------------------------------------------------------------------------------------------- generator
def test_set_loads_in_official_format(tiny_set, shipped):
    out, info = tiny_set
    clock = info["clock"]
    assert clock == {"fps": 2.0, "clip_size": 2, "clip_stride": 2, "downsample_rate": 1}
    anno = json.loads((out / info["anno_file"]).read_text())
    assert [len(anno[s]) for s in ("train", "val", "test")] == [2, 1, 0]
    ds = load_grounding_dataset(
        out / info["anno_file"],
        "val",
        out / info["vid_feat_dir"],
        out / info["text_feat_dir"],
        clip_size=clock["clip_size"],
        clip_stride=clock["clip_stride"],
    )
    row = ds[0]
    video = anno["val"][row["video_id"]]
    assert row["video_features"].shape == (video["num_clips"], info["video_feature_dim"])
    assert video["duration"] == video["num_clips"] * 2 / 2.0
    # event over clips [s, e) -> seconds [s, e] at 1 clip / s -> grid [s - 0.5, e - 0.5]
    sec = torch.tensor(row["segments_sec"], dtype=torch.float32)
    torch.testing.assert_close(row["segments"], sec - 0.5)
    assert all(float(s).is_integer() for seg in row["segments_sec"] for s in seg)
    assert all(t.shape[1] == 384 for t in row["text_features"])
    # text features: what a checkpoint naming MiniLM (the demo's) computes from the sentences: its tokenizer, then
    # HieraMambaModel.get_text_features (MiniLM's last hidden states of every token, [CLS] and [SEP] included)
    model, processor = shipped
    with torch.no_grad():
        tokens = processor.tokenize(row["sentences"])  # the generator encodes a video's sentences as one batch
        batch, mask = model.model.get_text_features(tokens["input_ids"], tokens["attention_mask"])
        tokens = processor.tokenize(row["sentences"][:1])
        alone = model.model.get_text_features(tokens["input_ids"], tokens["attention_mask"])[0][0]
    assert len(row["sentences"]) == 3
    for features, valid, saved in zip(batch, mask, row["text_features"]):
        torch.testing.assert_close(saved, features[valid], atol=1e-6, rtol=0)
    torch.testing.assert_close(row["text_features"][0], alone, atol=1e-5, rtol=1e-5)  # alone: up to float rounding
    # the videos: H.264 files of the video's frames on the set's clock
    reader = open_video(out / info["videos_dir"] / f"{row['video_id']}.mp4")
    assert reader.num_clock_frames(clock["fps"]) == video["duration"] * clock["fps"] == row["num_clips"] * 2
    batch = HieraMambaGroundingCollator(pad_to_multiple_of=128)([row])
    assert batch["video_features"].shape == (1, 128, info["video_feature_dim"])
    train = load_grounding_dataset(
        out / info["anno_file"],
        "train",
        out / info["vid_feat_dir"],
        out / info["text_feat_dir"],
        clip_size=2,
        clip_stride=2,
        is_training=True,
        max_vid_len=64,
        max_num_text=2,
    )
    assert len(train) >= 2 and all(len(ids) <= 2 for ids in train["sentence_ids"])
    batch = HieraMambaGroundingCollator(max_seq_len=64)([train[0], train[1]])
    assert batch["video_features"].shape == (2, 64, info["video_feature_dim"])


def test_deterministic_given_seed_and_cli(tiny_set, tmp_path):
    out, _ = tiny_set
    main(["--output", str(tmp_path / "a"), "--seed", "3", *ONE_TINY_VIDEO])
    assert not (tmp_path / "a" / "videos").exists()
    anno_a = json.loads((tmp_path / "a" / "annotations" / "synthetic_grounding.json").read_text())
    anno_ref = json.loads((out / "annotations" / "synthetic_grounding.json").read_text())
    assert anno_a["train"]["synth_00000"] == anno_ref["train"]["synth_00000"]  # same seed, same video 0
    for name in ("video_features/synth_00000.npy", "text_features/synth_00000_q00.npy"):
        assert np.array_equal(np.load(tmp_path / "a" / name), np.load(out / name))
    # --orientation-bins: the set's frame encoder gets the edge-orientation block, fitted like the rest
    main(["--output", str(tmp_path / "o"), "--seed", "3", *ONE_TINY_VIDEO, "--orientation-bins", "4"])
    encoder = SimpleFrameEncoderModel.from_pretrained(tmp_path / "o" / "frame_encoder")
    assert encoder.config.orientation_bins == 4 and encoder.feature_mean.shape == (96 + 16,)
    assert not torch.all(encoder.feature_std == 1)  # fitted standardisation
    assert SimpleFrameEncoderModel.from_pretrained(tmp_path / "a" / "frame_encoder").config.orientation_bins == 0
    assert not np.allclose(
        np.load(tmp_path / "o" / "video_features/synth_00000.npy"),
        np.load(tmp_path / "a" / "video_features/synth_00000.npy"),
    )
    other = sample_video_spec(SyntheticGroundingConfig(seed=4, min_clips=40, max_clips=48), 0)
    same = sample_video_spec(SyntheticGroundingConfig(seed=3, min_clips=40, max_clips=48), 0)
    assert other["events"] != same["events"]


def test_reusing_a_frame_encoder_for_a_held_out_set(tiny_set, tmp_path):
    """The fitted standardisation depends on the seed; --frame-encoder reuses a trained model's encoder instead."""
    out, _ = tiny_set
    source = SimpleFrameEncoderModel.from_pretrained(out / "frame_encoder")
    small = {k: v for k, v in TINY.items() if k != "num_videos"}
    fitted = generate_synthetic_grounding_set(tmp_path / "fitted", seed=4, num_videos=1, render_videos=False, **small)
    reuse = ["--frame-encoder", str(out / "frame_encoder")]
    main(["--output", str(tmp_path / "reused"), "--seed", "4", *ONE_TINY_VIDEO, *reuse])
    reused = json.loads((tmp_path / "reused" / "info.json").read_text())
    assert reused["frame_encoder_from"] == str(out / "frame_encoder") and fitted["frame_encoder_from"] is None
    from_root = generate_synthetic_grounding_set(
        tmp_path / "root", seed=4, num_videos=1, render_videos=False, frame_encoder=out, **small
    )  # the set's folder: its frame_encoder/
    assert from_root["frame_encoder_from"] == str(out / "frame_encoder")
    encoder = SimpleFrameEncoderModel.from_pretrained(tmp_path / "reused" / "frame_encoder")
    assert torch.equal(encoder.feature_mean, source.feature_mean)
    assert torch.equal(encoder.feature_std, source.feature_std)
    own = SimpleFrameEncoderModel.from_pretrained(tmp_path / "fitted" / "frame_encoder")
    assert not torch.allclose(own.feature_std, source.feature_std, rtol=0.05)  # seed 4's own fit is another one
    # the same video (seed 4, index 0) in both sets: features of the reused encoder, not of the fitted one
    config = SyntheticGroundingConfig(seed=4, num_videos=1, **small)
    spec = sample_video_spec(config, 0)
    frames = render_frames(spec, config, 0, 2 * spec["num_clips"])
    with torch.no_grad():
        frame_features = source(HieraMambaProcessor().preprocess_frames(frames)).pooler_output
    expected = ClipPooler(2, 2).push(frame_features).numpy()
    got = np.load(tmp_path / "reused" / "video_features" / "synth_00000.npy")
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert not np.allclose(np.load(tmp_path / "fitted" / "video_features" / "synth_00000.npy"), got, atol=1e-3)
    with pytest.raises(ValueError, match=r"does not fit this set: .*'clip_size': \(2, 4\)"):
        generate_synthetic_grounding_set(
            tmp_path / "bad",
            seed=4,
            num_videos=1,
            render_videos=False,
            clip_size=4,
            frame_encoder=out / "frame_encoder",
            **small,
        )


def test_reusing_the_frame_encoder_of_a_checkpoint_or_of_a_former_set(tmp_path, shipped):
    """--frame-encoder also takes a grounding checkpoint folder (its vision model, on its clock) and the folders of
    sets and checkpoints written with the former SimpleFrameEncoder (preprocessor_config.json)."""
    vision_model = shipped[0].model.vision_model
    small = {k: v for k, v in TINY.items() if k != "num_videos"}
    info = generate_synthetic_grounding_set(
        tmp_path / "ckpt", seed=4, num_videos=1, render_videos=False, frame_encoder=SHIPPED, **small
    )
    assert info["frame_encoder_from"] == SHIPPED and info["video_feature_dim"] == 128
    saved = SimpleFrameEncoderModel.from_pretrained(tmp_path / "ckpt" / "frame_encoder")
    assert saved.config.orientation_bins == vision_model.config.orientation_bins == 4
    for name in ("projection", "feature_mean", "feature_std"):
        assert torch.equal(getattr(saved, name), getattr(vision_model, name)), name
    with pytest.raises(ValueError, match=r"does not fit this set: .*'fps': \(2.0, 4.0\)"):
        generate_synthetic_grounding_set(
            tmp_path / "bad", seed=4, num_videos=1, render_videos=False, fps=4.0, frame_encoder=SHIPPED, **small
        )
    # a former encoder: the same settings, clock and standardisation as lists in preprocessor_config.json
    former = tmp_path / "former" / "frame_encoder"
    former.mkdir(parents=True)
    settings = {k: v for k, v in saved.config.to_dict().items() if k in FORMER_ENCODER_SETTINGS}
    (former / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "feature_extractor_type": "SimpleFrameEncoder",
                **settings,
                "clip_size": 2,
                "clip_stride": 2,
                "frame_rate": 2.0,
                "feature_mean": saved.feature_mean.tolist(),
                "feature_std": saved.feature_std.tolist(),
            }
        )
    )
    encoder, clock, folder = load_frame_encoder(tmp_path / "former")
    assert clock == {"clip_size": 2, "clip_stride": 2, "fps": 2.0} and folder == str(former)
    for name in ("projection", "feature_mean", "feature_std"):
        assert torch.equal(getattr(encoder, name), getattr(saved, name)), name
    with pytest.raises(ValueError, match="holds no frame encoder"):
        load_frame_encoder(tmp_path / "ckpt" / "annotations")


def test_full_size_specs_are_long_and_valid():
    config = SyntheticGroundingConfig()
    lengths = []
    for index in range(30):
        spec = sample_video_spec(config, index)
        num_clips = spec["num_clips"]
        lengths.append(num_clips)
        assert 500 <= num_clips <= 20000
        events = spec["events"]
        assert len(events) >= 4
        for prev, event in zip(events, events[1:]):
            assert prev["end"] <= event["start"]  # no overlap, time-ordered
        assert events[-1]["end"] <= num_clips
        durations = [e["end"] - e["start"] for e in events]
        assert min(durations) >= 2 and max(durations) <= 0.2 * num_clips
        kinds = [(e["colour"], e["shape"], e["motion"]) for e in events]
        assert len(set(kinds)) < len(kinds)  # same-kind distractors
        queries = make_queries(spec, 8)
        assert len(queries) == 8 and len({q["sentence"] for q in queries}) == 8
    assert min(lengths) < 2000 and max(lengths) > 8000  # the range is actually used


def test_hard_distractor_prob_sets_how_kinds_relate_to_the_base_kind():
    def kinds_of(prob):
        return [_sample_kinds(np.random.default_rng([0, i]), prob) for i in range(200)]

    def differing(a, b):
        return sum(x != y for x, y in zip(a, b))

    hard = kinds_of(1.0)  # every further kind changes exactly one attribute of the base kind
    assert all(differing(kinds[0], k) == 1 for kinds in hard for k in kinds[1:])
    free = kinds_of(0.0)  # independent kinds: most differ from the base in two or three attributes
    diffs = [differing(kinds[0], k) for kinds in free for k in kinds[1:]]
    assert np.mean([d >= 2 for d in diffs]) > 0.8
    assert all(len(set(kinds)) == len(kinds) for kinds in hard + free)
    with pytest.raises(ValueError, match="hard_distractor_prob"):
        SyntheticGroundingConfig(hard_distractor_prob=1.5)


def test_unique_events_give_events_a_kind_of_their_own():
    def specs(unique_events):
        config = SyntheticGroundingConfig(
            min_clips=128, max_clips=256, min_event_clips=3, hard_distractor_prob=0.0, unique_events=unique_events
        )
        return [sample_video_spec(config, i) for i in range(100)]

    for base, spec in zip(specs(0), specs(2)):
        changed = [i for i, (a, b) in enumerate(zip(base["events"], spec["events"])) if a != b]
        assert len(changed) == 2  # exactly two events were given a new kind; timing and placement are unchanged
        for i in changed:
            assert {k: v for k, v in spec["events"][i].items() if k not in ("colour", "shape", "motion")} == {
                k: v for k, v in base["events"][i].items() if k not in ("colour", "shape", "motion")
            }
            assert [_kind(e) for e in spec["events"]].count(_kind(spec["events"][i])) == 1
            assert _kind(spec["events"][i]) not in {_kind(e) for e in base["events"]}
    share = {u: np.mean([q["query_type"] == "unique" for s in specs(u) for q in make_queries(s, 12)]) for u in (0, 3)}
    assert share[3] > 2 * share[0]
    with pytest.raises(ValueError, match="unique_events"):
        SyntheticGroundingConfig(unique_events=-1)


def test_distinct_colours_give_every_kind_of_a_video_its_own_colour():
    def specs(**kwargs):
        config = SyntheticGroundingConfig(min_clips=128, max_clips=256, min_event_clips=3, **kwargs)
        return [sample_video_spec(config, i) for i in range(150)]

    def colour_of_kind(spec):
        kinds = {_kind(e) for e in spec["events"]}
        return len({k[0] for k in kinds}) == len(kinds)

    for kwargs in (
        {"hard_distractor_prob": 0.0},
        {"hard_distractor_prob": 0.0, "unique_events": 3},
        {"hard_distractor_prob": 1.0},
    ):
        assert all(colour_of_kind(spec) for spec in specs(distinct_colours=True, **kwargs)), kwargs
        # without the option some video has two kinds of one colour (the case the option rules out)
        assert not all(colour_of_kind(spec) for spec in specs(**kwargs)), kwargs
    hard = [_sample_kinds(np.random.default_rng([0, i]), 1.0, distinct_colours=True) for i in range(100)]
    assert all(k[1:] == kinds[0][1:] and k[0] != kinds[0][0] for kinds in hard for k in kinds[1:])  # colour-only
    # the option off draws exactly what the generator drew before it existed (existing sets and checkpoints)
    config = SyntheticGroundingConfig(min_clips=128, max_clips=256, min_event_clips=3, unique_events=1)
    assert [_kind(e) for e in sample_video_spec(config, 1)["events"][2:4]] == [
        ("purple", "square", "top_to_bottom"),
        ("purple", "hbar", "top_to_bottom"),
    ]
    with pytest.raises(ValueError, match="distinct_colours"):
        SyntheticGroundingConfig(distinct_colours=True, unique_events=4)
    # the demo draws its videos with the checkpoint's generator settings, this option included
    settings = {
        "min_clips": 128,
        "max_clips": 256,
        "min_event_clips": 3,
        "hard_distractor_prob": 0.0,
        "unique_events": 1,
    }
    demo = [sample_demo_video(seed, 3, 2.0, 2, 2, {**settings, "distinct_colours": True})[1] for seed in range(60)]
    assert all(colour_of_kind(spec) for spec in demo)
    assert not all(colour_of_kind(sample_demo_video(seed, 3, 2.0, 2, 2, settings)[1]) for seed in range(60))


def test_query_type_weights_set_the_query_mix():
    config = SyntheticGroundingConfig(min_clips=128, max_clips=256, min_event_clips=3, hard_distractor_prob=0.0)
    specs = [sample_video_spec(config, i) for i in range(100)]
    only = [q for s in specs for q in make_queries(s, 6, {"unique": 1.0, "ordinal": 0.0})]
    assert only and {q["query_type"] for q in only} == {"unique"}  # types without weight are never drawn
    mixed = [q for s in specs for q in make_queries(s, 6, {"ordinal": 1.0, "after": 1.0})]
    assert {q["query_type"] for q in mixed} == {"ordinal", "after"}
    assert _parse_weights("unique=0.5, ordinal=1") == {"unique": 0.5, "ordinal": 1.0}
    for bad in ({"sometimes": 1.0}, {"unique": 0.0}, {"unique": -1.0, "ordinal": 1.0}):
        with pytest.raises(ValueError, match="query_type_weights"):
            SyntheticGroundingConfig(query_type_weights=bad)


def test_query_candidates_follow_their_definitions():
    def ev(kind):
        return {"colour": kind, "shape": "disc", "motion": "still"}

    events = [ev(k) for k in "ABACAB"]  # indices 0..5
    c = _query_candidates(events)
    assert [x["target"] for x in c["unique"]] == [3]  # C occurs once
    ordinal = {(x["target"], x["ord"]) for x in c["ordinal"]}
    assert {(0, "first"), (2, "second"), (4, "third"), (4, "last"), (1, "first"), (5, "last")} <= ordinal
    # consecutive pairs: AB twice (not unique), BA once, AC once, CA once
    assert sorted((x["ref"], x["target"]) for x in c["after"]) == [(1, 2), (2, 3), (3, 4)]
    assert sorted((x["target"], x["ref"]) for x in c["before"]) == [(1, 2), (2, 3), (3, 4)]
    # first A after the 2nd B (index 5): none; first B after the 2nd A (index 2): index 5 (B also before)
    assert {(x["ref"], x["n"], x["target"]) for x in c["count"]} == {(2, 2, 5), (4, 3, 5)}


def test_rendered_frames_show_the_events():
    config = SyntheticGroundingConfig(min_clips=40, max_clips=64, resolution=32)
    spec = sample_video_spec(config, 0)
    event = spec["events"][0]
    first, last = event["start"] * 2, event["end"] * 2
    frames = render_frames(spec, config, 0, last + 2)
    assert frames.shape == (last + 2, 32, 32, 3) and frames.dtype == np.uint8
    from synthetic import COLOURS

    colour = np.array(COLOURS[event["colour"]], dtype=np.uint8)
    has_colour = (frames == colour).all(-1).any((1, 2))
    assert has_colour[first:last].all()
    if first > 0:
        assert not has_colour[first - 1]


def test_query_kind_report_scores_top1_segments(tiny_set):
    out, _ = tiny_set
    config = SyntheticGroundingConfig(seed=3, **TINY)
    videos = json.loads((out / "annotations" / "synthetic_grounding.json").read_text())["train"]
    right, wrong, num_wrong, same_colour, distracted, chance = [], [], 0, 0, 0, 0.0
    for video_id, video in videos.items():
        spec = sample_video_spec(config, int(video_id.rsplit("_", 1)[1]))
        events = spec["events"]
        target_of = {q["sentence"]: q["event"] for q in make_queries(spec, config.queries_per_video)}
        for q in video["annotations"]:
            kind = _kind(events[target_of[q["sentence"]]])
            other = next((e for e in events if _kind(e) != kind), None)  # an event of another kind, if any
            segment = q["segment"] if other is None else [f / config.fps for f in _event_frames(other, config)]
            num_wrong += other is not None
            same_colour += other is None or other["colour"] == events[target_of[q["sentence"]]]["colour"]
            colour = events[target_of[q["sentence"]]]["colour"]
            kinds_of_colour = [_kind(e) for e in events if e["colour"] == colour]
            if any(k != kind for k in kinds_of_colour):  # the queried colour also shows on another kind
                distracted += 1
                chance += kinds_of_colour.count(kind) / len(kinds_of_colour)
            right.append({"sentence_id": q["sentence_id"], "predictions": [{"segment": q["segment"], "score": 1.0}]})
            wrong.append({"sentence_id": q["sentence_id"], "predictions": [{"segment": segment, "score": 1.0}]})
    report = query_kind_report(out, right, split="train")
    assert report["all"]["queries"] == len(right)
    assert report["all"]["event_accuracy"] == report["all"]["kind_accuracy"] == 100.0
    assert 0 < report["all"]["kind_chance"] <= 100.0
    assert sum(row["queries"] for key, row in report.items() if key != "all") == len(right)
    for attribute in ("colour", "shape", "motion"):
        assert report["all"][f"{attribute}_accuracy"] == 100.0
    assert report["all"]["colour_distractor_queries"] == distracted > 0
    assert report["all"]["colour_distractor_kind_accuracy"] == 100.0
    assert report["all"]["colour_distractor_kind_chance"] == pytest.approx(100.0 * chance / distracted)
    report = query_kind_report(out, wrong, split="train")  # top-1 on an event of another kind: both wrong
    assert num_wrong > 0
    expected = 100.0 * (len(right) - num_wrong) / len(right)
    assert report["all"]["kind_accuracy"] == report["all"]["event_accuracy"] == expected
    assert report["all"]["colour_accuracy"] == pytest.approx(100.0 * same_colour / len(right))
    assert report["all"]["colour_distractor_kind_accuracy"] < 100.0
    with pytest.raises(ValueError, match="no prediction"):
        query_kind_report(out, right[1:], split="train")


def test_query_kind_report_rival_kinds_one_attribute_at_a_time(tmp_path):
    """The shape / motion / shape+motion two-way tests, on an annotation-only set where every distractor kind
    differs from the first kind in one attribute: top-1 on the target, then moved to a shape-only rival."""
    import dataclasses

    config = SyntheticGroundingConfig(
        num_videos=40, min_clips=60, max_clips=80, hard_distractor_prob=1.0, queries_per_video=4, seed=5
    )
    (tmp_path / "annotations").mkdir()
    (tmp_path / "info.json").write_text(json.dumps({"config": dataclasses.asdict(config)}))
    videos, right, moved, expected = {}, [], [], {}
    for index in range(config.num_videos):
        spec = sample_video_spec(config, index)
        events, video_id = spec["events"], f"synth_{index:05d}"
        spans = [[f / config.fps for f in _event_frames(e, config)] for e in events]
        annotations = []
        for j, q in enumerate(make_queries(spec, config.queries_per_video)):
            target = events[q["event"]]
            sid = f"{video_id}_q{j:02d}"
            annotations.append(
                {
                    "segment": spans[q["event"]],
                    "sentence": q["sentence"],
                    "sentence_id": sid,
                    "query_type": q["query_type"],
                }
            )
            n_kind = sum(_kind(e) == _kind(target) for e in events)
            rivals = {}
            for name, differs in (("shape", (1, 0)), ("motion", (0, 1)), ("shape_motion", (1, 1))):
                rivals[name] = [
                    i
                    for i, e in enumerate(events)
                    if e["colour"] == target["colour"]
                    and (e["shape"] != target["shape"], e["motion"] != target["motion"]) == differs
                ]
                if rivals[name]:  # top-1 on the target: every rival kind present counts, all right
                    count, chance = expected.get(name, (0, 0.0))
                    expected[name] = (count + 1, chance + n_kind / (n_kind + len(rivals[name])))
            top1 = spans[rivals["shape"][0]] if rivals["shape"] else spans[q["event"]]
            right.append({"sentence_id": sid, "predictions": [{"segment": spans[q["event"]], "score": 1.0}]})
            moved.append({"sentence_id": sid, "predictions": [{"segment": top1, "score": 1.0}]})
        videos[video_id] = {"fps": config.fps, "annotations": annotations}
    (tmp_path / "annotations" / "synthetic_grounding.json").write_text(json.dumps({"train": videos}))
    assert all(expected.get(name, (0,))[0] >= 3 for name in ("shape", "motion", "shape_motion"))

    report = query_kind_report(tmp_path, right, split="train")["all"]
    for name, (count, chance) in expected.items():
        assert report[f"{name}_distractor_queries"] == count
        assert report[f"{name}_distractor_kind_accuracy"] == 100.0
        assert report[f"{name}_distractor_kind_chance"] == pytest.approx(100.0 * chance / count)
    report = query_kind_report(tmp_path, moved, split="train")["all"]
    assert report["shape_distractor_queries"] == expected["shape"][0]  # still a choice between the two kinds
    assert report["shape_distractor_kind_accuracy"] == 0.0  # ... always lost to the rival
    assert report["motion_distractor_queries"] < expected["motion"][0]  # a top-1 on a third kind is not counted


def test_feature_probe_reads_a_linear_code_and_not_noise(tiny_set, capsys):
    probe = load_example("synthetic_grounding/feature_probe")
    g = torch.Generator().manual_seed(0)
    labels = [str(i % 3) for i in range(300)]
    centres = torch.randn(3, 8, generator=g) * 4
    x = centres[[int(y) for y in labels]] + torch.randn(300, 8, generator=g)
    assert probe.probe_accuracy(x[:200], labels[:200], x[200:], labels[200:]) == 100.0
    noise = torch.randn(300, 8, generator=g)  # labels independent of the inputs: about a third right
    assert probe.probe_accuracy(noise[:200], labels[:200], noise[200:], labels[200:]) < 60.0
    assert probe.probe_accuracy(x[:200], ["0"] * 200, x[200:], labels[200:]) == pytest.approx(100 * 33 / 100)

    out, _ = tiny_set  # end to end on the tiny set: one row per input, a number per attribute
    with pytest.raises(SystemExit, match="no unique or ordinal queries in the 'test' split"):
        probe.main([str(out)])  # the tiny set has no test split
    probe.main([str(out), "--score-split", "train"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[3:6]] == ["clip", "clip", "query"]
    assert all(len(line.split()) == 7 for line in lines[3:6])
    assert lines[6].startswith("rival ranking") and len(lines) == 7


def test_rival_ranking_learns_a_matching_code_and_not_noise():
    probe = load_example("synthetic_grounding/feature_probe")
    g = torch.Generator().manual_seed(0)
    codes, words = torch.randn(4, 8, generator=g) * 3, torch.randn(4, 16, generator=g) * 3

    def items(n, matched):  # 3 candidates of distinct classes; the text names the class of candidate `label`
        out = []
        for _ in range(n):
            classes = torch.randperm(4, generator=g)[:3]
            label = int(torch.randint(3, (1,), generator=g))
            named = classes[label] if matched else torch.randint(4, (1,), generator=g)[0]
            candidates = codes[classes] + torch.randn(3, 8, generator=g)
            out.append((candidates, words[named] + torch.randn(16, generator=g), label))
        return out

    accuracy, chance = probe.rival_ranking_accuracy(items(300, True), items(200, True))
    assert chance == pytest.approx(100 / 3) and accuracy > 95
    accuracy, _ = probe.rival_ranking_accuracy(items(300, False), items(200, False))
    assert accuracy < 50  # text unrelated to the candidates: about a third right


def test_pairwise_probe_reads_a_query_aware_code_and_not_a_query_independent_one():
    probe = load_example("synthetic_grounding/feature_probe")
    g = torch.Generator().manual_seed(0)
    direction = torch.randn(6, generator=g)

    def pairs(n, aware):  # the queried event's feature leans along `direction` only when the feature is query-aware
        out = []
        for _ in range(n):
            a, b = torch.randn(6, generator=g), torch.randn(6, generator=g)
            out.append((a + 2 * direction, b) if aware else (a, b))
        return out

    assert probe.pairwise_probe_accuracy(pairs(300, True), pairs(200, True)) > 95
    assert 35 < probe.pairwise_probe_accuracy(pairs(300, False), pairs(200, False)) < 65


def test_feature_probe_binding_report_on_a_tiny_model(tiny_set, tmp_path, capsys):
    """--binding runs the model on every (query, same-colour rival) pair and trains the fresh fusion; one line per
    feature (the first fusion output only for early fusion)."""
    from hieramamba_hf import HieraMambaConfig, HieraMambaForVideoGrounding

    probe = load_example("synthetic_grounding/feature_probe")
    out, info = tiny_set
    config = HieraMambaConfig(
        video_input_dim=info["config"]["feature_dim"],
        text_input_dim=384,
        hidden_size=32,
        text_hidden_size=32,
        num_amp_blocks=3,
        max_seq_len=64,
        hydra_chunk_size=16,
        hydra_head_dim=16,
        early_fusion=True,
        text_encoder="identity",
    )
    torch.manual_seed(0)
    HieraMambaForVideoGrounding(config).save_pretrained(tmp_path / "model")
    with pytest.raises(SystemExit):
        probe.main([str(out), "--binding", "--score-split", "train"])  # --binding needs --model
    pairs = probe.match_features(str(out), "train", HieraMambaForVideoGrounding.from_pretrained(tmp_path / "model"))
    capsys.readouterr()
    assert pairs, "the tiny set (seed 3) has queries with a same-colour rival kind"
    assert set(pairs[0]) == {
        "clip features",
        "first fusion output",
        "backbone level 0",
        "fused level 0",
        "classification logit",
    }
    assert pairs[0]["fused level 0"][0].shape == (32,) and pairs[0]["classification logit"][0].shape == (1,)
    probe.main([str(out), "--model", str(tmp_path / "model"), "--binding", "--score-split", "train"])
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("binding:"))
    rows = lines[start + 1 :]
    assert [row.split()[2] for row in rows[1:5]] == ["on", "on", "on", "on"] and len(rows) == 6
    assert [" ".join(row.split()[3:-1]) for row in rows[1:5]] == [
        "clip features",
        "first fusion output",
        "backbone level 0",
        "fused level 0",
    ]
    assert all(0.0 <= float(row.split()[-1]) <= 100.0 for row in rows[:5])
    assert rows[5].startswith("  fresh text encoder + fusion trained on the choice: ")
