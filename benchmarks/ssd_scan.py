# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""SSD scan speed on CPU: ssm_layers' chunked PyTorch scan vs transformers' ``mamba2_chunk_scan``.

Shape: Hydra's Ego4D level-0 scan with both directions batched (batch 2, 12 heads, head dim 64, state 64,
1 group, kernel chunk 256), for l in {3456, 13824, 55296}. GFLOP/s counts the matmul FLOPs each implementation
actually executes (ours at its internal CPU chunk, transformers' at chunk 256, including its per-head
repetition of B/C and its quadratic chunk-to-chunk term); "% peak" divides by this CPU's fp32 matmul peak,
measured in the same run. Run: ``python benchmarks/ssd_scan.py [--lengths 3456 13824 55296] [--repeats 3]``.
On a machine shared with other work, ``--threads 1 --clock cpu`` times process CPU time on one thread.
``--thp`` re-runs the process with ``THP_MEM_ALLOC_ENABLE=1`` (PyTorch's CPU allocator then backs large tensors
with transparent huge pages): with glibc's default allocator every output above ~32 MB is a fresh mmap whose
first-touch page faults cost ~20% of the scan at l = 13824, which makes time grow faster than the length.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import best_time, machine_line, markdown_table, matmul_peak_gflops  # noqa: E402

from ssm_layers import ssd_chunk_scan  # noqa: E402
from ssm_layers.ssd import CPU_BLOCK_CHUNKS, CPU_CHUNK_SIZE  # noqa: E402


B, H, P, N, G, CHUNK = 2, 12, 64, 64, 1, 256


def flops_ours(l: int, q: int = CPU_CHUNK_SIZE, k: int = CPU_BLOCK_CHUNKS) -> float:
    tokens = B * l
    per_token = (
        2 * q * N * G  # C B^T within a chunk
        + 2 * q * H * P  # intra-chunk (diagonal) matmul
        + 2 * N * H * P  # chunk states
        + 2 * (k + 1) * N * H * P / q  # chunk-to-chunk propagation inside a block
        + 2 * N * H * P
    )  # inter-chunk (off-diagonal) output
    return tokens * per_token


def flops_transformers(l: int, q: int = CHUNK) -> float:
    tokens = B * l
    nchunks = -(-l // q)
    per_token = (
        2 * q * N * H  # C B^T per head (B, C repeated over heads)
        + 2 * q * H * P  # diagonal blocks
        + 2 * N * H * P  # chunk states
        + 2 * (nchunks + 1) * H * P * N / q  # all-pairs chunk recurrence (quadratic in chunks)
        + 2 * N * H * P
    )  # off-diagonal output
    return tokens * per_token


def inputs(l: int):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(B, l, H, P, generator=g)
    dt = torch.randn(B, l, H, generator=g) - 3.0
    A = -torch.ones(H)
    Bm, Cm = torch.randn(B, l, G, N, generator=g), torch.randn(B, l, G, N, generator=g)
    return x, dt, A, Bm, Cm


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", type=int, nargs="+", default=[3456, 13824, 55296])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    ap.add_argument("--thp", action="store_true", help="run with THP_MEM_ALLOC_ENABLE=1 (see the docstring)")
    ap.add_argument(
        "--skip-transformers-above",
        type=int,
        default=60000,
        help="skip transformers' scan above this length (it grows quadratically)",
    )
    args = ap.parse_args(argv)
    if args.thp and os.environ.get("THP_MEM_ALLOC_ENABLE") != "1":  # read by torch at start-up only
        os.execve(
            sys.executable,
            [sys.executable, os.path.abspath(__file__), *sys.argv[1:]],
            {**os.environ, "THP_MEM_ALLOC_ENABLE": "1"},
        )

    from transformers.models.mamba2.modeling_mamba2 import mamba2_chunk_scan
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = args.clock
    peak = matmul_peak_gflops(clock=clock)
    rows, times = [], {}
    for l in args.lengths:
        x, dt, A, Bm, Cm = inputs(l)
        with torch.no_grad():
            t_ours = best_time(
                lambda: ssd_chunk_scan(x, dt, A, Bm, Cm, CHUNK, dt_softplus=True), args.repeats, clock=clock
            )
            t_tf = None
            if l <= args.skip_transformers_above:
                t_tf = best_time(
                    lambda: mamba2_chunk_scan(x, dt, A, Bm, Cm, CHUNK, dt_softplus=True),
                    max(1, args.repeats - 1),
                    clock=clock,
                )
        times[l] = (t_ours, t_tf)
        g_ours = flops_ours(l) / t_ours / 1e9
        row = [l, f"{t_ours * 1e3:.1f}", f"{B * l / t_ours / 1e3:.0f}", f"{g_ours:.1f}", f"{100 * g_ours / peak:.0f}%"]
        if t_tf is not None:
            g_tf = flops_transformers(l) / t_tf / 1e9
            row += [
                f"{t_tf * 1e3:.1f}",
                f"{B * l / t_tf / 1e3:.0f}",
                f"{g_tf:.1f}",
                f"{100 * g_tf / peak:.0f}%",
                f"{t_tf / t_ours:.1f}x",
            ]
        else:
            row += ["-"] * 5
        rows.append(row)
    print(
        f"SSD scan, batch {B} (both directions), {H} heads x {P}, state {N}, {G} group, chunk {CHUNK} "
        f"(ours: internal chunk {CPU_CHUNK_SIZE}, {CPU_BLOCK_CHUNKS} chunks per block)"
    )
    thp = (
        "huge-page allocator (THP_MEM_ALLOC_ENABLE=1)"
        if os.environ.get("THP_MEM_ALLOC_ENABLE") == "1"
        else "default allocator"
    )
    print(machine_line() + f"; {clock} clock; {thp}; fp32 matmul peak measured: {peak:.0f} GFLOP/s\n")
    print(
        markdown_table(
            [
                "length",
                "ours ms",
                "ours ktok/s",
                "ours GFLOP/s",
                "ours % peak",
                "transformers ms",
                "transformers ktok/s",
                "transformers GFLOP/s",
                "transformers % peak",
                "speed-up",
            ],
            rows,
        )
    )
    ls = sorted(times)
    growth = [
        f"{b}/{a}: ours {times[b][0] / times[a][0]:.2f}x"
        + (f", transformers {times[b][1] / times[a][1]:.2f}x" if times[b][1] and times[a][1] else "")
        for a, b in zip(ls, ls[1:])
    ]
    print("\nTime growth for 4x length: " + "; ".join(growth))


if __name__ == "__main__":
    main()
