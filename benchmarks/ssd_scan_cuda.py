# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""SSD scan on a GPU: ssm_layers.ssd_chunk_scan's kernel path (mamba_ssm's fused mamba_chunk_scan_combined, when
importable), its pure-PyTorch path (SSM_LAYERS_FORCE_TORCH=1) and transformers' mamba2_chunk_scan (which itself
dispatches to mamba_ssm's kernel when that is importable, else to its PyTorch reference), same shapes as
benchmarks/ssd_scan.py (Hydra's Ego4D level-0 scan, both directions batched). Wall time after
torch.cuda.synchronize, best of --repeats after a warm-up, fp32 and bf16 inputs.

    python benchmarks/ssd_scan_cuda.py [--lengths 3456 13824 55296 221184] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import machine_line, markdown_table  # noqa: E402

from ssm_layers import ssd_chunk_scan  # noqa: E402
from ssm_layers.kernels import kernels_available  # noqa: E402


B, H, P, N, G, CHUNK = 2, 12, 64, 64, 1, 256


def cuda_time(fn, repeats):
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", type=int, nargs="+", default=[3456, 13824, 55296, 221184])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device")
    from transformers.models.mamba2.modeling_mamba2 import mamba2_chunk_scan

    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        for length in args.lengths:
            g = torch.Generator(device="cuda").manual_seed(0)
            x = torch.randn(B, length, H, P, device="cuda", generator=g).to(dtype)
            dt = (torch.randn(B, length, H, device="cuda", generator=g) - 3.0).to(dtype)
            A = -torch.ones(H, device="cuda")
            Bm = torch.randn(B, length, G, N, device="cuda", generator=g).to(dtype)
            Cm = torch.randn(B, length, G, N, device="cuda", generator=g).to(dtype)
            cells = []
            with torch.no_grad():
                for name, force in (("kernel", "0"), ("torch", "1")):
                    if name == "kernel" and not kernels_available():
                        cells.append("n/a (mamba_ssm not importable)")
                        continue
                    os.environ["SSM_LAYERS_FORCE_TORCH"] = force
                    try:
                        t = cuda_time(lambda: ssd_chunk_scan(x, dt, A, Bm, Cm, CHUNK, dt_softplus=True), args.repeats)
                        cells.append(f"{t * 1e3:.2f}")
                    except torch.cuda.OutOfMemoryError:
                        cells.append("OOM")
                    finally:
                        os.environ.pop("SSM_LAYERS_FORCE_TORCH", None)
                        torch.cuda.empty_cache()
                try:
                    t = cuda_time(lambda: mamba2_chunk_scan(x, dt, A, Bm, Cm, CHUNK, dt_softplus=True), args.repeats)
                    cells.append(f"{t * 1e3:.2f}")
                except torch.cuda.OutOfMemoryError:
                    cells.append("OOM")
                torch.cuda.empty_cache()
            rows.append([str(dtype).replace("torch.", ""), f"{length:,}", *cells])
    print(
        f"SSD scan on {torch.cuda.get_device_name()}, batch {B} (both directions), {H} heads x {P}, state {N}, "
        f"{G} group, chunk {CHUNK}; wall time after synchronize, best of {args.repeats}"
    )
    print(machine_line())
    print()
    print(
        markdown_table(
            ["dtype", "length", "ours, kernel path ms", "ours, PyTorch path ms", "transformers mamba2_chunk_scan ms"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
