# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""HieraMamba Trainer integration: optimizer groups, schedule, EMA, loss_norm, checkpoints / resume / export."""

import copy
import json
import math
import os

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import Trainer

from hieramamba_hf import HieraMambaConfig, HieraMambaForVideoGrounding
from hieramamba_hf.data_hieramamba import HieraMambaGroundingCollator, load_grounding_dataset
from hieramamba_hf.training_hieramamba import (
    EMA_WEIGHTS_NAME,
    TRAINER_STATE_FILE,
    HieraMambaEMA,
    HieraMambaTrainer,
    HieraMambaTrainingArguments,
    get_warmup_constant_schedule,
    hieramamba_parameter_groups,
)


def tiny_config(**overrides):
    kwargs = dict(
        video_input_dim=8,
        hidden_size=16,
        max_seq_len=32,
        num_amp_blocks=3,
        text_input_dim=6,
        text_hidden_size=16,
        text_num_heads=2,
        text_max_seq_len=8,
        text_pad_length=None,
        hydra_head_dim=8,
        hydra_state_size=4,
        hydra_chunk_size=16,
        local_num_heads=2,
        fusion_num_heads=2,
        num_windowed_blocks=2,
        acc_loss_weight=1.0,
        spc_loss_weight=1.0,
        projector_dim=8,
        fps=2.0,
        clip_size=2,
        clip_stride=2,
        downsample_rate=1,
        initial_loss_norm=5.0,
    )
    kwargs.update(overrides)
    return HieraMambaConfig(**kwargs)


# ------------------------------------------------------------------------------------------------ optimizer groups
def test_parameter_groups_follow_the_official_decay_rule():
    model = HieraMambaForVideoGrounding(tiny_config(text_encoder="transformer", text_num_layers=1))
    decay_group, no_decay_group = hieramamba_parameter_groups(model, 0.05)
    decay, no_decay = set(decay_group["names"]), set(no_decay_group["names"])
    assert decay_group["weight_decay"] == 0.05 and no_decay_group["weight_decay"] == 0.0
    assert decay.isdisjoint(no_decay)
    assert decay | no_decay == {n for n, p in model.named_parameters() if p.requires_grad}
    hydra = "model.backbone.blocks.0.global_mixer."
    # Linear / Conv1d weights (masked convs too) and Hydra A_log, D decay
    for name in (
        hydra + "in_proj.weight",
        hydra + "conv1d.weight",
        hydra + "fc_D.weight",
        hydra + "out_proj.weight",
        hydra + "A_log",
        hydra + "D",
        "model.backbone.embed_convs.0.weight",
        "cls_head.output.weight",
        "model.backbone.blocks.0.gate1.weight",
        "model.fusion.layers.0.cross_attn.query.weight",
    ):
        assert name in decay, name
    # biases (dt_bias too), norms, LayerScales, level scales, background token do not
    for name in (
        hydra + "dt_bias",
        hydra + "conv1d.bias",
        hydra + "norm.weight",
        "model.backbone.blocks.0.gate1.bias",
        "model.backbone.blocks.0.global_norm.weight",
        "model.backbone.blocks.0.global_scale.scale",
        "model.backbone.embed_norms.0.weight",
        "reg_head.level_scales",
        "model.text_encoder.background_token",
        "model.fusion.final_norm.weight",
    ):
        assert name in no_decay, name
    # every remaining no-decay parameter is a bias, a norm / scale weight or a token: nothing with a matrix shape
    assert all(p.ndim <= 1 for n, p in model.named_parameters() if n in no_decay)


def test_warmup_constant_schedule_matches_the_official_formula():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=1.0)
    scheduler = get_warmup_constant_schedule(optimizer, num_warmup_steps=5)
    lrs = []
    for _ in range(8):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    # official LinearWarmupMultiStepLR: k / (W - 1) for k < W, then base (first step at lr 0)
    assert lrs == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0])
    optimizer = torch.optim.AdamW([param], lr=1.0)
    get_warmup_constant_schedule(optimizer, num_warmup_steps=0)
    assert optimizer.param_groups[0]["lr"] == 1.0


