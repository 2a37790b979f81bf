# Copyright 2026 The ssm-video-models authors. Apache-2.0.
"""`auto_map` shims: small files written next to a saved MambaMia checkpoint that import the installed `mambamia_hf`
package, so `AutoModel.from_pretrained(folder, trust_remote_code=True)` works when the package is installed but was
never imported (transformers has no plugin entry points). No implementation is copied into the folder."""

import os


AUTO_MAP = {
    "AutoConfig": "configuration_mambamia.MambaMiaConfig",
    "AutoModel": "modeling_mambamia.MambaMiaModel",
    "AutoModelForImageTextToText": "modeling_mambamia.MambaMiaForConditionalGeneration",
    "AutoModelForMultimodalLM": "modeling_mambamia.MambaMiaForConditionalGeneration",
    "AutoProcessor": "processing_mambamia.MambaMiaProcessor",
}

_HEADER = (
    "# auto_map shim: the implementation is the installed `mambamia_hf` package (pip install ssm-video-models).\n"
)
SHIMS = {
    "configuration_mambamia.py": "from mambamia_hf.configuration_mambamia import MambaMiaConfig  # noqa: F401\n",
    "modeling_mambamia.py": (
        "from mambamia_hf.modeling_mambamia import (  # noqa: F401\n"
        "    MambaMiaForConditionalGeneration,\n"
        "    MambaMiaModel,\n"
        "    MambaMiaPreTrainedModel,\n"
        ")\n"
    ),
    "processing_mambamia.py": "from mambamia_hf.processing_mambamia import MambaMiaProcessor  # noqa: F401\n",
}


def write_shims(save_directory: str, names: tuple[str, ...] = tuple(SHIMS)) -> list[str]:
    """Write the shim files `names` into `save_directory`; returns their paths."""
    os.makedirs(save_directory, exist_ok=True)
    paths = []
    for name in names:
        path = os.path.join(save_directory, name)
        with open(path, "w") as f:
            f.write(_HEADER + SHIMS[name])
        paths.append(path)
    return paths
