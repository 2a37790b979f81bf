#!/usr/bin/env python
# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Train HieraMamba with the official recipe on a SnAG-format grounding data set.

    python examples/train_hieramamba.py examples/configs/hieramamba/ego4d-nlq.yaml
    accelerate launch --num_processes 4 examples/train_hieramamba.py examples/configs/hieramamba/mad.yaml
    torchrun --nproc_per_node 2 examples/train_hieramamba.py CONFIG     # CPU: DDP over gloo (docs/scale-out.md)
    python examples/train_hieramamba.py CONFIG --set training.output_dir=/tmp/run --set model.use_global_mixer=false
    python examples/train_hieramamba.py CONFIG --resume-from-checkpoint OUTPUT_DIR/checkpoint-1000

A config (YAML or JSON) has three sections:
    model:    preset: one of HieraMambaConfig.presets() (or null), plus any HieraMambaConfig field as an override
    data:     dataset (a DATASET_PRESETS key: clock, grouping, crop), anno_file, train_split, eval_split,
              vid_feat_dir (dir, list of dirs, or .h5), text_feat_dir or glove_path, optional overrides of the
              preset (clip_size, clip_stride, downsample_rate, crop_ratio, max_num_text, max_vid_len,
              max_text_len, invalid_segments)
    training: HieraMambaTrainingArguments fields (num_train_epochs = official epochs + warmup_epochs)
`--set section.key=value` overrides one entry (value parsed as YAML).

