# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""MambaMia training stages (paper), freezing, PEFT LoRA and a closed-answer-set evaluation.

Stages (paper, "Training recipe"; one switch, `apply_stage(model, stage)`):
    "align"    : train the compressor (Stage-1 blocks with GPA + TAA), the projector and the frame separator; lr 1e-4.
    "instruct" : additionally train the LLM (decoder, embeddings, LM head); lr 2e-5.
The vision tower is frozen in both. Frames are sampled uniformly in training (the collator); delta sampling is
inference only (the model applies Algorithm 1 only in eval mode).

LoRA (`apply_lora`): adapters on the LLM attention projections and on the compressor's Mamba2 `in_proj` (fused
Mamba kernels read `out_proj` / `conv1d` weights directly, so LoRA there would be ignored); the projector is fully
trained and saved via `modules_to_save`.
"""

from dataclasses import dataclass

import torch

from ssm_layers.distributed import distributed_cpu_defaults

from .modeling_mambamia import select_video_tokens


@dataclass(frozen=True)
class MambaMiaStage:
    name: str
    trainable: tuple[str, ...]  # top-level parts of MambaMiaForConditionalGeneration that receive gradients
    learning_rate: float


COMPRESSOR_PARTS = ("model.compressor", "model.multi_modal_projector", "model.frame_separator")
LLM_PARTS = ("model.language_model", "lm_head")
STAGES = {
    "align": MambaMiaStage("align", COMPRESSOR_PARTS, 1e-4),  # paper Stage 1: compressor (+ projector) only
    "instruct": MambaMiaStage("instruct", COMPRESSOR_PARTS + LLM_PARTS, 2e-5),  # paper Stage 2: + the LLM
}
FROZEN_ALWAYS = ("model.vision_tower",)

# LoRA targets (PEFT full-match regex): LLM attention projections and the compressor's Mamba2 in_proj.
LORA_TARGET_MODULES = (
    r".*language_model\.layers\.\d+\.self_attn\.(q_proj|k_proj|v_proj|o_proj)"
    r"|.*compressor\..*mixer\.in_proj"
)
LORA_MODULES_TO_SAVE = ["multi_modal_projector"]


def get_stage(stage: str) -> MambaMiaStage:
    if stage not in STAGES:
        raise ValueError(f"Unknown MambaMia training stage {stage!r}; use one of {sorted(STAGES)}.")
    return STAGES[stage]


def _part_of(name: str, parts) -> bool:
    return any(name == part or name.startswith(part + ".") for part in parts)


def apply_stage(model, stage: str) -> dict[str, int]:
    """Set `requires_grad` for a training stage on a `MambaMiaForConditionalGeneration` (not a PEFT model: use
    `apply_lora`, which trains only the adapters and the projector). Returns trainable / frozen parameter counts."""
    spec = get_stage(stage)
    if hasattr(model, "peft_config"):
        raise ValueError("apply_stage expects the base model; a PEFT model trains its adapters (see apply_lora).")
    known = COMPRESSOR_PARTS + LLM_PARTS + FROZEN_ALWAYS
    unknown = [n for n, _ in model.named_parameters() if not _part_of(n, known)]
    if unknown:
        raise ValueError(f"Parameters outside the known MambaMia parts (stage assignment unclear): {unknown[:5]}")
    counts = {"trainable": 0, "frozen": 0}
    for name, param in model.named_parameters():
        train = _part_of(name, spec.trainable) and not _part_of(name, FROZEN_ALWAYS)
        param.requires_grad_(train)
        counts["trainable" if train else "frozen"] += param.numel()
    return counts


def trainable_parameter_names(model) -> list[str]:
    return [name for name, param in model.named_parameters() if param.requires_grad]


def stage_training_arguments(stage: str, output_dir: str, **kwargs):
    """`TrainingArguments` with the stage's learning rate (paper) unless given, the paper's seed 2025, what the
    video batches need (`remove_unused_columns=False`, `label_names=["labels"]`), and, in a multi-process launch on
    a machine without GPUs, DDP over gloo (`ssm_layers.distributed.distributed_cpu_defaults`)."""
    from transformers import TrainingArguments

    spec = get_stage(stage)
    defaults = dict(
        learning_rate=spec.learning_rate,
        seed=2025,
        remove_unused_columns=False,
        label_names=["labels"],
        report_to="none",
    )
    defaults.update(kwargs)
    defaults.update(distributed_cpu_defaults(defaults))
    return TrainingArguments(output_dir=output_dir, **defaults)


def enable_activation_checkpointing(model) -> None:
    """Activation checkpointing (`activation_checkpointing_enable`, transformers 5; `gradient_checkpointing_enable`
    before) of every `GradientCheckpointingLayer`: the compressor blocks and the TAA (the long whole-video sequence),
    the LLM decoder layers and the vision-tower layers. Non-reentrant, so frozen inputs and PEFT wrappers work."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    kwargs = {"use_reentrant": False}
    if hasattr(base, "activation_checkpointing_enable"):
        base.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:  # transformers < 5
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    base.config.use_cache = False


