# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Tiny MambaMia configs, processors, checkpoint parts and videos for the tests (no downloads).

The tokenizer and the tiny SigLIP / Qwen2 / compressor settings are those of the synthetic video QA example
(`examples/synthetic_video_qa/tiny_models.py`, loaded with `conftest.load_example`); the tests import them from here.
"""

import os

import numpy as np
from conftest import load_example

from mambamia_hf import MambaMiaConfig, MambaMiaProcessor, MambaMiaVideoProcessor


load_example("synthetic_video_qa/tiny_models")  # its folder first on sys.path
from tiny_models import (  # noqa: E402
    CHATML_SPECIAL_TOKENS,
    TINY_COMPRESSOR,
    TINY_VISION,
    WORDS,
    tiny_text_config,
    tiny_tokenizer,
)


__all__ = [
    "CHATML_SPECIAL_TOKENS",
    "TINY_COMPRESSOR",
    "TINY_VISION",
    "WORDS",
    "tiny_config",
    "tiny_processor",
    "tiny_text_config",
    "tiny_tokenizer",
    "write_tiny_mp4",
    "write_tiny_parts",
]


def tiny_config(**overrides) -> MambaMiaConfig:
    """Tiny MambaMia config (tiny SigLIP, Qwen2 and compressor) sized to `tiny_tokenizer()`.

    Args:
        **overrides: `MambaMiaConfig` arguments replacing the tiny ones.
    """
    tokenizer_size = len(CHATML_SPECIAL_TOKENS) + 1 + len(WORDS)
    kwargs = dict(
        vision_config=dict(TINY_VISION),
        text_config=tiny_text_config(tokenizer_size),
        video_token_id=CHATML_SPECIAL_TOKENS.index("<video>"),
        **TINY_COMPRESSOR,
    )
    kwargs.update(overrides)
    return MambaMiaConfig(**kwargs)


def tiny_processor(config: MambaMiaConfig | None = None, **kwargs):
    """MambaMiaProcessor for `config` (default `tiny_config()`) with `tiny_tokenizer()`.

    Args:
        config: the model config whose frame size and tokens per frame the processor follows.
        **kwargs: `MambaMiaVideoProcessor` settings (fps, max_frames, ...).
    """
    config = config if config is not None else tiny_config()
    size = config.frame_size
    video_processor = MambaMiaVideoProcessor(size={"height": size, "width": size}, **kwargs)
    return MambaMiaProcessor(video_processor, tiny_tokenizer(), tokens_per_frame=config.tokens_per_frame)


def write_tiny_parts(root: str, seed: int = 0) -> tuple[str, str]:
    """Save a tiny SigLIP vision model (+ image processor) and a tiny Qwen2 causal LM (+ tokenizer) under `root`;
    returns (vision_dir, text_dir)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, SiglipImageProcessorPil, SiglipVisionModel

    torch.manual_seed(seed)
    vision_dir, text_dir = os.path.join(root, "tiny-siglip"), os.path.join(root, "tiny-qwen2")
    vision_cfg = dict(TINY_VISION)
    vision = SiglipVisionModel(AutoConfig.for_model(vision_cfg.pop("model_type"), **vision_cfg))
    vision.save_pretrained(vision_dir)
    SiglipImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(vision_dir)
    tokenizer = tiny_tokenizer()
    text_cfg = tiny_text_config(len(tokenizer))
    text = AutoModelForCausalLM.from_config(AutoConfig.for_model(text_cfg.pop("model_type"), **text_cfg))
    text.save_pretrained(text_dir)
    tokenizer.save_pretrained(text_dir)
    return vision_dir, text_dir


def write_tiny_mp4(path: str, num_frames: int = 12, fps: int = 4, size: int = 64, seed: int = 0) -> str:
    """Render a moving coloured square to an mp4 (mpeg4) with PyAV."""
    import av

    rng = np.random.default_rng(seed)
    with av.open(path, mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for t in range(num_frames):
            image = np.full((size, size, 3), 20, dtype=np.uint8)
            x = (t * 3) % (size - 12)
            image[10:22, x : x + 12] = rng.integers(80, 255, size=3, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
