# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""HieraMamba (video temporal grounding) for Hugging Face transformers.

Importing the package registers, here and nowhere else:
* `HieraMambaConfig` ("hieramamba") and `SimpleFrameEncoderConfig` ("simple_frame_encoder") with `AutoConfig`;
* `HieraMambaModel` and `SimpleFrameEncoderModel` with `AutoModel`, `HieraMambaForVideoGrounding` with
  `AutoModelForVideoGrounding`, `HieraMambaProcessor` with `AutoProcessor`;
* the "video-grounding" pipeline task, by the dotted path of its class (resolved when a pipeline is built, as
  transformers does for its own tasks), so importing the package imports no pipeline or video-decoding code.

    >>> import hieramamba_hf
    >>> from transformers import pipeline
    >>> grounder = pipeline("video-grounding", model="checkpoints/hieramamba-synthetic")
"""

from transformers import AutoConfig, AutoModel, AutoProcessor
from transformers.pipelines import PIPELINE_REGISTRY

from .configuration_hieramamba import HieraMambaConfig, SimpleFrameEncoderConfig
from .loss_hieramamba import HieraMambaContrastiveProjector, compute_grounding_loss, update_loss_norm
from .metrics_hieramamba import compute_grounding_metrics
from .modeling_auto import AutoModelForVideoGrounding
from .modeling_hieramamba import (
    ClipPooler,
    HieraMambaForVideoGrounding,
    HieraMambaModel,
    HieraMambaModelOutput,
    HieraMambaPreTrainedModel,
    HieraMambaVideoGroundingOutput,
    MissingEncoderError,
    make_points,
    regression_ranges,
)
from .modeling_simple_frame_encoder import SimpleFrameEncoderModel
from .post_processing_hieramamba import post_process_model_outputs, post_process_video_grounding
from .processing_hieramamba import HieraMambaProcessor


AutoConfig.register(HieraMambaConfig.model_type, HieraMambaConfig, exist_ok=True)
AutoConfig.register(SimpleFrameEncoderConfig.model_type, SimpleFrameEncoderConfig, exist_ok=True)
AutoModel.register(HieraMambaConfig, HieraMambaModel, exist_ok=True)
AutoModel.register(SimpleFrameEncoderConfig, SimpleFrameEncoderModel, exist_ok=True)
AutoModelForVideoGrounding.register(HieraMambaConfig, HieraMambaForVideoGrounding, exist_ok=True)
AutoProcessor.register(HieraMambaConfig, HieraMambaProcessor, exist_ok=True)
# transformers' own tasks name their pipeline class by dotted path (resolved by `pipeline()`); registering the class
# object instead would import the pipeline here and make `pipe.save_pretrained` write a custom-code pipeline.
PIPELINE_REGISTRY.supported_tasks["video-grounding"] = {
    "impl": "hieramamba_hf.pipeline_video_grounding.VideoGroundingPipeline",
    "pt": (AutoModelForVideoGrounding,),
    "type": "multimodal",
}

__all__ = [
    "AutoModelForVideoGrounding",
    "ClipPooler",
    "HieraMambaConfig",
    "HieraMambaContrastiveProjector",
    "HieraMambaForVideoGrounding",
    "HieraMambaModel",
    "HieraMambaModelOutput",
    "HieraMambaPreTrainedModel",
    "HieraMambaProcessor",
    "HieraMambaVideoGroundingOutput",
    "MissingEncoderError",
    "SimpleFrameEncoderConfig",
    "SimpleFrameEncoderModel",
    "compute_grounding_loss",
    "compute_grounding_metrics",
    "make_points",
    "post_process_model_outputs",
    "post_process_video_grounding",
    "regression_ranges",
    "update_loss_norm",
]