def apply_lora(
    model, r: int = 8, lora_alpha: int = 16, lora_dropout: float = 0.05, target_modules=None, modules_to_save=None
):
    """Wrap a `MambaMiaForConditionalGeneration` with PEFT LoRA: adapters on the LLM attention (q/k/v/o_proj) and
    the compressor's Mamba2 `in_proj` (`LORA_TARGET_MODULES`, a full-match regex), the projector trained in full
    and saved (`modules_to_save`). Everything else, vision tower and frame separator included, is frozen, whatever
    the stage. A randomly initialised tiny LLM (CPU checks) also needs `lm_head` in `modules_to_save`: its frozen
    std-0.02 head caps the logits near +-0.6, so no adapter can make a confident prediction."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        target_modules=target_modules if target_modules is not None else LORA_TARGET_MODULES,
        modules_to_save=list(modules_to_save if modules_to_save is not None else LORA_MODULES_TO_SAVE),
    )
    return get_peft_model(model, config)


# ---------------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def score_closed_set(model, collator, records, choices_fn) -> dict:
    """Accuracy on closed-answer-set questions by scoring the candidates: for every assistant turn of every record,
    the prompt (video + earlier turns with their reference answers + the question) is run once in eval mode (delta
    sampling applies as at inference) and the candidate whose first token has the highest next-token logit wins
    (`choices_fn(question) -> list[str]`, candidates with distinct first tokens). Returns accuracy, chance (mean of
    1 / #candidates), counts and per-question accuracy."""

    model.eval()
    device = next(model.parameters()).device
    config = model.config
    tokenizer = collator.tokenizer
    correct, total, chance = 0, 0, 0.0
    per_question: dict[str, list[int]] = {}
    for record in records:
        conversations = list(record["conversations"])
        for i, turn in enumerate(conversations):
            if turn["from"] != "gpt" or i == 0 or conversations[i - 1]["from"] != "human":
                continue
            question = conversations[i - 1]["value"].replace(collator.video_token, "").strip()
            candidates = choices_fn(question)
            first_ids = [tokenizer(c, add_special_tokens=False)["input_ids"][0] for c in candidates]
            if len(set(first_ids)) != len(first_ids):
                raise ValueError(f"Candidates {candidates} do not have distinct first tokens.")
            prefix = conversations[: i + 1]
            batch = collator([{**record, "conversations": prefix}])
            labels = batch.pop("labels")[0]
            trained = (labels != -100).long()
            starts = (torch.diff(trained, prepend=trained.new_zeros(1)) == 1).nonzero().flatten()
            start = int(starts[-1])  # first token of the last (this turn's) answer
            input_ids, attention_mask = batch["input_ids"][:, :start].to(device), batch["attention_mask"][:, :start]
            frame_mask = batch["video_frame_mask"].to(device)
            video = model.get_video_features(batch["pixel_values_videos"].to(device), frame_mask)
            # inference: delta sampling may drop frames (eval mode, long videos); drop their placeholders too
            input_ids, attention_mask = select_video_tokens(
                input_ids,
                attention_mask.to(device),
                video.kept_frames,
                frame_mask.sum(-1),
                config.video_token_id,
                config.tokens_per_frame,
                collator.pad_token_id,
            )
            logits = model(
                input_ids=input_ids, attention_mask=attention_mask, mm_encoder_outputs={"video": video}
            ).logits[0, -1]
            prediction = candidates[int(logits[first_ids].argmax())]
            hit = int(prediction == turn["value"].strip())
            correct += hit
            total += 1
            chance += 1.0 / len(candidates)
            per_question.setdefault(question, []).append(hit)
    if total == 0:
        raise ValueError("No scorable (human question, gpt answer) turns in the records.")
    return {
        "accuracy": correct / total,
        "chance": chance / total,
        "correct": correct,
        "total": total,
        "per_question": {q: sum(h) / len(h) for q, h in per_question.items()},
    }


__all__ = [
    "LORA_MODULES_TO_SAVE",
    "LORA_TARGET_MODULES",
    "STAGES",
    "MambaMiaStage",
    "apply_lora",
    "apply_stage",
    "enable_activation_checkpointing",
    "get_stage",
    "score_closed_set",
    "stage_training_arguments",
    "trainable_parameter_names",
]
