# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""MambaMia training: stages (exact freezing after a Trainer step), resume from a checkpoint with identical losses,
PEFT LoRA targets + save / reload / merge_and_unload round trip, activation checkpointing, bf16, closed-set scoring."""

import importlib.util
import json
import math
import os

import pytest
import torch
from conftest import load_example
from transformers import Trainer

from mambamia_hf import MambaMiaForConditionalGeneration
from mambamia_hf.data_mambamia import MambaMiaDataCollator, load_video_records
from mambamia_hf.training_mambamia import (
    apply_lora,
    apply_stage,
    enable_activation_checkpointing,
    score_closed_set,
    stage_training_arguments,
    trainable_parameter_names,
)


load_example("synthetic_video_qa/synthetic_qa")  # its folder first on sys.path
from synthetic_qa import (  # noqa: E402
    answer_choices,
    generate_synthetic_video_qa,
    synthetic_qa_config,
    synthetic_qa_processor,
)


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("qa"))
    generate_synthetic_video_qa(root, num_train=4, num_test=2, seed=5)
    return root


@pytest.fixture(scope="module")
def data(synthetic_root):
    config = synthetic_qa_config()
    processor = synthetic_qa_processor(config)
    collator = MambaMiaDataCollator(processor, fps=2.0, max_frames=4, cache_videos=True)
    train = load_video_records(os.path.join(synthetic_root, "train.jsonl"))
    return config, collator, train, load_video_records(os.path.join(synthetic_root, "test.json"))


def new_model(config, seed=0):
    torch.manual_seed(seed)
    return MambaMiaForConditionalGeneration(config)


def snapshot(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def changed(before, model, prefix):
    after = dict(model.named_parameters())
    names = [n for n in before if n.startswith(prefix)]
    assert names, prefix
    return {n: not torch.equal(before[n], after[n].detach()) for n in names}


def trainer_for(model, data, output_dir, stage="align", **kwargs):
    config, collator, train, _ = data
    defaults = dict(
        per_device_train_batch_size=2,
        max_steps=1,
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    defaults.update(kwargs)
    args = stage_training_arguments(stage, str(output_dir), **defaults)
    return Trainer(model=model, args=args, train_dataset=train, data_collator=collator)


# ---------------------------------------------------------------------------------------------- stages
def test_stage_parameter_groups(data):
    config = data[0]
    model = new_model(config)
    apply_stage(model, "align")
    names = trainable_parameter_names(model)
    assert names and all(n.split(".")[1] in ("compressor", "multi_modal_projector", "frame_separator") for n in names)
    assert any(".temporal_aggregator." in n for n in names) and any(".gpa." in n for n in names)
    assert len(names) == sum(
        1
        for n, _ in model.named_parameters()
        if n.split(".")[1] != "vision_tower" and not n.startswith(("model.language_model", "lm_head"))
    )
    apply_stage(model, "instruct")
    names = set(trainable_parameter_names(model))
    assert {"lm_head.weight", "model.language_model.embed_tokens.weight", "model.frame_separator"} <= names
    assert not any(n.startswith("model.vision_tower") for n in names)  # vision tower always frozen
    with pytest.raises(ValueError, match="Unknown MambaMia training stage 'pretrain'"):
        apply_stage(model, "pretrain")
    assert stage_training_arguments("align", "/tmp/x", use_cpu=True).learning_rate == 1e-4
    assert stage_training_arguments("instruct", "/tmp/x", use_cpu=True).learning_rate == 2e-5


def test_align_step_keeps_vision_and_llm_bit_identical(data, tmp_path):
    model = new_model(data[0])
    apply_stage(model, "align")
    before = snapshot(model)
    trainer_for(model, data, tmp_path, "align", learning_rate=1e-2).train()
    assert not any(changed(before, model, "model.vision_tower").values())
    assert not any(changed(before, model, "model.language_model").values())
    assert not any(changed(before, model, "lm_head").values())
    assert all(changed(before, model, "model.multi_modal_projector").values())
    assert changed(before, model, "model.frame_separator")["model.frame_separator"]
    compressor = changed(before, model, "model.compressor")
    assert sum(compressor.values()) > 0.8 * len(compressor)


def test_instruct_step_trains_llm_keeps_vision_bit_identical(data, tmp_path):
    model = new_model(data[0])
    apply_stage(model, "instruct")
    before = snapshot(model)
    trainer_for(model, data, tmp_path, "instruct", learning_rate=1e-2).train()
    assert not any(changed(before, model, "model.vision_tower").values())
    assert all(changed(before, model, "model.language_model.layers.0.self_attn").values())
    assert changed(before, model, "lm_head")["lm_head.weight"]


# ---------------------------------------------------------------------------------------------- resume
def test_resume_from_checkpoint_gives_identical_losses(data, tmp_path):
    config = data[0]
    kwargs = dict(max_steps=4, save_strategy="steps", save_steps=2, learning_rate=5e-3, seed=7)
    full = new_model(config)
    apply_stage(full, "instruct")
    trainer = trainer_for(full, data, tmp_path / "full", "instruct", **kwargs)
    trainer.train()
    losses = {h["step"]: h["loss"] for h in trainer.state.log_history if "loss" in h}
    assert sorted(losses) == [1, 2, 3, 4] and len(set(losses.values())) == 4

    resumed = new_model(config, seed=123)  # different init: everything must come from the checkpoint
    apply_stage(resumed, "instruct")
    trainer = trainer_for(resumed, data, tmp_path / "resumed", "instruct", **kwargs)
    trainer.train(resume_from_checkpoint=str(tmp_path / "full" / "checkpoint-2"))
    # the resumed history starts with the checkpoint's steps 1-2; steps 3-4 are recomputed after the resume
    resumed_losses = {h["step"]: h["loss"] for h in trainer.state.log_history if "loss" in h}
    assert trainer.state.global_step == 4
    assert resumed_losses[3] == losses[3] and resumed_losses[4] == losses[4]  # bit-identical losses
    for (name, a), b in zip(full.named_parameters(), resumed.parameters()):
        assert torch.equal(a, b), name


# ---------------------------------------------------------------------------------------------- PEFT
def test_lora_targets_attention_and_in_proj_and_round_trips(data, tmp_path):
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer

    config, collator, train, _ = data
    batch = collator([train[0], train[1]])
    batch.pop("labels")
    model = apply_lora(new_model(config), r=4)
    targeted = {n.removeprefix("base_model.model.") for n, m in model.named_modules() if isinstance(m, LoraLayer)}
    expected = {
        f"model.language_model.layers.{i}.self_attn.{p}"
        for i in range(2)
        for p in ("q_proj", "k_proj", "v_proj", "o_proj")
    }
    expected |= {f"model.compressor.layers.{i}.mixer.in_proj" for i in range(2)}
    expected |= {"model.compressor.temporal_aggregator.mixer.in_proj"}
    assert targeted == expected
    trainable = trainable_parameter_names(model)
    assert all("lora_" in n or "modules_to_save" in n for n in trainable)
    assert any("multi_modal_projector.modules_to_save" in n for n in trainable)
    with torch.no_grad():  # make the adapters non-trivial (lora_B starts at zero)
        for name, p in model.named_parameters():
            if "lora_B" in name or "modules_to_save" in name:
                p.add_(0.1 * torch.randn_like(p))
    model.eval()
    with torch.no_grad():
        reference = model(**batch).logits
        base_logits = new_model(config).eval()(**batch).logits
    assert not torch.allclose(reference, base_logits, atol=1e-3)
    model.save_pretrained(str(tmp_path / "adapter"))

    reloaded = PeftModel.from_pretrained(new_model(config), str(tmp_path / "adapter")).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, reference, rtol=0, atol=0)
    merged = reloaded.merge_and_unload()
    assert type(merged) is MambaMiaForConditionalGeneration
    assert not any("lora" in n or "modules_to_save" in n for n in merged.state_dict())
    merged.save_pretrained(str(tmp_path / "merged"))
    loaded = MambaMiaForConditionalGeneration.from_pretrained(str(tmp_path / "merged"), dtype=torch.float32).eval()
    with torch.no_grad():
        torch.testing.assert_close(merged(**batch).logits, reference, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(loaded(**batch).logits, reference, rtol=1e-5, atol=1e-5)


def test_lora_trainer_step_changes_only_adapters_and_projector(data, tmp_path):
    model = apply_lora(new_model(data[0]), r=4)
    before = snapshot(model)
    trainer_for(model, data, tmp_path, "instruct", learning_rate=1e-2).train()
    after = dict(model.named_parameters())
    moved = {n for n in before if not torch.equal(before[n], after[n].detach())}
    assert moved and all("lora_" in n or "modules_to_save" in n for n in moved)
    assert any("language_model" in n and "lora_B" in n for n in moved)
    assert any("compressor" in n and "in_proj.lora_B" in n for n in moved)


# ---------------------------------------------------------------------------------------------- memory / precision
def test_activation_checkpointing_gives_the_same_gradients(data):
    config, collator, train, _ = data
    batch = collator([train[0], train[1]])
    config = synthetic_qa_config(gpa_dropout=0.0)
    grads = []
    for checkpointing in (False, True):
        model = new_model(config).train()
        apply_stage(model, "instruct")
        if checkpointing:
            enable_activation_checkpointing(model)
            assert model.model.language_model.layers[0].gradient_checkpointing
            assert all(block.gradient_checkpointing for block in model.model.compressor.layers)
            assert model.model.compressor.temporal_aggregator.gradient_checkpointing
            assert model.is_activation_checkpointing
        loss = model(**batch).loss
        loss.backward()
        grads.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    assert grads[0][1].keys() == grads[1][1].keys()
    for name in grads[0][1]:
        torch.testing.assert_close(grads[0][1][name], grads[1][1][name], rtol=1e-5, atol=1e-6)


def test_bf16_mixed_precision_trainer_step(data, tmp_path):
    model = new_model(data[0])
    apply_stage(model, "instruct")
    trainer = trainer_for(model, data, tmp_path, "instruct", bf16=True, max_steps=2)
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    assert next(model.parameters()).dtype == torch.float32  # master weights stay float32 (autocast)


# ---------------------------------------------------------------------------------------------- evaluation
def test_closed_set_scoring_reads_the_answer_position(data):
    config, collator, _, test = data
    model = new_model(config)
    records = list(test)
    answer_ids = {}
    for record in records:
        for turn in record["conversations"][1::2]:
            answer_ids.setdefault(turn["value"], collator.tokenizer.convert_tokens_to_ids(turn["value"]))
    result = score_closed_set(model, collator, records, answer_choices)
    assert result["total"] == 3 * len(records) and result["chance"] == pytest.approx(0.25)

    class Oracle(torch.nn.Module):
        """Puts all mass on the token that follows the prompt in the full conversation (the reference answer)."""

        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))
            self.config, self.get_video_features = model.config, model.get_video_features

        def forward(self, input_ids, **kwargs):
            logits = torch.zeros(*input_ids.shape, config.text_config.vocab_size)
            for record in records:
                full = collator([record])["input_ids"][0]
                n = input_ids.shape[1]
                if n < len(full) and torch.equal(full[:n], input_ids[0]):
                    logits[0, -1, full[n]] = 1.0
            return type("Out", (), {"logits": logits})()

    assert score_closed_set(Oracle(), collator, records, answer_choices)["accuracy"] == 1.0


def test_training_samples_uniformly_scoring_uses_delta_sampling(data):
    _, collator, train, test = data
    config = synthetic_qa_config(delta_sampling_min_frames=1, delta_sampling_threshold=0.5)  # Algorithm 1 active
    model = new_model(config)
    batch = collator([train[0], train[1]])
    model.train()
    out = model(**batch)  # training: every sampled frame goes to the LLM (placeholders match without selection)
    assert out.video_outputs.kept_frames.equal(batch["video_frame_mask"].bool())
    model.eval()
    with torch.no_grad():
        kept = model.get_video_features(batch["pixel_values_videos"], batch["video_frame_mask"]).kept_frames
    assert kept.sum() < batch["video_frame_mask"].sum()  # inference drops frames ...
    result = score_closed_set(model, collator, list(test), answer_choices)  # ... and scoring handles it
    assert result["total"] == 3 * len(test)


# ---------------------------------------------------------------------------------------------- example script
def load_script():
    path = os.path.join(os.path.dirname(__file__), "..", "examples", "train_mambamia.py")
    spec = importlib.util.spec_from_file_location("train_mambamia", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def script_args(synthetic_root, out, *extra):
    return [
        "--synthetic_dir",
        synthetic_root,
        "--max_steps",
        "2",
        "--per_device_train_batch_size",
        "2",
        "--max_frames",
        "4",
        "--use_cpu",
        "--save_strategy",
        "no",
        "--disable_tqdm",
        "True",
        "--report_to",
        "none",
        "--logging_steps",
        "1",
        "--output_dir",
        str(out),
        *extra,
    ]


def test_train_script_align_then_instruct_from_saved_folder(synthetic_root, tmp_path):
    script = load_script()
    metrics = script.main(script_args(synthetic_root, tmp_path / "align", "--stage", "align"))
    assert metrics["stage"] == "align" and len(metrics["log_history"]) == 2
    initial = new_model(synthetic_qa_config())  # the script's tiny model: seed 0
    aligned = MambaMiaForConditionalGeneration.from_pretrained(str(tmp_path / "align"), dtype=torch.float32)
    initial_params = dict(initial.named_parameters())
    trained_parts = ("model.compressor", "model.multi_modal_projector", "model.frame_separator")
    moved = {name: not torch.equal(p, initial_params[name]) for name, p in aligned.named_parameters()}
    assert not any(m for name, m in moved.items() if not name.startswith(trained_parts))  # vision + LLM exact
    assert moved["model.frame_separator"] and moved["model.multi_modal_projector.linear_2.weight"]
    compressor = [m for name, m in moved.items() if name.startswith("model.compressor")]
    assert sum(compressor) > 0.8 * len(compressor)  # (a few tiny-gradient SSM biases move below float32 rounding)
    metrics = script.main(
        script_args(
            synthetic_root,
            tmp_path / "instruct",
            "--stage",
            "instruct",
            "--model_name_or_path",
            str(tmp_path / "align"),
        )
    )
    instructed = MambaMiaForConditionalGeneration.from_pretrained(str(tmp_path / "instruct"), dtype=torch.float32)
    assert not torch.equal(instructed.lm_head.weight, aligned.lm_head.weight)
    for (name, a), b in zip(aligned.model.vision_tower.named_parameters(), instructed.model.vision_tower.parameters()):
        assert torch.equal(a, b), name


def test_train_script_lora_end_to_end(synthetic_root, tmp_path):
    out = tmp_path / "run"
    metrics = load_script().main(script_args(synthetic_root, out, "--stage", "instruct", "--lora"))
    assert metrics["eval"]["total"] == 6 and metrics["eval"]["chance"] == pytest.approx(0.25)
    assert len(metrics["log_history"]) == 2
    assert json.loads((out / "metrics_mambamia.json").read_text())["lora"] is True
    assert (out / "adapter_model.safetensors").is_file()
    merged = MambaMiaForConditionalGeneration.from_pretrained(str(out / "merged"))
    assert not any("lora" in n for n in merged.state_dict())
