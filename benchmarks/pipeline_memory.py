# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Peak memory of pipeline("video-grounding") on long video files: 10 min vs 60 min at the checkpoint's clock.

Decoding and frame encoding stream in chunks, so peak RSS must not grow with the video's length beyond the clip
feature tensor (and the grounding model's activations, which scale with the number of clips, not frames).
For each length the script renders a synthetic video (the renderer of examples/synthetic_grounding/synthetic.py,
`--resolution` pixels, at the checkpoint's fps) once into `--workdir`, then grounds three queries in a FRESH Python
process and reports:

    rss_loaded   RSS after loading the pipeline (model + encoders), before the video
    peak_encode  peak RSS while decoding + encoding the whole video (ssm_layers.video_io chunks on the clock ->
                 processor.preprocess_frames -> the model's get_video_features), sampled every 20 ms
    peak_forward peak RSS while grounding the 3 queries on the clip features (model forward + post-processing):
                 the model's activations grow with the number of clips, as for any feature-based grounder
    peak_total   peak RSS during the full pipeline call (decode + encode again + model forward + post-processing)
    frames_all   what holding every sampled frame would take (num_frames * H * W * 3 bytes), for contrast

Run: python benchmarks/pipeline_memory.py [--model PATH] [--minutes 10 60] [--resolution 224] [--backend decord]
     [--query-batch-size 1]
Default model: checkpoints/hieramamba-synthetic if present, else a randomly initialised checkpoint of the same
shape (SimpleFrameEncoderModel 128-d stored, MiniLM named by its python package, MiniLM's tokenizer in the
processor); the memory behaviour does not depend on the weights.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "examples", "synthetic_grounding"))  # the generator and package_checkpoint
SHIPPED = os.path.join(REPO, "checkpoints", "hieramamba-synthetic")
QUERIES = [
    "a red ball slides to the right",
    "the second time a blue box stays still",
    "a green bar falls down right after a red disc pulses",
]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def random_checkpoint(folder: str) -> str:
    """A randomly initialised checkpoint of the demo checkpoint's shape, saved to `folder`: a fresh
    SimpleFrameEncoderModel (128-d) stored, MiniLM named by its pip package, MiniLM's tokenizer."""
    import torch
    from package_checkpoint import model_with_minilm

    from hieramamba_hf import HieraMambaConfig
    from hieramamba_hf.hub_hieramamba import save_checkpoint

    torch.manual_seed(0)
    config = HieraMambaConfig(
        video_input_dim=128,
        hidden_size=128,
        text_input_dim=384,
        text_hidden_size=128,
        num_amp_blocks=6,
        max_seq_len=1024,
        fps=2.0,
        clip_size=2,
        clip_stride=2,
        downsample_rate=1,
        projector_dim=64,
    )
    model, processor = model_with_minilm(config, "simple")
    save_checkpoint(folder, model, processor, model_card=False)
    return folder


def render(path: str, minutes: float, resolution: int, fps: float, clip_size: int, clip_stride: int) -> str:
    """A synthetic video of `minutes` at `fps`, rendered and encoded chunk by chunk (bounded memory too)."""
    if os.path.exists(path):
        return path
    from fractions import Fraction

    import av
    from synthetic import SyntheticGroundingConfig, render_frames, sample_video_spec

    clips = int(minutes * 60 * fps / clip_stride)
    config = SyntheticGroundingConfig(
        num_videos=1,
        min_clips=clips,
        max_clips=clips,
        fps=fps,
        clip_size=clip_size,
        clip_stride=clip_stride,
        resolution=resolution,
        seed=123,
    )
    spec = sample_video_spec(config, 0)
    num_frames = (clips - 1) * clip_stride + clip_size
    tmp = path + ".part.mp4"
    with av.open(tmp, "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width = stream.height = resolution
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "30", "preset": "ultrafast"}
        for lo in range(0, num_frames, 256):
            for frame in render_frames(spec, config, lo, min(lo + 256, num_frames)):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    os.replace(tmp, path)
    return path


class RssMonitor:
    """Samples the current RSS every 20 ms in a thread; `phase()` returns the max since the last call (a peak
    of THIS phase: ru_maxrss would also count the transient peak of loading the model)."""

    def __init__(self):
        import threading

        self.current_max, self.stop = rss_mb(), False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            self.current_max = max(self.current_max, rss_mb())
            time.sleep(0.02)

    def phase(self) -> float:
        peak, self.current_max = max(self.current_max, rss_mb()), rss_mb()
        return peak


def encode_video(grounder, path: str, backend: str | None = None):
    """Clip features `(T, C)` and duration (seconds) of a video file, streamed as the pipeline streams it: decoded
    by ssm_layers.video_io on the checkpoint's clock in chunks of `processor.chunk_size` frames, prepared by the
    processor, pooled into clips by the model's `get_video_features`."""
    import torch

    from ssm_layers.video_io import open_video

    config, processor = grounder.model.config, grounder.processor
    reader = open_video(path, backend=backend)
    chunks = reader.iter_clock_frames(config.fps, processor.chunk_size)
    with torch.inference_mode():
        features = grounder.model.model.get_video_features(
            (processor.preprocess_frames(chunk) for chunk in chunks), reader.num_clock_frames(config.fps)
        )
    return features, reader.metadata.duration  # exact once decoded


def child(args):
    import torch

    torch.set_num_threads(args.threads)
    from transformers import pipeline

    import hieramamba_hf  # noqa: F401  (registers the video-grounding task)

    grounder = pipeline("video-grounding", model=args.model)
    loaded, peak_load = rss_mb(), peak_mb()
    monitor = RssMonitor()
    start = time.perf_counter()
    features, duration = encode_video(grounder, args.video, args.backend)
    encode_s = time.perf_counter() - start
    peak_encode = monitor.phase()
    start = time.perf_counter()
    # model forward + post-processing on the clip features only
    grounder(features, query=QUERIES, top_k=5, duration=duration, query_batch_size=args.query_batch_size)
    forward_s = time.perf_counter() - start
    peak_forward = monitor.phase()
    start = time.perf_counter()
    result = grounder(
        args.video,
        query=QUERIES,
        top_k=5,
        backend=args.backend,
        progress=False,
        query_batch_size=args.query_batch_size,
    )
    total_s = time.perf_counter() - start
    peak_total = monitor.phase()
    monitor.stop = True
    info = {
        "duration_s": duration,
        "num_clips": features.shape[0],
        "feature_mb": features.numel() * 4 / 2**20,
        "rss_loaded_mb": loaded,
        "peak_load_mb": peak_load,
        "peak_encode_mb": peak_encode,
        "peak_forward_mb": peak_forward,
        "forward_s": forward_s,
        "peak_total_mb": peak_total,
        "encode_s": encode_s,
        "pipeline_s": total_s,
        "backend": args.backend or "default",
        "chunk_size": grounder.processor.chunk_size,
        "top1": [r[0] for r in result],
    }
    print("JSON" + json.dumps(info))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="checkpoint (default: shipped one, else a random one)")
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60])
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--backend", default=None, choices=[None, "decord", "pyav"])
    parser.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "hieramamba_memory"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--query-batch-size",
        type=int,
        default=None,
        help="queries per model forward (default: all 3 at once; 1 lowers the forward peak)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--video", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    os.makedirs(args.workdir, exist_ok=True)
    model = args.model or (SHIPPED if os.path.isdir(SHIPPED) else None)
    if model is None:
        model = os.path.join(args.workdir, "random-checkpoint")
        if not os.path.isdir(model):
            random_checkpoint(model)
    from transformers import AutoConfig

    import hieramamba_hf  # noqa: F401

    config = AutoConfig.from_pretrained(model)
    print(
        f"model: {model}  clock: {config.fps:g} fps, clip {config.clip_size:g}/{config.clip_stride:g}, "
        f"frames {args.resolution}x{args.resolution}, backend {args.backend or 'default (decord)'}"
    )
    rows = []
    for minutes in args.minutes:
        path = os.path.join(args.workdir, f"synthetic_{minutes:g}min_{args.resolution}px_{config.fps:g}fps.mp4")
        start = time.perf_counter()
        render(path, minutes, args.resolution, config.fps, int(config.clip_size), int(config.clip_stride))
        render_s = time.perf_counter() - start
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--model", model, "--video", path]
        cmd += ["--threads", str(args.threads)] + (["--backend", args.backend] if args.backend else [])
        if args.query_batch_size:
            cmd += ["--query-batch-size", str(args.query_batch_size)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        lines = [line for line in out.stdout.splitlines() if line.startswith("JSON")]
        if out.returncode or not lines:
            raise SystemExit(f"child failed:\n{out.stderr[-3000:]}")
        info = json.loads(lines[0][4:])
        frames = int(round(info["duration_s"] * config.fps))
        info.update(
            minutes=minutes,
            render_s=render_s,
            frames=frames,
            frames_all_mb=frames * args.resolution**2 * 3 / 2**20,
            file_mb=os.path.getsize(path) / 2**20,
        )
        rows.append(info)
        print(json.dumps({k: (round(v, 1) if isinstance(v, float) else v) for k, v in info.items() if k != "top1"}))
    print()
    print(
        "| video | sampled frames | clips | features MB | RSS loaded MB | peak encode MB | peak forward MB | "
        "peak total MB | all frames would be MB | encode s | forward s | pipeline s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['minutes']:g} min | {r['frames']} | {r['num_clips']} | {r['feature_mb']:.1f} | "
            f"{r['rss_loaded_mb']:.0f} | {r['peak_encode_mb']:.0f} | {r['peak_forward_mb']:.0f} | "
            f"{r['peak_total_mb']:.0f} | {r['frames_all_mb']:.0f} | {r['encode_s']:.1f} | {r['forward_s']:.1f} | "
            f"{r['pipeline_s']:.1f} |"
        )
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        print(
            f"\npeak growth {a['minutes']:g} -> {b['minutes']:g} min: encode "
            f"{b['peak_encode_mb'] - a['peak_encode_mb']:+.0f} MB, "
            f"forward {b['peak_forward_mb'] - a['peak_forward_mb']:+.0f} MB, "
            f"total {b['peak_total_mb'] - a['peak_total_mb']:+.0f} MB "
            f"(feature tensor grows {b['feature_mb'] - a['feature_mb']:+.1f} MB; all frames would grow "
            f"{b['frames_all_mb'] - a['frames_all_mb']:+.0f} MB)"
        )


if __name__ == "__main__":
    main()
