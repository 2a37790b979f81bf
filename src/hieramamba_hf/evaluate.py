# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Evaluate a HieraMamba grounding model on a SnAG-format data set, as the official evaluator.

    python -m hieramamba_hf.evaluate --model DIR --annotations FILE --video-features DIR \\
        (--text-features DIR | --glove FILE) [--split test] [--output predictions.json]

`--model` is a `save_pretrained` folder of `HieraMambaForVideoGrounding` (e.g. what
`HieraMambaTrainer.save_model` exports: the EMA weights) or a training `checkpoint-N` folder, in which case the
EMA weights of its `ema_model.safetensors` are evaluated (official evaluator: `model_ema`; `--no-ema` uses the
raw weights). Each video is one window: its features are zero-padded to a multiple of `config.padding_unit`
(`2**(levels-1) * embedding_stride`; 128 Ego4D/TACoS, 512 MAD) and the absolute position encoding is interpolated
to that length, all queries of the video are decoded (soft-NMS, voting) and converted to seconds with the video's
clock, then R@k,IoU=theta is computed over all queries (`compute_grounding_metrics`). The table follows the
papers: Ego4D-NLQ / TACoS R@{1,5} x IoU {0.3,0.5} and their average; MAD R@{1,5,10,50} x IoU {0.1,0.3,0.5}.
The clock (clip size / stride / downsample rate) defaults to the model config's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch
from safetensors.torch import load_file
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .data_hieramamba import HieraMambaGroundingCollator, load_grounding_dataset
from .metrics_hieramamba import compute_grounding_metrics, metric_name
from .modeling_hieramamba import HieraMambaForVideoGrounding


# the EMA weights a HieraMambaTrainer checkpoint keeps next to its raw weights (the official evaluator's model_ema)
EMA_WEIGHTS_NAME = "ema_model.safetensors"

__all__ = [
    "EMA_WEIGHTS_NAME",
    "METRIC_LAYOUTS",
    "evaluate_grounding",
    "format_metrics_table",
    "load_model_for_evaluation",
    "main",
]

METRIC_LAYOUTS = {
    "ego4d": {"ranks": (1, 5), "iou_thresholds": (0.3, 0.5), "average": True},
    "mad": {"ranks": (1, 5, 10, 50), "iou_thresholds": (0.1, 0.3, 0.5), "average": False},
}


@torch.no_grad()
def evaluate_grounding(
    model,
    dataset,
    *,
    ranks=(1, 5),
    iou_thresholds=(0.3, 0.5),
    batch_size: int = 1,
    progress: bool = True,
    device=None,
    num_workers: int = 0,
):
    """Run `model` over an evaluation dataset (`load_grounding_dataset(..., is_training=False)`: one row per video
    with all its queries) and score it.

    batch_size 1 (default) is the official evaluation: each video is padded on its own to a multiple of
    `config.padding_unit`. With batch_size > 1 shorter videos are padded to the longest of the batch, and Hydra
    (which takes no mask) sees the extra zeros, so scores can differ slightly.

    Returns (metrics, predictions): metrics as `compute_grounding_metrics` (percent, plus "average");
    predictions one dict per query {video_id, sentence_id, gt_segment, predictions: [{segment, score}]}.
    """
    if len(dataset) == 0:
        raise ValueError("the evaluation dataset is empty")
    config = model.config
    collator = HieraMambaGroundingCollator(pad_to_multiple_of=config.padding_unit, return_segments=False)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collator, num_workers=num_workers)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    iterator = loader
    if progress:
        iterator = tqdm(loader, desc="Evaluating", unit="video" if batch_size == 1 else "batch")
    records = []
    try:
        for batch in iterator:
            metadata = batch.pop("metadata")
            inputs = {k: v.to(device) for k, v in batch.items()}
            try:
                outputs = model(**inputs)
            except ValueError as error:  # name the videos (and thus the feature files) of the failing batch
                ids = [m["video_id"] for m in metadata]
                raise ValueError(f"evaluation failed on video(s) {ids}: {error}") from error
            clocks = {(m["clip_size"], m["clip_stride"], m["downsample_rate"]) for m in metadata}
            if len(clocks) != 1:
                raise ValueError(f"videos of one batch have different clocks {sorted(clocks)}; use batch_size=1")
            clip_size, clip_stride, downsample_rate = clocks.pop()
            results = model.post_process_video_grounding(
                outputs,
                durations=[m["duration"] for m in metadata],
                queries_per_video=batch["queries_per_video"],
                fps=[m["fps"] for m in metadata],
                clip_size=clip_size,
                clip_stride=clip_stride,
                downsample_rate=downsample_rate,
            )
            queries = [(m, sid, gt) for m in metadata for sid, gt in zip(m["sentence_ids"], m["gt_segments_sec"])]
            for (meta, sentence_id, gt), preds in zip(queries, results):
                records.append(
                    {
                        "video_id": meta["video_id"],
                        "sentence_id": sentence_id,
                        "gt_segment": list(gt),
                        "predictions": [{"segment": list(p["segment"]), "score": p["score"]} for p in preds],
                    }
                )
    finally:
        model.train(was_training)
    metrics = compute_grounding_metrics(
        [r["predictions"] for r in records], [r["gt_segment"] for r in records], ranks, iou_thresholds
    )
    return metrics, records


