# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Tiny MambaMia parts, no downloads: a ChatML word-level tokenizer and the settings of a tiny SigLIP vision tower,
a tiny Qwen2 LLM and a tiny compressor.

`synthetic_qa.py` builds its model and processor from them (for `examples/train_mambamia.py`); the tests build
theirs from them too (`tests/mambamia_testing.py`).
"""

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
    """Settings of a tiny Qwen2 LLM (2 layers, width 32) for a vocabulary of `vocab_size` tokens.

    Args:
        vocab_size: the tokenizer's size.

    Returns:
        `AutoConfig.for_model` keyword arguments, `model_type` included.
    """
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
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
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
