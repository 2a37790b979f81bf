"""MambaMia (state-space hierarchical video compression) as a transformers video LLM.

Importing the package registers the classes with transformers' Auto classes (AutoConfig, AutoModel,
AutoModelForImageTextToText, AutoModelForMultimodalLM, AutoProcessor)."""

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
from .processing_mambamia import MambaMiaProcessor, load_video_frames, sample_frame_indices


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
    "load_video_frames",
    "sample_frame_indices",
]
