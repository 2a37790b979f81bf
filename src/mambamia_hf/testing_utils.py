# Copyright 2026 The ssm-video-models authors. Apache-2.0.
"""Tiny MambaMia parts for tests and examples (no downloads): configs, a ChatML word-level tokenizer, local
SigLIP / Qwen2 folders and a rendered mp4."""

import os

import numpy as np

from .configuration_mambamia import MambaMiaConfig


CHATML_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<video>"]
WORDS = (
    "system user assistant you are a helpful . what is in the video ? describe it red green blue square moving "
    "left right up down the a an and of on to frame answer yes no color"
).split()

TINY_VISION = dict(
    model_type="siglip_vision_model",
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=3,
    num_attention_heads=2,
    patch_size=8,
    image_size=32,
)


def tiny_text_config(vocab_size: int) -> dict:
    return dict(
        model_type="qwen2",
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=2,
    )


TINY_COMPRESSOR = dict(
    compressor_hidden_size=32,
    compressor_num_layers=2,
    compressor_state_size=8,
    compressor_head_dim=16,
    compressor_n_groups=2,
    compressor_chunk_size=16,
    taa_hidden_size=32,
    taa_state_size=8,
    taa_head_dim=16,
    delta_sampling_min_frames=4,
    delta_sampling_threshold=0.6,
)


def tiny_tokenizer(words=None):
    """PreTrainedTokenizerFast over a word-level vocabulary (`WORDS` by default); special tokens first
    (pad = <|endoftext|> = 0, eos = <|im_end|> = 2, <video> = 3)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders
    from transformers import PreTrainedTokenizerFast

    words = WORDS if words is None else words
    vocab = {tok: i for i, tok in enumerate(CHATML_SPECIAL_TOKENS + ["[UNK]"] + list(words))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="<|endoftext|>",
        eos_token="<|im_end|>",
        additional_special_tokens=["<|im_start|>", "<video>"],
        padding_side="left",
    )


def tiny_config(**overrides) -> MambaMiaConfig:
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
    from transformers import SiglipImageProcessorPil

    from .processing_mambamia import MambaMiaProcessor

    config = config if config is not None else tiny_config()
    size = config.frame_size
    image_processor = SiglipImageProcessorPil(size={"height": size, "width": size})
    return MambaMiaProcessor(image_processor, tiny_tokenizer(), tokens_per_frame=config.tokens_per_frame, **kwargs)


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
