# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Distributed launches (`torchrun`, `accelerate launch`, `mpirun`) seen from inside one process.

A launcher starts one process per device and tells each its place through the environment (`RANK`, `WORLD_SIZE`,
...). transformers' `TrainingArguments` joins those processes into one data-parallel job only on an accelerator,
or on CPU with `use_cpu=True`: on a CPU machine without it every process reports `world_size` 1 and trains its own
copy of the model into the same `output_dir`. The training code of both model packages uses the helpers here to
turn such a launch into DDP over gloo, or to stop at once with a clear error:

* `launched_world_size()` / `launched_rank()`: the launch as the environment describes it (1 / 0 when none);
* `distributed_cpu_defaults(training_kwargs)`: the `TrainingArguments` settings a CPU launch needs
  (`use_cpu=True`, `ddp_backend="gloo"`), to merge in before the arguments are built;
* `check_distributed_training_arguments(args)`: a `RuntimeError` when the built arguments would not train the
  launched processes together (world sizes differ), or ask for FSDP / DeepSpeed on CPU, which accelerate only
  enables on accelerators (on CPU the Trainer would silently run plain DDP instead).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch


__all__ = [
    "check_distributed_training_arguments",
    "distributed_cpu_defaults",
    "has_accelerator",
    "launched_rank",
    "launched_world_size",
]

# the variables accelerate reads too (`accelerate.utils.get_int_from_env`): torchrun / accelerate, then MPI flavours
WORLD_SIZE_VARIABLES = ("WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE")
RANK_VARIABLES = ("RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "MV2_COMM_WORLD_RANK")


def _first_int(names: tuple[str, ...], default: int) -> int:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            try:
                return int(value)
            except ValueError:
                raise ValueError(f"environment variable {name}={value!r} is not an integer") from None
    return default


def launched_world_size() -> int:
    """Number of processes the launcher started (`WORLD_SIZE`, or the MPI equivalents); 1 without a launcher."""
    return max(_first_int(WORLD_SIZE_VARIABLES, 1), 1)


def launched_rank() -> int:
    """This process's global rank under the launcher (`RANK`, or the MPI equivalents); 0 without a launcher."""
    return _first_int(RANK_VARIABLES, 0)


def has_accelerator() -> bool:
    """Whether this process sees a device the Trainer would train on instead of the CPU (CUDA, XPU, ...)."""
    accelerator = getattr(torch, "accelerator", None)
    if accelerator is not None and hasattr(accelerator, "is_available"):
        return bool(accelerator.is_available()) and accelerator.current_accelerator().type != "mps"
    return torch.cuda.is_available()


def _flag(name: str) -> bool:
    return os.environ.get(name, "false").lower() in ("1", "true", "yes")


def _wants_sharding(training_kwargs: Mapping) -> str | None:
    """ "FSDP" / "DeepSpeed" when the arguments or the launcher (`accelerate launch` with an FSDP / DeepSpeed config
    sets `ACCELERATE_USE_FSDP` / `ACCELERATE_USE_DEEPSPEED`) ask for it, else None."""
    if training_kwargs.get("fsdp") not in (None, False, "", [], ()) or _flag("ACCELERATE_USE_FSDP"):
        return "FSDP"
    if training_kwargs.get("deepspeed") or _flag("ACCELERATE_USE_DEEPSPEED"):
        return "DeepSpeed"
    return None


def distributed_cpu_defaults(training_kwargs: Mapping | None = None) -> dict:
    """`TrainingArguments` settings that make a multi-process launch on a machine without accelerator train
    data-parallel (DDP over gloo): `{"use_cpu": True, "ddp_backend": "gloo"}`, less what `training_kwargs` already
    sets to those values; `{}` for a single process or when an accelerator is present.

    Args:
        training_kwargs: the `TrainingArguments` keyword arguments about to be used (an explicit `ddp_backend` is
            kept); an FSDP or DeepSpeed request raises, as accelerate shards only on accelerators.

    Raises:
        RuntimeError: a distributed CPU launch that asks for FSDP or DeepSpeed, or sets `use_cpu` to False.
    """
    training_kwargs = dict(training_kwargs or {})
    world = launched_world_size()
    if world <= 1 or has_accelerator():
        return {}
    sharding = _wants_sharding(training_kwargs)
    if sharding:
        raise RuntimeError(
            f"{sharding} was requested in a {world}-process launch on a machine without GPUs: accelerate enables "
            f"{sharding} only on accelerators, and on CPU the Trainer would silently run plain DDP instead. Drop "
            f"the {sharding} settings to train data-parallel over gloo, or launch on GPUs."
        )
    if training_kwargs.get("use_cpu") is False:
        raise RuntimeError(
            f"launched as {world} processes on a machine without GPUs but use_cpu=False: TrainingArguments would "
            "give every process world_size 1, so each would train its own copy into the same output_dir. Leave "
            "use_cpu unset (or true) to train data-parallel over gloo."
        )
    defaults = {"use_cpu": True}
    if not training_kwargs.get("ddp_backend"):
        defaults["ddp_backend"] = "gloo"
    return defaults


def check_distributed_training_arguments(args) -> None:
    """Stop before training when built `TrainingArguments` would not train the launched processes together.

    Args:
        args: `transformers.TrainingArguments` (reading `args.world_size` sets up the devices, which joins the
            launched processes into one group when the arguments allow it).

    Raises:
        RuntimeError: the launch started `N > 1` processes but `args.world_size` is not `N` (each process would
            train its own copy and all would write `args.output_dir`), or FSDP / DeepSpeed is asked for on CPU.
    """
    world = launched_world_size()
    if world <= 1:
        return
    on_cpu = args.use_cpu or args.device.type == "cpu"
    sharding = _wants_sharding({"fsdp": args.fsdp, "deepspeed": args.deepspeed})
    if sharding and on_cpu:
        raise RuntimeError(
            f"{sharding} was requested in a {world}-process launch on CPU: accelerate enables {sharding} only on "
            "accelerators, and the Trainer would silently run plain DDP instead. Drop the setting or use GPUs."
        )
    if args.world_size != world:
        hint = (
            "On a machine without GPUs pass use_cpu=True (DDP over gloo)."
            if on_cpu
            else "Check the launcher's settings (one process per device)."
        )
        raise RuntimeError(
            f"launched as {world} processes (WORLD_SIZE={world}) but TrainingArguments sees world_size "
            f"{args.world_size} (parallel mode {args.parallel_mode.value}): the processes would each train their own "
            f"copy of the model and write the same output_dir {args.output_dir!r}. {hint}"
        )
