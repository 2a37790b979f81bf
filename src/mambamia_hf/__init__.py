# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""MambaMia (state-space hierarchical video compression) as a transformers video LLM.

Importing the package registers the classes with transformers' Auto classes (AutoConfig, AutoModel,
AutoModelForImageTextToText, AutoModelForMultimodalLM, AutoProcessor, AutoVideoProcessor). Saved folders also carry
`auto_map` shims, so `AutoModelForImageTextToText.from_pretrained(folder, trust_remote_code=True)` works without
importing it. Longer documentation: docs/mambamia.md.

    >>> from mambamia_hf import MambaMiaForConditionalGeneration, MambaMiaProcessor
    >>> model = MambaMiaForConditionalGeneration.from_components(
    ...     "google/siglip2-so400m-patch16-384", "Qwen/Qwen2-7B-Instruct", dtype="bfloat16")  # fresh compressor
    >>> processor = MambaMiaProcessor.from_components(
    ...     "google/siglip2-so400m-patch16-384", "Qwen/Qwen2-7B-Instruct",
    ...     tokens_per_frame=model.config.tokens_per_frame, fps=1.0, max_frames=384)
    >>> messages = [{"role": "user", "content": [{"type": "video", "path": "video.mp4"},
    ...                                           {"type": "text", "text": "What happens?"}]}]
    >>> inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    >>> output = model.generate(**inputs, max_new_tokens=64, return_dict_in_generate=True)  # delta sampling > 180
    >>> processor.batch_decode(output.sequences[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    >>> output.video_outputs.kept_frame_timestamps  # seconds of the frames the LLM saw, per video
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForImageTextToText,
    AutoModelForMultimodalLM,
    AutoProcessor,
)

# not `transformers.AutoVideoProcessor`: without torchvision that name is a placeholder that raises on use
from transformers.models.auto.video_processing_auto import AutoVideoProcessor

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
from .video_processing_mambamia import MambaMiaVideoProcessor


AutoConfig.register(MambaMiaConfig.model_type, MambaMiaConfig, exist_ok=True)
AutoModel.register(MambaMiaConfig, MambaMiaModel, exist_ok=True)
AutoModelForImageTextToText.register(MambaMiaConfig, MambaMiaForConditionalGeneration, exist_ok=True)
AutoModelForMultimodalLM.register(MambaMiaConfig, MambaMiaForConditionalGeneration, exist_ok=True)
AutoProcessor.register(MambaMiaConfig, MambaMiaProcessor, exist_ok=True)
# the class needs no torchvision: registered for both backends AutoVideoProcessor asks for
AutoVideoProcessor.register(
    MambaMiaConfig,
    video_processor_classes={"torchvision": MambaMiaVideoProcessor, "pil": MambaMiaVideoProcessor},
    exist_ok=True,
)

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
    "MambaMiaVideoProcessor",
    "delta_sampling",
    "find_video_runs",
    "select_video_tokens",
]
