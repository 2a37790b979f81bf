# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""examples/chat_with_video.py: offline it builds a tiny random model and says so; from SigLIP + Qwen2 folders and
from a saved MambaMia folder it prints the answer and the kept frames' timestamps of that model."""

import pytest
import torch
from conftest import load_example
from mambamia_testing import TINY_COMPRESSOR, write_tiny_mp4, write_tiny_parts

from mambamia_hf import MambaMiaForConditionalGeneration, MambaMiaProcessor


chat = load_example("chat_with_video")


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_tiny_mp4(str(tmp_path_factory.mktemp("chat") / "clip.mp4"), num_frames=12, fps=4)  # 3 s


def test_offline_builds_a_tiny_random_model_and_says_so(video, capsys):
    answer, kept = chat.main(
        ["--video", video, "--question", "what is in the video ?", "--fps", "2", "--max-new-tokens", "3"]
    )
    out = capsys.readouterr().out
    assert "RANDOM weights" in out and "nothing downloaded" in out
    assert f"answer: {answer.strip()}" in out
    assert "frames: 6 sampled" in out  # 3 s at 2 fps
    assert set(kept) <= {0.0, 0.5, 1.0, 1.5, 2.0, 2.5} and len(kept) >= 1
    assert "kept frame timestamps (s): " + " ".join(f"{t:.2f}" for t in kept) in out


def test_parts_and_saved_folder_give_that_models_answer_and_frames(video, tmp_path, capsys):
    vision_dir, text_dir = write_tiny_parts(str(tmp_path))
    torch.manual_seed(0)
    answer, kept = chat.main(
        [
            "--video",
            video,
            "--question",
            "describe it",
            "--vision",
            vision_dir,
            "--llm",
            text_dir,
            "--max-new-tokens",
            "2",
        ]
    )
    assert "UNTRAINED compressor" in capsys.readouterr().out

    model = MambaMiaForConditionalGeneration.from_components(vision_dir, text_dir, **TINY_COMPRESSOR).eval()
    processor = MambaMiaProcessor.from_components(vision_dir, text_dir, tokens_per_frame=model.config.tokens_per_frame)
    folder = str(tmp_path / "saved")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    answer, kept = chat.main(
        ["--video", video, "--question", "describe it", "--model", folder, "--fps", "2", "--max-new-tokens", "4"]
    )
    assert f"MambaMia from {folder}" in capsys.readouterr().out
    messages = [
        {"role": "user", "content": [{"type": "video", "path": video}, {"type": "text", "text": "describe it"}]}
    ]
    processor.video_processor.fps = 2.0
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    output = model.generate(**inputs, max_new_tokens=4, return_dict_in_generate=True)
    assert answer == processor.decode(output.sequences[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert kept == output.video_outputs.kept_frame_timestamps[0].tolist()


def test_missing_video_file_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no such file"):
        chat.main(["--video", str(tmp_path / "missing.mp4"), "--question", "what ?"])
