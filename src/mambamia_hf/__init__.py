"""MambaMia (state-space hierarchical video compression) as a transformers video LLM."""

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

__all__ = [
    "MambaMiaConfig",
    "MambaMiaPreTrainedModel",
    "MambaMiaModel",
    "MambaMiaForConditionalGeneration",
    "MambaMiaCompressor",
    "MambaMiaGatedPatchAggregation",
    "MambaMiaTemporalAxisAggregator",
    "MambaMiaVideoOutput",
    "delta_sampling",
    "find_video_runs",
    "select_video_tokens",
]
