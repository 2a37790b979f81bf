# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""`transformers.Trainer` integration of the official HieraMamba training recipe.

Official recipe (github jbistanbul/hieramamba, `libs/worker.py` `TrainerOriginal` / `TrainerAuxiliary`,
`libs/modeling/optim.py`), reproduced here:

* **AdamW parameter groups** (`hieramamba_parameter_groups`, official `make_optimizer`): weight decay on the
  weights of `nn.Linear` / `nn.Conv1d` (masked convs included) and on Hydra's `A_log` and `D`; no decay on
  biases (Hydra `dt_bias` included), norms, LayerScales, level scales and the background token.
* **Schedule** (`get_warmup_constant_schedule`, official `LinearWarmupMultiStepLR` with `steps: [-1]`):
  the learning rate after `k` optimizer steps is `lr * k / (W - 1)` for `k < W` (so the very first step runs
  at learning rate 0, as official), then `lr`; `W = warmup_epochs * steps_per_epoch`. The official number of
  epochs is `epochs + warmup_epochs`: pass that total as `num_train_epochs`.
* **Gradient clipping** at 1.0 (`max_grad_norm`).
* **Running loss normaliser**: every loss of a step is divided by `loss_norm` (the value before the step), then,
  after the optimizer step, `loss_norm <- 0.9 * loss_norm + 0.1 * max(num_pos, 1)` with `num_pos` the positive
  points of the whole step (all micro-batches of gradient accumulation, summed over all processes). The losses of
  the micro-batches are summed, not averaged (`loss_is_scaled_for_ga = True`), as the official micro-batches.
* **EMA** of the weights (`HieraMambaEMA`), `ema <- beta * ema + (1 - beta) * w` after every optimizer
  step, beta 0.999, parameters only (official `_ema_update`). Evaluation runs with the EMA weights.

Distributed training (`accelerate launch` / `torchrun`, no device-specific code here):

* A launch of several processes whose `TrainingArguments` would not train them together (on CPU without
  `use_cpu=True`, each process would see world size 1 and train its own copy into the same `output_dir`) stops at
  construction with a clear error (`ssm_layers.distributed.check_distributed_training_arguments`); build the
  arguments with `ssm_layers.distributed.distributed_cpu_defaults()` merged in to get DDP over gloo on CPU.
* The official trainer multiplies each process's loss by the world size, so that DDP's gradient *average* becomes
  the gradient of the *sum* of all processes' losses over one shared `loss_norm`; this trainer does the same.
* `num_pos` is summed over processes (`accelerator.reduce`) before the `loss_norm` update, so every process
  keeps the same `loss_norm` (official `all_gather`).
* DDP keeps the parameters identical on every process, so every process updates an identical EMA copy; nothing
  needs synchronising. The main process writes it to checkpoints.

Checkpoints and export:

* `checkpoint-N/` folders hold the Trainer's usual files (`model.safetensors` = the *raw* training weights,
  needed to resume; optimizer, scheduler, RNG, trainer state) plus `ema_model.safetensors` (the EMA weights) and
  `hieramamba_trainer_state.json` (`loss_norm`, EMA settings). `trainer.train(resume_from_checkpoint=...)`
  restores both. `python -m hieramamba_hf.evaluate --model checkpoint-N` evaluates the EMA weights of such a
  folder (official evaluator: `model_ema`).
* `trainer.save_model(dir)` (the export) writes the **EMA weights** with `save_pretrained`, so
  `HieraMambaForVideoGrounding.from_pretrained(dir)` is the model to evaluate or ship.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import dataclass, field

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ssm_layers import Hydra
from ssm_layers.distributed import check_distributed_training_arguments

from .evaluate import EMA_WEIGHTS_NAME, evaluate_grounding
from .loss_hieramamba import update_loss_norm


__all__ = [
    "EMA_WEIGHTS_NAME",
    "TRAINER_STATE_FILE",
    "HieraMambaEMA",
    "HieraMambaTrainer",
    "HieraMambaTrainingArguments",
    "get_warmup_constant_schedule",
    "hieramamba_parameter_groups",
]

