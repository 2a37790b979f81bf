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

Everything goes through `pipeline("video-grounding")`: the video file is decoded (`ssm_layers.video_io`) on the
checkpoint's feature clock and encoded by the checkpoint's frame encoder with a progress bar, the queries by its text
encoder, once for all queries. The rendered synthetic video is kept next to the picture. User errors (a missing video,
a `--model` that is neither a folder nor a reachable Hub id, a video too short) print one line on stderr and exit
with code 2.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
from huggingface_hub import HfApi, try_to_load_from_cache
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from ssm_layers.video_io import open_video


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
        help="draw a synthetic video whose kinds may share a colour, so the query's shape and motion words "
        "matter (the shipped checkpoint reads the colour word only: docs/research/synthetic-grounding.md)",
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


def check_model_argument(model: str) -> str:
    """`--model` as given when it is a local folder or a Hub id this machine can reach; otherwise a clear error at
    once (a relative path from another folder must not wait for the Hub)."""
    if os.path.isdir(model):
        return model
    looks_like_path = model.startswith((".", "/", "~")) or os.sep in model.rstrip(os.sep).split("/", 1)[-1]
    hint = ""
    beside = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), model)
    if os.path.isdir(beside):
        hint = f" (run from the repository, or pass {os.path.normpath(beside)})"
    if looks_like_path or model.count("/") > 1:
        raise ValueError(f"--model {model!r}: no such folder{hint}.")
    try:
        validate_repo_id(model)
    except HFValidationError:
        raise ValueError(f"--model {model!r} is neither a local folder nor a valid Hub id{hint}.") from None
    if try_to_load_from_cache(model, "config.json") is not None:
        return model
    if os.environ.get("HF_HUB_OFFLINE", "0").upper() in ("1", "ON", "YES", "TRUE"):
        raise ValueError(f"--model {model!r} is not a local folder, and not in the Hub cache (HF_HUB_OFFLINE){hint}.")
    try:
        HfApi().model_info(model, timeout=10)
    except Exception as error:
        reason = " ".join(str(error).split())[:200]
        raise ValueError(f"--model {model!r} is not a local folder and the Hub does not answer for it{hint}: {reason}")
    return model


def _bar(ax, start, end, minimum, **kwargs):
    """A span at least `minimum` wide, centred on the moment (2-second moments of an hour stay visible)."""
    if end - start < minimum:
        middle = (start + end) / 2
        start, end = middle - minimum / 2, middle + minimum / 2
    ax.axvspan(start, end, **kwargs)


def read_thumbnails(video, fps, times):
    """The frames of `video` on the `fps` clock nearest to `times` (seconds), in one streamed pass."""
    reader = open_video(video)
    last = max(1, reader.num_clock_frames(fps)) - 1
    indices = [int(min(max(round(t * fps), 0), last)) for t in times]
    kept, wanted, index = {}, set(indices), 0
    for chunk in reader.iter_clock_frames(fps, 256):  # only the thumbnails are kept
        for frame in chunk:
            if index in wanted:
                kept[index] = frame
            index += 1
    blank = np.zeros((8, 8, 3), np.uint8)  # a header that promised more frames than the file has
    return [kept.get(i, blank) for i in indices]


