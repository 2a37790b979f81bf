# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Machine description and fp32 matmul peak, shared by the benchmark scripts."""

from __future__ import annotations

import os
import platform
import time

import torch


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    dev = f"GPU: {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "no GPU"
    return (
        f"CPU: {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), {dev}"
    )


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def best_time(fn, repeats: int = 3, warmup: int = 1, clock: str = "wall") -> float:
    """Best of ``repeats`` runs. ``clock="cpu"`` measures process CPU time (all threads summed): with one thread
    it is robust to other processes sharing the machine."""
    now = CLOCKS[clock]
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        t = now()
        fn()
        best = min(best, now() - t)
    return best


def matmul_peak_gflops(n: int = 2048, repeats: int = 5, clock: str = "wall") -> float:
    """Best fp32 GFLOP/s of an n x n @ n x n matmul on this CPU (with the current thread count)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    t = best_time(lambda: torch.mm(a, b), repeats=repeats, clock=clock)
    return 2 * n**3 / t / 1e9


def markdown_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)
