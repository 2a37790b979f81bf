# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Converted official checkpoints: a MAD-style experiment folder becomes a checkpoint that grounds video files
through its CLIP encoders (a tiny random CLIP stands in for openai/clip-vit-base-patch32), while Ego4D-NLQ and TACoS
checkpoints name the features they need when given a video file or a query string."""

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import write_mp4
from safetensors import safe_open
from test_video_grounding_pipeline import moving_square_frames, tiny_clip_folder
from transformers import CLIPTextModel, CLIPVisionModelWithProjection, pipeline

from hieramamba_hf import HieraMambaForVideoGrounding, HieraMambaProcessor, MissingEncoderError
from hieramamba_hf.convert_hieramamba_original_to_hf import (
    OFFICIAL_DATASETS,
    PROJECTOR_PREFIXES,
    config_from_official_opt,
    detect_dataset,
    main,
    map_official_key,
)


DATA = Path(__file__).parent / "data" / "hieramamba"
EGO4D_KEYS = json.loads((DATA / "official_layout" / "ego4d-nlq_keys.json").read_text())


def tiny_mad_opt(width=16, blocks=4):
    """The MAD recipe (identity text net, stride-2 embedding, early fusion, no ACC/SPC) at a tiny width."""
    opt = yaml.safe_load((DATA / "official_layout" / "ego4d-nlq_opt.yaml").read_text())
    text, vid = opt["model"]["text_net"], opt["model"]["vid_net"]
    text.update(in_dim=width, embd_dim=width, max_seq_len=75)
    vid.update(
        in_dim=width,
        embd_dim=16,
        max_seq_len=64,
        stride=2,
        arch=[2, 0, blocks],
        mamba_headdim=8,
        mamba_dstate=8,
        use_abs_pe=False,
    )
    opt["train"]["data"].update(clip_size=1, clip_stride=1, downsample_rate=1)
    return opt


def official_state_dict(model, blocks):
    """An official-layout state dict holding `model`'s weights: the Ego4D key names, blocks / levels cut to
    `blocks`, each filled from the parameter it maps to."""
    params, state = model.state_dict(), {}
    for key in EGO4D_KEYS:
        if any(int(i) >= blocks for i in re.findall(r"(?:branch|scales)\.(\d+)\.", key)):
            continue
        ours = map_official_key(key)
        if ours.startswith("reg_head.level_scales."):
            state[key] = params["reg_head.level_scales"][int(ours.rsplit(".", 1)[1])].reshape(1).clone()
        else:
            state[key] = params[ours].clone()
    return state


@pytest.fixture(scope="module")
def mad_experiment(tmp_path_factory):
    root = tmp_path_factory.mktemp("mad")
    opt = tiny_mad_opt()
    torch.manual_seed(0)
    source = HieraMambaForVideoGrounding(config_from_official_opt(opt)).eval()
    exp = root / "experiment"
    (exp / "models").mkdir(parents=True)
    (exp / "opt.yaml").write_text(yaml.safe_dump(opt))
    ema = official_state_dict(source, blocks=4)
    torch.save({"model": ema, "model_ema": ema}, exp / "models" / "last.pth")
    clip_dir, clip = tiny_clip_folder(root / "tiny-clip")
    video = write_mp4(root / "movie.mp4", moving_square_frames(40), fps=10)  # 4 s at 10 fps -> 20 frames at 5 fps
    return {"root": root, "exp": str(exp), "clip_dir": clip_dir, "clip": clip, "source": source, "video": video}


def test_mad_conversion_reads_video_files_through_the_named_clip(mad_experiment, capsys):
    out = str(mad_experiment["root"] / "converted")
    main(
        [
            "--experiment-dir",
            mad_experiment["exp"],
            "--output",
            out,
            "--dataset",
            "mad",
            "--clip",
            mad_experiment["clip_dir"],
        ]
    )
    printed = capsys.readouterr().out
    assert "Trained on: MAD (movies) with CLIP ViT-B/32 features" in printed and "named, not copied" in printed
    config = json.loads(open(os.path.join(out, "config.json")).read())
    assert (config["fps"], config["clip_size"], config["clip_stride"], config["downsample_rate"]) == (5.0, 1, 1, 1)
    assert config["vision_model_name_or_path"] == config["text_model_name_or_path"] == mad_experiment["clip_dir"]
    assert (config["vision_feature"], config["text_feature"]) == ("image_embeds", "last_hidden_state")
    with safe_open(os.path.join(out, "model.safetensors"), "pt") as weights:
        assert not any(key.startswith(("model.vision_model.", "model.text_model.")) for key in weights.keys())
    model = HieraMambaForVideoGrounding.from_pretrained(out).eval()
    processor = HieraMambaProcessor.from_pretrained(out)
    assert type(model.model.vision_model) is CLIPVisionModelWithProjection
    assert type(model.model.text_model) is CLIPTextModel
    # the grounding weights are the official ones, the encoders CLIP's
    source = mad_experiment["source"].state_dict()
    for key, value in model.state_dict().items():
        if key in source and not key.startswith(PROJECTOR_PREFIXES):
            assert torch.equal(value, source[key]), key
    clip = mad_experiment["clip"]
    frames = moving_square_frames(3)
    with torch.no_grad():
        pixels = processor.preprocess_frames(frames)
        expected = clip.get_image_features(pixel_values=pixels)
        torch.testing.assert_close(
            model.model.get_frame_features(pixels), getattr(expected, "pooler_output", expected)
        )
        ids = processor.tokenize(["a red square moves right"])
        tokens, mask = model.model.get_text_features(**ids)
        hidden = clip.text_model(**ids).last_hidden_state  # final layer norm of every token, unprojected
        torch.testing.assert_close(tokens[mask], hidden[ids["attention_mask"].bool()])
    # end to end: a video file, decoded at 5 fps, one clip per frame
    grounder = pipeline("video-grounding", model=out)
    result = grounder(mad_experiment["video"], query=["a red square moves right", "blue"], top_k=3)
    assert len(result) == 2 and all(1 <= len(r) <= 3 for r in result)
    assert all(0.0 <= p["start"] <= p["end"] <= 4.0 for r in result for p in r)
    with pytest.raises(ValueError, match="tokens but the text model reads at most"):
        grounder(mad_experiment["video"], query="word " * 100)


def test_features_only_conversion_and_dataset_detection(mad_experiment, tmp_path):
    out = str(tmp_path / "features-only")
    main(["--experiment-dir", mad_experiment["exp"], "--output", out, "--dataset", "mad", "--features-only"])
    model = HieraMambaForVideoGrounding.from_pretrained(out)
    assert model.model.vision_model is None and model.config.fps == 5.0
    assert model.config.training_data == OFFICIAL_DATASETS["mad"]["training_data"]
    for name in ("ego4d-nlq", "tacos", "mad", "mad-v2"):
        from hieramamba_hf import HieraMambaConfig

        assert detect_dataset(HieraMambaConfig.from_preset(name)) == name
    assert detect_dataset(config_from_official_opt(tiny_mad_opt())) is None  # tiny widths: no released setup
    with pytest.raises(
        ValueError, match="gives 8-d image embeddings and 8-d token features, the checkpoint takes 16-d and 16-d"
    ):
        main(
            [
                "--experiment-dir",
                mad_experiment["exp"],
                "--output",
                str(tmp_path / "x"),
                "--dataset",
                "mad-v2",
                "--clip",
                str(tiny_clip_folder(tmp_path / "clip8", width=8)[0]),
            ]
        )


@pytest.mark.parametrize("preset, needs", [("ego4d-nlq", "EgoVLP"), ("tacos", "C3D")])
def test_feature_checkpoints_name_the_features_they_need(preset, needs, tmp_path):
    exp = tmp_path / "experiment"
    (exp / "models").mkdir(parents=True)
    (exp / "opt.yaml").write_text((DATA / "official_layout" / f"{preset}_opt.yaml").read_text())
    shapes = json.loads((DATA / "official_layout" / f"{preset}_keys.json").read_text())
    state = {k: torch.zeros(s) for k, s in shapes.items()}
    torch.save({"model": state, "model_ema": state}, exp / "models" / "last.pth")
    out = str(tmp_path / "converted")
    main(["--experiment-dir", str(exp), "--output", out, "--dataset", preset])  # tiny widths: named
    grounder = pipeline("video-grounding", model=out)
    config = grounder.model.config
    assert needs in config.training_data and config.fps == OFFICIAL_DATASETS[preset]["fps"]
    video = write_mp4(tmp_path / "v.mp4", moving_square_frames(8), fps=2)
    with pytest.raises(MissingEncoderError, match=f"no frame encoder.*trained on .*{needs}.*docs/hieramamba.md"):
        grounder(video, query=torch.randn(3, config.text_input_dim))
    with pytest.raises(MissingEncoderError, match=f"no query encoder.*trained on .*{needs}"):
        grounder(np.random.rand(40, config.video_input_dim).astype(np.float32), query="a person opens a door")
