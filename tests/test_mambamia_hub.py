# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""MambaMia hub integration: Auto registration, safetensors round trip, offline Hub cache, building from pretrained
SigLIP + Qwen2 parts, and the saved folder in a fresh process (auto_map shims: trust_remote_code without importing
the package; or the package imported): processor, chat template with a video file, generate, pipeline."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
from mambamia_testing import TINY_COMPRESSOR, tiny_config, tiny_processor, write_tiny_mp4, write_tiny_parts
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoModelForMultimodalLM,
    AutoProcessor,
    SiglipVisionModel,
)

from mambamia_hf import (
    MambaMiaConfig,
    MambaMiaForConditionalGeneration,
    MambaMiaModel,
    MambaMiaProcessor,
    MambaMiaVideoProcessor,
)


SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


def inputs_for(config, frames=3):
    g = torch.Generator().manual_seed(0)
    ids = torch.tensor([[1, 5, *([config.video_token_id] * config.num_video_tokens(frames)), 6, 7, 2]])
    return {"input_ids": ids, "pixel_values_videos": torch.randn(1, frames, 3, 32, 32, generator=g)}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny model + processor saved with save_pretrained, and the logits it gives."""
    torch.manual_seed(0)
    config = tiny_config()
    model = MambaMiaForConditionalGeneration(config).eval()
    folder = str(tmp_path_factory.mktemp("mambamia-tiny"))
    model.save_pretrained(folder)
    tiny_processor(config).save_pretrained(folder)
    with torch.no_grad():
        logits = model(**inputs_for(config)).logits
    return folder, model, logits


def test_auto_classes_are_registered():
    config = tiny_config()
    kwargs = {k: v for k, v in config.to_dict().items() if k != "model_type"}
    assert isinstance(AutoConfig.for_model("mambamia", **kwargs), MambaMiaConfig)
    assert type(AutoModel.from_config(config)) is MambaMiaModel
    assert type(AutoModelForImageTextToText.from_config(config)) is MambaMiaForConditionalGeneration
    assert type(AutoModelForMultimodalLM.from_config(config)) is MambaMiaForConditionalGeneration


def test_save_load_round_trip_safetensors(saved):
    folder, model, logits = saved
    files = set(os.listdir(folder))
    assert "model.safetensors" in files and not any(f.endswith(".bin") for f in files)
    shims = {"configuration_mambamia.py", "modeling_mambamia.py", "processing_mambamia.py"}
    assert shims | {"video_processing_mambamia.py", "video_preprocessor_config.json"} <= files
    config = json.load(open(os.path.join(folder, "config.json")))
    assert config["model_type"] == "mambamia" and config["auto_map"]["AutoModel"] == "modeling_mambamia.MambaMiaModel"
    video_config = json.load(open(os.path.join(folder, "video_preprocessor_config.json")))
    assert video_config["video_processor_type"] == "MambaMiaVideoProcessor" and video_config["max_frames"] == 384
    assert video_config["auto_map"] == {"AutoVideoProcessor": "video_processing_mambamia.MambaMiaVideoProcessor"}

    loaded = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32).eval()
    assert type(loaded) is MambaMiaForConditionalGeneration
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs_for(loaded.config)).logits, logits)
    processor = AutoProcessor.from_pretrained(folder)
    assert type(processor) is MambaMiaProcessor and type(processor.video_processor) is MambaMiaVideoProcessor
    assert processor.tokens_per_frame == loaded.config.tokens_per_frame
    assert processor.video_token_id == loaded.config.video_token_id
    for implementation in ("eager", "sdpa"):
        other = MambaMiaForConditionalGeneration.from_pretrained(
            folder, dtype=torch.float32, attn_implementation=implementation
        ).eval()
        assert other.model.language_model.config._attn_implementation == implementation
        with torch.no_grad():
            torch.testing.assert_close(other(**inputs_for(other.config)).logits, logits, atol=1e-5, rtol=1e-5)
    base = AutoModel.from_pretrained(folder, dtype=torch.float32)
    assert type(base) is MambaMiaModel
    torch.testing.assert_close(base.compressor.query, model.model.compressor.query)


def hub_cache(root, folder, repo="org/mambamia-tiny", sha="0123456789abcdef0123456789abcdef01234567"):
    """Lay out `folder` as the offline Hub cache entry of `repo` under `root` (= HF_HOME)."""
    entry = os.path.join(root, "hub", "models--" + repo.replace("/", "--"))
    os.makedirs(os.path.join(entry, "refs"))
    with open(os.path.join(entry, "refs", "main"), "w") as f:
        f.write(sha)
    shutil.copytree(folder, os.path.join(entry, "snapshots", sha))
    return os.path.join(root, "hub")


def test_from_pretrained_offline_hub_cache(saved, tmp_path):
    folder, _, logits = saved
    cache = hub_cache(str(tmp_path), folder)
    model = MambaMiaForConditionalGeneration.from_pretrained(
        "org/mambamia-tiny", cache_dir=cache, local_files_only=True, dtype=torch.float32
    ).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs_for(model.config)).logits, logits)
    processor = AutoProcessor.from_pretrained("org/mambamia-tiny", cache_dir=cache, local_files_only=True)
    assert type(processor) is MambaMiaProcessor


@pytest.fixture(scope="module")
def built_from_parts(tmp_path_factory):
    """Tiny random SigLIP and Qwen2 folders -> from_components -> the MambaMia folder (model + processor), a video
    file, and the greedy answer and kept-frame timestamps the in-process model gives for it."""
    root = tmp_path_factory.mktemp("from-parts")
    vision_dir, text_dir = write_tiny_parts(str(root))
    torch.manual_seed(0)
    model = MambaMiaForConditionalGeneration.from_components(vision_dir, text_dir, **TINY_COMPRESSOR).eval()
    processor = MambaMiaProcessor.from_components(
        vision_dir, text_dir, tokens_per_frame=model.config.tokens_per_frame, fps=2.0
    )
    folder = str(root / "mambamia-tiny")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    video = write_tiny_mp4(str(root / "clip.mp4"), num_frames=12, fps=4)
    messages = [{"role": "user", "content": [{"type": "video", "path": video}, {"type": "text", "text": "what ?"}]}]
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    output = model.generate(
        **inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False, return_dict_in_generate=True
    )
    answer = output.sequences[0, inputs["input_ids"].shape[1] :].tolist()
    return folder, video, answer, output.video_outputs.kept_frame_timestamps[0].tolist()


@pytest.mark.parametrize("import_package", [False, True], ids=["trust_remote_code", "package_imported"])
def test_saved_folder_in_a_fresh_process_without_torchvision(built_from_parts, tmp_path, import_package):
    """From the offline Hub cache without importing the package (auto_map shims, trust_remote_code=True), or with
    the package imported, in an interpreter where torchvision and torchcodec cannot be imported (whether installed
    or not): AutoVideoProcessor and AutoProcessor load, processor + chat template with a video file + generate give
    the answer and kept frames of the in-process model, and pipeline("image-text-to-text") answers the message."""
    folder, video, answer, timestamps = built_from_parts
    hub_cache(str(tmp_path / "hf_home"), folder)
    source = "import mambamia_hf" if import_package else "assert 'mambamia_hf' not in sys.modules"
    kwargs = "" if import_package else "trust_remote_code=True"
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["torchvision"] = sys.modules["torchcodec"] = None  # neither importable nor found
        import torch
        torch.set_num_threads(1)
        from transformers import AutoModel, AutoModelForImageTextToText, AutoProcessor, pipeline
        from transformers.models.auto.video_processing_auto import AutoVideoProcessor
        {source}
        if not {import_package}:
            try:
                AutoModelForImageTextToText.from_pretrained("org/mambamia-tiny")
                raise SystemExit("loaded custom code without trust_remote_code")
            except ValueError as error:
                assert "trust_remote_code" in str(error)
            assert "mambamia_hf" not in sys.modules
        model = AutoModelForImageTextToText.from_pretrained("org/mambamia-tiny", dtype=torch.float32, {kwargs}).eval()
        processor = AutoProcessor.from_pretrained("org/mambamia-tiny", {kwargs})
        base = AutoModel.from_pretrained("org/mambamia-tiny", {kwargs})
        assert type(model).__name__ == "MambaMiaForConditionalGeneration", type(model)
        assert type(base).__name__ == "MambaMiaModel" and type(processor).__name__ == "MambaMiaProcessor"
        assert type(processor.video_processor).__name__ == "MambaMiaVideoProcessor"
        video_processor = AutoVideoProcessor.from_pretrained("org/mambamia-tiny", {kwargs})
        assert type(video_processor).__name__ == "MambaMiaVideoProcessor" and video_processor.fps == 2.0
        messages = [{{"role": "user", "content": [{{"type": "video", "path": {video!r}}},
                                                 {{"type": "text", "text": "what ?"}}]}}]
        inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
        output = model.generate(**inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False,
                                return_dict_in_generate=True)
        assert output.sequences[0, inputs["input_ids"].shape[1]:].tolist() == {answer!r}
        assert output.video_outputs.kept_frame_timestamps[0].tolist() == {timestamps!r}
        pipe = pipeline("image-text-to-text", model="org/mambamia-tiny", {kwargs})
        reply = pipe(text=messages, max_new_tokens=3, return_full_text=False,
                     generate_kwargs={{"min_new_tokens": 3, "do_sample": False}})
        assert reply[0]["generated_text"].strip() == processor.decode({answer!r}, skip_special_tokens=True).strip()
        assert sys.modules["torchvision"] is None and sys.modules["torchcodec"] is None
        print("OK")
        """
    )
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1", PYTHONPATH=SRC)
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-3000:]


