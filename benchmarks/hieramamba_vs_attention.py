# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""HieraMamba vs the same model with full self-attention in place of Hydra: forward time and peak memory vs video
length, until a case runs out of its time or memory budget, and the fitted scaling exponents.

    python benchmarks/hieramamba_vs_attention.py [--lengths 2304 9216 36864 147456] [--preset ego4d-nlq]
        [--device cpu|cuda] [--dtype float32|bfloat16] [--threads 1] [--clock cpu|wall]
        [--time-budget 120] [--memory-cap-gb 16]

Models: the preset's released architecture at full width with random weights (eval mode, one query of 12 text
tokens), built twice from the same config: "hieramamba" (global_mixer_type="hydra", the official model) and
"attention" (global_mixer_type="attention": every AMP block's Hydra replaced by multi-head self-attention over its
whole interleaved anchor/frame sequence with the same block mask, PyTorch's scaled_dot_product_attention, heads of
width 64) -- what a Transformer grounding model pays for global context. Everything else (convs, fusion, windowed
local attention, heads) is identical, so the difference is the global mixer alone.

Each (model, length) runs in a fresh child process (benchmarks/_bounded.py): warm-up forward on a 512-clip prefix,
then the timed forward (best of --repeats; 1 above 16k clips). Time: process CPU time with --clock cpu (default,
with --threads 1 it is robust to other processes sharing the machine), else wall time; on CUDA always wall time
after synchronisation. Peak memory: on CPU the rise of the child's peak RSS during the timed forwards (activations;
weights and inputs excluded); on CUDA max_memory_allocated minus the memory held before the forward. A case whose
time exceeds --time-budget seconds or whose resident memory exceeds --memory-cap-gb is killed and recorded as
"timeout" / "OOM" (the time counts the whole child, start-up and model construction included, about 10 s);
longer lengths of that model are then skipped ("-"). Exponents are least-squares slopes of
log(quantity) vs log(length) over the cases that ran (1.0 = linear, 2.0 = quadratic), and over the last two.
On CPU the children run with MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ = 2 GiB, as
benchmarks/hieramamba_forward.py does (glibc then reuses freed activation buffers instead of faulting in fresh
mmaps, a cost that grows faster than the length); `--no-malloc-tuning` keeps glibc's defaults.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bounded import run_bounded  # noqa: E402
from _machine import machine_line, markdown_table  # noqa: E402


VARIANTS = {"hieramamba": "hydra", "attention": "attention"}
QUICK_LENGTHS = [576, 1152, 2304]
FULL_LENGTHS = [2304, 4608, 9216, 18432, 36864, 73728, 147456]


def measure(preset: str, mixer: str, length: int, device: str, dtype_name: str, repeats: int, clock: str) -> dict:
    import torch

    from hieramamba_hf import HieraMambaConfig, HieraMambaForVideoGrounding

    torch.manual_seed(0)
    dtype = getattr(torch, dtype_name)
    config = HieraMambaConfig.from_preset(preset, global_mixer_type=mixer)
    model = HieraMambaForVideoGrounding(config).eval().to(device=device, dtype=dtype)
    g = torch.Generator().manual_seed(0)
    video = torch.randn(1, length, config.video_input_dim, generator=g).to(device, dtype)
    text = torch.randn(1, 12, config.text_input_dim, generator=g).to(device, dtype)
    video_mask = torch.ones(1, length, dtype=torch.bool, device=device)
    text_mask = torch.ones(1, 12, dtype=torch.bool, device=device)

    def forward(n):
        with torch.inference_mode():
            out = model(video[:, :n], video_mask[:, :n], text, text_mask)
            if device == "cuda":
                torch.cuda.synchronize()
            return out

    forward(min(length, 512))  # warm-up: allocator, kernels, lazy init
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    now = time.process_time if (clock == "cpu" and device == "cpu") else time.perf_counter
    best = float("inf")
    for _ in range(repeats):
        start = now()
        out = forward(length)
        best = min(best, now() - start)
        finite = bool(torch.isfinite(out.logits).all())
        del out
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {
        "length": length,
        "mixer": mixer,
        "seconds": best,
        "peak_gb": peak / 1e9,
        "finite": finite,
        "params": sum(p.numel() for p in model.parameters()),
    }