# ------------------------------------------------------------------------------------------------ EMA
def test_ema_update_swap_and_state_dict():
    model = torch.nn.Linear(3, 2)
    ema = HieraMambaEMA(model, beta=0.9)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model)
    for n, p in model.named_parameters():
        torch.testing.assert_close(ema.shadow[n], 0.9 * start[n] + 0.1 * p.detach())
    trained = {n: p.detach().clone() for n, p in model.named_parameters()}
    averaged = ema.shadow["weight"].clone()
    with ema.average_parameters(model):
        torch.testing.assert_close(model.weight.detach(), averaged)
        torch.testing.assert_close(ema.shadow["weight"], trained["weight"])  # swapped out
    torch.testing.assert_close(model.weight, trained["weight"])  # restored
    other = HieraMambaEMA(model, beta=0.9)
    other.load_state_dict(ema.state_dict())
    torch.testing.assert_close(other.shadow["bias"], ema.shadow["bias"])
    with pytest.raises(ValueError, match="ema_beta"):
        HieraMambaEMA(model, beta=1.0)
    with pytest.raises(ValueError, match="does not match"):
        other.load_state_dict({"weight": torch.zeros(2, 3)})


# ------------------------------------------------------------------------------------------------ trainer
def write_synthetic_layout(root, num_videos=3, num_clips=24, video_dim=8, text_dim=6, seed=0):
    """SnAG layout at the synthetic clock (2 fps, clip 2 / stride 2): 'train' and 'test' splits."""
    rng = np.random.default_rng(seed)
    (root / "video").mkdir()
    (root / "text").mkdir()
    anno = {"train": {}, "test": {}}
    for i in range(num_videos):
        vid = f"v{i}"
        np.save(root / "video" / f"{vid}.npy", rng.normal(size=(num_clips, video_dim)).astype(np.float32))
        annotations = []
        for j, (s, e) in enumerate(((2.0, 8.0), (10.0, 16.0))):
            sid = f"{vid}_q{j}"
            np.save(root / "text" / f"{sid}.npy", rng.normal(size=(4, text_dim)).astype(np.float32))
            annotations.append({"segment": [s + i, e + i], "sentence": f"q{j}", "sentence_id": sid})
        duration = (num_clips * 2) / 2.0
        anno["train" if i < num_videos - 1 else "test"][vid] = {
            "fps": 2.0,
            "duration": duration,
            "num_clips": num_clips,
            "annotations": annotations,
        }
    (root / "anno.json").write_text(json.dumps(anno))
    return str(root / "anno.json"), str(root / "video"), str(root / "text")


def make_trainer(tmp_path, layout, config=None, **args):
    anno, vid_dir, text_dir = layout
    config = config or tiny_config()
    common = dict(clip_size=2, clip_stride=2, downsample_rate=1)
    train = load_grounding_dataset(
        anno,
        "train",
        vid_dir,
        text_dir,
        is_training=True,
        max_vid_len=32,
        max_text_len=8,
        max_num_text=2,
        crop_ratio=None,
        **common,
    )
    evaluation = load_grounding_dataset(anno, "test", vid_dir, text_dir, **common)
    torch.manual_seed(0)
    defaults = dict(
        output_dir=str(tmp_path / "out"),
        num_train_epochs=2,
        per_device_train_batch_size=1,
        learning_rate=1e-3,
        warmup_epochs=1,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=0,
        use_cpu=True,
        dataloader_pin_memory=False,
    )
    training_args = HieraMambaTrainingArguments(**{**defaults, **args})
    trainer = HieraMambaTrainer(
        model=HieraMambaForVideoGrounding(config),
        args=training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        data_collator=HieraMambaGroundingCollator(max_seq_len=32),
        eval_data_collator=HieraMambaGroundingCollator(pad_to_multiple_of=config.padding_unit),
    )
    return trainer


