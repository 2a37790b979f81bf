# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""The GPU check: what needs CUDA and the `mamba_ssm` kernels, in one run, summarised in one markdown table.

    bash benchmarks/gpu_check.sh [OUTPUT.md]          # the entry point (this script with the repo's src/ on the path)
    python benchmarks/gpu_check.py --output gpu_check.md [--budget-minutes 8] [--only STEP ...]
    python benchmarks/gpu_check.py --cpu-smoke --output smoke.md     # the same code on CPU, tiny sizes (tests)

Steps, each in its own process with a time limit (the run stops starting steps once `--budget-minutes` is spent):

  cuda_tests           pytest -k cuda: the kernel-vs-PyTorch tests of tests/test_ssm_cuda_kernels.py, the golden
                       parity of tests/test_hieramamba_parity.py on the GPU, the pipeline's every-weight-on-the-GPU
                       test (a skipped test fails the step: it did not run)
  parity_hieramamba    the full HieraMamba model (preset ego4d-nlq: 8 AMP blocks of Hydra, 2,304 clips, random
                       weights) on the kernel path vs the PyTorch path (`SSM_LAYERS_FORCE_TORCH=1`): eval outputs,
                       then the training loss and the gradients of every parameter
  parity_mambamia      MambaMia's compressor at the paper's widths (preset mambamia-7b: 3 bidirectional Mamba2 blocks
                       with GPA at width 3072, the TAA), 16 frames x 600 tokens: anchors and Delta_t, the streaming
                       Stage 1 (`compressor_streaming_segment_length`) against the normal forward, and the gradients
  train_hieramamba     50 bf16 `HieraMambaTrainer` steps (official recipe, ego4d-nlq preset, batch 2) with the kernels:
                       kernel calls counted, every loss finite, seconds per step
  train_mambamia       50 bf16 `Trainer` steps of stage "instruct" (the synthetic video QA model, compressor widened)
                       with the kernels
  bench_*              the GPU rows of benchmarks/run_all.py (--quick lengths: SSD scan, HieraMamba vs attention,
                       MambaMia compressor) and hieramamba-ground's throughput on one GPU

The kernels take their fp32 dot products in TF32 (Triton's default): kernel and PyTorch paths differ by ~1e-3 in
relative norm (tests/test_ssm_cuda_kernels.py); the parity steps pass below 1e-2 and report the measured values.
Exit status: 0 when every step passed, 1 otherwise (also when there is no CUDA device or `mamba_ssm`, before any
step: the message says what is missing).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import torch


HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "examples", "synthetic_video_qa"))  # the synthetic QA model and data
from _machine import machine_line, markdown_table  # noqa: E402
from gpu_preflight import preflight  # noqa: E402
from mambamia_compressor import build as build_compressor  # noqa: E402
from synthetic_qa import generate_synthetic_video_qa, synthetic_qa_config, synthetic_qa_processor  # noqa: E402
from transformers import Trainer  # noqa: E402

import ssm_layers.ssd  # noqa: E402
from hieramamba_hf import HieraMambaConfig, HieraMambaForVideoGrounding  # noqa: E402
from hieramamba_hf.training_hieramamba import HieraMambaTrainer, HieraMambaTrainingArguments  # noqa: E402
from mambamia_hf import MambaMiaConfig, MambaMiaForConditionalGeneration  # noqa: E402
from mambamia_hf.data_mambamia import MambaMiaDataCollator, load_video_records  # noqa: E402
from mambamia_hf.training_mambamia import apply_stage, stage_training_arguments  # noqa: E402
from ssm_layers.kernels import get_mamba_chunk_scan_combined  # noqa: E402


PARITY_REL = 1e-2  # TF32 in the kernels: ~1e-3 measured on the scan


# ---------------------------------------------------------------------------------------------- helpers
def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    expected = expected.double()
    return ((actual.double() - expected).norm() / expected.norm().clamp_min(1e-30)).item()


def both_paths(fn):
    """fn() on the kernel path, then on the PyTorch path (`SSM_LAYERS_FORCE_TORCH=1`)."""
    kernel = fn()
    os.environ["SSM_LAYERS_FORCE_TORCH"] = "1"
    try:
        torch_path = fn()
    finally:
        del os.environ["SSM_LAYERS_FORCE_TORCH"]
    return kernel, torch_path


