# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""MambaMia processor: frame sampling, token counts vs the model (with and without delta sampling), generate from
a rendered mp4, clear errors on bad input."""

import numpy as np
import pytest
import torch
from mambamia_testing import tiny_config, tiny_processor, write_tiny_mp4

from mambamia_hf import MambaMiaForConditionalGeneration, processing_mambamia, select_video_tokens
from ssm_layers.video_io import open_video, uniform_frame_indices


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


# ---------------------------------------------------------------------------------------------- frames
def test_frame_sampling_follows_duration_fps_and_budget():
    # 10 s at 30 fps: 1 fps -> 10 frames, one per second
    assert uniform_frame_indices(300, 30.0, 1.0, 384).tolist() == list(range(0, 300, 30))
    # budget of 4: timestamps 0, 2.5, 5, 7.5 s
    assert uniform_frame_indices(300, 30.0, 1.0, 4).tolist() == [0, 75, 150, 225]
    # a rate above the video's own gives every frame once
    assert uniform_frame_indices(12, 4.0, 1000.0, 10**6).tolist() == list(range(12))
    # 0.5 s clip at 1 fps still gives one frame
    assert uniform_frame_indices(15, 30.0, 1.0, 384).tolist() == [0]
    with pytest.raises(ValueError, match="shorter than one frame"):
        uniform_frame_indices(0, 30.0, 1.0, 384)


def test_decord_and_pyav_decode_the_same_frames(mp4):
    decord_frames = open_video(mp4, backend="decord").read_uniform_frames(fps=2.0, max_frames=384)
    pyav_frames = open_video(mp4, backend="pyav").read_uniform_frames(fps=2.0, max_frames=384)
    assert decord_frames.shape == pyav_frames.shape == (6, 64, 64, 3)  # ceil(3 s x 2 fps)
    assert np.abs(decord_frames.astype(int) - pyav_frames.astype(int)).max() <= 2
    assert open_video(mp4).read_uniform_frames(fps=2.0, max_frames=4).shape[0] == 4


def test_backend_reaches_the_decoder(config, mp4, monkeypatch):
    processor = tiny_processor(config, fps=2.0)
    with pytest.raises(ValueError, match="backend must be 'pyav', 'decord' or None, got 'opencv'"):
        processor(text="<video> describe it", videos=mp4, backend="opencv")
    seen = []

    def spy_open_video(path, backend=None):
        seen.append(backend)
        return open_video(path, backend=backend)

    monkeypatch.setattr(processing_mambamia, "open_video", spy_open_video)
    inputs = processor(text="<video> describe it", videos=mp4, backend="pyav")
    assert inputs["pixel_values_videos"].shape[:2] == (1, 6)
    processor(text="<video> describe it", videos=mp4)
    assert seen == ["pyav", None]


def test_chat_template_is_qwen2_chatml(config):
    processor = tiny_processor(config)
    assert chat_prompt(processor, "describe it") == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<video>\ndescribe it"
        "<|im_end|>\n<|im_start|>assistant\n"
    )


def test_frames_are_siglip_normalised(config):
    processor = tiny_processor(config)
    frames = np.zeros((2, 40, 50, 3), dtype=np.uint8)
    frames[1] = 255
    inputs = processor(text="<video> describe it", videos=frames)
    pixels = inputs["pixel_values_videos"]
    assert pixels.shape == (1, 2, 3, 32, 32)
    torch.testing.assert_close(pixels[0, 0], torch.full((3, 32, 32), -1.0))  # (0 / 255 - 0.5) / 0.5
    torch.testing.assert_close(pixels[0, 1], torch.full((3, 32, 32), 1.0))


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
    assert out.video_hidden_states.shape[0] == n_placeholders


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
    assert out.video_hidden_states.shape[0] == kept * 5


def test_batched_videos_of_different_lengths(config, model, mp4):
    processor = tiny_processor(config, fps=1.0)
    short = np.random.default_rng(0).integers(0, 255, (2, 40, 40, 3), dtype=np.uint8)
    inputs = processor(text=[chat_prompt(processor), chat_prompt(processor, "describe it")], videos=[mp4, short])
    assert inputs["video_frame_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    counts = (inputs["input_ids"] == config.video_token_id).sum(-1).tolist()
    assert counts == [15, 10]
    with torch.no_grad():
        out = model(**inputs)
    assert out.video_hidden_states.shape[0] == 25


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
    with pytest.raises(ValueError, match="disagree after tokenisation"):
        processor(text="<video><video> describe", videos=[mp4, mp4])  # adjacent placeholders merge
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video")
    with pytest.raises(ValueError, match="Cannot decode"):
        processor(text="<video> describe it", videos=str(garbage))
    with pytest.raises(ValueError, match="not found"):
        processor(text="<video> describe it", videos=str(tmp_path / "missing.mp4"))
    with pytest.raises(ValueError, match="RGB"):
        processor(text="<video> describe it", videos=np.zeros((2, 32, 32), dtype=np.uint8))


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
        )
    width = inputs["input_ids"].shape[1]
    assert output.shape == (4, width + 2)
    assert torch.equal(output[:, :width], inputs["input_ids"].repeat_interleave(2, dim=0))
