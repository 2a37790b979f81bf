# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""benchmarks/gpu_check.sh is ready to run on a GPU: its bash parses, without CUDA it stops at once saying what is
missing, and the Python of every parity / training step runs (on CPU at tiny sizes, `--cpu-smoke`)."""

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest
import torch


ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def test_the_script_parses():
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has CUDA")
def test_without_cuda_it_stops_at_once_saying_what_is_missing(tmp_path):
    report = tmp_path / "gpu_check.md"
    result = subprocess.run(["bash", str(SCRIPT), str(report)], capture_output=True, text=True, env=dict(os.environ))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"gpu_check: cannot run: no CUDA device: torch.cuda.is_available() is False (torch {torch.__version__}). "
        "Run the GPU check on a machine with an NVIDIA GPU and a CUDA build of torch, with the kernels: "
        "pip install -e '.[cuda]'"
    )
    assert not report.exists()


def load_gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_smoke_runs_the_parity_and_training_steps(tmp_path):
    report = tmp_path / "smoke.md"
    assert load_gpu_check().main(["--cpu-smoke", "--output", str(report)]) == 0
    rows = [line.split(" | ") for line in report.read_text().splitlines() if line.startswith("| `")]
    assert [(row[0], row[1]) for row in rows] == [
        ("| `parity_hieramamba`", "pass"),
        ("| `parity_mambamia`", "pass"),
        ("| `train_hieramamba`", "pass"),
        ("| `train_mambamia`", "pass"),
    ]
    assert "CPU SMOKE RUN" in report.read_text() and "2 steps" in rows[2][3]