class KernelCounter:
    """Counts the calls of `mamba_ssm`'s fused scan made through `ssm_layers.ssd` while active."""

    def __init__(self):
        self.calls = 0

    def __enter__(self):
        kernel = get_mamba_chunk_scan_combined()

        def counting(*args, **kwargs):
            self.calls += 1
            return kernel(*args, **kwargs)

        self._original = ssm_layers.ssd.get_mamba_chunk_scan_combined
        ssm_layers.ssd.get_mamba_chunk_scan_combined = lambda: counting if kernel is not None else None
        return self

    def __exit__(self, *exc):
        ssm_layers.ssd.get_mamba_chunk_scan_combined = self._original


def grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def worst_gradient(kernel: dict, reference: dict) -> tuple[float, str]:
    """Largest relative error over the parameters whose reference gradient is not negligible (1e-6 of the largest
    gradient norm: rounding noise has no relative precision), and its parameter."""
    scale = max(g.norm().item() for g in reference.values())
    errors = [
        (relative_error(kernel[name], g), name) for name, g in reference.items() if g.norm().item() > 1e-6 * scale
    ]
    return max(errors)


def verdict(values: dict[str, float], limit: float) -> tuple[bool, str]:
    text = ", ".join(f"{name} {value:.1e}" for name, value in values.items())
    return all(v < limit for v in values.values()), f"relative error {text} (limit {limit:.0e})"


# ---------------------------------------------------------------------------------------------- steps
NO_DROPOUT = dict(  # the parity steps compare two forwards: no random masks
    amp_dropout=0.0, text_proj_dropout=0.0, text_path_dropout=0.0, fusion_proj_dropout=0.0, fusion_path_dropout=0.0
)


def hieramamba_config(smoke: bool, **overrides) -> HieraMambaConfig:
    if smoke:
        return HieraMambaConfig(
            video_input_dim=8,
            text_input_dim=6,
            hidden_size=16,
            text_hidden_size=16,
            max_seq_len=64,
            num_amp_blocks=3,
            hydra_head_dim=8,
            hydra_state_size=4,
            projector_dim=8,
            **overrides,
        )
    return HieraMambaConfig.from_preset("ego4d-nlq", **overrides)


