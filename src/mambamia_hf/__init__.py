# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""MambaMia (state-space hierarchical video compression) as a transformers video LLM.

Importing the package registers the classes with transformers' Auto classes (AutoConfig, AutoModel,
AutoModelForImageTextToText, AutoModelForMultimodalLM, AutoProcessor). Saved folders also carry `auto_map` shims,
so `AutoModelForImageTextToText.from_pretrained(folder, trust_remote_code=True)` works without importing it.

    >>> from mambamia_hf import MambaMiaForConditionalGeneration, MambaMiaProcessor
    >>> model = MambaMiaForConditionalGeneration.from_components(
    ...     "google/siglip2-so400m-patch16-384", "Qwen/Qwen2-7B-Instruct", dtype="bfloat16")  # fresh compressor
    >>> processor = MambaMiaProcessor.from_components(
    ...     "google/siglip2-so400m-patch16-384", "Qwen/Qwen2-7B-Instruct",
    ...     tokens_per_frame=model.config.tokens_per_frame, fps=1.0, max_frames=384)
    >>> conversation = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What happens?"}]}]
    >>> prompt = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    >>> inputs = processor(text=prompt, videos="video.mp4")
    >>> output = model.generate(**inputs, max_new_tokens=64)  # delta sampling applies above 180 frames
    >>> processor.batch_decode(output[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForImageTextToText,
    AutoModelForMultimodalLM,
    AutoProcessor,
)

from .configuration_mambamia import MambaMiaConfig
from .modeling_mambamia import (
    MambaMiaCompressor,
    MambaMiaForConditionalGeneration,
    MambaMiaGatedPatchAggregation,
    MambaMiaModel,
    MambaMiaPreTrainedModel,
    MambaMiaTemporalAxisAggregator,
    MambaMiaVideoOutput,
    delta_sampling,
    find_video_runs,
    select_video_tokens,
)
from .processing_mambamia import MambaMiaProcessor


AutoConfig.register(MambaMiaConfig.model_type, MambaMiaConfig, exist_ok=True)
AutoModel.register(MambaMiaConfig, MambaMiaModel, exist_ok=True)
AutoModelForImageTextToText.register(MambaMiaConfig, MambaMiaForConditionalGeneration, exist_ok=True)
AutoModelForMultimodalLM.register(MambaMiaConfig, MambaMiaForConditionalGeneration, exist_ok=True)
AutoProcessor.register(MambaMiaConfig, MambaMiaProcessor, exist_ok=True)

__all__ = [
    "MambaMiaConfig",
    "MambaMiaPreTrainedModel",
    "MambaMiaModel",
    "MambaMiaForConditionalGeneration",
    "MambaMiaCompressor",
    "MambaMiaGatedPatchAggregation",
    "MambaMiaTemporalAxisAggregator",
    "MambaMiaVideoOutput",
    "MambaMiaProcessor",
    "delta_sampling",
    "find_video_runs",
    "select_video_tokens",
]
