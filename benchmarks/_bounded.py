# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Run one benchmark case in a child process under a time and memory budget.

`run_bounded(cmd, time_budget_s, memory_cap_gb, clock)` starts `cmd` (a Python process that prints one JSON line
starting with "JSON"), watches it every 0.1 s and kills it when

* its time exceeds `time_budget_s`: process CPU time (user + system, from /proc) with clock="cpu", wall time with
  clock="wall"; a wall-clock safety cap of `wall_factor` x the budget applies to both -> status "timeout";
* its resident memory exceeds `memory_cap_gb` (CPU runs) -> status "OOM".
A child that dies with an out-of-memory error (CUDA or host) is reported as "OOM" too; any other failure as
"error". Returns (status, result dict or None, stderr tail).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time


def _proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _proc_rss_gb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e9


def run_bounded(
    cmd, time_budget_s: float, memory_cap_gb: float, clock: str = "cpu", wall_factor: float = 4.0, env=None
):
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, env=env
    )
    status = None
    peak_rss = 0.0
    out_chunks, err_chunks = [], []
    readers = [
        threading.Thread(target=lambda s=s, b=b: b.append(s.read()), daemon=True)
        for s, b in ((proc.stdout, out_chunks), (proc.stderr, err_chunks))
    ]
    for r in readers:
        r.start()
    while proc.poll() is None:
        try:
            used = _proc_cpu_seconds(proc.pid) if clock == "cpu" else time.perf_counter() - start
            rss = _proc_rss_gb(proc.pid)
        except (OSError, IndexError, ValueError):
            used, rss = 0.0, 0.0
        peak_rss = max(peak_rss, rss)
        if rss > memory_cap_gb:
            status = "OOM"
        elif used > time_budget_s or time.perf_counter() - start > wall_factor * time_budget_s:
            status = "timeout"
        if status:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            break
        time.sleep(0.1)
    for r in readers:
        r.join(timeout=5)
    out, err = "".join(out_chunks), "".join(err_chunks)
    if status:
        return status, None, err[-2000:]
    lines = [line for line in out.splitlines() if line.startswith("JSON")]
    if proc.returncode != 0 or not lines:
        oom = any(s in err for s in ("OutOfMemoryError", "MemoryError", "CUDA out of memory", "DefaultCPUAllocator"))
        return ("OOM" if oom else "error"), None, err[-2000:]
    result = json.loads(lines[-1][4:])
    result.setdefault("observed_peak_rss_gb", peak_rss)
    return "ok", result, err[-2000:]