def hieramamba_batch(config, batch: int, device, generator: torch.Generator) -> dict:
    clips = config.max_seq_len * config.embedding_stride
    start = torch.randint(0, clips // 2, (batch,), generator=generator).float()
    length = torch.randint(4, clips // 4, (batch,), generator=generator).float()
    return {
        "video_features": torch.randn(batch, clips, config.video_input_dim, generator=generator),
        "video_mask": torch.ones(batch, clips, dtype=torch.bool),
        "text_features": torch.randn(batch, 12, config.text_input_dim, generator=generator),
        "text_mask": torch.ones(batch, 12, dtype=torch.bool),
        "queries_per_video": torch.ones(batch, dtype=torch.long),
        "segments": torch.stack([start, start + length], dim=1),
    }


def to(batch: dict, device) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


def step_parity_hieramamba(device: str, smoke: bool) -> tuple[bool, str]:
    config = hieramamba_config(smoke, **NO_DROPOUT)
    torch.manual_seed(0)
    model = HieraMambaForVideoGrounding(config).to(device)
    batch = to(hieramamba_batch(config, 2, device, torch.Generator().manual_seed(0)), device)

    def evaluate():
        model.eval()
        with torch.no_grad():
            out = model(**{k: v for k, v in batch.items() if k != "segments"})
        return out.logits.float(), out.offsets.float()

    def train():
        model.train()
        model.zero_grad(set_to_none=True)
        generator = torch.Generator(device=device).manual_seed(0)  # the same contrastive negatives on both paths
        loss = model(**batch, loss_generator=generator).loss
        loss.backward()
        return loss.detach(), grads(model)

    (logits_k, offsets_k), (logits_t, offsets_t) = both_paths(evaluate)
    (loss_k, grads_k), (loss_t, grads_t) = both_paths(train)
    worst, name = worst_gradient(grads_k, grads_t)
    ok, text = verdict(
        {
            "logits": relative_error(logits_k, logits_t),
            "offsets": relative_error(offsets_k, offsets_t),
            "loss": relative_error(loss_k, loss_t),
            "worst gradient": worst,
        },
        PARITY_REL,
    )
    clips = config.max_seq_len * config.embedding_stride
    return ok, f"{config.num_amp_blocks} AMP blocks, {clips} clips: {text}; worst gradient `{name}`"


def step_parity_mambamia(device: str, smoke: bool) -> tuple[bool, str]:
    frames = 4 if smoke else 16
    if smoke:
        config = synthetic_qa_config(gpa_dropout=0.0)
    else:
        config = MambaMiaConfig.from_preset("mambamia-7b", gpa_dropout=0.0)
    torch.manual_seed(0)
    compressor, _ = build_compressor(config, device, torch.float32)
    patches = config.queries_per_frame * config.query_interval
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(1, frames, patches, config.vision_config.hidden_size, generator=generator).to(device)
    mask = torch.ones(1, frames, dtype=torch.bool, device=device)

    def evaluate():
        with torch.no_grad():
            anchors, delta = compressor(features, mask)
        return anchors.float(), delta.float()

    def train():
        compressor.train()
        compressor.zero_grad(set_to_none=True)
        anchors, delta = compressor(features, mask)
        (anchors.float().square().mean() + delta.float().mean()).backward()
        compressor.eval()
        return grads(compressor)

    (anchors_k, delta_k), (anchors_t, delta_t) = both_paths(evaluate)
    compressor.streaming_segment_length = 1024 if not smoke else 16  # the memory-lean Stage 1 of long videos
    (streamed_k, _), (streamed_t, _) = both_paths(evaluate)
    compressor.streaming_segment_length = None
    grads_k, grads_t = both_paths(train)
    worst, name = worst_gradient(grads_k, grads_t)
    ok, text = verdict(
        {
            "anchors": relative_error(anchors_k, anchors_t),
            "Delta_t": relative_error(delta_k, delta_t),
            "streamed anchors": relative_error(streamed_k, anchors_t),
            "streamed, PyTorch path": relative_error(streamed_t, anchors_t),
            "worst gradient": worst,
        },
        PARITY_REL,
    )
    tokens = frames * config.queries_per_frame * (config.query_interval + 1)
    return ok, f"width {config.compressor_hidden_size}, {tokens:,} tokens: {text}; worst gradient `{name}`"


def bf16_steps(steps: int, device: str) -> dict:
    """The `TrainingArguments` of the training steps: `steps` bf16 steps, every loss logged, nothing saved."""
    return dict(
        max_steps=steps,
        bf16=True,
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
        use_cpu=device == "cpu",
        dataloader_pin_memory=False,
    )


def trainer_losses(trainer) -> list[float]:
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


def train_summary(trainer, counter: KernelCounter, seconds: float, device: str, steps: int) -> tuple[bool, str]:
    losses = trainer_losses(trainer)
    finite = bool(losses) and all(torch.isfinite(torch.tensor(losses)).tolist())
    kernels = counter.calls > 0 or device == "cpu"
    ok = finite and kernels and trainer.state.global_step == steps
    return ok, (
        f"{trainer.state.global_step} steps, {seconds / steps * 1000:.0f} ms/step, loss {losses[0]:.3g} -> "
        f"{losses[-1]:.3g}{'' if finite else ' (NOT FINITE)'}, {counter.calls} kernel calls"
    )


def step_train_hieramamba(device: str, smoke: bool) -> tuple[bool, str]:
    config = hieramamba_config(smoke)
    steps = 2 if smoke else 50
    generator = torch.Generator().manual_seed(0)
    rows = []
    for _ in range(8):
        row = hieramamba_batch(config, 1, "cpu", generator)
        rows.append({k: v[0] for k, v in row.items()})

    def collate(examples):
        return {k: torch.stack([e[k] for e in examples]) for k in examples[0]}

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as out:
        steps_args = bf16_steps(steps, device)
        args = HieraMambaTrainingArguments(
            output_dir=out, per_device_train_batch_size=2, learning_rate=1e-4, report_to=[], **steps_args
        )
        trainer = HieraMambaTrainer(
            model=HieraMambaForVideoGrounding(config), args=args, train_dataset=rows, data_collator=collate
        )
        with KernelCounter() as counter:
            start = time.perf_counter()
            trainer.train()
            seconds = time.perf_counter() - start
    return train_summary(trainer, counter, seconds, device, steps)


def step_train_mambamia(device: str, smoke: bool) -> tuple[bool, str]:
    steps = 2 if smoke else 50
    # the state sizes of the kernel tests (tests/test_ssm_cuda_kernels.py) instead of the tiny model's 8
    config = synthetic_qa_config(compressor_state_size=16, taa_state_size=16)
    with tempfile.TemporaryDirectory() as out:
        generate_synthetic_video_qa(os.path.join(out, "qa"), num_train=16, num_test=1, seed=0)
        collator = MambaMiaDataCollator(synthetic_qa_processor(config), fps=2.0, max_frames=8, cache_videos=True)
        torch.manual_seed(0)
        model = MambaMiaForConditionalGeneration(config)
        apply_stage(model, "instruct")
        args = stage_training_arguments(
            "instruct",
            os.path.join(out, "run"),
            per_device_train_batch_size=4,
            learning_rate=1e-3,
            **bf16_steps(steps, device),
        )
        train = load_video_records(os.path.join(out, "qa", "train.jsonl"))
        trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=collator)
        with KernelCounter() as counter:
            start = time.perf_counter()
            trainer.train()
            seconds = time.perf_counter() - start
    return train_summary(trainer, counter, seconds, device, steps)


def run_command(cmd: list[str], timeout: float) -> tuple[bool, str, str]:
    """(ok, last line of interest, full stdout) of a command run in the repository."""
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=timeout, env=child_env())
    tail = (result.stdout + result.stderr).strip().splitlines()
    return result.returncode == 0, tail[-1] if tail else "", result.stdout


