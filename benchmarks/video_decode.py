# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Video decoding throughput: decord vs PyAV vs transformers.video_utils.load_video (and this repo's streaming reader).

    python benchmarks/video_decode.py [--seconds 60] [--resolution 224 360] [--native-fps 30] [--sample-fps 2 30]
        [--repeats 2] [--workdir /tmp/video_decode_bench]

Input: a synthetic H.264 video (libx264, yuv420p, crf 23) of `--seconds` seconds at `--native-fps`, a moving
textured scene (gradient background + moving squares), rendered once per resolution into `--workdir`.
Readers, each asked for the frames of the `--sample-fps` clock (the native rate = every frame; 2 fps = what the
grounding pipeline samples), returned as uint8 RGB arrays (N, H, W, 3):

* `decord`: decord.VideoReader(num_threads=1).get_batch(indices), indices floor(k * native / fps), 64 per batch;
* `pyav`: av.open + container.decode (thread_type AUTO), frames on the clock converted with to_ndarray("rgb24");
* `transformers decord` / `transformers pyav`: transformers.video_utils.load_video(path, fps=..., backend=...)
  (loads the whole sampled video into one array);
* `video_io decord` / `video_io pyav`: ssm_layers.video_io.open_video(path, backend).iter_clock_frames(fps, 64),
  the repo's streaming reader (the grounding clock; MambaMia's uniform sampling uses the same decoding loops).

Each reader runs in a fresh child process (benchmarks/_bounded.py) with torch pinned to one thread. Reported: output
frames per second of process CPU time (user + system of all decoder threads: stable on a shared machine) and of
wall time (what a user waits; decoders may use several threads), best of --repeats, and the rise of peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bounded import run_bounded  # noqa: E402
from _machine import machine_line, markdown_table  # noqa: E402


READERS = ["decord", "pyav", "transformers decord", "transformers pyav", "video_io decord", "video_io pyav"]