def test_from_components_loads_parts_and_initialises_compressor(tmp_path):
    vision_dir, text_dir = write_tiny_parts(str(tmp_path))
    model = MambaMiaForConditionalGeneration.from_components(vision_dir, text_dir, **TINY_COMPRESSOR).eval()
    vision = SiglipVisionModel.from_pretrained(vision_dir, dtype=torch.float32)
    text = AutoModelForCausalLM.from_pretrained(text_dir, dtype=torch.float32)
    tower = model.model.vision_tower.state_dict()
    assert set(tower) == {k for k in vision.state_dict() if not k.startswith("head.")}  # pooling head dropped
    for name, tensor in tower.items():
        assert torch.equal(tensor, vision.state_dict()[name]), name
    for name, tensor in text.model.state_dict().items():
        assert torch.equal(model.model.language_model.state_dict()[name], tensor), name
    assert torch.equal(model.lm_head.weight, text.lm_head.weight)
    assert model.config.vision_config.hidden_size == 32
    assert model.config.text_config.vocab_size == text.config.vocab_size
    assert model.config.compressor_hidden_size == TINY_COMPRESSOR["compressor_hidden_size"]

    # the fresh parts are real tensors with the documented init
    assert all(p.device.type == "cpu" and torch.isfinite(p).all() for p in model.parameters())
    mixer = model.model.compressor.layers[0].mixer
    torch.testing.assert_close(mixer.A_log, torch.log(torch.arange(1, mixer.num_heads + 1).float()))
    assert torch.all(model.model.compressor.layers[0].gpa.gate_proj.bias == 0)
    assert model.model.compressor.layers[0].gpa.weight_proj.weight.abs().max() < 1e-3

    processor = MambaMiaProcessor.from_components(vision_dir, text_dir, tokens_per_frame=model.config.tokens_per_frame)
    assert processor.video_token_id == model.config.video_token_id
    inputs = processor(
        text="<video> what is in the video ?", videos=torch.randint(0, 255, (3, 40, 40, 3)).numpy().astype("uint8")
    )
    with torch.no_grad():
        out = model(**inputs)
    assert out.logits.shape[:2] == inputs["input_ids"].shape

    folder = str(tmp_path / "built")
    model.save_pretrained(folder)
    again = MambaMiaForConditionalGeneration.from_pretrained(folder, dtype=torch.float32)
    torch.testing.assert_close(again.model.compressor.query, model.model.compressor.query)


def test_from_components_takes_the_vision_half_of_a_full_siglip(tmp_path):
    from mambamia_testing import TINY_VISION
    from transformers import SiglipConfig, SiglipModel

    _, text_dir = write_tiny_parts(str(tmp_path))
    vision_kwargs = {k: v for k, v in TINY_VISION.items() if k != "model_type"}
    text_kwargs = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        vocab_size=50,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    full = SiglipModel(SiglipConfig(vision_config=vision_kwargs, text_config=text_kwargs))
    full.save_pretrained(str(tmp_path / "full-siglip"))
    model = MambaMiaForConditionalGeneration.from_components(
        str(tmp_path / "full-siglip"), text_dir, dtype=torch.bfloat16, **TINY_COMPRESSOR
    )
    assert type(model.model.vision_tower) is SiglipVisionModel
    assert model.dtype == torch.bfloat16 and model.model.compressor.query.dtype == torch.bfloat16
    torch.testing.assert_close(
        model.model.vision_tower.embeddings.patch_embedding.weight,
        full.vision_model.embeddings.patch_embedding.weight.bfloat16(),
    )
