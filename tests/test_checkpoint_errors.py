# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Truncated or corrupt safetensors checkpoints give a clear error naming the file (both models, direct and Auto
classes). Interrupted training resuming is covered by the training tests:
tests/test_hieramamba_training.py::test_checkpoint_resume_and_ema_export and
tests/test_mambamia_training.py::test_resume_from_checkpoint_gives_identical_losses."""

import os

import pytest
import torch
from mambamia_testing import tiny_config
from transformers import AutoModel, AutoModelForImageTextToText

from hieramamba_hf import HieraMambaConfig, HieraMambaForVideoGrounding
from mambamia_hf import MambaMiaForConditionalGeneration
from ssm_layers.checkpoints import find_corrupt_safetensors


def _corruptions(data: bytes) -> dict[str, bytes]:
    return {
        "truncated": data[: len(data) // 2],  # interrupted download / save
        "tail_cut": data[:-7],
        "header_only_length": data[:8],
        "empty": b"",
        "garbage_header": b"\xff" * 8 + data[8:],
        "bad_json": data[:8] + b"{" * 40 + data[48:],
    }


@pytest.fixture(scope="module")
def hieramamba_dir(tmp_path_factory):
    torch.manual_seed(0)
    config = HieraMambaConfig(
        video_input_dim=16,
        hidden_size=64,
        text_input_dim=8,
        text_hidden_size=32,
        num_amp_blocks=3,
        max_seq_len=64,
        hydra_head_dim=32,
    )
    folder = str(tmp_path_factory.mktemp("hieramamba"))
    HieraMambaForVideoGrounding(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def mambamia_dir(tmp_path_factory):
    torch.manual_seed(0)
    folder = str(tmp_path_factory.mktemp("mambamia"))
    MambaMiaForConditionalGeneration(tiny_config()).save_pretrained(folder)
    return folder


def _copy_with(folder, tmp_path, content: bytes) -> str:
    out = tmp_path / "ckpt"
    out.mkdir()
    for name in os.listdir(folder):
        data = open(os.path.join(folder, name), "rb").read()
        (out / name).write_bytes(content if name == "model.safetensors" else data)
    return str(out)


@pytest.mark.parametrize("kind", list(_corruptions(b"x" * 100)))
def test_hieramamba_corrupt_safetensors_names_the_file(hieramamba_dir, tmp_path, kind):
    data = open(os.path.join(hieramamba_dir, "model.safetensors"), "rb").read()
    folder = _copy_with(hieramamba_dir, tmp_path, _corruptions(data)[kind])
    target = os.path.join(folder, "model.safetensors")
    for loader in (HieraMambaForVideoGrounding, AutoModel):
        with pytest.raises(ValueError, match="truncated or corrupt checkpoint file") as info:
            loader.from_pretrained(folder)
        assert target in str(info.value)
    assert [path for path, _ in find_corrupt_safetensors(folder)] == [target]


@pytest.mark.parametrize("kind", ["truncated", "garbage_header"])
def test_mambamia_corrupt_safetensors_names_the_file(mambamia_dir, tmp_path, kind):
    data = open(os.path.join(mambamia_dir, "model.safetensors"), "rb").read()
    folder = _copy_with(mambamia_dir, tmp_path, _corruptions(data)[kind])
    for loader in (MambaMiaForConditionalGeneration, AutoModelForImageTextToText):
        with pytest.raises(ValueError, match="truncated or corrupt checkpoint file") as info:
            loader.from_pretrained(folder)
        assert os.path.join(folder, "model.safetensors") in str(info.value)


def test_intact_checkpoint_still_loads_and_is_not_flagged(hieramamba_dir):
    assert find_corrupt_safetensors(hieramamba_dir) == []
    model = HieraMambaForVideoGrounding.from_pretrained(hieramamba_dir, dtype=torch.float32)
    assert isinstance(model, HieraMambaForVideoGrounding)


def test_missing_weights_file_is_a_clear_error(hieramamba_dir, tmp_path):
    folder = _copy_with(hieramamba_dir, tmp_path, b"")
    os.remove(os.path.join(folder, "model.safetensors"))
    with pytest.raises(OSError, match="model.safetensors|pytorch_model.bin|does not appear to have"):
        HieraMambaForVideoGrounding.from_pretrained(folder)
