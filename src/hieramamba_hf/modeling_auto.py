# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""`AutoModelForVideoGrounding`: the auto class of video temporal grounding models, which transformers lacks.

It maps a config class to its `...ForVideoGrounding` model (`hieramamba_hf` registers HieraMambaConfig ->
HieraMambaForVideoGrounding on import) and is the model class of the "video-grounding" pipeline.
"""

from collections import OrderedDict

from transformers.models.auto.auto_factory import _BaseAutoModelClass, _LazyAutoMapping


class AutoModelForVideoGrounding(_BaseAutoModelClass):
    """`AutoModelForVideoGrounding.from_pretrained(folder_or_id)` loads the registered grounding model of the
    checkpoint's config."""

    _model_mapping = _LazyAutoMapping(OrderedDict(), OrderedDict())


__all__ = ["AutoModelForVideoGrounding"]
