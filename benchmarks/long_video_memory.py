# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Peak memory and wall time of decoding long video files with ssm_layers.video_io, PyAV vs decord.

    python benchmarks/long_video_memory.py [--minutes 10 60] [--backends pyav decord] [--max-frames 64 384]
        [--tasks clock hieramamba mambamia] [--workdir /tmp/long_video_memory]

Input: synthetic H.264 videos (libx264 crf 23, yuv420p, 320x240, 30 fps, a gradient with three moving squares;
benchmarks/video_decode.py's renderer), rendered once per length into `--workdir` and reused.
For each file and backend, each task runs in a FRESH Python process (benchmarks/_bounded.py, 8 GB cap):

* `clock 2 fps / 16`: what the HieraMamba pipeline decodes: `open_video(path, backend).iter_clock_frames(2.0,
  chunk_size=16)`, every chunk consumed and dropped (decoding only, no frame or grounding model);
* `HieraMamba pipeline`: `pipeline("video-grounding", model=checkpoints/hieramamba-synthetic)(path, query=[3
  queries], backend=...)`: decoding on the checkpoint's 2 fps clock in chunks of 16, the frame encoder, the query
  encoder (MiniLM), the grounding model and the post-processing (the pipeline is loaded before the measurement);
* `MambaMia 1 fps / max N`: `MambaMiaProcessor.__call__(text=..., videos=path, fps=1.0, max_frames=N,
  video_backend=...)`: its `MambaMiaVideoProcessor` at 384x384 (the real tower's size: the pixel tensor is what it
  would be; decoding through ssm_layers.video_io, SigLIP's PIL path per frame) and a tiny word-level tokenizer built
  here (no downloads).

Reported: peak RSS of the process (ru_maxrss), RSS after the imports (torch, transformers, the backend) and the
rise between them, the wall time of the task and its process CPU time (all decoder threads; steadier than wall time
on a shared machine). Holding every frame of the file would take
num_frames * 320 * 240 * 3 bytes (5.0 GB for 10 minutes, 29.9 GB for 60).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bounded import run_bounded
from _machine import machine_line, markdown_table
from video_decode import render


HEIGHT, WIDTH, NATIVE_FPS = 240, 320, 30
SHIPPED = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints", "hieramamba-synthetic"
)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _processor():
    """MambaMiaProcessor: MambaMiaVideoProcessor at 384x384 and a word-level ChatML tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from mambamia_hf import MambaMiaProcessor, MambaMiaVideoProcessor

    words = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<video>", "[UNK]", "what", "happens", "?"]
    model = Tokenizer(models.WordLevel(vocab={word: i for i, word in enumerate(words)}, unk_token="[UNK]"))
    model.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=model,
        unk_token="[UNK]",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>", "<video>"],
    )
    video_processor = MambaMiaVideoProcessor(size={"height": 384, "width": 384}, fps=1.0)
    return MambaMiaProcessor(video_processor, tokenizer, tokens_per_frame=25)


def single(task: str, backend: str, path: str) -> dict:
    """Run one task on `path` in this process; returns frames kept, wall time and memory figures."""
    import torch

    torch.set_num_threads(1)
    __import__({"pyav": "av", "decord": "decord"}[backend])
    if task == "clock":
        from ssm_layers.video_io import open_video

        def run():
            return sum(len(chunk) for chunk in open_video(path, backend).iter_clock_frames(2.0, chunk_size=16))
    elif task == "hieramamba":
        from transformers import pipeline

        import hieramamba_hf  # noqa: F401  (registers the task)
        from ssm_layers.video_io import open_video

        grounder = pipeline("video-grounding", model=SHIPPED)
        queries = ["a red ball slides to the right", "the second time a blue box stays still", "a green bar falls"]

        def run():
            results = grounder(path, query=queries, backend=backend, progress=False)
            assert len(results) == 3
            return open_video(path).num_clock_frames(grounder.model.config.fps)
    else:
        processor, max_frames = _processor(), int(task.split("-")[1])

        def run():
            inputs = processor(
                text="<video> what happens ?", videos=path, fps=1.0, max_frames=max_frames, video_backend=backend
            )
            return int(inputs["pixel_values_videos"].shape[1])

    before = _rss_mb()
    start, cpu_start = time.perf_counter(), time.process_time()
    frames = run()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"frames": frames, "wall_s": wall, "cpu_s": cpu, "peak_mb": peak, "before_mb": before}


def run(
    minutes=(10.0, 60.0),
    backends=("pyav", "decord"),
    max_frames=(64, 384),
    tasks=("clock", "hieramamba", "mambamia"),
    workdir=None,
    time_budget=900.0,
    memory_cap_gb=8.0,
    log=print,
) -> str:
    workdir = workdir or os.path.join(os.environ.get("TMPDIR", "/tmp"), "long_video_memory")
    os.makedirs(workdir, exist_ok=True)
    selected = tasks
    tasks = [("clock", "clock 2 fps / 16"), ("hieramamba", "HieraMamba pipeline")] + [
        (f"mambamia-{n}", f"MambaMia 1 fps / max {n}") for n in max_frames
    ]
    tasks = [(task, label) for task, label in tasks if task.split("-")[0] in selected]
    rows = []
    for length in minutes:
        start = time.perf_counter()
        path = render(
            os.path.join(workdir, f"moving_{length:g}min_{WIDTH}x{HEIGHT}_{NATIVE_FPS}fps.mp4"),
            length * 60,
            HEIGHT,
            NATIVE_FPS,
            width=WIDTH,
        )
        log(f"{path}: ready after {time.perf_counter() - start:.0f} s")
        for task, label in tasks:
            for backend in backends:
                cmd = [sys.executable, os.path.abspath(__file__), "--single", task, backend, path]
                status, r, err = run_bounded(cmd, time_budget, memory_cap_gb, clock="wall")
                log(f"  {length:g} min {label:>24} {backend:>6}: {status}" + (f"\n{err}" if status == "error" else ""))
                if r is None:
                    rows.append([f"{length:g} min", label, backend, "-", status, status, status, "-", "-"])
                    continue
                rows.append(
                    [
                        f"{length:g} min",
                        label,
                        backend,
                        r["frames"],
                        f"{r['wall_s']:.1f}",
                        f"{r['cpu_s']:.1f}",
                        f"{r['peak_mb']:.0f}",
                        f"{r['before_mb']:.0f}",
                        f"{r['peak_mb'] - r['before_mb']:.0f}",
                    ]
                )
    return "\n".join(
        [
            (
                f"**Long-video decoding memory** (ssm_layers.video_io; synthetic H.264 {WIDTH}x{HEIGHT} at "
                f"{NATIVE_FPS} fps; each row a fresh process; peak RSS = ru_maxrss, rise = peak - RSS after imports)"
            ),
            "",
            machine_line() + "; torch 1 thread, PyAV thread_type AUTO, decord num_threads=1",
            "",
            markdown_table(
                [
                    "video",
                    "task",
                    "backend",
                    "frames kept",
                    "wall s",
                    "CPU s",
                    "peak RSS MB",
                    "RSS after imports MB",
                    "rise MB",
                ],
                rows,
            ),
        ]
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, nargs="+", default=[10.0, 60.0])
    ap.add_argument("--backends", nargs="+", default=["pyav", "decord"], choices=["pyav", "decord"])
    ap.add_argument("--max-frames", type=int, nargs="+", default=[64, 384])
    ap.add_argument(
        "--tasks", nargs="+", default=["clock", "hieramamba", "mambamia"], choices=["clock", "hieramamba", "mambamia"]
    )
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--single", nargs=3, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.single:
        print("JSON" + json.dumps(single(*args.single)))
        return
    print(
        run(
            args.minutes,
            args.backends,
            args.max_frames,
            tasks=args.tasks,
            workdir=args.workdir,
            log=lambda s: print(s, file=sys.stderr),
        )
    )


if __name__ == "__main__":
    main()