def fit_exponent(xs, ys) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(max(y, 1e-9)) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def run(
    lengths,
    preset="ego4d-nlq",
    device="cpu",
    dtype="float32",
    threads=1,
    clock="cpu",
    time_budget=120.0,
    memory_cap_gb=16.0,
    repeats=2,
    log=print,
    malloc_tuning=True,
) -> str:
    """Runs the series and returns the markdown section (heading line, machine line, table, exponents)."""
    env = dict(os.environ)
    if device == "cpu" and malloc_tuning:
        env.setdefault("MALLOC_MMAP_THRESHOLD_", str(2**31))
        env.setdefault("MALLOC_TRIM_THRESHOLD_", str(2**31))
    results = {name: {} for name in VARIANTS}
    for name, mixer in VARIANTS.items():
        stopped = None
        for length in lengths:
            if stopped:
                results[name][length] = ("-", None)
                continue
            cmd = [
                sys.executable,
                os.path.abspath(__file__),
                "--single",
                str(length),
                "--mixer",
                mixer,
                "--preset",
                preset,
                "--device",
                device,
                "--dtype",
                dtype,
                "--threads",
                str(threads),
                "--clock",
                clock,
                "--repeats",
                str(repeats if length <= 16384 else 1),
            ]
            status, result, err = run_bounded(
                cmd, time_budget, memory_cap_gb, clock=clock if device == "cpu" else "wall", env=env
            )
            if status == "error":
                log(f"{name} T={length} failed:\n{err}")
            results[name][length] = (status, result)
            log(
                f"  {name:>10} T={length:>6}: {status}"
                + (f" {result['seconds']:.2f} s, {result['peak_gb']:.2f} GB" if result else "")
            )
            if status != "ok":
                stopped = status

    def cell(entry, key, fmt):
        status, result = entry
        return fmt.format(result[key]) if result else status

    rows = []
    for length in lengths:
        h, a = results["hieramamba"][length], results["attention"][length]
        ratio = f"{a[1]['seconds'] / h[1]['seconds']:.1f}x" if h[1] and a[1] else "-"
        rows.append(
            [
                f"{length:,}",
                cell(h, "seconds", "{:.2f}"),
                cell(h, "peak_gb", "{:.2f}"),
                cell(a, "seconds", "{:.2f}"),
                cell(a, "peak_gb", "{:.2f}"),
                ratio,
            ]
        )
    time_clock = "process CPU time" if (clock == "cpu" and device == "cpu") else "wall time"
    mem = "CUDA peak allocated" if device == "cuda" else "peak RSS rise"
    lines = [
        f"**HieraMamba vs full self-attention** ({preset}, 1 query, {device} {dtype}, forward only; "
        f"time = {time_clock}, {threads} thread(s); memory = {mem}; budget {time_budget:g} s / "
        f"{memory_cap_gb:g} GB per case"
        + ("; glibc malloc thresholds 2 GiB" if env.get("MALLOC_MMAP_THRESHOLD_") and device == "cpu" else "")
        + ")",
        "",
        machine_line() + f"; cases run with {threads} thread(s)",
        "",
        markdown_table(
            ["clips", "HieraMamba s", "HieraMamba GB", "attention s", "attention GB", "attention / ours"], rows
        ),
        "",
    ]
    for name in VARIANTS:
        ok = [(length, r) for length, (s, r) in results[name].items() if r]
        if len(ok) >= 2:
            xs = [length for length, _ in ok]
            t = fit_exponent(xs, [r["seconds"] for _, r in ok])
            m = fit_exponent(xs, [max(r["peak_gb"], 1e-3) for _, r in ok])
            t2 = fit_exponent(xs[-2:], [r["seconds"] for _, r in ok[-2:]])
            lines.append(
                f"- {name}: time exponent {t:.2f} (last two lengths {t2:.2f}), memory exponent {m:.2f} "
                f"over {xs[0]:,}-{xs[-1]:,} clips; parameters {ok[0][1]['params'] / 1e6:.2f}M"
            )
        else:
            lines.append(f"- {name}: fewer than two lengths ran, no exponent")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", type=int, nargs="+", default=None)
    ap.add_argument("--quick", action="store_true", help=f"lengths {QUICK_LENGTHS}, 30 s budget")
    ap.add_argument("--preset", default="ego4d-nlq")
    ap.add_argument("--device", choices=["cpu", "cuda"], default=None)
    ap.add_argument("--dtype", default=None, help="float32 (CPU default) or bfloat16 (CUDA default)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    ap.add_argument("--time-budget", type=float, default=None, help="seconds per case (default 120; quick 30)")
    ap.add_argument("--memory-cap-gb", type=float, default=16.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--no-malloc-tuning", action="store_true", help="keep glibc's default malloc thresholds")
    ap.add_argument("--single", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--mixer", default="hydra", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = args.dtype or ("bfloat16" if device == "cuda" else "float32")
    if args.single is not None:
        torch.set_num_threads(args.threads)
        result = measure(args.preset, args.mixer, args.single, device, dtype, args.repeats, args.clock)
        print("JSON" + json.dumps(result))
        return
    lengths = args.lengths or (QUICK_LENGTHS if args.quick else FULL_LENGTHS)
    budget = args.time_budget or (30.0 if args.quick else 120.0)
    print(
        run(
            lengths,
            args.preset,
            device,
            dtype,
            args.threads,
            args.clock,
            budget,
            args.memory_cap_gb,
            args.repeats,
            log=lambda s: print(s, file=sys.stderr),
            malloc_tuning=not args.no_malloc_tuning,
        )
    )


if __name__ == "__main__":
    main()
