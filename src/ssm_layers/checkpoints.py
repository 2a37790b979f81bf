# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Clear errors for truncated or corrupt safetensors checkpoints.

transformers' `from_pretrained` lets safetensors' `SafetensorError` ("Error while deserializing header: incomplete
metadata, file not fully covered") escape without naming the file. `CheckpointErrorsMixin`, placed before
`PreTrainedModel` in a model's bases, turns it into a ValueError naming the offending file.
Only the header and the file length are checked (safetensors stores no checksum): flipped bytes inside the tensor
data load silently.
"""

from __future__ import annotations

import glob
import os


def find_corrupt_safetensors(folder: str) -> list[tuple[str, str]]:
    """(path, reason) of every `*.safetensors` file in `folder` whose header cannot be read or that is shorter than
    its header says (truncated download, interrupted save)."""
    from safetensors import safe_open

    bad = []
    for path in sorted(glob.glob(os.path.join(folder, "*.safetensors"))):
        try:
            with safe_open(path, framework="pt"):
                pass
        except Exception as error:
            bad.append((path, str(error)))
    return bad


def _checkpoint_folder(name_or_path, kwargs) -> str | None:
    path = os.fspath(name_or_path)
    if os.path.isdir(path):
        return os.path.join(path, kwargs.get("subfolder") or "")
    if os.path.isfile(path):
        return os.path.dirname(path)
    try:  # a Hub id: the snapshot folder of the cached weights
        from huggingface_hub import try_to_load_from_cache

        for filename in ("model.safetensors", "model.safetensors.index.json"):
            cached = try_to_load_from_cache(
                path, filename, cache_dir=kwargs.get("cache_dir"), revision=kwargs.get("revision")
            )
            if isinstance(cached, str):
                return os.path.dirname(cached)
    except Exception:
        pass
    return None


class CheckpointErrorsMixin:
    """`from_pretrained` that names the truncated / corrupt safetensors file instead of a bare SafetensorError."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        from safetensors import SafetensorError

        try:
            return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        except SafetensorError as error:
            folder = _checkpoint_folder(pretrained_model_name_or_path, kwargs)
            bad = find_corrupt_safetensors(folder) if folder else []
            where = "; ".join(f"{path}: {reason}" for path, reason in bad) or (
                f"a safetensors file of {os.fspath(pretrained_model_name_or_path)!r}: {error}"
            )
            raise ValueError(
                f"Cannot load {cls.__name__}: truncated or corrupt checkpoint file {where}. "
                "Re-download or re-save the checkpoint."
            ) from error


__all__ = ["CheckpointErrorsMixin", "find_corrupt_safetensors"]
