# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""HieraMamba forward + post-processing time and peak memory vs video length, and the fitted scaling exponent.

    python benchmarks/hieramamba_forward.py [--preset ego4d-nlq] [--lengths 2304 9216 36864] [--queries 2]
        [--device auto|cpu|cuda] [--dtype float32|bfloat16] [--repeats 2]

Random weights of the preset (the released architecture at full width), `--queries` text queries of 12 tokens
for one video of T clips, eval mode, after a warm-up on a 1024-clip prefix. Each length runs in a fresh subprocess
so the peak memory is its own: CUDA peak allocated memory on GPU; on CPU the peak resident set size of the process
and, as "activations", that peak minus the resident size before the first forward (runtime, weights, inputs).
Wall and process-CPU times are reported (CPU time is steadier on a shared machine). The exponents are
least-squares slopes of log(quantity) against log(T); 1.0 is linear.

On CPU the subprocesses run with MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ = 2 GiB so that glibc reuses
freed activation buffers: with the defaults every buffer above 32 MiB is a fresh mmap whose pages fault in on
first touch, a cost that grows faster than T on this machine (measured: CPU-time exponent 1.19 with the defaults,
1.0 with the tuning, for T = 2304 -> 9216). `--no-malloc-tuning` measures with the defaults.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time


def measure(preset: str, length: int, queries: int, device: str, dtype: str, repeats: int, threads: int) -> dict:
    import torch

    from hieramamba_hf import HieraMambaConfig, HieraMambaForVideoGrounding

    torch.manual_seed(0)
    torch.set_num_threads(threads) if threads else None
    config = HieraMambaConfig.from_preset(preset)
    model = HieraMambaForVideoGrounding(config).eval().to(device=device, dtype=getattr(torch, dtype))
    g = torch.Generator().manual_seed(0)
    video = torch.randn(1, length, config.video_input_dim, generator=g).to(device, getattr(torch, dtype))
    text = torch.randn(queries, 12, config.text_input_dim, generator=g).to(device, getattr(torch, dtype))
    video_mask = torch.ones(1, length, dtype=torch.bool, device=device)
    text_mask = torch.ones(queries, 12, dtype=torch.bool, device=device)
    qpv = torch.tensor([queries], device=device)
    duration = length * config.seconds_per_grid_unit / config.fps

    def run(video, video_mask):
        with torch.no_grad():
            out = model(video, video_mask, text, text_mask, qpv)
            out.logits, out.offsets = out.logits.float(), out.offsets.float()
            return model.post_process_video_grounding(out, durations=[duration])

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # runtime + weights + inputs
    warm = min(length, 1024)
    run(video[:, :warm], video_mask[:, :warm])  # warm-up (kernels, allocator) on a short prefix
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times, cpu_times = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        results = run(video, video_mask)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB -> MiB on Linux
    assert len(results) == queries
    activations = peak if device == "cuda" else peak - baseline
    return {
        "T": length,
        "seconds": min(times),
        "cpu_seconds": min(cpu_times),
        "peak_mib": peak,
        "activation_mib": activations,
    }


def fit_exponent(xs, ys) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="ego4d-nlq")
    parser.add_argument("--lengths", type=int, nargs="+", default=[2304, 9216, 36864])
    parser.add_argument("--queries", type=int, default=2)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    parser.add_argument(
        "--no-malloc-tuning",
        action="store_true",
        help="on CPU, keep glibc's default mmap/trim thresholds (see the module docstring)",
    )
    parser.add_argument("--single", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.device == "auto":
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.single is not None:
        print(
            json.dumps(
                measure(args.preset, args.single, args.queries, args.device, args.dtype, args.repeats, args.threads)
            )
        )
        return

    rows = []
    for length in args.lengths:
        cmd = [
            sys.executable,
            __file__,
            "--single",
            str(length),
            "--preset",
            args.preset,
            "--queries",
            str(args.queries),
            "--device",
            args.device,
            "--dtype",
            args.dtype,
            "--repeats",
            str(args.repeats),
            "--threads",
            str(args.threads),
        ]
        env = dict(os.environ)
        if args.device == "cpu" and not args.no_malloc_tuning:
            env.setdefault("MALLOC_MMAP_THRESHOLD_", str(2**31))
            env.setdefault("MALLOC_TRIM_THRESHOLD_", str(2**31))
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))

    print(
        f"HieraMamba {args.preset}, {args.queries} queries, {args.device} {args.dtype}, "
        f"forward + post-processing (best of {args.repeats})"
    )
    mem = "peak alloc (MiB)" if args.device == "cuda" else "peak RSS (MiB)"
    print(
        f"{'T (clips)':>10} | {'wall (s)':>9} | {'CPU (s)':>9} | {'wall ms/1k clips':>16} | {mem:>16} | "
        f"{'activations (MiB)':>17}"
    )
    print("-" * 93)
    for r in rows:
        print(
            f"{r['T']:>10} | {r['seconds']:>9.3f} | {r['cpu_seconds']:>9.3f} | "
            f"{1000 * r['seconds'] / (r['T'] / 1000):>16.1f} | {r['peak_mib']:>16.0f} | {r['activation_mib']:>17.0f}"
        )
    if len(rows) >= 2:
        ts = [r["T"] for r in rows]
        print(f"fitted exponent, wall time:   {fit_exponent(ts, [r['seconds'] for r in rows]):.3f} (target <= 1.1)")
        print(f"fitted exponent, CPU time:    {fit_exponent(ts, [r['cpu_seconds'] for r in rows]):.3f}")
        print(f"fitted exponent, activations: {fit_exponent(ts, [r['activation_mib'] for r in rows]):.3f}")


if __name__ == "__main__":
    main()
