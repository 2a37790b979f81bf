# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Distributed training computes what one process computes (CPU, 2 gloo processes), and a multi-process launch
trains data-parallel or stops with a clear error.

One spawn of 2 processes (`distributed_testing.spawn`, the environment torchrun sets) runs every distributed case;
each test compares one case with a single-process run in the test process:

* HieraMamba, 2 processes x batch 1 vs 1 process x batch 2 over the same samples, 4 optimizer steps: weights,
  `loss_norm` and EMA equal. The ACC / SPC contrastive terms are off here: the official recipe takes them as means
  over a micro-batch (and the world size multiplies every process's loss), so with them on, 2 processes x batch 1
  is the same computation as 1 process x batch 1 x 2 accumulation steps (next case), not as batch 2.
* HieraMamba with every loss on, 2 processes x batch 1 vs 1 process x batch 1 x gradient accumulation 2. The
  contrastive negatives are made deterministic (hard negatives, every SPC negative kept): a random draw comes from
  each process's own RNG stream, so it cannot match a single process. Dropout is off for the same reason.
* MambaMia stage "instruct" (vision tower frozen), 2 processes x batch 1 vs 1 process x batch 2, 3 steps.
* MambaMia, one step under FSDP2 (`fully_shard` on the wrap units of examples/accelerate_configs/fsdp.yaml) on
  CPU / gloo: gradients and weights after the step equal one process's. The Trainer cannot run FSDP on CPU
  (accelerate enables it only on accelerators), so this drives torch's FSDP2 directly.

Attention key biases are compared apart: their gradient is zero in exact arithmetic (softmax ignores a shift shared
by all keys), so Adam turns rounding noise of order 1e-10 into steps of order 1e-5 that differ between the runs.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from accelerate.commands.config.config_args import load_config_from_file
from distributed_testing import spawn
from test_hieramamba_evaluate import write_config, write_layout
from test_hieramamba_training import make_trainer, tiny_config, write_synthetic_layout
from test_mambamia_training import synthetic_qa_config, synthetic_qa_processor
from transformers import Trainer

from mambamia_hf import MambaMiaForConditionalGeneration
from mambamia_hf.data_mambamia import MambaMiaDataCollator, load_video_records
from mambamia_hf.training_mambamia import apply_stage, stage_training_arguments
from ssm_layers import Hydra
from ssm_layers.distributed import (
    check_distributed_training_arguments,
    distributed_cpu_defaults,
    launched_rank,
    launched_world_size,
)


ROOT = Path(__file__).resolve().parent.parent
ACCELERATE = ROOT / "examples" / "accelerate_configs"
NO_DROPOUT = dict(
    amp_dropout=0.0, text_proj_dropout=0.0, text_path_dropout=0.0, fusion_proj_dropout=0.0, fusion_path_dropout=0.0
)


# ---------------------------------------------------------------------------------------------- the runs
def hieramamba_run(layout_root, out, batch, accumulation, contrastive):
    """4 optimizer steps of the HieraMamba recipe; rank 0 (or the only process) saves weights, EMA, loss_norm."""
    root = Path(layout_root)
    layout = (str(root / "anno.json"), str(root / "video"), str(root / "text"))
    weight = 1.0 if contrastive else 0.0
    config = tiny_config(
        **NO_DROPOUT, acc_loss_weight=weight, spc_loss_weight=weight, acc_hard_negatives=True, spc_neg_ratio=1e3
    )
    trainer = make_trainer(
        Path(out + ".run"),
        layout,
        config,
        max_steps=4,
        warmup_epochs=0.0,
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=accumulation,
        ema_beta=0.9,
        logging_steps=500,
        **distributed_cpu_defaults(),
    )
    trainer.train()
    if trainer.is_world_process_zero():
        model = trainer.accelerator.unwrap_model(trainer.model)
        state = {
            "weights": {n: p.detach().clone() for n, p in model.named_parameters()},
            "ema": trainer.ema.state_dict(),
            "loss_norm": trainer.loss_norm,
            "world_size": trainer.args.world_size,
            "steps": trainer.state.global_step,
        }
        torch.save(state, out)


def mambamia_data(qa_root):
    config = synthetic_qa_config(gpa_dropout=0.0)  # dropout draws differ between processes
    collator = MambaMiaDataCollator(synthetic_qa_processor(config), fps=2.0, max_frames=4, cache_videos=True)
    return config, collator, load_video_records(os.path.join(qa_root, "train.jsonl"))


def mambamia_run(qa_root, out, batch):
    """3 Trainer steps of stage "instruct"; rank 0 saves the weights."""
    config, collator, train = mambamia_data(qa_root)
    torch.manual_seed(0)
    model = MambaMiaForConditionalGeneration(config)
    apply_stage(model, "instruct")
    args = stage_training_arguments(
        "instruct",
        out + ".run",
        per_device_train_batch_size=batch,
        max_steps=3,
        learning_rate=1e-3,
        save_strategy="no",
        disable_tqdm=True,
        dataloader_pin_memory=False,
        **({} if launched_world_size() > 1 else {"use_cpu": True}),
    )
    trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=collator)
    trainer.train()
    if trainer.is_world_process_zero():
        torch.save({"weights": snapshot(model), "world_size": args.world_size}, out)


def snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def fsdp_wrap_classes():
    """The wrap units users launch with: examples/accelerate_configs/fsdp.yaml."""
    config = yaml.safe_load((ACCELERATE / "fsdp.yaml").read_text())["fsdp_config"]
    return set(config["fsdp_transformer_layer_cls_to_wrap"].split(","))


def mambamia_fsdp_step(qa_root, out):
    """One SGD step of stage "instruct" under FSDP2 on CPU: rank r takes sample r; rank 0 saves the full gradients
    and weights."""
    from torch.distributed.fsdp import fully_shard

    config, collator, train = mambamia_data(qa_root)
    torch.manual_seed(0)
    model = MambaMiaForConditionalGeneration(config)
    apply_stage(model, "instruct")
    wrap = fsdp_wrap_classes()
    units = [m for m in model.modules() if type(m).__name__ in wrap]
    assert {type(m).__name__ for m in units} == wrap, "every wrap class of fsdp.yaml exists in the model"
    for module in units:
        fully_shard(module)
    fully_shard(model)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(**collator([train[launched_rank()]])).loss.backward()
    grads = {n: p.grad.full_tensor() for n, p in model.named_parameters() if p.grad is not None}
    optimizer.step()
    weights = {n: p.full_tensor() for n, p in model.named_parameters()}
    if launched_rank() == 0:
        torch.save({"grads": grads, "weights": weights}, out)


def two_process_cases(layout_root, qa_root, out):
    """Every distributed case, in each of the 2 spawned processes."""
    hieramamba_run(layout_root, os.path.join(out, "hieramamba_batch.pt"), 1, 1, contrastive=False)
    hieramamba_run(layout_root, os.path.join(out, "hieramamba_contrastive.pt"), 1, 1, contrastive=True)
    mambamia_run(qa_root, os.path.join(out, "mambamia.pt"), 1)
    mambamia_fsdp_step(qa_root, os.path.join(out, "mambamia_fsdp.pt"))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from synthetic_qa import generate_synthetic_video_qa

    layout = tmp_path_factory.mktemp("layout")
    write_synthetic_layout(layout, num_videos=5)  # 4 training videos, 24 clips each (same length: no padding)
    qa = str(tmp_path_factory.mktemp("qa"))
    generate_synthetic_video_qa(qa, num_train=6, num_test=1, seed=5)
    out = tmp_path_factory.mktemp("ddp")
    spawn(2, two_process_cases, str(layout), qa, str(out))
    return {"layout": str(layout), "qa": qa, "out": out}


def assert_same_weights(actual, expected, atol=2e-5):
    assert actual.keys() == expected.keys()
    for name in expected:
        # zero gradient in exact arithmetic: Adam steps on rounding noise (module docstring)
        tolerance = 1e-3 if name.endswith("key.bias") else atol
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=tolerance, msg=name)


# ---------------------------------------------------------------------------------------------- equality
def test_hieramamba_two_processes_equal_one_process_with_twice_the_batch(data, tmp_path):
    ddp = torch.load(data["out"] / "hieramamba_batch.pt")
    hieramamba_run(data["layout"], str(tmp_path / "one.pt"), 2, 1, contrastive=False)
    one = torch.load(tmp_path / "one.pt")
    assert ddp["world_size"] == 2 and one["world_size"] == 1
    assert ddp["steps"] == one["steps"] == 4
    assert ddp["loss_norm"] == pytest.approx(one["loss_norm"], rel=1e-12) and one["loss_norm"] != 5.0
    assert_same_weights(ddp["weights"], one["weights"])
    assert_same_weights(ddp["ema"], one["ema"])


