# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""`auto_map` shims: small files written next to a saved MambaMia checkpoint that import the installed `mambamia_hf`
package, so `AutoModel.from_pretrained(folder, trust_remote_code=True)` works when the package is installed but was
never imported (transformers has no plugin entry points). No implementation is copied into the folder."""

from ssm_layers.remote_code import shim_sources, write_auto_map_shims


AUTO_MAP = {
    "AutoConfig": "configuration_mambamia.MambaMiaConfig",
    "AutoModel": "modeling_mambamia.MambaMiaModel",
    "AutoModelForImageTextToText": "modeling_mambamia.MambaMiaForConditionalGeneration",
    "AutoModelForMultimodalLM": "modeling_mambamia.MambaMiaForConditionalGeneration",
    "AutoProcessor": "processing_mambamia.MambaMiaProcessor",
    "AutoVideoProcessor": "video_processing_mambamia.MambaMiaVideoProcessor",
}

SHIMS = shim_sources("mambamia_hf", AUTO_MAP)  # {"<module>.py": source}


def write_shims(save_directory: str, names: tuple[str, ...] | None = None) -> list[str]:
    """Write the auto_map shim files (all, or those in `names`) into `save_directory`; returns their paths."""
    return write_auto_map_shims(save_directory, "mambamia_hf", AUTO_MAP, names)
