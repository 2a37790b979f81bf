"""HieraMamba (video temporal grounding) for Hugging Face transformers.

Importing this package registers `HieraMambaConfig` (model_type "hieramamba") with `AutoConfig`, `HieraMambaModel`
with `AutoModel` and `HieraMambaForVideoGrounding` with `AutoModelForVideoGrounding`, so a saved folder loads with
`AutoConfig` / `AutoModel` / `AutoModelForVideoGrounding.from_pretrained(path)` once `hieramamba_hf` is imported.
"""

import importlib

from transformers import AutoConfig, AutoModel

from .configuration_hieramamba import HieraMambaConfig
from .modeling_hieramamba import (
    HieraMambaForVideoGrounding,
    HieraMambaModel,
    HieraMambaModelOutput,
    HieraMambaPreTrainedModel,
    HieraMambaVideoGroundingOutput,
    make_points,
    regression_ranges,
)

AutoConfig.register(HieraMambaConfig.model_type, HieraMambaConfig, exist_ok=True)
AutoModel.register(HieraMambaConfig, HieraMambaModel, exist_ok=True)

__all__ = [
    "HieraMambaConfig",
    "HieraMambaForVideoGrounding",
    "HieraMambaModel",
    "HieraMambaModelOutput",
    "HieraMambaPreTrainedModel",
    "HieraMambaVideoGroundingOutput",
    "make_points",
    "regression_ranges",
]

# public functions of the sibling modules (metrics, losses, post-processing), exported when present
for _module, _names in (
    ("metrics_hieramamba", None),
    ("loss_hieramamba", None),
    ("post_processing_hieramamba", None),
):
    try:
        _mod = importlib.import_module(f".{_module}", __name__)
    except ModuleNotFoundError as _err:
        if _err.name != f"{__name__}.{_module}":
            raise
        continue
    for _name in getattr(_mod, "__all__", ()):
        globals()[_name] = getattr(_mod, _name)
        __all__.append(_name)

# video-grounding pipeline, processor (encoders travel with the checkpoint), AutoModelForVideoGrounding, Hub helpers
from transformers import AutoProcessor as _AutoProcessor  # noqa: E402
from transformers.pipelines import PIPELINE_REGISTRY as _PIPELINE_REGISTRY  # noqa: E402

from .hub_hieramamba import AutoModelForVideoGrounding  # noqa: E402
from .pipeline_video_grounding import VideoGroundingPipeline  # noqa: E402
from .processing_hieramamba import HieraMambaProcessor  # noqa: E402

_AutoProcessor.register(HieraMambaConfig, HieraMambaProcessor, exist_ok=True)
AutoModelForVideoGrounding.register(HieraMambaConfig, HieraMambaForVideoGrounding, exist_ok=True)
_PIPELINE_REGISTRY.register_pipeline(
    "video-grounding", pipeline_class=VideoGroundingPipeline, pt_model=AutoModelForVideoGrounding
)
__all__ += ["AutoModelForVideoGrounding", "HieraMambaProcessor", "VideoGroundingPipeline"]