def test_hieramamba_two_processes_equal_gradient_accumulation_with_every_loss(data, tmp_path):
    ddp = torch.load(data["out"] / "hieramamba_contrastive.pt")
    hieramamba_run(data["layout"], str(tmp_path / "one.pt"), 1, 2, contrastive=True)
    one = torch.load(tmp_path / "one.pt")
    assert ddp["loss_norm"] == pytest.approx(one["loss_norm"], rel=1e-12)
    assert_same_weights(ddp["weights"], one["weights"])
    assert_same_weights(ddp["ema"], one["ema"])
    # the contrastive terms moved the weights: the two cases differ
    batch = torch.load(data["out"] / "hieramamba_batch.pt")
    name = "model.backbone.blocks.0.global_mixer.in_proj.weight"
    assert not torch.allclose(ddp["weights"][name], batch["weights"][name], atol=1e-4)


def test_mambamia_stage_two_processes_equal_one_process_with_twice_the_batch(data, tmp_path):
    ddp = torch.load(data["out"] / "mambamia.pt")
    mambamia_run(data["qa"], str(tmp_path / "one.pt"), 2)
    one = torch.load(tmp_path / "one.pt")
    assert ddp["world_size"] == 2 and one["world_size"] == 1
    assert_same_weights(ddp["weights"], one["weights"], atol=1e-6)
    torch.manual_seed(0)
    start = snapshot(MambaMiaForConditionalGeneration(mambamia_data(data["qa"])[0]))
    assert not torch.equal(ddp["weights"]["lm_head.weight"], start["lm_head.weight"])  # the LLM trained ...
    for name, value in start.items():  # ... and the vision tower stayed frozen on both processes
        if name.startswith("model.vision_tower"):
            assert torch.equal(ddp["weights"][name], value), name


def test_mambamia_fsdp2_step_on_cpu_equals_one_process(data):
    fsdp = torch.load(data["out"] / "mambamia_fsdp.pt")
    config, collator, train = mambamia_data(data["qa"])
    torch.manual_seed(0)
    model = MambaMiaForConditionalGeneration(config)
    apply_stage(model, "instruct")
    before = snapshot(model)
    for record in (train[0], train[1]):  # FSDP averages the processes' gradients: the mean of the two samples' losses
        (model(**collator([record])).loss / 2).backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert fsdp["grads"].keys() == grads.keys() and not any(n.startswith("model.vision_tower") for n in grads)
    for name, grad in grads.items():
        torch.testing.assert_close(fsdp["grads"][name], grad, rtol=1e-4, atol=1e-6, msg=name)
    for name, value in before.items():
        expected = value - 0.1 * grads[name] if name in grads else value
        torch.testing.assert_close(fsdp["weights"][name], expected, rtol=1e-4, atol=1e-6, msg=name)


# ---------------------------------------------------------------------------------------------- launches
def launch_env():
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=path)