At the end the EMA weights are exported with save_pretrained to `<output_dir>/final` and the eval split is decoded
and scored (the paper's R@k,IoU table). Evaluate any saved folder later with `python -m hieramamba_hf.evaluate`.
The exported folder is a complete checkpoint: when the data set's encoders are known it also holds them and its
processor, so it grounds video files with `pipeline("video-grounding")` (a synthetic set: the set's frame encoder
and MiniLM, as the demo checkpoint; MAD / MAD-v2: their CLIP model, named by Hub id); otherwise it holds a processor
for precomputed features and `FEATURES.md`, which says what the checkpoint takes.
"""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time

import torch
import yaml
from transformers import TrainerCallback

from hieramamba_hf import HieraMambaConfig, HieraMambaForVideoGrounding, HieraMambaProcessor
from hieramamba_hf.convert_hieramamba_original_to_hf import OFFICIAL_DATASETS, with_clip_encoders
from hieramamba_hf.data_hieramamba import DATASET_PRESETS, HieraMambaGroundingCollator, load_grounding_dataset
from hieramamba_hf.evaluate import METRIC_LAYOUTS, evaluate_grounding, format_metrics_table
from hieramamba_hf.training_hieramamba import HieraMambaTrainer, HieraMambaTrainingArguments
from ssm_layers.distributed import check_distributed_training_arguments, distributed_cpu_defaults


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "synthetic_grounding"))
from package_checkpoint import package_synthetic_checkpoint  # noqa: E402


class _YAMLLoader(yaml.SafeLoader):
    """SafeLoader that also reads `5e-4` as a float (YAML 1.1 wants `5.0e-4` and would give the string "5e-4")."""


_YAMLLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+)$"),
    list("-+0123456789."),
)


DATA_KEYS = (
    "clip_size",
    "clip_stride",
    "downsample_rate",
    "crop_ratio",
    "max_num_text",
    "max_vid_len",
    "max_text_len",
)


def load_config(path: str, overrides: list[str]) -> dict:
    with open(path) as f:
        config = json.load(f) if path.endswith(".json") else yaml.load(f, Loader=_YAMLLoader)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise ValueError(f"--set expects section.key=value, got {item!r}")
        section, name = key.split(".", 1)
        config.setdefault(section, {})[name] = yaml.load(value, Loader=_YAMLLoader)
    for section in ("model", "data", "training"):
        if section not in config:
            raise ValueError(f"config {path} has no {section!r} section")
    return config


def build_model_config(model_section: dict) -> HieraMambaConfig:
    model_section = dict(model_section)
    preset = model_section.pop("preset", None)
    return HieraMambaConfig.from_preset(preset, **model_section) if preset else HieraMambaConfig(**model_section)


def build_datasets(data: dict, model_config: HieraMambaConfig):
    data = dict(data)
    settings = dict(DATASET_PRESETS[data.pop("dataset")]) if data.get("dataset") else {}
    settings.pop("eval_padding_unit", None)
    settings.update({k: data.pop(k) for k in DATA_KEYS if k in data})
    common = {
        "vid_feat_dir": data.pop("vid_feat_dir"),
        "text_feat_dir": data.pop("text_feat_dir", None),
        "glove_path": data.pop("glove_path", None),
        "invalid_segments": data.pop("invalid_segments", "error"),
        "clip_size": settings["clip_size"],
        "clip_stride": settings["clip_stride"],
        "downsample_rate": settings.get("downsample_rate", 1),
    }
    if common["glove_path"]:
        common["glove_dim"] = model_config.text_input_dim
    anno_file = data.pop("anno_file")
    train = load_grounding_dataset(
        anno_file,
        data.pop("train_split", "train"),
        is_training=True,
        max_vid_len=settings.get("max_vid_len", model_config.max_seq_len * model_config.embedding_stride),
        max_text_len=settings.get("max_text_len", model_config.text_max_seq_len),
        max_num_text=settings.get("max_num_text"),
        crop_ratio=settings.get("crop_ratio"),
        **common,
    )
    eval_split = data.pop("eval_split", None)
    evaluation = None
    if eval_split:
        evaluation = load_grounding_dataset(anno_file, eval_split, is_training=False, **common)
    if data:
        raise ValueError(f"unknown data settings: {sorted(data)}")
    return train, evaluation, settings


def early_fusion_from_late_fusion(model_config: HieraMambaConfig, folder: str) -> HieraMambaForVideoGrounding:
    """An early-fusion model warm-started from a late-fusion checkpoint of the same sizes. The two have the same
    modules but for the video input: late fusion projects the video features straight into the backbone
    (``backbone.input_proj``: features -> hidden), early fusion projects them first (``video_proj``), fuses the
    query, then projects again (``backbone.input_proj``: hidden -> hidden). The late model's input projection becomes
    ``video_proj`` and the backbone's input projection starts as the identity; every other weight is copied."""
    from safetensors.torch import load_file

    state = load_file(os.path.join(folder, "model.safetensors"))
    prefix = "model.backbone.input_proj."
    for name in ("weight", "bias"):
        state[f"model.video_proj.{name}"] = state.pop(prefix + name)
    state[prefix + "weight"] = torch.eye(model_config.hidden_size)
    state[prefix + "bias"] = torch.zeros(model_config.hidden_size)
    model = HieraMambaForVideoGrounding(model_config)
    model.load_state_dict(state, strict=True)  # same sizes, nothing missing or left over
    return model


def complete_checkpoint(folder: str, data: dict, metrics: dict | None = None) -> str:
    """Give the exported `folder` what grounding video files needs when the data set's encoders are known (see the
    module docstring); otherwise a features-only processor and FEATURES.md. Returns what the folder takes, in words."""
    features = data.get("vid_feat_dir")
    root = os.path.dirname(os.path.normpath(features)) if isinstance(features, str) else None
    if root and os.path.isfile(os.path.join(root, "info.json")) and os.path.isdir(os.path.join(root, "frame_encoder")):
        with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(folder))) as tmp:
            packaged = package_synthetic_checkpoint(folder, root, os.path.join(tmp, "packaged"), metrics=metrics)
            shutil.rmtree(folder)
            shutil.move(packaged, folder)
        return "video files and query text (the synthetic set's frame encoder and MiniLM)"
    model = HieraMambaForVideoGrounding.from_pretrained(folder, dtype=torch.float32)
    reason = "the training script does not know the encoders that computed this data set's features"
    clip = OFFICIAL_DATASETS.get(data.get("dataset"), {}).get("clip")
    if clip is not None:
        try:
            with_clip_encoders(model, clip).save_pretrained(folder)
            HieraMambaProcessor.from_components(clip, clip).save_pretrained(folder)
            return f"video files and query text (CLIP {clip}, named)"
        except (OSError, ValueError) as error:
            reason = f"its CLIP model {clip} could not be attached: {' '.join(str(error).split())[:300]}"
    HieraMambaProcessor().save_pretrained(folder)
    config = model.config
    with open(os.path.join(folder, "FEATURES.md"), "w") as f:
        f.write(
            "# What this checkpoint takes\n\n"
            f"Precomputed features only ({reason}): video clip features of width {config.video_input_dim} on the "
            f"clock of config.json (fps {config.fps:g}, clips of {config.clip_size:g} frames every "
            f"{config.clip_stride:g} x {config.downsample_rate} frames) and query token features of width "
            f"{config.text_input_dim}, computed as for the training data ({features}).\n\n"
            "To ground video files, give the model its encoders and save their processor: "
            "`HieraMambaForVideoGrounding.from_components(config, vision_model, text_model)` and "
            "`HieraMambaProcessor.from_components(vision_model, text_model)` (docs/hieramamba.md).\n"
        )
    return "precomputed features only (see FEATURES.md)"


