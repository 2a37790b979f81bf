# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Run every benchmark and write the results into docs/benchmarks.md (between `<!-- benchmarks:start -->` and
`<!-- benchmarks:end -->`).

    python benchmarks/run_all.py            # full run (expect ~50-60 min on an idle 2-core CPU machine)
    python benchmarks/run_all.py --quick    # smoke run, a few minutes: short lengths, small budgets
    python benchmarks/run_all.py --only ssd_scan video_decode --output stdout

Sections (each runs in child processes with a time limit; a failing section is reported, the others still run):
  ssd_scan                 benchmarks/ssd_scan.py: our chunked SSD scan vs transformers' mamba2_chunk_scan and the
                           fraction of the CPU fp32 matmul peak (1 thread, process CPU time)
  hieramamba_vs_attention  benchmarks/hieramamba_vs_attention.py: HieraMamba vs the same model with full
                           self-attention instead of Hydra, 2,304 -> 147,456 clips until a case exceeds its budget
                           (1 thread, process CPU time; 600 s / 16 GB per case), scaling exponents
  hieramamba_forward       benchmarks/hieramamba_forward.py: forward + post-processing, 2 queries (full run only)
  mambamia_compressor      benchmarks/mambamia_compressor.py: Stage 1 + TAA throughput at the paper's widths,
                           tokens in vs out (1 thread)
  mambamia_tokens          benchmarks/mambamia_tokens.py: LLM prompt length with and without delta sampling
  video_decode             benchmarks/video_decode.py: decord vs PyAV vs transformers.video_utils.load_video
  pipeline_memory          benchmarks/pipeline_memory.py: pipeline peak memory, 10 vs 60 min video (full run only)
  long_video_memory        benchmarks/long_video_memory.py: ssm_layers.video_io peak RSS and wall time on 10 and
                           60 min files, PyAV vs decord, grounding clock and MambaMia processor (full run only)
On a machine with CUDA, the SSD scan (benchmarks/ssd_scan_cuda.py: mamba_ssm kernel path vs PyTorch path vs
transformers), hieramamba_vs_attention, hieramamba_forward and mambamia_compressor also run on the GPU (wall time
after synchronisation, CUDA peak allocated memory, bfloat16; the device name is recorded). Every
section records the machine it ran on and says which clock it used.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time


HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BENCHMARKS_DOC = os.path.join(REPO, "docs", "benchmarks.md")
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
sys.path.insert(0, HERE)


