# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""MambaMia processing: the video processor (paper's sampling rule from the metadata, SigLIP pixels equal to SigLIP's
own PIL processor, both decoders), the processor's chat template with video content items, token counts against the
model, generate and the kept frames' timestamps against Algorithm 1, clear errors. Without torchvision, saved and
reloaded in fresh processes: tests/test_mambamia_hub.py."""

import logging
import math
import warnings

import numpy as np
import pytest
import torch
from mambamia_testing import tiny_config, tiny_processor, write_tiny_mp4
from transformers import SiglipImageProcessorPil
from transformers.video_utils import VideoMetadata

from mambamia_hf import MambaMiaForConditionalGeneration, MambaMiaVideoProcessor, select_video_tokens
from mambamia_hf import video_processing_mambamia as video_module
from ssm_layers.video_io import available_backends, open_video


@pytest.fixture(scope="module")
def config():
    return tiny_config(gpa_dropout=0.0)


@pytest.fixture(scope="module")
def model(config):
    torch.manual_seed(0)
    return MambaMiaForConditionalGeneration(config).eval()


@pytest.fixture(scope="module")
def mp4(tmp_path_factory):
    # 12 frames at 4 fps = 3 s
    return write_tiny_mp4(str(tmp_path_factory.mktemp("video") / "clip.mp4"), num_frames=12, fps=4)


def chat_prompt(processor, question="what is in the video ?"):
    conversation = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": question}]}]
    return processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)


def video_message(video, question="what is in the video ?", key="path"):
    return {"role": "user", "content": [{"type": "video", key: video}, {"type": "text", "text": question}]}


def algorithm_1(deltas, threshold):
    """Paper Algorithm 1, written out: the kept frame indices."""
    A, S = 0.0, []
    for t, delta in enumerate(deltas):
        A += delta
        if A >= threshold:
            S.append(t)
            A = 0.0
    return S


# ---------------------------------------------------------------------------------------------- video processor
def test_sample_frames_is_the_papers_rule_on_the_metadata():
    processor = MambaMiaVideoProcessor()

    def rule(num_frames, native_fps, fps, max_frames):  # n = min(ceil(duration * fps), max_frames), nearest frame
        duration = num_frames / native_fps
        n = min(math.ceil(duration * fps), max_frames)
        return [min(round(t * native_fps), num_frames - 1) for t in np.linspace(0, duration, n, endpoint=False)]

    for num_frames, native_fps, fps, max_frames in [
        (300, 30.0, 1.0, 384),
        (300, 30.0, 1.0, 4),
        (3600 * 25, 25.0, 1.0, 384),
    ]:
        metadata = VideoMetadata(total_num_frames=num_frames, fps=native_fps)
        indices = processor.sample_frames(metadata, fps=fps, max_frames=max_frames).tolist()
        assert indices == rule(num_frames, native_fps, fps, max_frames)
    assert processor.sample_frames(VideoMetadata(total_num_frames=300, fps=30.0), max_frames=4).tolist() == [
        0,
        75,
        150,
        225,
    ]


def test_pixels_equal_siglips_pil_image_processor():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 40, 50, 3), dtype=np.uint8)
    ours = MambaMiaVideoProcessor(size={"height": 32, "width": 32})(frames, return_tensors="np")
    siglip = SiglipImageProcessorPil(size={"height": 32, "width": 32})(list(frames), return_tensors="np")
    assert ours["pixel_values_videos"].shape == (1, 3, 3, 32, 32) and ours["pixel_values_videos"].dtype == np.float32
    np.testing.assert_array_equal(ours["pixel_values_videos"][0], siglip["pixel_values"])
    black_white = np.stack([np.zeros((40, 50, 3), np.uint8), np.full((40, 50, 3), 255, np.uint8)])
    pixels = MambaMiaVideoProcessor(size={"height": 32, "width": 32})(black_white)["pixel_values_videos"][0]
    np.testing.assert_array_equal(pixels[0], np.full((3, 32, 32), -1.0, np.float32))  # (0 / 255 - 0.5) / 0.5
    np.testing.assert_array_equal(pixels[1], np.full((3, 32, 32), 1.0, np.float32))


@pytest.mark.skipif("decord" not in available_backends(), reason="decord (optional extra) not installed")
def test_file_frames_and_timestamps_with_both_decoders(mp4):
    processor = MambaMiaVideoProcessor(size={"height": 32, "width": 32}, fps=2.0)
    outputs = {
        backend: processor(mp4, video_backend=backend, return_metadata=True, return_tensors="np")
        for backend in ("pyav", "decord")
    }
    for out in outputs.values():  # 3 s at <= 2 fps: frames 0, 2, ..., 10 of the 4 fps file
        assert out["pixel_values_videos"].shape == (1, 6, 3, 32, 32)
        assert out["video_timestamps"] == [[0.0, 0.5, 1.0, 1.5, 2.0, 2.5]]
        assert out["video_metadata"][0].frames_indices.tolist() == [0, 2, 4, 6, 8, 10]
    difference = np.abs(outputs["pyav"]["pixel_values_videos"] - outputs["decord"]["pixel_values_videos"]).max()
    assert difference <= 4 / 127.5  # the decoders differ by a few levels at most
    frames = open_video(mp4).read_uniform_frames(fps=2.0, max_frames=384)
    np.testing.assert_array_equal(
        processor(frames, video_metadata={"fps": 2.0}, return_tensors="np")["pixel_values_videos"],
        outputs["pyav"]["pixel_values_videos"],
    )


def test_decoded_frames_are_sampled_from_their_metadata():
    processor = MambaMiaVideoProcessor(size={"height": 32, "width": 32}, fps=1.0, max_frames=3)
    frames = np.stack([np.full((8, 8, 3), i, np.uint8) for i in range(40)])  # 10 s at 4 fps
    out = processor(frames, video_metadata={"fps": 4.0}, return_metadata=True)
    assert out["video_metadata"][0].frames_indices.tolist() == [0, 13, 27]  # linspace(0, 10, 3) s -> nearest
    assert out["video_timestamps"] == [[0.0, 3.25, 6.75]]
    without = processor(frames[:5])  # no metadata: frames at the sampling rate (1 fps) already, max 3 of them
    assert without["video_timestamps"] == [[0.0, 2.0, 3.0]] and without["pixel_values_videos"].shape[1] == 3
    everything = processor(frames[:5], do_sample_frames=False)
    assert everything["video_timestamps"] == [[0.0, 1.0, 2.0, 3.0, 4.0]]


def test_video_backend_reaches_the_decoder(config, mp4, monkeypatch):
    processor = tiny_processor(config, fps=2.0)
    with pytest.raises(ValueError, match="backend must be 'pyav', 'decord' or None, got 'opencv'"):
        processor(text="<video> describe it", videos=mp4, video_backend="opencv")
    seen = []

    def spy_open_video(path, backend=None):
        seen.append(backend)
        return open_video(path, backend=backend)

    monkeypatch.setattr(video_module, "open_video", spy_open_video)
    inputs = processor(text="<video> describe it", videos=mp4, video_backend="pyav")
    assert inputs["pixel_values_videos"].shape[:2] == (1, 6)
    processor(text="<video> describe it", videos=mp4)
    messages = [video_message(mp4)]
    processor.apply_chat_template(messages, tokenize=True, processor_kwargs={"video_backend": "pyav"})
    assert seen == ["pyav", None, "pyav"]


def test_unknown_keyword_arguments_are_named(config, mp4):
    processor = tiny_processor(config)
    with pytest.raises(ValueError, match=r"\['backend'\] \(the video decoder is chosen with video_backend="):
        processor(text="<video> describe it", videos=mp4, backend="pyav")
    with pytest.raises(ValueError, match=r"\['frames_per_second', \"videos_kwargs\['bogus'\]\"\]"):
        processor(text="<video> it", videos=mp4, frames_per_second=2, videos_kwargs={"bogus": 1})
    with pytest.raises(ValueError, match=r"unknown keyword argument\(s\) \['fpss'\]"):
        processor.video_processor(mp4, fpss=2.0)
    with pytest.raises(ValueError, match="pass max_frames"):
        processor(text="<video> it", videos=mp4, num_frames=4)


# ---------------------------------------------------------------------------------------------- chat template
def test_chat_template_is_qwen2_chatml(config):
    processor = tiny_processor(config)
    assert chat_prompt(processor, "describe it") == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<video>\ndescribe it"
        "<|im_end|>\n<|im_start|>assistant\n"
    )


def test_apply_chat_template_with_video_items_feeds_generate(config, model, mp4):
    processor = tiny_processor(config, fps=1.0)  # 3 frames per file: no delta sampling
    frames = np.random.default_rng(0).integers(0, 255, (2, 40, 40, 3), dtype=np.uint8)
    kwargs = dict(add_generation_prompt=True, tokenize=True, return_dict=True)
    by_path = processor.apply_chat_template([video_message(mp4)], **kwargs)
    by_text = processor(text=chat_prompt(processor), videos=mp4)
    for key in ("input_ids", "attention_mask", "pixel_values_videos", "video_frame_mask"):
        assert torch.equal(by_path[key], by_text[key]), key
    assert by_path["video_timestamps"] == [[0.0, 1.0, 2.0]]

    # a decoded array; two videos in one message (adjacent placeholders); a later text-only turn
    two_videos = {
        "role": "user",
        "content": [
            {"type": "video", "path": mp4},
            {"type": "video", "video": frames},
            {"type": "text", "text": "describe it"},
        ],
    }
    conversations = [
        [video_message(frames, key="video")],
        [two_videos],
        [video_message(mp4), {"role": "assistant", "content": "a red square"}, {"role": "user", "content": "and ?"}],
        [{"role": "user", "content": [{"type": "text", "text": "what is a square ?"}]}],
    ]
    tpf = config.tokens_per_frame
    for conversation, frame_counts in zip(conversations, [[2], [3, 2], [3], []]):
        inputs = processor.apply_chat_template(conversation, **kwargs)
        assert int((inputs["input_ids"] == config.video_token_id).sum()) == sum(frame_counts) * tpf
        assert inputs.get("video_frame_mask", torch.zeros(0, 0)).sum(-1).tolist() == frame_counts
        output = model.generate(**inputs, max_new_tokens=2, min_new_tokens=2, suppress_tokens=[config.video_token_id])
        assert output.shape == (1, inputs["input_ids"].shape[1] + 2)
        with torch.no_grad():
            out = model(**inputs)
        assert out.logits.shape[:2] == inputs["input_ids"].shape
        if frame_counts:
            assert [len(i) for i in out.video_outputs.kept_frame_indices] == frame_counts

    # several conversations in one batch, one of them text-only
    batch = processor.apply_chat_template([conversations[1], conversations[3]], **kwargs)
    assert batch["video_frame_mask"].sum(-1).tolist() == [3, 2]
    output = model.generate(**batch, max_new_tokens=2, min_new_tokens=2, suppress_tokens=[config.video_token_id])
    assert output.shape == (2, batch["input_ids"].shape[1] + 2)


def test_pipeline_answers_video_messages(config, model, mp4, tmp_path):
    from transformers import pipeline

    folder = str(tmp_path / "mambamia")
    model.save_pretrained(folder)
    tiny_processor(config, fps=1.0).save_pretrained(folder)
    pipe = pipeline("image-text-to-text", model=folder)
    kwargs = dict(max_new_tokens=3, generate_kwargs={"min_new_tokens": 3, "do_sample": False})
    answer = pipe(text=[video_message(mp4)], return_full_text=False, **kwargs)
    assert isinstance(answer[0]["generated_text"], str) and answer[0]["generated_text"].strip()
    inputs = pipe.processor.apply_chat_template(
        [video_message(mp4)], add_generation_prompt=True, tokenize=True, return_dict=True
    )
    with torch.no_grad():
        direct = model.generate(**inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    expected = pipe.processor.decode(direct[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert answer[0]["generated_text"].strip() == expected.strip()


# ---------------------------------------------------------------------------------------------- token counts
def test_token_counts_agree_without_delta_sampling(config, model, mp4):
    processor = tiny_processor(config, fps=1.0)  # 3 frames <= M_thresh = 4: no sampling
    inputs = processor(text=chat_prompt(processor), videos=mp4)
    assert inputs["pixel_values_videos"].shape[:2] == (1, 3)
    n_placeholders = int((inputs["input_ids"] == config.video_token_id).sum())
    assert n_placeholders == processor.num_video_tokens(3) == 3 * (config.queries_per_frame + 1)
    with torch.no_grad():
        features = model.get_video_features(inputs["pixel_values_videos"], inputs["video_frame_mask"])
        out = model(**inputs)
    assert features.pooler_output[0].shape[0] == n_placeholders
    assert out.video_outputs.pooler_output[0].shape[0] == n_placeholders
    assert out.video_outputs.kept_frame_indices[0].tolist() == [0, 1, 2]
    assert out.video_outputs.kept_frame_timestamps[0].tolist() == [0.0, 1.0, 2.0]


def test_token_counts_agree_with_delta_sampling(config, model, mp4):
    processor = tiny_processor(config, fps=2.0)  # 6 frames > M_thresh = 4: delta sampling
    inputs = processor(text=chat_prompt(processor), videos=mp4)
    with torch.no_grad():
        features = model.get_video_features(inputs["pixel_values_videos"], inputs["video_frame_mask"])
    kept = int(features.kept_frames.sum())
    assert 0 < kept < 6
    ids, mask = select_video_tokens(
        inputs["input_ids"],
        inputs["attention_mask"],
        features.kept_frames,
        torch.tensor([6]),
        config.video_token_id,
        config.tokens_per_frame,
        pad_token_id=0,
    )
    assert int((ids == config.video_token_id).sum()) == features.pooler_output[0].shape[0] == kept * 5
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, mm_encoder_outputs={"video": features})
        with pytest.raises(ValueError, match="Delta sampling dropped frames"):
            model(**inputs)  # the full prompt no longer matches the kept frames
    assert out.video_outputs.pooler_output[0].shape[0] == kept * 5


def test_batched_videos_of_different_lengths(config, model, mp4):
    processor = tiny_processor(config, fps=1.0)
    short = np.random.default_rng(0).integers(0, 255, (2, 40, 40, 3), dtype=np.uint8)
    inputs = processor(text=[chat_prompt(processor), chat_prompt(processor, "describe it")], videos=[mp4, short])
    assert inputs["video_frame_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    counts = (inputs["input_ids"] == config.video_token_id).sum(-1).tolist()
    assert counts == [15, 10]
    with torch.no_grad():
        out = model(**inputs)
    assert sum(v.shape[0] for v in out.video_outputs.pooler_output) == 25


# ---------------------------------------------------------------------------------------------- generate
@pytest.mark.parametrize("fps", [1.0, 2.0])  # without / with delta sampling
def test_generate_from_mp4_end_to_end(config, model, mp4, fps):
    processor = tiny_processor(config, fps=fps)
    inputs = processor(text=chat_prompt(processor), videos=mp4)
    with torch.no_grad():
        output = model.generate(
            **inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False, suppress_tokens=[config.video_token_id]
        )
    prompt_len = inputs["input_ids"].shape[1]
    assert output.shape == (1, prompt_len + 4)
    assert torch.equal(output[:, :prompt_len], inputs["input_ids"])
    assert isinstance(processor.batch_decode(output[:, prompt_len:], skip_special_tokens=True)[0], str)

    # greedy decoding equals a manual argmax loop over the LLM inputs the model really sees
    with torch.no_grad():
        features = model.get_video_features(inputs["pixel_values_videos"], inputs["video_frame_mask"])
        ids, mask = select_video_tokens(
            inputs["input_ids"],
            inputs["attention_mask"],
            features.kept_frames,
            inputs["video_frame_mask"].sum(-1),
            config.video_token_id,
            config.tokens_per_frame,
            pad_token_id=0,
        )
        for _ in range(4):
            logits = model(input_ids=ids, attention_mask=mask, mm_encoder_outputs={"video": features}).logits
            logits[..., config.video_token_id] = -float("inf")
            logits[..., config.text_config.eos_token_id] = -float("inf")  # min_new_tokens
            next_id = logits[:, -1].argmax(-1, keepdim=True)
            ids, mask = torch.cat([ids, next_id], 1), torch.cat([mask, torch.ones_like(next_id)], 1)
    assert output[0, prompt_len:].tolist() == ids[0, -4:].tolist()


def test_generate_returns_the_kept_frames_of_algorithm_1(config, model):
    """Delta_t replaced by a hand-made sequence: the frames generate reports (and whose tokens the LLM gets) are
    Algorithm 1's, with the processor's timestamps."""
    processor = tiny_processor(config, fps=1.0)
    frames = np.random.default_rng(2).integers(0, 255, (16, 40, 40, 3), dtype=np.uint8)  # 8 s at 2 fps
    inputs = processor(text=chat_prompt(processor), videos=frames, video_metadata={"fps": 2.0})
    assert inputs["video_timestamps"] == [[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]]  # frames 0, 2, ..., 14
    deltas = torch.tensor([[0.3, 0.3, 0.1, 0.7, 0.2, 0.2, 0.25, 0.6]])
    expected = algorithm_1(deltas[0].tolist(), config.delta_sampling_threshold)
    assert expected == [1, 3, 6, 7]
    hook = model.model.compressor.temporal_aggregator.register_forward_hook(lambda m, args, out: (out[0], deltas))
    try:
        output = model.generate(**inputs, max_new_tokens=2, return_dict_in_generate=True)
        with torch.no_grad():
            features = model.get_video_features(
                inputs["pixel_values_videos"], inputs["video_frame_mask"], video_timestamps=inputs["video_timestamps"]
            )
    finally:
        hook.remove()
    video = output.video_outputs
    assert video.kept_frame_indices[0].tolist() == expected == features.kept_frame_indices[0].tolist()
    assert video.kept_frame_timestamps[0].tolist() == [1.0, 3.0, 6.0, 7.0]
    assert features.pooler_output[0].shape[0] == len(expected) * config.tokens_per_frame
    assert torch.equal(output.sequences[:, : inputs["input_ids"].shape[1]], inputs["input_ids"])


def test_plain_generate_emits_no_warning(config, model, mp4, caplog):
    processor = tiny_processor(config, fps=2.0)
    inputs = processor.apply_chat_template(
        [video_message(mp4)], add_generation_prompt=True, tokenize=True, return_dict=True
    )
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        model.generate(**inputs, max_new_tokens=3)
    assert [str(w.message) for w in caught] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_batched_generate_with_one_delta_sampled_video_matches_single(config, model, mp4):
    processor = tiny_processor(config, fps=2.0)
    short = np.random.default_rng(1).integers(0, 255, (2, 40, 40, 3), dtype=np.uint8)
    prompts = [chat_prompt(processor), chat_prompt(processor, "describe it")]
    batch = processor(text=prompts, videos=[mp4, short])  # 6 frames (sampled) and 2 frames (not sampled)
    kwargs = dict(max_new_tokens=3, min_new_tokens=3, do_sample=False, suppress_tokens=[config.video_token_id])
    with torch.no_grad():
        together = model.generate(**batch, **kwargs)
        singles = [model.generate(**processor(text=p, videos=v), **kwargs) for p, v in zip(prompts, [mp4, short])]
    width = batch["input_ids"].shape[1]
    assert torch.equal(together[:, :width], batch["input_ids"])
    for row, single in enumerate(singles):
        assert together[row, width:].tolist() == single[0, -3:].tolist()


def test_generate_with_beams_and_several_returns_under_delta_sampling(config, model, mp4):
    processor = tiny_processor(config, fps=2.0)
    inputs = processor(text=[chat_prompt(processor), chat_prompt(processor, "describe it")], videos=[mp4, mp4])
    with torch.no_grad():
        output = model.generate(
            **inputs,
            max_new_tokens=2,
            min_new_tokens=2,
            num_beams=2,
            num_return_sequences=2,
            suppress_tokens=[config.video_token_id],
            return_dict_in_generate=True,
        )
    width = inputs["input_ids"].shape[1]
    assert output.sequences.shape == (4, width + 2)
    assert torch.equal(output.sequences[:, :width], inputs["input_ids"].repeat_interleave(2, dim=0))
    assert type(output).__name__ == "MambaMiaGenerateBeamOutput" and len(output.video_outputs.kept_frame_indices) == 2


# ---------------------------------------------------------------------------------------------- errors
def test_bad_input_gives_clear_errors(config, mp4, tmp_path):
    processor = tiny_processor(config)
    with pytest.raises(ValueError, match="shorter than one frame"):
        processor(text="<video> describe it", videos=np.zeros((0, 32, 32, 3), dtype=np.uint8))
    empty = str(tmp_path / "empty.mp4")
    import av

    with av.open(empty, mode="w") as container:
        stream = container.add_stream("mpeg4", rate=4)
        stream.width = stream.height = 64
        container.start_encoding()  # a valid file with no frame at all
    with pytest.raises(ValueError, match="shorter than one frame"):
        processor(text="<video> describe it", videos=empty)
    with pytest.raises(ValueError, match="no '<video>' placeholder"):
        processor(text="describe it", videos=mp4)
    with pytest.raises(ValueError, match="more than one video per placeholder"):
        processor(text="<video> describe it", videos=[mp4, mp4])
    with pytest.raises(ValueError, match="2 '<video>' placeholder"):
        processor(text="<video> and <video>", videos=[mp4])
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video")
    with pytest.raises(ValueError, match="Cannot decode"):
        processor(text="<video> describe it", videos=str(garbage))
    with pytest.raises(ValueError, match="not found"):
        processor(text="<video> describe it", videos=str(tmp_path / "missing.mp4"))
    with pytest.raises(ValueError, match="RGB"):
        processor(text="<video> describe it", videos=np.zeros((2, 32, 32), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8 RGB .* got dtype float32"):
        processor(text="<video> describe it", videos=np.zeros((2, 32, 32, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"one size, got frames of shapes \[\(32, 32, 3\), \(40, 40, 3\)\]"):
        processor(text="<video> it", videos=[[np.zeros((32, 32, 3), np.uint8), np.zeros((40, 40, 3), np.uint8)]])
    with pytest.raises(ValueError, match="takes text and videos only"):
        processor(text="<video> it", videos=mp4, images=np.zeros((32, 32, 3), np.uint8))

    kwargs = dict(add_generation_prompt=True, tokenize=True, return_dict=True)
    with pytest.raises(ValueError, match="video content item needs 'path'"):
        processor.apply_chat_template([{"role": "user", "content": [{"type": "video"}]}], **kwargs)
    with pytest.raises(ValueError, match="has no user turn"):
        processor.apply_chat_template([{"role": "system", "content": "be brief"}], **kwargs)
    with pytest.raises(ValueError, match="shorter than one frame"):
        processor.apply_chat_template([video_message(empty)], **kwargs)