def step_cuda_tests(timeout: float) -> tuple[bool, str, str]:
    # every test with "cuda" in its name: the `cuda`-marked ones and the GPU pipeline test
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "cuda", "tests/"]
    ok, last, out = run_command(cmd, timeout)
    summary = next((line for line in reversed(out.splitlines()) if re.search(r"\d+ (passed|failed)", line)), last)
    ok = ok and "skipped" not in summary.replace("deselected", "")  # a skipped CUDA test did not run
    return ok, summary.strip("= "), ""


def step_benchmarks(timeout: float) -> tuple[bool, str, str]:
    sections = ["ssd_scan_cuda", "hieramamba_vs_attention_cuda", "mambamia_compressor_cuda"]
    cmd = [sys.executable, "benchmarks/run_all.py", "--quick", "--only", *sections, "--output", "stdout"]
    ok, _, out = run_command(cmd, timeout)
    failed = [s for s in sections if f"`{s}`" in out and "(failed" in out.split(f"`{s}`")[0].rsplit("###", 1)[-1]]
    ok = ok and not failed and "(failed" not in out and "stopped after" not in out
    return ok, f"{len(sections)} sections" + (f", failed: {failed}" if failed else ""), out


def step_bench_ground(timeout: float) -> tuple[bool, str, str]:
    cmd = [sys.executable, "benchmarks/ground_videos_throughput.py", "--device", "cuda", "--settings", "1x8"]
    ok, last, out = run_command([*cmd, "--videos", "4"], timeout)
    rows = [line for line in out.splitlines() if line.startswith("| 1 ")]
    return ok and bool(rows), rows[0] if rows else last, out


IN_PROCESS = {
    "parity_hieramamba": step_parity_hieramamba,
    "parity_mambamia": step_parity_mambamia,
    "train_hieramamba": step_train_hieramamba,
    "train_mambamia": step_train_mambamia,
}
COMMANDS = {"cuda_tests": step_cuda_tests, "bench_gpu_rows": step_benchmarks, "bench_ground_videos": step_bench_ground}
# (step, time limit in seconds): 480 s in all on one H100 is the aim; the limits bound a step that hangs
STEPS = [
    ("cuda_tests", 240),  # Triton compiles the kernels here (twice: the IEEE test uses its own cache)
    ("parity_hieramamba", 120),
    ("parity_mambamia", 120),
    ("train_hieramamba", 120),
    ("train_mambamia", 90),
    ("bench_gpu_rows", 240),
    ("bench_ground_videos", 120),
]