def format_metrics_table(metrics: dict, ranks, iou_thresholds, average: bool = True) -> str:
    """The papers' layout: one column per (rank, IoU), grouped by rank, [average], values in percent."""
    ranks = [int(k) for k in ranks]
    thresholds = [float(t) for t in iou_thresholds]
    width = 9
    group_width = width * len(thresholds)
    top = "".join(f"R@{k}".center(group_width) for k in ranks)
    mid = "".join(f"IoU={t:g}".rjust(width) for _ in ranks for t in thresholds)
    row = "".join(f"{metrics[metric_name(k, t)]:.2f}".rjust(width) for k in ranks for t in thresholds)
    if average:
        top, mid, row = top + " " * width, mid + "avg".rjust(width), row + f"{metrics['average']:.2f}".rjust(width)
    return "\n".join((top.rstrip(), mid, row))


def load_model_for_evaluation(model_dir: str, use_ema: bool = True, device=None):
    """`HieraMambaForVideoGrounding.from_pretrained(model_dir)` in float32; with `use_ema` and an
    `ema_model.safetensors` in the folder (a training checkpoint), its EMA weights are loaded. Returns
    (model, used_ema)."""
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"model folder not found: {model_dir}")
    model = HieraMambaForVideoGrounding.from_pretrained(model_dir, dtype=torch.float32)
    ema_path = os.path.join(model_dir, EMA_WEIGHTS_NAME)
    used_ema = False
    if use_ema and os.path.isfile(ema_path):
        model.load_state_dict(load_file(ema_path), strict=True)
        used_ema = True
    if device is not None:
        model.to(device)
    return model.eval(), used_ema


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m hieramamba_hf.evaluate", description="Evaluate a HieraMamba grounding model (R@k, IoU)."
    )
    parser.add_argument("--model", required=True, help="save_pretrained folder or training checkpoint folder")
    parser.add_argument("--annotations", required=True, help="annotation JSON {split: {video_id: ...}}")
    parser.add_argument("--video-features", required=True, nargs="+", help="video feature dir(s) or .h5 file")
    text = parser.add_mutually_exclusive_group(required=True)
    text.add_argument("--text-features", help="text feature dir ({sentence_id}.npy) or .h5 file")
    text.add_argument("--glove", help="GloVe text file (TACoS-style text features)")
    parser.add_argument("--split", default="test", nargs="+", help="split name(s) of the annotation file")
    parser.add_argument("--clip-size", type=float, default=None, help="default: the model config's")
    parser.add_argument("--clip-stride", type=float, default=None, help="default: the model config's")
    parser.add_argument("--downsample-rate", type=int, default=None, help="default: the model config's")
    parser.add_argument(
        "--layout",
        choices=sorted(METRIC_LAYOUTS),
        default=None,
        help="metrics table: ego4d (R@1,5 x 0.3,0.5) or mad (R@1,5,10,50 x 0.1,0.3,0.5); "
        "default: mad when config.max_num_segments >= 50, else ego4d",
    )
    parser.add_argument("--ranks", type=int, nargs="+", default=None, help="override the layout's ranks")
    parser.add_argument("--iou-thresholds", type=float, nargs="+", default=None, help="override the IoU thresholds")
    parser.add_argument("--batch-size", type=int, default=1, help="videos per forward (1 = official)")
    parser.add_argument("--no-ema", action="store_true", help="use the raw weights of a training checkpoint")
    parser.add_argument(
        "--invalid-segments",
        choices=("error", "drop"),
        default="error",
        help="ground truth empty after clamping: error (default) or drop (official)",
    )
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument("--output", default=None, help="write metrics and per-query predictions to this JSON")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv=None) -> dict:
    args = _parser().parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, used_ema = load_model_for_evaluation(args.model, use_ema=not args.no_ema, device=device)
    config = model.config
    layout = args.layout or ("mad" if config.max_num_segments >= 50 else "ego4d")
    ranks = args.ranks or METRIC_LAYOUTS[layout]["ranks"]
    thresholds = args.iou_thresholds or METRIC_LAYOUTS[layout]["iou_thresholds"]
    clip_size = config.clip_size if args.clip_size is None else args.clip_size
    clip_stride = config.clip_stride if args.clip_stride is None else args.clip_stride
    downsample_rate = config.downsample_rate if args.downsample_rate is None else args.downsample_rate
    if float(clip_stride) != int(clip_stride):
        raise ValueError(f"clip stride must be a whole number of frames, got {clip_stride}")
    dataset = load_grounding_dataset(
        args.annotations,
        args.split,
        args.video_features,
        args.text_features,
        clip_size=clip_size,
        clip_stride=int(clip_stride),
        downsample_rate=int(downsample_rate),
        is_training=False,
        glove_path=args.glove,
        glove_dim=config.text_input_dim if args.glove else 300,
        invalid_segments=args.invalid_segments,
    )
    metrics, records = evaluate_grounding(
        model,
        dataset,
        ranks=ranks,
        iou_thresholds=thresholds,
        batch_size=args.batch_size,
        progress=not args.no_progress,
        device=device,
    )
    weights = "EMA weights (ema_model.safetensors)" if used_ema else "saved weights"
    splits = args.split if isinstance(args.split, str) else "+".join(args.split)
    print(
        f"HieraMamba {args.model} [{weights}] on {args.annotations} split {splits}: "
        f"{len(records)} queries, {len(dataset)} videos"
    )
    print(format_metrics_table(metrics, ranks, thresholds, average=METRIC_LAYOUTS[layout]["average"]))
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"metrics": metrics, "used_ema": used_ema, "predictions": records}, f, indent=1)
    return metrics


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