def _script(name, *args, timeout):
    """Run benchmarks/<name>.py with args; returns its stdout (stderr tail appended on failure)."""
    cmd = [sys.executable, os.path.join(HERE, f"{name}.py"), *map(str, args)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        return f"(section stopped after its {timeout} s limit: `{' '.join(cmd[1:])}`)"
    if proc.returncode:
        return f"(failed: `{' '.join(cmd[1:])}`)\n\n```text\n{proc.stderr[-1500:]}\n```"
    return proc.stdout.strip()


def _blocks(text):
    """Blank lines around markdown tables and between text lines, so each prints as its own block."""
    if text.startswith("```"):
        return text
    out = []
    for line in text.splitlines():
        if out and out[-1] and line and (line.startswith("|") != out[-1].startswith("|") or not line.startswith("|")):
            out.append("")
        out.append(line)
    return "\n".join(out)


def _fenced(text):
    return text if text.startswith("(") else f"```text\n{text}\n```"


def sections(quick: bool, cuda: bool):
    """(key, title, callable returning markdown) in run order."""
    out = []
    ssd_args = ["--threads", "1", "--clock", "cpu"] + (
        ["--lengths", "3456", "13824", "--repeats", "1"] if quick else ["--repeats", "3"]
    )
    out.append(
        (
            "ssd_scan",
            "SSD scan: ours vs transformers' mamba2_chunk_scan (CPU, 1 thread, process CPU time)",
            lambda: _script("ssd_scan", *ssd_args, timeout=900),
        )
    )

    if cuda:
        out.append(
            (
                "ssd_scan_cuda",
                "SSD scan on the GPU: kernel path vs PyTorch path vs transformers (wall time)",
                lambda: _script("ssd_scan_cuda", *(["--lengths", "3456", "13824"] if quick else []), timeout=1200),
            )
        )

    vs_args = ["--threads", "1", "--clock", "cpu"] + (["--quick"] if quick else ["--time-budget", "600"])
    out.append(
        (
            "hieramamba_vs_attention",
            "HieraMamba vs full self-attention (CPU)",
            lambda: _script("hieramamba_vs_attention", "--device", "cpu", *vs_args, timeout=7200),
        )
    )
    if cuda:
        gpu_lengths = ["2304", "9216"] if quick else ["2304", "9216", "36864", "147456"]
        out.append(
            (
                "hieramamba_vs_attention_cuda",
                "HieraMamba vs full self-attention (GPU, bfloat16, wall time)",
                lambda: _script(
                    "hieramamba_vs_attention",
                    "--device",
                    "cuda",
                    "--lengths",
                    *gpu_lengths,
                    "--time-budget",
                    "120",
                    "--memory-cap-gb",
                    "1000",
                    timeout=3600,
                ),
            )
        )
    if not quick:
        out.append(
            (
                "hieramamba_forward",
                "HieraMamba forward + post-processing (CPU, 1 thread)",
                lambda: _fenced(
                    _script(
                        "hieramamba_forward",
                        "--device",
                        "cpu",
                        "--threads",
                        "1",
                        "--lengths",
                        "2304",
                        "9216",
                        "36864",
                        timeout=3600,
                    )
                ),
            )
        )
        if cuda:
            out.append(
                (
                    "hieramamba_forward_cuda",
                    "HieraMamba forward + post-processing (GPU, bfloat16)",
                    lambda: _fenced(
                        _script(
                            "hieramamba_forward",
                            "--device",
                            "cuda",
                            "--dtype",
                            "bfloat16",
                            "--lengths",
                            "2304",
                            "36864",
                            "147456",
                            timeout=1800,
                        )
                    ),
                )
            )

    mmc_frames = ["1"] if quick else ["8", "32"]
    out.append(
        (
            "mambamia_compressor",
            "MambaMia compressor throughput and token reduction (CPU, 1 thread)",
            lambda: _script(
                "mambamia_compressor",
                "--device",
                "cpu",
                "--threads",
                "1",
                "--frames",
                *mmc_frames,
                "--accounting-frames",
                "0",
                timeout=3600,
            ),
        )
    )
    if cuda:
        out.append(
            (
                "mambamia_compressor_cuda",
                "MambaMia compressor throughput (GPU, bfloat16, 384 frames)",
                lambda: _script(
                    "mambamia_compressor",
                    "--device",
                    "cuda",
                    "--frames",
                    "64",
                    "384",
                    "--accounting-frames",
                    "0",
                    timeout=1800,
                ),
            )
        )
    tok_frames = ["64", "384"] if quick else ["64", "128", "192", "256", "384"]
    out.append(
        (
            "mambamia_tokens",
            "MambaMia LLM prompt length with and without delta sampling",
            lambda: _script("mambamia_tokens", "--frames", *tok_frames, timeout=1800),
        )
    )

    dec_args = ["--quick"] if quick else []
    out.append(("video_decode", "Video decoding throughput", lambda: _script("video_decode", *dec_args, timeout=3600)))
    if not quick:

        def pipeline_memory():
            text = _script("pipeline_memory", "--minutes", "10", "60", timeout=3600)
            if text.startswith("("):
                return text
            lines = text.splitlines()
            table = [line for line in lines if line.startswith("|") or line.startswith("peak growth")]
            return "\n".join([lines[0], "", *table])

        out.append(
            ("pipeline_memory", "Video-grounding pipeline peak memory, 10 vs 60 min video (CPU)", pipeline_memory)
        )
        out.append(
            (
                "long_video_memory",
                "Long-video decoding memory, PyAV vs decord (CPU)",
                lambda: _script("long_video_memory", "--minutes", "10", "60", timeout=3600),
            )
        )
    return out


def write_doc(body: str, path: str = BENCHMARKS_DOC):
    with open(path) as f:
        text = f.read()
    if text.count(START) != 1 or text.count(END) != 1:
        raise SystemExit(f"{path} must hold exactly one {START} ... {END} region.")
    head, rest = text.split(START)
    _, tail = rest.split(END)
    with open(path, "w") as f:
        f.write(head + START + "\n" + body.strip() + "\n" + END + tail)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: short inputs, small budgets (a few minutes)")
    ap.add_argument("--only", nargs="+", default=None, help="run only these sections (keys above)")
    ap.add_argument(
        "--output",
        choices=["docs", "stdout"],
        default="docs",
        help="write the region of docs/benchmarks.md (default) or only print",
    )
    ap.add_argument("--no-cuda", action="store_true", help="skip the GPU sections even when CUDA is available")
    args = ap.parse_args(argv)

    import torch

    cuda = torch.cuda.is_available() and not args.no_cuda
    chosen = sections(args.quick, cuda)
    if args.only:
        unknown = set(args.only) - {key for key, _, _ in chosen}
        if unknown:
            raise SystemExit(f"unknown or unavailable sections {sorted(unknown)}; have {[k for k, _, _ in chosen]}")
        chosen = [s for s in chosen if s[0] in args.only]
    started = time.perf_counter()
    parts = []
    for key, title, fn in chosen:
        t0 = time.perf_counter()
        print(f"[run_all] {key} ...", file=sys.stderr, flush=True)
        body = _blocks(fn())
        if "CPU: " not in body:  # every table records the machine it ran on
            from _machine import machine_line

            body = f"{machine_line()} (threads of this runner; the script sets its own)\n\n{body}"
        elapsed = time.perf_counter() - t0
        print(f"[run_all] {key} done in {elapsed:.0f} s", file=sys.stderr, flush=True)
        parts.append(f"### {title}\n\n{body}\n\n<sub>`{key}`: {elapsed:.0f} s wall</sub>")
    total = time.perf_counter() - started
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    mode = "QUICK smoke run (short inputs, small budgets; not reference numbers)" if args.quick else "full run"
    load = os.getloadavg()[0]
    header = (
        f"_Generated by `python benchmarks/run_all.py{' --quick' if args.quick else ''}` on {stamp}: {mode}, "
        f"{total / 60:.1f} min, load average at the end {load:.1f}. Tables timed with process CPU time on one "
        f"thread are robust to other load; wall-clock columns are not._"
    )
    body = "\n\n".join([header, *parts])
    if args.output == "docs" and not args.only:
        write_doc(body)
        print(f"[run_all] wrote {BENCHMARKS_DOC}", file=sys.stderr)
    print(body)


if __name__ == "__main__":
    main()
