# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Video temporal grounding demo: where in the video does each query happen?

    python examples/ground_video.py
        renders a fresh synthetic video (synthetic_grounding/synthetic.py: coloured shapes moving over changing
        backgrounds), grounds three of its queries with the small checkpoint trained by this project on the synthetic
        set (checkpoints/hieramamba-synthetic/), prints predicted vs true times and writes a timeline picture. The
        video is drawn with the generator settings the checkpoint was trained on (its synthetic_info.json: the shipped
        one gives every kind of a video its own colour); --shared-colours lets kinds share a colour (the full task).

    python examples/ground_video.py --video FILE --query "TEXT" [--query "TEXT" ...] --model PATH_OR_HUB_ID
        grounds your own queries in your own video.

Everything goes through `pipeline("video-grounding")`: the video file is decoded (decord, PyAV fallback) on the
checkpoint's feature clock, encoded by the checkpoint's frame encoder, the queries by its text encoder, once for
all queries.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "synthetic_grounding"))  # the generator


DEFAULT_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "checkpoints", "hieramamba-synthetic")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="checkpoint folder or Hub id (default: %(default)s)")
    parser.add_argument("--video", help="your video file (default: render a fresh synthetic video)")
    parser.add_argument("--query", action="append", help="a query; repeat for several (needs --video)")
    parser.add_argument("--output", default="grounding_timeline.png", help="timeline picture (PNG)")
    parser.add_argument("--top-k", type=int, default=3, help="segments per query to draw (the best one is printed)")
    parser.add_argument("--seed", type=int, default=None, help="synthetic video seed (default: a fresh random one)")
    parser.add_argument(
        "--clips",
        type=int,
        default=None,
        help="synthetic video length in clips (default: drawn like the checkpoint's training videos)",
    )
    parser.add_argument("--num-queries", type=int, default=3, help="synthetic queries to ground (default 3)")
    parser.add_argument(
        "--shared-colours",
        action="store_true",
        help="draw a synthetic video whose kinds may share a colour, so the query's shape and "
        "motion words matter (the shipped checkpoint reads the colour word only: README Status)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: the demo model is small, more threads mostly wait)",
    )
    args = parser.parse_args(argv)
    if args.query and not args.video:
        parser.error("--query needs --video (without --video the demo renders a synthetic video with its own queries)")
    if args.video and not args.query:
        parser.error("--video needs at least one --query")
    return args


def temporal_iou(a, b):
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def render_synthetic_video(folder, config, seed, clips, num_queries, generator_settings=None):
    """A fresh synthetic video on the checkpoint's clock, written to an mp4 in `folder`, with its queries and their
    true segments (seconds). `generator_settings`: the synthetic set's generator config the checkpoint was trained on
    (its synthetic_info.json), so the video comes from the training distribution; a new seed makes it unseen."""
    from synthetic import _write_video, sample_demo_video

    from hieramamba_hf import SimpleFrameEncoderConfig, SimpleFrameEncoderModel

    synth, spec, queries = sample_demo_video(
        seed, num_queries, config.fps, config.clip_size, config.clip_stride, generator_settings, clips
    )
    path = os.path.join(folder, f"synthetic_seed{seed}.mp4")
    # the renderer also returns clip features (here of a raw-descriptor encoder); the pipeline computes the
    # checkpoint's own from the mp4
    _write_video(path, spec, synth, SimpleFrameEncoderModel(SimpleFrameEncoderConfig(feature_dim=0)))
    return path, queries