def test_trainer_recipe_loss_norm_ema_and_eval(tmp_path):
    layout = write_synthetic_layout(tmp_path)
    trainer = make_trainer(tmp_path, layout, gradient_accumulation_steps=2)
    # record every micro-batch's positive count and loss, and the model weights after each optimizer step
    seen, steps, weights = [], [], []
    compute_loss = trainer.compute_loss

    def recording(model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, outputs = compute_loss(model, inputs, return_outputs=True)
        if model.training:
            seen.append((trainer.loss_norm, int(outputs.loss_dict["num_pos"]), outputs.loss.item(), loss.item()))
        return (loss, outputs) if return_outputs else loss

    trainer.compute_loss = recording
    after = trainer._after_optimizer_step

    def after_step():
        steps.append(len(seen))
        after()
        weights.append({n: p.detach().clone() for n, p in trainer.model.named_parameters()})

    trainer._after_optimizer_step = after_step
    initial = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()

    # 2 training rows, GA 2 -> one optimizer step per epoch, two epochs; warmup 1 epoch = 1 step (no warmup)
    assert trainer.state.global_step == 2 and steps == [2, 4]
    # FLOP count: the stock Trainer formula, with the parameters counted once
    batch = {"video_features": torch.zeros(1, 10, 8)}
    assert trainer.floating_point_ops(batch) == Trainer.floating_point_ops(trainer, batch) > 0
    assert trainer.state.total_flos > 0
    # the loss of a micro-batch is divided by loss_norm as it was before the step; micro-batches are summed
    assert all(loss == pytest.approx(trained) for _, _, loss, trained in seen)  # one process: x1
    norm = 5.0
    for step in range(2):
        micro = seen[2 * step : 2 * step + 2]
        assert all(m[0] == pytest.approx(norm) for m in micro)
        norm = 0.9 * norm + 0.1 * max(sum(m[1] for m in micro), 1)
    assert trainer.loss_norm == pytest.approx(norm)
    # EMA: beta 0.999, every optimizer step, from the initial weights
    name = "model.backbone.blocks.0.global_mixer.in_proj.weight"
    expected = initial[name]
    for w in weights:
        expected = 0.999 * expected + 0.001 * w[name]
    torch.testing.assert_close(trainer.ema.shadow[name], expected)
    # optimizer: two AdamW groups with the official decay split
    assert [g["weight_decay"] for g in trainer.optimizer.param_groups] == [0.05, 0.0]

    metrics = trainer.evaluate()
    assert "eval_loss" in metrics and math.isfinite(metrics["eval_loss"])
    assert set(metrics) >= {"eval_R@1,IoU=0.3", "eval_R@5,IoU=0.5", "eval_average"}
    # evaluation ran on the EMA weights and put the trained weights back
    torch.testing.assert_close(trainer.model.get_parameter(name), weights[-1][name])


def test_trainer_optimizer_is_fused_adamw_with_the_reference_steps(tmp_path):
    """On CPU the trainer uses the fused AdamW kernel; its steps equal the per-tensor reference AdamW's."""
    trainer = make_trainer(tmp_path, write_synthetic_layout(tmp_path))
    optimizer = trainer.create_optimizer()
    assert all(group["fused"] and not group["foreach"] for group in optimizer.param_groups)
    reference_model = copy.deepcopy(trainer.model)
    twin = dict(zip(trainer.model.parameters(), reference_model.parameters()))  # parameter -> its reference copy
    reference = torch.optim.AdamW(
        [
            {
                **{k: v for k, v in g.items() if k not in ("params", "fused", "foreach")},
                "params": [twin[p] for p in g["params"]],
            }
            for g in optimizer.param_groups
        ],
        foreach=False,
    )
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        for p, q in twin.items():
            p.grad = torch.randn(p.shape, generator=generator)
            q.grad = p.grad.clone()
        optimizer.step()
        reference.step()
    for (name, p), q in zip(trainer.model.named_parameters(), reference_model.parameters()):
        torch.testing.assert_close(p, q, msg=name)


def test_warmup_epochs_set_the_scheduler(tmp_path):
    layout = write_synthetic_layout(tmp_path, num_videos=5)
    trainer = make_trainer(tmp_path, layout, max_steps=4)
    lrs = []
    trainer.add_callback(
        type(
            "LR",
            (__import__("transformers").TrainerCallback,),
            {
                "on_optimizer_step": lambda self, args, state, control, optimizer=None, **kw: lrs.append(
                    optimizer.param_groups[0]["lr"]
                )
            },
        )()
    )
    trainer.train()
    # 4 training rows, batch 1: 4 steps per epoch, warmup 1 epoch = 4 steps -> lr k / 3 * 1e-3
    assert trainer.num_warmup_steps(100) == 4
    assert lrs == pytest.approx([0.0, 1e-3 / 3, 2e-3 / 3, 1e-3])


def test_checkpoint_resume_and_ema_export(tmp_path):
    layout = write_synthetic_layout(tmp_path)
    trainer = make_trainer(tmp_path, layout, save_strategy="steps", save_steps=2, max_steps=2)
    trainer.train()
    checkpoint = tmp_path / "out" / "checkpoint-2"
    assert (checkpoint / "model.safetensors").is_file() and (checkpoint / EMA_WEIGHTS_NAME).is_file()
    state = json.loads((checkpoint / TRAINER_STATE_FILE).read_text())
    assert state["loss_norm"] == pytest.approx(trainer.loss_norm) and state["ema_num_updates"] == 2
    ema_saved = load_file(checkpoint / EMA_WEIGHTS_NAME)
    raw_saved = load_file(checkpoint / "model.safetensors")
    name = "cls_head.output.weight"
    torch.testing.assert_close(ema_saved[name], trainer.ema.shadow[name])
    torch.testing.assert_close(raw_saved[name], trainer.model.get_parameter(name).detach())
    assert not torch.equal(ema_saved[name], raw_saved[name])

    # resume: EMA and loss_norm come back from the checkpoint, then training goes on
    resumed = make_trainer(tmp_path, layout, save_strategy="no", max_steps=3)
    loaded = {}
    load = resumed._load_from_checkpoint

    def spy(path, model=None):
        load(path, model)
        loaded["loss_norm"] = resumed.loss_norm
        loaded["ema"] = resumed.ema.shadow[name].clone()

    resumed._load_from_checkpoint = spy
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert loaded["loss_norm"] == pytest.approx(state["loss_norm"])
    torch.testing.assert_close(loaded["ema"], ema_saved[name])
    assert resumed.state.global_step == 3 and resumed.ema.num_updates == 3

    # export: save_model writes the EMA weights with save_pretrained
    export = tmp_path / "export"
    resumed.save_model(str(export))
    exported = HieraMambaForVideoGrounding.from_pretrained(str(export), dtype=torch.float32)
    torch.testing.assert_close(exported.get_parameter(name), resumed.ema.shadow[name])
    assert not (export / EMA_WEIGHTS_NAME).exists()
    # a checkpoint without the EMA file cannot be resumed silently
    os.remove(checkpoint / EMA_WEIGHTS_NAME)
    with pytest.raises(FileNotFoundError, match=EMA_WEIGHTS_NAME):
        make_trainer(tmp_path, layout, max_steps=3).train(resume_from_checkpoint=str(checkpoint))


def test_trainer_rejects_bad_arguments_and_names_bad_videos(tmp_path):
    layout = write_synthetic_layout(tmp_path)
    with pytest.raises(ValueError, match="remove_unused_columns"):
        make_trainer(tmp_path, layout, remove_unused_columns=True)
    with pytest.raises(ValueError, match="label_names"):
        make_trainer(tmp_path, layout, label_names=["labels"])
    # NaN features in a video file: the error names the video
    anno, vid_dir, _ = layout
    np.save(os.path.join(vid_dir, "v0.npy"), np.full((24, 8), np.nan, dtype=np.float32))
    trainer = make_trainer(tmp_path, layout, max_steps=1)
    with pytest.raises(ValueError, match=r"v0.*NaN"):
        trainer.train()
