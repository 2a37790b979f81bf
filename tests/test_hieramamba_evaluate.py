# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""End to end on tiny data sets in the official layouts (Ego4D-NLQ, TACoS with GloVe, MAD): train a few steps with
examples/train_hieramamba.py, then evaluate with `python -m hieramamba_hf.evaluate`; metric tables; bad data."""

import importlib.util
import json
import os
import re

import numpy as np
import pytest
import torch
import yaml

from hieramamba_hf import HieraMambaForVideoGrounding
from hieramamba_hf.evaluate import format_metrics_table, load_model_for_evaluation
from hieramamba_hf.evaluate import main as evaluate_main
from hieramamba_hf.training_hieramamba import EMA_WEIGHTS_NAME


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_MODEL = dict(
    video_input_dim=8,
    hidden_size=16,
    text_hidden_size=16,
    text_num_heads=2,
    num_amp_blocks=3,
    max_seq_len=32,
    hydra_head_dim=8,
    hydra_state_size=4,
    hydra_chunk_size=16,
    local_num_heads=2,
    fusion_num_heads=2,
    num_windowed_blocks=2,
    projector_dim=8,
)
# official clocks: fps, clip_size, clip_stride, downsample_rate
LAYOUTS = {
    "ego4d": dict(preset="ego4d-nlq", fps=30.0, clock=(32, 8, 2), text_dim=6, model=dict(text_input_dim=6)),
    "tacos": dict(
        preset="tacos",
        fps=29.4,
        clock=(16, 4, 4),
        text_dim=None,
        model=dict(text_input_dim=3, text_num_layers=1, text_max_seq_len=8, text_pad_length=10),
    ),
    "mad": dict(preset="mad", fps=5.0, clock=(1, 1, 1), text_dim=6, model=dict(text_input_dim=6, max_seq_len=32)),
}
WORDS = ("the", "person", "cuts", "an", "onion", "opens", "door", "takes", "cup")


def write_layout(root, kind, duration=20.0, num_videos=3):
    """A tiny data set in the official layout of `kind`: annotation JSON, video features (T, 8) per video, text
    features (T_tok, C) per sentence id, or for TACoS a GloVe text file (dim 3) and no text features."""
    spec = LAYOUTS[kind]
    clip_size, clip_stride, downsample = spec["clock"]
    rng = np.random.default_rng(0)
    vid_dir, text_dir = root / "video", root / "text"
    vid_dir.mkdir()
    text_dir.mkdir()
    anno = {"train": {}, "test": {}}
    for i in range(num_videos):
        vid = f"{kind}_{i}"
        num_raw = int(duration * spec["fps"]) // clip_stride  # one raw feature every clip_stride frames
        np.save(vid_dir / f"{vid}.npy", rng.normal(size=(num_raw, 8)).astype(np.float32))
        annotations = []
        for j, (s, e) in enumerate(((1.0 + i, 6.0 + i), (9.0, 15.0))):
            sid = f"{vid}_s{j}"
            sentence = " ".join(WORDS[(i + j + k) % len(WORDS)] for k in range(4))
            if spec["text_dim"]:
                np.save(text_dir / f"{sid}.npy", rng.normal(size=(3 + j, spec["text_dim"])).astype(np.float32))
            annotations.append({"segment": [s, e], "sentence": sentence, "sentence_id": sid})
        split = "test" if i == num_videos - 1 else "train"
        anno[split][vid] = {"fps": spec["fps"], "duration": duration, "annotations": annotations}
    (root / "anno.json").write_text(json.dumps(anno))
    glove = None
    if spec["text_dim"] is None:
        glove = root / "glove.txt"
        glove.write_text("".join(f"{w} {' '.join(f'{v:.3f}' for v in rng.normal(size=3))}\n" for w in WORDS))
    return {
        "anno": str(root / "anno.json"),
        "video": str(vid_dir),
        "text": str(text_dir),
        "glove": None if glove is None else str(glove),
    }


def load_example():
    path = os.path.join(ROOT, "examples", "train_hieramamba.py")
    spec = importlib.util.spec_from_file_location("train_hieramamba_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_config(root, kind, paths, max_steps=2):
    spec = LAYOUTS[kind]
    clip_size, clip_stride, downsample = spec["clock"]
    model = {"preset": spec["preset"], **TINY_MODEL, **spec["model"]}
    model.update(fps=spec["fps"], clip_size=clip_size, clip_stride=clip_stride, downsample_rate=downsample)
    data = {
        "dataset": {"ego4d": "ego4d", "tacos": "tacos", "mad": "mad"}[kind],
        "anno_file": paths["anno"],
        "train_split": "train",
        "eval_split": "test",
        "vid_feat_dir": paths["video"],
        "max_vid_len": model["max_seq_len"] * (2 if kind == "mad" else 1),
        "max_text_len": 8,
    }
    if paths["glove"]:
        data["glove_path"] = paths["glove"]
    else:
        data["text_feat_dir"] = paths["text"]
    training = {
        "output_dir": str(root / "run"),
        "max_steps": max_steps,
        "warmup_epochs": 1,
        "learning_rate": 1e-3,
        "per_device_train_batch_size": 1,
        "report_to": [],
        "save_strategy": "steps",
        "save_steps": max_steps,
        "eval_strategy": "no",
        "logging_steps": 1,
        "disable_tqdm": True,
        "use_cpu": True,
        "dataloader_pin_memory": False,
    }
    if kind == "mad":
        training.update(eval_ranks=[1, 5, 10, 50], eval_iou_thresholds=[0.1, 0.3, 0.5])
    path = root / f"{kind}.yaml"
    path.write_text(yaml.safe_dump({"model": model, "data": data, "training": training}))
    return str(path)


@pytest.mark.parametrize("kind", ["ego4d", "tacos", "mad"])
def test_train_and_evaluate_official_layouts(tmp_path, kind, capsys):
    torch.manual_seed(0)
    paths = write_layout(tmp_path, kind)
    config = write_config(tmp_path, kind, paths)
    load_example().main([config])
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["optimizer_steps"] == 2 and summary["final_loss_norm"] > 0
    checkpoint = tmp_path / "run" / "checkpoint-2"
    assert (checkpoint / EMA_WEIGHTS_NAME).is_file()
    # the exported folder is a complete checkpoint: it says what it takes (no encoders known for these features)
    final = tmp_path / "run" / "final"
    assert summary["final_model_takes"] == "precomputed features only (see FEATURES.md)"
    note = (final / "FEATURES.md").read_text()
    assert f"video clip features of width {TINY_MODEL['video_input_dim']}" in note and paths["video"] in note
    if kind == "mad":  # the CLIP model is named but cannot be attached offline / at these widths: the note says why
        assert "openai/clip-vit-base-patch32 could not be attached" in note
    assert json.loads((final / "processor_config.json").read_text())["components"] == {
        "image_processor": False,
        "tokenizer": False,
    }

    text_args = ["--glove", paths["glove"]] if paths["glove"] else ["--text-features", paths["text"]]
    args = [
        "--annotations",
        paths["anno"],
        "--video-features",
        paths["video"],
        *text_args,
        "--split",
        "test",
        "--no-progress",
    ]
    # the exported folder (EMA weights) gives the numbers printed at the end of training
    metrics = evaluate_main(["--model", summary["final_model"], *args, "--output", str(tmp_path / "pred.json")])
    assert metrics == pytest.approx(summary["metrics"])
    out = capsys.readouterr().out
    if kind == "mad":
        assert set(metrics) == {f"R@{k},IoU={t}" for k in (1, 5, 10, 50) for t in (0.1, 0.3, 0.5)} | {"average"}
        assert re.search(r"R@1\s+R@5\s+R@10\s+R@50", out) and "avg" not in out
    else:
        assert set(metrics) == {f"R@{k},IoU={t}" for k in (1, 5) for t in (0.3, 0.5)} | {"average"}
        assert re.search(r"R@1\s+R@5", out) and "avg" in out
    predictions = json.loads((tmp_path / "pred.json").read_text())
    assert len(predictions["predictions"]) == 2  # the test video's two queries
    duration = 20.0
    for record in predictions["predictions"]:
        assert len(record["predictions"]) <= (50 if kind == "mad" else 5)  # (none when all offsets are 0)
        assert all(0 <= p["segment"][0] <= p["segment"][1] <= duration for p in record["predictions"])
    # a training checkpoint folder is evaluated with its EMA weights, which equal the exported ones
    model, used_ema = load_model_for_evaluation(str(checkpoint))
    exported = HieraMambaForVideoGrounding.from_pretrained(summary["final_model"], dtype=torch.float32)
    assert used_ema
    for (name, p), (_, q) in zip(model.named_parameters(), exported.named_parameters()):
        torch.testing.assert_close(p, q, msg=name)
    raw, used_ema = load_model_for_evaluation(str(checkpoint), use_ema=False)
    assert not used_ema and not torch.equal(raw.cls_head.output.weight, model.cls_head.output.weight)


def test_init_from_starts_a_stage_from_earlier_weights(tmp_path):
    """--init-from (a curriculum's next stage) starts from the given weights, not from a fresh initialisation."""
    torch.manual_seed(0)
    paths = write_layout(tmp_path, "ego4d")
    config = write_config(tmp_path, "ego4d", paths)
    example = load_example()
    example.main([config])
    first = HieraMambaForVideoGrounding.from_pretrained(str(tmp_path / "run" / "final"), dtype=torch.float32)
    stage = [
        "--set",
        f"training.output_dir={tmp_path / 'stage2'}",
        "--set",
        "training.learning_rate=0.0",
        "--set",
        'training.save_strategy="no"',
    ]
    example.main([config, *stage, "--init-from", str(tmp_path / "run" / "final")])
    second = HieraMambaForVideoGrounding.from_pretrained(str(tmp_path / "stage2" / "final"), dtype=torch.float32)
    for (name, p), (_, q) in zip(first.named_parameters(), second.named_parameters()):
        torch.testing.assert_close(q, p, msg=name)  # lr 0: the stage ends where it started
    example.main([config, *stage])  # without --init-from: the fresh initialisation, which the first run moved from
    fresh = HieraMambaForVideoGrounding.from_pretrained(str(tmp_path / "stage2" / "final"), dtype=torch.float32)
    assert not torch.equal(fresh.cls_head.output.weight, first.cls_head.output.weight)


def test_init_from_a_late_fusion_model_starts_an_early_fusion_stage(tmp_path, capsys):
    """--init-from a late-fusion folder into an early-fusion config: the late model's video input projection becomes
    video_proj, the backbone's input projection starts as the identity, every other weight is copied."""
    torch.manual_seed(0)
    paths = write_layout(tmp_path, "ego4d")
    config = write_config(tmp_path, "ego4d", paths)
    example = load_example()
    example.main([config, "--set", "model.early_fusion=false"])
    late = HieraMambaForVideoGrounding.from_pretrained(str(tmp_path / "run" / "final"), dtype=torch.float32)
    assert not late.config.early_fusion and late.model.video_proj is None
    stage = [
        "--set",
        f"training.output_dir={tmp_path / 'early'}",
        "--set",
        "training.learning_rate=0.0",
        "--set",
        'training.save_strategy="no"',
        "--set",
        "model.early_fusion=true",
    ]
    example.main([config, *stage, "--init-from", str(tmp_path / "run" / "final")])
    assert "early fusion warm-started from the late-fusion model" in capsys.readouterr().out
    early = HieraMambaForVideoGrounding.from_pretrained(str(tmp_path / "early" / "final"), dtype=torch.float32)
    assert early.config.early_fusion
    torch.testing.assert_close(early.model.video_proj.weight, late.model.backbone.input_proj.weight)
    torch.testing.assert_close(early.model.video_proj.bias, late.model.backbone.input_proj.bias)
    dim = early.config.hidden_size
    torch.testing.assert_close(early.model.backbone.input_proj.weight, torch.eye(dim))
    torch.testing.assert_close(early.model.backbone.input_proj.bias, torch.zeros(dim))
    late_weights = dict(late.named_parameters())
    moved = ("model.video_proj.", "model.backbone.input_proj.")
    names = [name for name, _ in early.named_parameters() if not name.startswith(moved)]
    assert len(names) == len(late_weights) - 2
    for name in names:
        torch.testing.assert_close(dict(early.named_parameters())[name], late_weights[name], msg=name)


def test_metrics_table_layouts():
    metrics = {
        "R@1,IoU=0.3": 18.81,
        "R@1,IoU=0.5": 13.04,
        "R@5,IoU=0.3": 40.82,
        "R@5,IoU=0.5": 29.96,
        "average": 25.6575,
    }
    table = format_metrics_table(metrics, (1, 5), (0.3, 0.5)).splitlines()
    assert table[0].split() == ["R@1", "R@5"]
    assert table[1].split() == ["IoU=0.3", "IoU=0.5", "IoU=0.3", "IoU=0.5", "avg"]
    assert table[2].split() == ["18.81", "13.04", "40.82", "29.96", "25.66"]


def test_evaluate_reports_bad_data_with_the_file(tmp_path):
    paths = write_layout(tmp_path, "ego4d", num_videos=2)
    config = write_config(tmp_path, "ego4d", paths, max_steps=1)
    example = load_example()
    os.remove(os.path.join(paths["text"], "ego4d_1_s1.npy"))
    with pytest.raises(FileNotFoundError, match=r"ego4d_1_s1\.npy"):
        example.main([config])
    model_dir = tmp_path / "model"
    HieraMambaForVideoGrounding(example.build_model_config(yaml.safe_load(open(config))["model"])).save_pretrained(
        model_dir
    )
    args = [
        "--model",
        str(model_dir),
        "--video-features",
        paths["video"],
        "--text-features",
        paths["text"],
        "--split",
        "test",
        "--no-progress",
    ]
    with pytest.raises(FileNotFoundError, match=r"ego4d_1_s1\.npy"):
        evaluate_main([*args, "--annotations", paths["anno"]])
    np.save(os.path.join(paths["text"], "ego4d_1_s1.npy"), np.zeros((3, 6), np.float32))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json"):
        evaluate_main([*args, "--annotations", str(tmp_path / "bad.json")])
    with open(os.path.join(paths["video"], "ego4d_1.npy"), "wb") as f:
        f.write(b"garbage")
    with pytest.raises(ValueError, match=r"ego4d_1\.npy"):
        evaluate_main([*args, "--annotations", paths["anno"]])
    with pytest.raises(FileNotFoundError, match="model folder"):
        evaluate_main(["--model", str(tmp_path / "missing"), *args[2:], "--annotations", paths["anno"]])


def _stop_after_minutes_worker(rank, minutes, store_path, results):
    import torch.distributed as dist
    from transformers import TrainerControl

    dist.init_process_group("gloo", init_method=f"file://{store_path}", rank=rank, world_size=2)
    try:
        callback, control = load_example().StopAfterMinutes(minutes[rank], clock="wall"), TrainerControl()
        callback.on_step_end(type("Args", (), {"device": torch.device("cpu")})(), None, control)
        results[rank] = control.should_training_stop
    finally:
        dist.destroy_process_group()


def test_time_budget_stops_every_process_on_the_same_step(tmp_path):
    """--max-train-minutes under DDP: when one process's budget is spent, all stop (no process waits forever in
    the next step's all-reduce)."""
    ctx = torch.multiprocessing.get_context("fork")
    results = ctx.Manager().dict()
    minutes = [0.0, 60.0]  # rank 0's budget is spent, rank 1's is not
    workers = [
        ctx.Process(target=_stop_after_minutes_worker, args=(r, minutes, tmp_path / "store", results))
        for r in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        if w.is_alive():  # a process left waiting in the all-reduce
            w.terminate()
    assert [w.exitcode for w in workers] == [0, 0]
    assert dict(results) == {0: True, 1: True}


def test_config_overrides_read_yaml_values(tmp_path):
    """`--set` and config files read `5e-4` as a float (plain YAML 1.1 gives the string "5e-4"), keep ints and
    booleans, and reject an override without a section."""
    path = tmp_path / "c.yaml"
    path.write_text("model: {hidden_size: 64}\ndata: {}\ntraining: {learning_rate: 2e-3, weight_decay: 0.05}\n")
    example = load_example()
    config = example.load_config(
        str(path),
        [
            "training.learning_rate=5e-4",
            "model.early_fusion=true",
            "training.seed=3",
            "model.focal_gamma=0",
            "data.crop_ratio=null",
        ],
    )
    assert config["training"]["learning_rate"] == 5e-4 and isinstance(config["training"]["learning_rate"], float)
    assert config["training"]["weight_decay"] == 0.05
    assert config["model"] == {"hidden_size": 64, "early_fusion": True, "focal_gamma": 0}
    assert config["training"]["seed"] == 3 and isinstance(config["training"]["seed"], int)
    assert config["data"]["crop_ratio"] is None
    path.write_text("model: {}\ndata: {}\ntraining: {learning_rate: 1e-3}\n")
    assert example.load_config(str(path), [])["training"]["learning_rate"] == 1e-3
    with pytest.raises(ValueError, match="section.key=value"):
        example.load_config(str(path), ["learning_rate=1e-3"])