def draw_timeline(path, video, duration, queries, predictions, top_k, fps):
    """Frames strip on top; one row per query with the true segment and the top-k predictions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ssm_layers.video_io import open_video

    num_thumbs = 24
    reader = open_video(video)
    total = max(1, reader.num_clock_frames(fps))
    wanted = set(np.linspace(0, total - 1, num_thumbs).round().astype(int).tolist())
    thumbs, index = [], 0
    for chunk in reader.iter_clock_frames(fps, 256):  # streamed: only the thumbnails are kept
        for frame in chunk:
            if index in wanted:
                thumbs.append(frame)
            index += 1
    rows = len(queries)
    fig, axes = plt.subplots(
        rows + 1, 1, figsize=(14, 1.6 + 0.9 * rows), sharex=True, gridspec_kw={"height_ratios": [2.2] + [1] * rows}
    )
    strip = np.concatenate([t[:, :, :3] for t in thumbs], axis=1) if thumbs else np.zeros((8, 8, 3), np.uint8)
    axes[0].imshow(strip, extent=(0, duration, 0, 1), aspect="auto")
    axes[0].set_yticks([])
    axes[0].set_title(f"{os.path.basename(video)}  ({duration:.0f} s)")
    for ax, query, preds in zip(axes[1:], queries, predictions):
        if query.get("truth"):
            s, e = query["truth"]
            ax.axvspan(s, e, ymin=0.55, ymax=0.95, color="tab:green", alpha=0.8, label="ground truth")
        for rank, pred in enumerate(preds[:top_k]):
            ax.axvspan(
                pred["start"],
                pred["end"],
                ymin=0.05,
                ymax=0.45,
                color="tab:red",
                alpha=0.85 if rank == 0 else 0.25,
                label="prediction" if rank == 0 else None,
            )
        text = query["sentence"] if len(query["sentence"]) < 110 else query["sentence"][:107] + "..."
        ax.set_ylabel("", rotation=0)
        ax.set_yticks([])
        ax.set_title(text, fontsize=9, loc="left")
        ax.set_xlim(0, duration)
    axes[1].legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    import torch

    torch.set_num_threads(args.threads)
    from transformers import pipeline

    import hieramamba_hf  # noqa: F401  (registers the "video-grounding" pipeline)

    if args.model == DEFAULT_MODEL and not os.path.isdir(DEFAULT_MODEL):
        raise SystemExit(
            f"the shipped checkpoint {os.path.normpath(DEFAULT_MODEL)} is missing; reproduce it with the training "
            "example or pass --model PATH_OR_ID."
        )
    grounder = pipeline("video-grounding", model=args.model)
    config = grounder.model.config
    with tempfile.TemporaryDirectory() as tmp:
        if args.video:
            video, queries = args.video, [{"sentence": q, "truth": None} for q in args.query]
        else:
            seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
            info_path = os.path.join(args.model, "synthetic_info.json")
            settings = json.load(open(info_path))["config"] if os.path.isfile(info_path) else {}
            if args.shared_colours:
                settings["distinct_colours"] = False
            video, queries = render_synthetic_video(tmp, config, seed, args.clips, args.num_queries, settings)
            print(f"rendered a fresh synthetic video (seed {seed}, {os.path.basename(video)})")
        predictions = grounder(video, query=[q["sentence"] for q in queries], top_k=args.top_k)
        from ssm_layers.video_io import open_video

        duration = open_video(video).metadata.duration
        hits = 0
        for query, preds in zip(queries, predictions):
            best = preds[0] if preds else {"start": float("nan"), "end": float("nan"), "score": float("nan")}
            line = (
                f"{query['sentence']}\n  predicted {best['start']:7.1f} s - {best['end']:7.1f} s "
                f"(score {best['score']:.2f})"
            )
            if query["truth"] is not None:
                iou = temporal_iou((best["start"], best["end"]), query["truth"])
                hits += iou >= 0.5
                line += f"\n  true      {query['truth'][0]:7.1f} s - {query['truth'][1]:7.1f} s   IoU {iou:.2f}"
            print(line)
        draw_timeline(args.output, video, duration, queries, predictions, args.top_k, config.fps)
    if not args.video:
        print(f"{hits}/{len(queries)} queries with IoU >= 0.5")
    print(f"timeline written to {args.output}  ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