def test_train_hieramamba_script_under_accelerate_launch_trains_data_parallel(tmp_path):
    """The issue's command with the DDP config the docs give: 2 processes on CPU, a config without use_cpu: one
    data-parallel run (4 training rows -> 2 optimizer steps, not 4 in each process), one summary written by rank
    0. ddp.yaml asks for bf16: on CPU that is autocast, which the final evaluation runs under too."""
    config_path = write_config(tmp_path, "ego4d", write_layout(tmp_path, "ego4d", num_videos=5))
    config = yaml.safe_load(Path(config_path).read_text())
    for key in ("use_cpu", "max_steps", "save_steps"):
        config["training"].pop(key)
    config["training"].update(num_train_epochs=1, save_strategy="no")
    Path(config_path).write_text(yaml.safe_dump(config))
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ACCELERATE / "ddp.yaml")]
    result = subprocess.run(
        [*launch, "--num_processes", "2", str(ROOT / "examples" / "train_hieramamba.py"), config_path],
        capture_output=True,
        text=True,
        env=launch_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["optimizer_steps"] == 2 and summary["epochs"] == 1.0 and "metrics" in summary
    assert result.stdout.count('"optimizer_steps"') == 1  # rank 0 alone reports and writes
    assert (tmp_path / "run" / "final" / "model.safetensors").is_file()


@pytest.mark.slow
def test_train_mambamia_script_under_torchrun_trains_data_parallel(data, tmp_path):
    """torchrun, 2 CPU processes, no --use_cpu: 6 training records, batch 1 -> 3 optimizer steps in one epoch."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    script = [str(ROOT / "examples" / "train_mambamia.py"), "--synthetic_dir", data["qa"], "--num_train_epochs", "1"]
    options = ["--per_device_train_batch_size", "1", "--max_frames", "4", "--save_strategy", "no", "--report_to"]
    options += ["none", "--logging_steps", "1", "--output_dir", str(tmp_path / "run")]
    result = subprocess.run([*command, *script, *options], capture_output=True, text=True, env=launch_env())
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics_mambamia.json").read_text())
    assert len(metrics["log_history"]) == 3 and result.stdout.count("held-out accuracy") == 1


@pytest.mark.parametrize("name", ["ddp", "fsdp", "deepspeed_zero3"])
def test_the_accelerate_configs_load(name):
    config = load_config_from_file(str(ACCELERATE / f"{name}.yaml"))
    assert config.distributed_type.value == {"ddp": "MULTI_GPU", "fsdp": "FSDP", "deepspeed_zero3": "DEEPSPEED"}[name]
    assert not config.use_cpu


def test_hydra_runs_under_cpu_autocast():
    """accelerate's mixed precision (bf16 in the configs) wraps the forward in autocast, on CPU too: the PyTorch
    scan computes in float32 inside it, in training and in inference."""
    torch.manual_seed(0)
    hydra = Hydra(16, d_state=4, headdim=8, chunk_size=16)
    x = torch.randn(2, 64, 16)
    with torch.no_grad():
        reference = hydra(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = hydra(x)
    torch.testing.assert_close(out.float(), reference, atol=3e-2, rtol=3e-2)  # bf16 projections around the scan
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hydra(x).float().square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in hydra.parameters() if p.grad is not None)


def test_cpu_launch_defaults_and_errors(monkeypatch):
    for name in (
        "WORLD_SIZE",
        "OMPI_COMM_WORLD_SIZE",
        "PMI_SIZE",
        "MV2_COMM_WORLD_SIZE",
        "RANK",
        "ACCELERATE_USE_FSDP",
    ):
        monkeypatch.delenv(name, raising=False)
    assert launched_world_size() == 1 and launched_rank() == 0 and distributed_cpu_defaults() == {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert launched_world_size() == 2 and launched_rank() == 1
    assert distributed_cpu_defaults() == {"use_cpu": True, "ddp_backend": "gloo"}
    assert distributed_cpu_defaults({"ddp_backend": "ccl"}) == {"use_cpu": True}
    with pytest.raises(RuntimeError, match="use_cpu=False: TrainingArguments would give every process world_size"):
        distributed_cpu_defaults({"use_cpu": False})
    with pytest.raises(RuntimeError, match="FSDP was requested in a 2-process launch on a machine without GPUs"):
        distributed_cpu_defaults({"fsdp": "full_shard"})
    with pytest.raises(RuntimeError, match="DeepSpeed was requested"):
        distributed_cpu_defaults({"deepspeed": "ds.json"})
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")  # accelerate launch --config_file fsdp.yaml
    with pytest.raises(RuntimeError, match="FSDP was requested in a 2-process launch on a machine without GPUs"):
        distributed_cpu_defaults()


def fake_arguments(world_size, fsdp=()):
    """What `check_distributed_training_arguments` reads of `TrainingArguments`, without a process group."""
    mode = SimpleNamespace(value="not_parallel" if world_size == 1 else "distributed")
    return SimpleNamespace(
        world_size=world_size,
        fsdp=list(fsdp),
        deepspeed=None,
        use_cpu=False,
        device=torch.device("cpu"),
        output_dir="out",
        parallel_mode=mode,
    )


def test_check_stops_silent_copies_and_sharding_on_cpu(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match=r"each train their own copy .* write the same output_dir 'out'.*use_cpu"):
        check_distributed_training_arguments(fake_arguments(1))
    with pytest.raises(RuntimeError, match="FSDP was requested in a 2-process launch on CPU"):
        check_distributed_training_arguments(fake_arguments(2, fsdp=["full_shard"]))
    check_distributed_training_arguments(fake_arguments(2))  # a real data-parallel run passes
    monkeypatch.setenv("WORLD_SIZE", "1")
    check_distributed_training_arguments(fake_arguments(1))
