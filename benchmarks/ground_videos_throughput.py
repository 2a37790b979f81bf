# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Throughput of `hieramamba-ground` on a library of 10-minute videos: videos per hour with 1 and 2 processes.

Renders one synthetic video of `--minutes` (the renderer of benchmarks/pipeline_memory.py: the checkpoint's clock,
`--resolution` pixels, H.264) into `--workdir`, copies it to `--videos` files, and grounds `--queries` queries in
each with the shipped demo checkpoint, as a user would run it (a fresh command, model loading included):

    1 process:   python -m hieramamba_hf.ground_videos ... --threads T
    N processes: torchrun --standalone --nproc_per_node N -m hieramamba_hf.ground_videos ... --threads T/N

Reported per setting: the wall time of the whole command (start-up and model loading included), the grounding
time the command reports itself (from all processes' models loaded to the last video done), and videos per hour by
each. The load average is recorded: on a shared machine, wall-clock figures depend on the other jobs.

    python benchmarks/ground_videos_throughput.py [--videos 8] [--minutes 10] [--settings 1x1 1x2 2x1]
    python benchmarks/ground_videos_throughput.py --device cuda --settings 1x8     # a GPU row
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time


HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from _machine import machine_line, markdown_table  # noqa: E402
from pipeline_memory import QUERIES, SHIPPED, render  # noqa: E402


def command(processes: int, threads: int, args: list[str]) -> list[str]:
    if processes == 1:
        return [sys.executable, "-m", "hieramamba_hf.ground_videos", "--threads", str(threads), *args]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    return [*launcher, "-m", "hieramamba_hf.ground_videos", "--threads", str(threads), *args]


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds of the command and the grounding seconds of its summary line."""
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    wall = time.perf_counter() - start
    if result.returncode:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{result.stderr[-3000:]}")
    found = re.search(r"videos grounded, \d+ failed, in ([0-9.]+) s", result.stderr)
    if not found:
        raise SystemExit(f"no summary line in the output of {' '.join(cmd)}:\n{result.stderr[-2000:]}")
    return wall, float(found.group(1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=SHIPPED)
    ap.add_argument("--videos", type=int, default=8, help="videos in the library (default %(default)s)")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--queries", type=int, default=3, help="queries per video (at most %d)" % len(QUERIES))
    ap.add_argument("--settings", nargs="+", default=["1x1", "1x2", "2x1"], help="PROCESSESxTHREADS each")
    ap.add_argument("--device", default=None, help="passed to the CLI (default: its own choice)")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "ground_videos_throughput"))
    args = ap.parse_args(argv)

    from hieramamba_hf import HieraMambaConfig

    config = HieraMambaConfig.from_pretrained(args.model)
    os.makedirs(args.workdir, exist_ok=True)
    source = render(
        os.path.join(args.workdir, f"source_{args.minutes:g}min_{args.resolution}px.mp4"),
        args.minutes,
        args.resolution,
        config.fps,
        config.clip_size,
        config.clip_stride,
    )
    library = os.path.join(args.workdir, "library")
    shutil.rmtree(library, ignore_errors=True)
    os.makedirs(library)
    for i in range(args.videos):
        shutil.copy(source, os.path.join(library, f"video{i:03d}.mp4"))
    queries = os.path.join(args.workdir, "queries.txt")
    with open(queries, "w") as f:
        f.write("\n".join(QUERIES[: args.queries]) + "\n")
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(p for p in (os.path.join(REPO, "src"), os.environ.get("PYTHONPATH")) if p),
    )
    rows, load_start = [], os.getloadavg()[0]
    for setting in args.settings:
        processes, threads = (int(v) for v in setting.split("x"))
        common = ["--model", args.model, "--queries", queries, "--no-progress"]
        common += ["--device", args.device] if args.device else []
        output = os.path.join(args.workdir, f"out_{setting}.jsonl")
        if os.path.exists(output):
            os.remove(output)
        wall, grounding = timed(command(processes, threads, [*common, "--videos", library, "--output", output]), env)
        with open(output) as f:
            lines = [json.loads(line) for line in f]
        errors = sum("error" in line for line in lines)
        if len(lines) != args.videos * args.queries or errors:
            raise SystemExit(f"{setting}: {len(lines)} lines, {errors} errors in {output}")
        rows.append(
            [
                f"{processes}",
                f"{threads}",
                f"{wall:.1f}",
                f"{grounding:.1f}",
                f"{args.videos * 3600 / wall:.0f}",
                f"{args.videos * 3600 / grounding:.0f}",
            ]
        )
    load_end = os.getloadavg()[0]
    print(
        f"`hieramamba-ground`, {args.videos} videos of {args.minutes:g} min ({args.resolution}x{args.resolution} "
        f"H.264, decoded on the checkpoint's {config.fps:g} fps clock), {args.queries} queries each, model "
        f"{os.path.relpath(args.model, REPO)}, device {args.device or 'default'}; wall clock of the whole command; "
        f"load average {load_start:.1f} at the start, {load_end:.1f} at the end"
    )
    print(machine_line())
    print()
    print(
        markdown_table(
            [
                "processes",
                "threads each",
                "command wall s",
                "grounding s",
                "videos / hour (command)",
                "videos / hour (grounding)",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