def draw_timeline(path, video, duration, queries, predictions, top_k, fps, thumbnails=None):
    """The whole video as a strip of frames; per query a timeline (ground truth, best moment, the other ranked
    moments, each at least 0.5% of the axis wide) and a zoomed strip of frames around its best moment.

    `thumbnails`: the strip's frames when the caller already has them (evenly spaced over the video); the video is
    then not read again and the zoomed strips are left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    overview = np.linspace(0, duration, 24, endpoint=False) + duration / 48
    zooms = []
    for preds in predictions:
        if preds:
            best = preds[0]
            pad = max(best["end"] - best["start"], 2.0 / fps)
            zooms.append((max(0.0, best["start"] - pad), min(duration, best["end"] + pad)))
        else:
            zooms.append((0.0, duration))
    zoomed = thumbnails is None
    if zoomed:
        zoom_times = [np.linspace(a, b, 10, endpoint=False) + (b - a) / 20 for a, b in zooms]
        frames = read_thumbnails(video, fps, list(overview) + [t for times in zoom_times for t in times])
        strip = np.concatenate([f[:, :, :3] for f in frames[:24]], axis=1)
    else:
        strip = np.concatenate([f[:, :, :3] for f in thumbnails], axis=1)

    rows, per_query = len(queries), [0.9, 1.0] if zoomed else [0.9]
    fig = plt.figure(figsize=(14, 1.9 + sum(per_query) * rows))
    grid = fig.add_gridspec(1 + len(per_query) * rows, 1, height_ratios=[2.0] + per_query * rows, hspace=0.9)
    top = fig.add_subplot(grid[0])
    top.imshow(strip, extent=(0, duration, 0, 1), aspect="auto")
    top.set_yticks([])
    top.set_xlim(0, duration)
    top.set_title(f"{os.path.basename(video)}  ({duration:.0f} s)")
    minimum = 0.005 * duration
    colours = {"truth": "tab:green", "best": "tab:red", "other": "#f4a6a6"}
    for q, (query, preds, (a, b)) in enumerate(zip(queries, predictions, zooms)):
        ax = fig.add_subplot(grid[1 + len(per_query) * q])
        if query.get("truth"):
            _bar(ax, *query["truth"], minimum, ymin=0.55, ymax=0.95, color=colours["truth"])
        for rank, pred in reversed(list(enumerate(preds[:top_k]))):
            colour = colours["best"] if rank == 0 else colours["other"]
            _bar(ax, pred["start"], pred["end"], minimum, ymin=0.05, ymax=0.45, color=colour)
        text = query["sentence"] if len(query["sentence"]) < 110 else query["sentence"][:107] + "..."
        ax.set_title(text, fontsize=9, loc="left")
        ax.set_yticks([])
        ax.set_xlim(0, duration)
        if not zoomed:
            continue
        zoom = fig.add_subplot(grid[2 + 2 * q])
        start = 24 + 10 * q
        zoom_strip = np.concatenate([f[:, :, :3] for f in frames[start : start + 10]], axis=1)
        zoom.imshow(zoom_strip, extent=(a, b, 0, 1), aspect="auto")
        if preds:
            zoom.axvspan(preds[0]["start"], preds[0]["end"], ymin=0.0, ymax=0.08, color=colours["best"])
        if query.get("truth"):
            zoom.axvspan(*query["truth"], ymin=0.92, ymax=1.0, color=colours["truth"])
        zoom.set_xlim(a, b)
        zoom.set_yticks([])
        zoom.tick_params(labelsize=7)
        zoom.set_ylabel("zoom", fontsize=7)
    handles = [
        Patch(color=colours["best"], label="best moment"),
        Patch(color=colours["other"], label=f"moments ranked 2-{top_k}"),
    ]
    if any(query.get("truth") for query in queries):
        handles.insert(0, Patch(color=colours["truth"], label="ground truth"))
    fig.legend(handles=handles, loc="upper right", fontsize=8, ncol=len(handles))
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def run(args):
    """The demo (see the module docstring); user errors raise ValueError / OSError / ImportError."""
    start = time.perf_counter()
    import torch

    torch.set_num_threads(args.threads)
    from transformers import pipeline

    from hieramamba_hf import AutoModelForVideoGrounding

    if not os.path.isdir(os.path.dirname(os.path.abspath(args.output))):
        raise ValueError(f"--output {args.output!r}: its folder does not exist.")
    if args.model == DEFAULT_MODEL and not os.path.isdir(DEFAULT_MODEL):
        raise ValueError(
            f"the shipped checkpoint {os.path.normpath(DEFAULT_MODEL)} is missing; reproduce it with the training "
            "example or pass --model PATH_OR_ID."
        )
    if args.video and not os.path.isfile(args.video):
        raise ValueError(f"--video {args.video!r}: no such file.")
    model = AutoModelForVideoGrounding.from_pretrained(check_model_argument(args.model))
    grounder = pipeline("video-grounding", model=model)
    config = grounder.model.config
    if args.video:
        video, queries = args.video, [{"sentence": q, "truth": None} for q in args.query]
    else:
        seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
        info_path = os.path.join(args.model, "synthetic_info.json")
        settings = json.load(open(info_path))["config"] if os.path.isfile(info_path) else {}
        if args.shared_colours:
            settings["distinct_colours"] = False
        folder = os.path.dirname(os.path.abspath(args.output))
        video, queries = render_synthetic_video(folder, config, seed, args.clips, args.num_queries, settings)
        print(f"rendered a fresh synthetic video (seed {seed}): {video}")
    encode_start = time.perf_counter()
    predictions = grounder(video, query=[q["sentence"] for q in queries], top_k=args.top_k, progress=True)
    duration = open_video(video).metadata.duration
    print(f"grounded {len(queries)} queries in a {duration:.0f} s video in {time.perf_counter() - encode_start:.1f} s")
    hits = 0
    for query, preds in zip(queries, predictions):
        best = preds[0] if preds else {"start": float("nan"), "end": float("nan"), "score": float("nan")}
        line = f"{query['sentence']}\n  predicted {best['start']:7.1f} s - {best['end']:7.1f} s"
        line += f" (score {best['score']:.2f})"
        if query["truth"] is not None:
            iou = temporal_iou((best["start"], best["end"]), query["truth"])
            hits += iou >= 0.5
            line += f"\n  true      {query['truth'][0]:7.1f} s - {query['truth'][1]:7.1f} s   IoU {iou:.2f}"
        print(line)
    draw_timeline(args.output, video, duration, queries, predictions, args.top_k, config.fps)
    if not args.video:
        print(f"{hits}/{len(queries)} queries with IoU >= 0.5")
    print(f"timeline written to {args.output}  ({time.perf_counter() - start:.1f} s)")


def main(argv=None):
    args = parse_args(argv)
    try:
        run(args)
    except (ValueError, OSError, ImportError) as error:  # user errors: one line on stderr, exit code 2
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