def render(path: str, seconds: float, resolution: int, fps: int, width: int | None = None) -> str:
    """Synthetic H.264 video, written frame by frame (bounded memory); skipped when the file exists.
    `resolution` is the height; the width defaults to 16:9."""
    if os.path.exists(path):
        return path
    import av
    import numpy as np

    height, width = resolution, width or resolution * 16 // 9 // 2 * 2
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack([(xx * 255 // width), (yy * 255 // height), ((xx + yy) * 127 // (width + height))], -1)
    background = background.astype(np.uint8)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 24, size=(height, width, 3), dtype=np.uint8)
    tmp = path + ".part.mp4"
    with av.open(tmp, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for t in range(int(seconds * fps)):
            frame = background + noise
            for i, color in enumerate(((255, 40, 40), (40, 255, 40), (40, 40, 255))):
                size = height // 6
                x = (t * (3 + 2 * i) + i * width // 3) % (width - size)
                y = (height // 4 * (i + 1) + int(10 * np.sin(t / 7 + i))) % (height - size)
                frame[y : y + size, x : x + size] = color
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    os.replace(tmp, path)
    return path


def decode(reader: str, path: str, fps: float) -> int:
    """Decode `path` on the `fps` clock with `reader`; returns the number of output frames."""
    import numpy as np

    if reader == "decord":
        import decord

        vr = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
        native = float(vr.get_avg_fps())
        count = int(np.ceil(len(vr) / native * fps - 1e-6))
        indices = np.minimum(np.floor(np.arange(count) / fps * native + 1e-6).astype(int), len(vr) - 1)
        n = 0
        for lo in range(0, count, 64):
            n += vr.get_batch(indices[lo : lo + 64].tolist()).asnumpy().shape[0]
        return n
    if reader == "pyav":
        import av

        n, k = 0, 0
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            native = float(stream.average_rate)
            for index, frame in enumerate(container.decode(stream)):
                take = False
                while k / fps < (index + 1) / native - 1e-6:  # sampling instants shown by this frame
                    take, k = True, k + 1
                if take:
                    frame.to_ndarray(format="rgb24")
                    n += 1
        return n
    if reader.startswith("transformers"):
        from transformers.video_utils import load_video

        frames, _ = load_video(path, fps=fps, backend=reader.split()[1])
        return int(frames.shape[0])
    if reader.startswith("video_io"):
        from ssm_layers.video_io import open_video

        return sum(len(chunk) for chunk in open_video(path, backend=reader.split()[1]).iter_clock_frames(fps, 64))
    raise ValueError(f"unknown reader {reader!r}")


def single(reader: str, path: str, fps: float, repeats: int) -> dict:
    import torch

    torch.set_num_threads(1)
    # imports outside the timed region (transformers / ssm_layers imports take seconds)
    if reader.startswith("transformers"):
        import transformers.video_utils  # noqa: F401
    elif reader.startswith("video_io"):
        import ssm_layers.video_io  # noqa: F401
    import av  # noqa: F401
    import decord  # noqa: F401

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    best_cpu = best_wall = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        n = decode(reader, path, fps)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {"frames": n, "cpu_s": best_cpu, "wall_s": best_wall, "peak_mb": peak / 2**20}


def run(
    seconds=60.0,
    resolutions=(224, 360),
    native_fps=30,
    sample_fps=(2.0, 30.0),
    repeats=2,
    readers=READERS,
    workdir=None,
    time_budget=300.0,
    memory_cap_gb=8.0,
    log=print,
) -> str:
    workdir = workdir or os.path.join(os.environ.get("TMPDIR", "/tmp"), "video_decode_bench")
    os.makedirs(workdir, exist_ok=True)
    rows = []
    for resolution in resolutions:
        path = render(
            os.path.join(workdir, f"synthetic_{seconds:g}s_{resolution}p_{native_fps}fps.mp4"),
            seconds,
            resolution,
            native_fps,
        )
        for fps in sample_fps:
            for reader in readers:
                cmd = [
                    sys.executable,
                    os.path.abspath(__file__),
                    "--single",
                    reader,
                    "--video",
                    path,
                    "--sample-fps",
                    str(fps),
                    "--repeats",
                    str(repeats),
                ]
                status, r, err = run_bounded(cmd, time_budget, memory_cap_gb, clock="cpu")
                if status == "error":
                    log(f"{reader} {resolution}p {fps:g} fps failed:\n{err}")
                log(f"  {reader:>20} {resolution}p @ {fps:g} fps: {status}")
                if r is None:
                    rows.append([f"{resolution}p", f"{fps:g}", reader, "-", status, status, "-"])
                    continue
                rows.append(
                    [
                        f"{resolution}p",
                        f"{fps:g}",
                        reader,
                        r["frames"],
                        f"{r['frames'] / r['cpu_s']:.0f}",
                        f"{r['frames'] / r['wall_s']:.0f}",
                        f"{r['peak_mb']:.0f}",
                    ]
                )
    return "\n".join(
        [
            f"**Video decoding** ({seconds:g} s synthetic H.264 at {native_fps} fps; output frames per second of "
            f"process CPU time and of wall time, best of {repeats}; peak RSS rise)",
            "",
            machine_line() + "; decoders as configured above, torch 1 thread",
            "",
            markdown_table(
                [
                    "video",
                    "sample fps",
                    "reader",
                    "frames",
                    "frames/s (CPU time)",
                    "frames/s (wall)",
                    "peak RSS rise MB",
                ],
                rows,
            ),
        ]
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=None, help="video length (default 60; quick 10)")
    ap.add_argument("--resolution", type=int, nargs="+", default=None, help="frame heights (default 224 360)")
    ap.add_argument("--native-fps", type=int, default=30)
    ap.add_argument("--sample-fps", type=float, nargs="+", default=None, help="clocks (default 2 and native)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--quick", action="store_true", help="10 s at 224p")
    ap.add_argument("--single", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--video", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.single:
        print("JSON" + json.dumps(single(args.single, args.video, args.sample_fps[0], args.repeats)))
        return
    seconds = args.seconds or (10.0 if args.quick else 60.0)
    resolutions = args.resolution or ([224] if args.quick else [224, 360])
    sample_fps = args.sample_fps or [2.0, float(args.native_fps)]
    print(
        run(
            seconds,
            resolutions,
            args.native_fps,
            sample_fps,
            args.repeats,
            workdir=args.workdir,
            log=lambda s: print(s, file=sys.stderr),
        )
    )


if __name__ == "__main__":
    main()