class StopAfterMinutes(TrainerCallback):
    """Stop training after a time budget, measured on the wall clock or as this process's CPU time (all threads;
    on a machine shared with other jobs the CPU time is what the run would take alone). The learning rate is
    constant after warmup, so stopping early only shortens the run."""

    def __init__(self, minutes: float, clock: str = "wall"):
        self.clock = time.process_time if clock == "cpu" else time.time
        self.deadline = self.clock() + 60.0 * minutes

    def on_step_end(self, args, state, control, **kwargs):
        stop = torch.tensor(float(self.clock() >= self.deadline), device=args.device)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(stop, op=torch.distributed.ReduceOp.MAX)  # all processes stop on one step
        if stop.item():
            control.should_training_stop = True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", help="YAML / JSON config (see examples/configs/hieramamba/)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--resume-from-checkpoint", default=None)
    parser.add_argument(
        "--init-from",
        default=None,
        help="start from these weights (a save_pretrained folder of the same architecture), e.g. an "
        "earlier stage of a curriculum; optimizer, schedule and EMA start afresh. A late-fusion "
        "folder can start an early-fusion model (its video projection moves in front of the "
        "fusion)",
    )
    parser.add_argument("--num-threads", type=int, default=None, help="torch.set_num_threads (CPU runs)")
    parser.add_argument("--max-train-minutes", type=float, default=None, help="stop training after this long")
    parser.add_argument(
        "--budget-clock",
        choices=("wall", "cpu"),
        default="wall",
        help="clock of --max-train-minutes: wall time or this process's CPU time",
    )
    args = parser.parse_args(argv)
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    config = load_config(args.config, args.set)

    model_config = build_model_config(config["model"])
    train_dataset, eval_dataset, settings = build_datasets(config["data"], model_config)
    # under torchrun / accelerate launch on CPU: DDP over gloo; never independent copies writing one output_dir
    training = {**config["training"], **distributed_cpu_defaults(config["training"])}
    training_args = HieraMambaTrainingArguments(**training)
    check_distributed_training_arguments(training_args)
    torch.manual_seed(training_args.seed)
    late_to_early = bool(args.init_from) and model_config.early_fusion
    late_to_early = late_to_early and not HieraMambaConfig.from_pretrained(args.init_from).early_fusion
    if late_to_early:
        model = early_fusion_from_late_fusion(model_config, args.init_from)
        print(f"early fusion warm-started from the late-fusion model {args.init_from}")
    elif args.init_from:
        model = HieraMambaForVideoGrounding.from_pretrained(args.init_from, config=model_config, dtype=torch.float32)
    else:
        model = HieraMambaForVideoGrounding(model_config)
    print(
        f"HieraMamba: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters; "
        f"{len(train_dataset)} training rows" + (f", {len(eval_dataset)} eval videos" if eval_dataset else "")
    )

    trainer = HieraMambaTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=HieraMambaGroundingCollator(
            max_seq_len=settings.get("max_vid_len", model_config.max_seq_len * model_config.embedding_stride)
        ),
        eval_data_collator=HieraMambaGroundingCollator(pad_to_multiple_of=model_config.padding_unit),
    )
    if args.max_train_minutes:
        trainer.add_callback(StopAfterMinutes(args.max_train_minutes, args.budget_clock))
    start, start_cpu = time.time(), time.process_time()
    trainer.train(resume_from_checkpoint=args.resume_from_checkpoint)
    train_time, train_cpu_time = time.time() - start, time.process_time() - start_cpu
    final_dir = os.path.join(training_args.output_dir, "final")
    trainer.save_model(final_dir)  # EMA weights, save_pretrained
    summary = {
        "train_seconds": train_time,
        "train_cpu_seconds": train_cpu_time,
        "optimizer_steps": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "final_loss_norm": trainer.loss_norm,
        "final_model": final_dir,
    }
    if eval_dataset is not None and trainer.is_world_process_zero():
        model = trainer.accelerator.unwrap_model(trainer.model)
        ranks, thresholds = training_args.eval_ranks, training_args.eval_iou_thresholds
        with trainer.ema.average_parameters(model):
            metrics, _ = evaluate_grounding(model, eval_dataset, ranks=ranks, iou_thresholds=thresholds)
        average = list(ranks) == list(METRIC_LAYOUTS["ego4d"]["ranks"])
        print(format_metrics_table(metrics, ranks, thresholds, average=average))
        summary["metrics"] = metrics
    if trainer.is_world_process_zero():
        summary["final_model_takes"] = complete_checkpoint(final_dir, config["data"], summary.get("metrics"))
        print(json.dumps(summary, indent=2))
        with open(os.path.join(training_args.output_dir, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