TRAINER_STATE_FILE = "hieramamba_trainer_state.json"


# ----------------------------------------------------------------------------------------------------------------
# optimizer and schedule
# ----------------------------------------------------------------------------------------------------------------
def hieramamba_parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups of the official `make_optimizer`: decay on Linear / Conv1d weights and Hydra A_log / D.

    Returns `[{"params": decay, "weight_decay": weight_decay, "names": [...]},
    {"params": no_decay, "weight_decay": 0.0, "names": [...]}]` over the parameters that require grad.
    """
    decay = set()
    for module_name, module in model.named_modules():
        prefix = f"{module_name}." if module_name else ""
        if isinstance(module, (nn.Linear, nn.Conv1d)):
            decay.add(prefix + "weight")
        elif isinstance(module, Hydra):
            decay.update({prefix + "A_log", prefix + "D"})  # official: pn in ['A_log', 'D']
    groups = {True: [], False: []}
    names = {True: [], False: []}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        groups[name in decay].append(param)
        names[name in decay].append(name)
    return [
        {"params": groups[True], "weight_decay": weight_decay, "names": names[True]},
        {"params": groups[False], "weight_decay": 0.0, "names": names[False]},
    ]


def get_warmup_constant_schedule(optimizer, num_warmup_steps: int, last_epoch: int = -1):
    """Official `LinearWarmupMultiStepLR` without milestones: factor `k / (W - 1)` for `k < W` optimizer
    steps done (0 at the first step), then 1; `W <= 1` means no warmup."""

    def factor(step: int) -> float:
        if num_warmup_steps <= 1 or step >= num_warmup_steps:
            return 1.0
        return step / (num_warmup_steps - 1)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor, last_epoch=last_epoch)


# ----------------------------------------------------------------------------------------------------------------
# EMA
# ----------------------------------------------------------------------------------------------------------------
class HieraMambaEMA:
    """Exponential moving average of a model's parameters (official `model_ema`; buffers are not averaged).

    `update(model)` after every optimizer step; `swap(model)` exchanges the model's weights with the EMA
    weights in place (call it twice to restore), `average_parameters(model)` is the context manager doing both.
    """

    def __init__(self, model: nn.Module, beta: float = 0.999):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"ema_beta must be in [0, 1), got {beta}")
        self.beta = float(beta)
        self.num_updates = 0
        self.shadow = {name: p.detach().clone() for name, p in model.named_parameters()}

    def _pairs(self, model):
        params = dict(model.named_parameters())
        if params.keys() != self.shadow.keys():
            missing = sorted(self.shadow.keys() ^ params.keys())[:5]
            raise ValueError(f"EMA and model parameters differ (e.g. {missing})")
        return ((params[name], ema) for name, ema in self.shadow.items())

    @torch.no_grad()
    def update(self, model: nn.Module):
        """ema <- beta * ema + (1 - beta) * w (official `p.lerp(p_ema, beta)`)."""
        params, shadows = zip(*((param.detach().to(ema.dtype), ema) for param, ema in self._pairs(model)))
        torch._foreach_lerp_(list(shadows), list(params), 1.0 - self.beta)
        self.num_updates += 1

    @torch.no_grad()
    def swap(self, model: nn.Module):
        for param, ema in self._pairs(model):
            tmp = param.detach().clone()
            param.copy_(ema)
            ema.copy_(tmp)

    @contextlib.contextmanager
    def average_parameters(self, model: nn.Module):
        self.swap(model)
        try:
            yield model
        finally:
            self.swap(model)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: t.detach().contiguous().cpu() for name, t in self.shadow.items()}

    def load_state_dict(self, state_dict: dict[str, torch.Tensor]):
        if state_dict.keys() != self.shadow.keys():
            diff = sorted(state_dict.keys() ^ self.shadow.keys())[:5]
            raise ValueError(f"EMA state dict does not match the model parameters (e.g. {diff})")
        for name, t in state_dict.items():
            self.shadow[name].copy_(t.to(self.shadow[name].device, self.shadow[name].dtype))


# ----------------------------------------------------------------------------------------------------------------
# arguments
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class HieraMambaTrainingArguments(TrainingArguments):
    """`TrainingArguments` with the official HieraMamba recipe as defaults.

    Extra fields: warmup_epochs (linear warmup length in epochs; total epochs = num_train_epochs, which should be
    official `epochs + warmup_epochs`), ema_beta, loss_norm_momentum, initial_loss_norm (None = the model
    config's), eval_grounding_metrics (evaluate() also decodes the eval set and reports R@k,IoU=theta),
    eval_ranks, eval_iou_thresholds.
    """

    warmup_epochs: float = field(default=0.0, metadata={"help": "Linear warmup length in epochs (official)."})
    ema_beta: float = field(default=0.999, metadata={"help": "EMA decay of the weights; evaluation uses the EMA."})
    loss_norm_momentum: float = field(default=0.9, metadata={"help": "Momentum of the running loss normaliser."})
    initial_loss_norm: float | None = field(default=None, metadata={"help": "None = config.initial_loss_norm."})
    eval_grounding_metrics: bool = field(default=True, metadata={"help": "Report R@k,IoU in evaluate()."})
    eval_ranks: list[int] = field(default_factory=lambda: [1, 5])
    eval_iou_thresholds: list[float] = field(default_factory=lambda: [0.3, 0.5])
    # official recipe defaults for inherited fields
    learning_rate: float = 1e-4
    weight_decay: float = 0.05
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    max_grad_norm: float = 1.0
    remove_unused_columns: bool = False
    label_names: list[str] | None = field(default_factory=lambda: ["segments"])
    prediction_loss_only: bool = True
    per_device_train_batch_size: int = 1
    per_device_eval_batch_size: int = 1


# ----------------------------------------------------------------------------------------------------------------
# trainer
# ----------------------------------------------------------------------------------------------------------------
class _HieraMambaStepCallback(TrainerCallback):
    """After each optimizer step: update loss_norm (num_pos summed over micro-batches and processes), then EMA."""

    def __init__(self, trainer: "HieraMambaTrainer"):
        self.trainer = trainer

    def on_optimizer_step(self, args, state, control, **kwargs):
        self.trainer._after_optimizer_step()


class HieraMambaTrainer(Trainer):
    """`Trainer` for `HieraMambaForVideoGrounding` with the official recipe (see the module docstring).

    Extra arguments: `eval_data_collator` (collator of the evaluation / prediction dataloaders, e.g.
    `HieraMambaGroundingCollator(pad_to_multiple_of=config.padding_unit)`; default `data_collator`).
    Attributes: `loss_norm` (float, the running normaliser), `ema` (`HieraMambaEMA`).
    """

    loss_is_scaled_for_ga = True  # micro-batch losses are summed, each already divided by loss_norm (official)

    def __init__(self, *args, eval_data_collator=None, **kwargs):
        super().__init__(*args, **kwargs)
        if not isinstance(self.args, HieraMambaTrainingArguments):
            raise ValueError("HieraMambaTrainer needs HieraMambaTrainingArguments (warmup_epochs, ema_beta, ...).")
        check_distributed_training_arguments(self.args)  # never silent copies under torchrun / accelerate launch
        if not self.args.label_names or "segments" not in self.args.label_names:
            raise ValueError("label_names must contain 'segments' (the ground truth), or no eval_loss is reported.")
        if self.args.remove_unused_columns:
            raise ValueError("remove_unused_columns must be False: the collator needs every dataset column.")
        self.model_accepts_loss_kwargs = False  # the loss is normalised by loss_norm, not num_items_in_batch
        self.eval_data_collator = eval_data_collator
        config = self.model.config
        self.loss_norm = float(
            config.initial_loss_norm if self.args.initial_loss_norm is None else self.args.initial_loss_norm
        )
        self.ema = HieraMambaEMA(self.model, self.args.ema_beta)
        self._step_num_pos = None
        self._num_parameters = self.model.num_parameters(exclude_embeddings=True)
        self.add_callback(_HieraMambaStepCallback(self))

    def floating_point_ops(self, inputs):
        """The stock estimate (6 x video feature elements x parameters), with the parameters counted once instead of
        at every step (the recount took 2% of a CPU step of the synthetic-set model)."""
        video = inputs.get("video_features")
        return 0 if video is None else 6 * video.numel() * self._num_parameters

    # ---------------------------------------------------------------------------------------------- optimisation
    def create_optimizer(self, model=None):
        if self.optimizer is None:
            model = model if model is not None else self.model
            groups = hieramamba_parameter_groups(model, self.args.weight_decay)
            groups = [{k: v for k, v in g.items() if k != "names"} for g in groups if g["params"]]
            # the fused kernel (one call for all tensors; on CPU about 4x faster than foreach) where it exists
            fused = all(
                p.device.type in ("cpu", "cuda") and p.is_floating_point() for g in groups for p in g["params"]
            )
            self.optimizer = torch.optim.AdamW(
                groups,
                lr=self.args.learning_rate,
                betas=(self.args.adam_beta1, self.args.adam_beta2),
                eps=self.args.adam_epsilon,
                **({"fused": True} if fused else {"foreach": True}),
            )
        return self.optimizer

    def num_warmup_steps(self, num_training_steps: int) -> int:
        """warmup_epochs * optimizer steps per epoch (or the Trainer's warmup_steps when warmup_epochs is 0)."""
        if self.args.warmup_epochs > 0:
            if self.train_dataset is None:
                raise ValueError("warmup_epochs needs a train_dataset to count the steps per epoch.")
            world = max(self.args.world_size, 1)
            batches = math.ceil(len(self.train_dataset) / (self.args.per_device_train_batch_size * world))
            if self.args.dataloader_drop_last:
                batches = len(self.train_dataset) // (self.args.per_device_train_batch_size * world)
            steps_per_epoch = max(math.ceil(batches / self.args.gradient_accumulation_steps), 1)
            return int(round(self.args.warmup_epochs * steps_per_epoch))
        return self.args.get_warmup_steps(num_training_steps)

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None:
            optimizer = optimizer if optimizer is not None else self.optimizer
            self.lr_scheduler = get_warmup_constant_schedule(optimizer, self.num_warmup_steps(num_training_steps))
            self._created_lr_scheduler = True
        return self.lr_scheduler

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        metadata = inputs.get("metadata")
        inputs = {k: v for k, v in inputs.items() if k != "metadata"}
        try:
            outputs = model(**inputs, loss_norm=self.loss_norm)
        except ValueError as error:  # name the videos (and thus the feature files) of the failing batch
            if not metadata:
                raise
            ids = [m.get("video_id") for m in metadata]
            raise ValueError(f"HieraMamba forward failed on video(s) {ids}: {error}") from error
        if outputs.loss is None:
            raise ValueError("the batch has no 'segments' (ground truth): cannot compute the training loss.")
        loss = outputs.loss
        if model.training:
            num_pos = outputs.loss_dict["num_pos"].detach().float()
            self._step_num_pos = num_pos if self._step_num_pos is None else self._step_num_pos + num_pos
            # official: loss * world_size, so DDP's gradient mean is the gradient of the sum over processes
            loss = loss * self.accelerator.num_processes
        return (loss, outputs) if return_outputs else loss

    def _after_optimizer_step(self):
        num_pos = self._step_num_pos
        if num_pos is None:
            num_pos = torch.zeros((), device=self.args.device)
        num_pos = self.accelerator.reduce(num_pos.reshape(1), reduction="sum")  # all processes, as official
        self.loss_norm = update_loss_norm(self.loss_norm, num_pos, self.args.loss_norm_momentum)
        self._step_num_pos = None
        self.ema.update(self.accelerator.unwrap_model(self.model))

    # ---------------------------------------------------------------------------------------------- evaluation
    def _get_dataloader(
        self, dataset, description, batch_size, sampler_fn=None, is_training=False, dataloader_key=None
    ):
        if is_training or self.eval_data_collator is None:
            return super()._get_dataloader(dataset, description, batch_size, sampler_fn, is_training, dataloader_key)
        train_collator, self.data_collator = self.data_collator, self.eval_data_collator
        try:
            return super()._get_dataloader(dataset, description, batch_size, sampler_fn, is_training, dataloader_key)
        finally:
            self.data_collator = train_collator

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"):
        """eval_loss (and R@k,IoU with `eval_grounding_metrics`) computed with the EMA weights, which are swapped
        into the model for the evaluation and swapped out again. The grounding metrics decode the whole eval set
        with `evaluate.evaluate_grounding` (one video per forward, as the official evaluator); under DDP every
        process does it (same numbers on every process)."""
        model = self.accelerator.unwrap_model(self.model)
        with self.ema.average_parameters(model):
            metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
            if self.args.eval_grounding_metrics:
                dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
                if isinstance(dataset, dict):
                    raise ValueError("eval_grounding_metrics supports a single eval dataset")
                grounding, _ = evaluate_grounding(
                    model,
                    dataset,
                    ranks=self.args.eval_ranks,
                    iou_thresholds=self.args.eval_iou_thresholds,
                    batch_size=self.args.per_device_eval_batch_size,
                    progress=False,
                )
                grounding = {f"{metric_key_prefix}_{k}": v for k, v in grounding.items()}
                self.log(grounding)
                metrics.update(grounding)
        return metrics

    # ---------------------------------------------------------------------------------------------- checkpoints
    def save_model(self, output_dir: str | None = None, _internal_call: bool = False):
        """Export (public call): the EMA weights with save_pretrained. Checkpoints (internal call): raw weights,
        the EMA weights go to `ema_model.safetensors` next to them (see `_save_checkpoint`)."""
        if _internal_call:
            return super().save_model(output_dir, _internal_call)
        with self.ema.average_parameters(self.accelerator.unwrap_model(self.model)):
            return super().save_model(output_dir, _internal_call)

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        if not self.args.should_save:
            return
        checkpoint = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        output_dir = os.path.join(self._get_output_dir(trial=trial), checkpoint)
        save_extra_state(output_dir, self.ema, self.loss_norm)

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        self.loss_norm = load_extra_state(resume_from_checkpoint, self.ema)


def save_extra_state(output_dir: str, ema: HieraMambaEMA, loss_norm: float):
    """Write `ema_model.safetensors` and `hieramamba_trainer_state.json` into a checkpoint folder."""
    os.makedirs(output_dir, exist_ok=True)
    save_file(ema.state_dict(), os.path.join(output_dir, EMA_WEIGHTS_NAME), metadata={"format": "pt"})
    with open(os.path.join(output_dir, TRAINER_STATE_FILE), "w") as f:
        json.dump({"loss_norm": loss_norm, "ema_beta": ema.beta, "ema_num_updates": ema.num_updates}, f, indent=2)


def load_extra_state(checkpoint_dir: str, ema: HieraMambaEMA) -> float:
    """Restore the EMA weights of a checkpoint folder into `ema`; return its `loss_norm`."""
    ema_path = os.path.join(checkpoint_dir, EMA_WEIGHTS_NAME)
    state_path = os.path.join(checkpoint_dir, TRAINER_STATE_FILE)
    for path in (ema_path, state_path):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"cannot resume HieraMamba training: {path} is missing from the checkpoint")
    ema.load_state_dict(load_file(ema_path))
    with open(state_path) as f:
        state = json.load(f)
    ema.num_updates = int(state.get("ema_num_updates", 0))
    return float(state["loss_norm"])