def child_env() -> dict:
    src = os.path.join(REPO, "src")
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p))


def run_step(name: str, device: str, smoke: bool, timeout: float, in_process: bool) -> tuple[bool, str, str]:
    if name in COMMANDS:
        return COMMANDS[name](timeout)
    if in_process:
        ok, detail = IN_PROCESS[name](device, smoke)
        return ok, detail, ""
    cmd = [sys.executable, os.path.abspath(__file__), "--step", name, "--device", device]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=timeout, env=child_env())
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("{"):
            data = json.loads(line)
            return data["ok"], data["detail"], ""
    return False, f"exit status {result.returncode}: {(result.stderr.strip().splitlines() or [''])[-1][:300]}", ""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", default=os.path.join(REPO, "gpu_check.md"), help="the markdown report")
    ap.add_argument("--budget-minutes", type=float, default=8.0, help="no step starts after this (default 8)")
    ap.add_argument("--only", nargs="+", choices=[name for name, _ in STEPS], default=None)
    ap.add_argument(
        "--cpu-smoke",
        action="store_true",
        help="run the parity and training steps on CPU at tiny sizes, in this process (no kernels: both paths are "
        "PyTorch): checks this script's code, measures nothing",
    )
    ap.add_argument("--step", default=None, help=argparse.SUPPRESS)  # a child: one step, one JSON line
    ap.add_argument("--device", default="cuda", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.step:
        ok, detail = IN_PROCESS[args.step](args.device, False)
        print(json.dumps({"ok": ok, "detail": detail}))
        return 0
    smoke = args.cpu_smoke
    if not smoke:
        problem = preflight()
        if problem:
            print(f"gpu_check: cannot run: {problem}", file=sys.stderr)
            return 1
    device = "cpu" if smoke else "cuda"
    names = [(n, limit) for n, limit in STEPS if (args.only is None or n in args.only)]
    if smoke:
        names = [(n, limit) for n, limit in names if n in IN_PROCESS]
    started = time.perf_counter()
    rows, appendix, all_ok = [], [], True
    for name, limit in names:
        left = args.budget_minutes * 60 - (time.perf_counter() - started)
        if left <= 0:
            rows.append([f"`{name}`", "not run", "", "the time budget was spent"])
            all_ok = False
            continue
        print(f"[gpu_check] {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            ok, detail, extra = run_step(name, device, smoke, min(limit, left) if not smoke else 600, smoke)
        except subprocess.TimeoutExpired:
            ok, detail, extra = False, f"stopped after its {min(limit, left):.0f} s limit", ""
        except Exception as error:  # a step's failure is reported in the table; the others still run
            ok, detail, extra = False, f"{type(error).__name__}: {str(error).splitlines()[0][:300]}", ""
        seconds = time.perf_counter() - t0
        print(f"[gpu_check] {name}: {'pass' if ok else 'FAIL'} ({seconds:.0f} s) {detail}", file=sys.stderr)
        all_ok &= ok
        rows.append([f"`{name}`", "pass" if ok else "**FAIL**", f"{seconds:.0f}", detail.replace("|", "/")])
        if extra:
            appendix.append(f"### `{name}`\n\n{extra.strip()}")
    total = time.perf_counter() - started
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if smoke:
        what = (
            "CPU SMOKE RUN (tiny sizes, no kernels: checks the script, measures nothing): `gpu_check.py --cpu-smoke`"
        )
    else:
        what = "GPU check: `bash benchmarks/gpu_check.sh`"
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    report = [
        f"_{what} on {stamp}, {gpu}, {total / 60:.1f} min; {machine_line()}_",
        "",
        markdown_table(["step", "result", "s", "details"], rows),
    ]
    if appendix:
        report += ["", "The benchmark tables of the `bench_*` steps:", "", *appendix]
    with open(args.output, "w") as f:
        f.write("\n".join(report) + "\n")
    print("\n".join(report))
    print(
        f"[gpu_check] {'all steps passed' if all_ok else 'SOME STEPS FAILED'}; report in {args.output}",
        file=sys.stderr,
    )
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
