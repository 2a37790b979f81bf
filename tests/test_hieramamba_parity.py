# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Parity with the official HieraMamba code, from golden tensors (no official code needed in CI).

tests/data/hieramamba/<preset>/ holds a TINY version of a released setup (widths shrunk, 6 AMP blocks so the
windowed/global local-attention rule is exercised, every other switch as released): the weights are random official
weights converted with `convert_hieramamba_original_to_hf`, golden.pt the official outputs computed on CPU with
pure-PyTorch stand-ins for mamba_ssm (harness kept outside the repo):
  eval:  per video (lengths not a multiple of the padding unit, one longer than max_seq_len, 2-3 queries each),
         the official evaluator `EvaluatorAuxiliary.predict`: logits/offsets of all points and the final
         segments (seconds) and scores after soft-NMS + voting;
  batch: the official `model.forward` on both videos at once (batch-summed mask over all 5 queries).
official_layout/ holds the official key names/shapes and opt.yaml of two tiny setups for the conversion tests.
"""

import json
from pathlib import Path

import pytest
import torch
import yaml

from hieramamba_hf import HieraMambaForVideoGrounding
from hieramamba_hf.convert_hieramamba_original_to_hf import convert_official_state_dict, main, map_official_key


DATA = Path(__file__).parent / "data" / "hieramamba"
PRESETS = ["ego4d-nlq", "tacos", "mad-v2"]


def pad(seqs, length=None):
    length = length or max(len(s) for s in seqs)
    out = torch.zeros(len(seqs), length, seqs[0].shape[-1])
    mask = torch.zeros(len(seqs), length, dtype=torch.bool)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
        mask[i, : len(s)] = True
    return out, mask


@pytest.mark.parametrize("preset", PRESETS)
def test_parity_with_official_evaluator(preset):
    model = HieraMambaForVideoGrounding.from_pretrained(DATA / preset, dtype=torch.float32).eval()
    golden = torch.load(DATA / preset / "golden.pt", weights_only=True)
    assert any(len(g["video"]) > model.config.max_seq_len * model.config.embedding_stride for g in golden["eval"])
    assert all(len(g["video"]) % model.config.padding_unit for g in golden["eval"])
    for g in golden["eval"]:
        text, text_mask = pad(g["texts"])
        video = g["video"][None]
        with torch.no_grad():
            out = model(
                video, torch.ones(video.shape[:2], dtype=torch.bool), text, text_mask, torch.tensor([len(g["texts"])])
            )
        assert out.logits.shape == g["logits"].shape
        torch.testing.assert_close(out.logits, g["logits"], atol=1e-4, rtol=0)
        torch.testing.assert_close(out.offsets, g["offsets"], atol=1e-4, rtol=0)
        results = model.post_process_video_grounding(out, durations=[g["duration"]], fps=[golden["fps"]])
        for ours, segs, scores in zip(results, g["segments"], g["scores"]):
            assert len(ours) == len(segs) > 0
            torch.testing.assert_close(torch.tensor([r["segment"] for r in ours]), segs, atol=1e-4, rtol=0)
            torch.testing.assert_close(torch.tensor([r["score"] for r in ours]), scores, atol=1e-5, rtol=0)


@pytest.mark.parametrize("preset", PRESETS)
def test_parity_with_official_batched_forward(preset):
    model = HieraMambaForVideoGrounding.from_pretrained(
        DATA / preset, dtype=torch.float32, block_mask_mode="batch"
    ).eval()
    golden = torch.load(DATA / preset / "golden.pt", weights_only=True)
    video, video_mask = pad([g["video"] for g in golden["eval"]])
    text, text_mask = pad([t for g in golden["eval"] for t in g["texts"]])
    queries = torch.tensor([len(g["texts"]) for g in golden["eval"]])
    with torch.no_grad():
        out = model(video, video_mask, text, text_mask, queries)
    torch.testing.assert_close(out.logits, golden["batch"]["logits"], atol=1e-4, rtol=0)
    torch.testing.assert_close(out.offsets, golden["batch"]["offsets"], atol=1e-4, rtol=0)
    # the exact per-sample mask differs from the official whole-batch mask on this batch
    model.config.block_mask_mode = "sample"
    with torch.no_grad():
        exact = model(video, video_mask, text, text_mask, queries)
    assert not torch.allclose(exact.logits, golden["batch"]["logits"], atol=1e-3)


def official_state_dict(preset, seed=0):
    shapes = json.loads((DATA / "official_layout" / f"{preset}_keys.json").read_text())
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=g) for k, s in shapes.items()}


@pytest.mark.parametrize("preset", ["ego4d-nlq", "tacos"])
def test_conversion_script_maps_every_official_key(preset, tmp_path):
    exp = tmp_path / "experiment"
    (exp / "models").mkdir(parents=True)
    (exp / "opt.yaml").write_text((DATA / "official_layout" / f"{preset}_opt.yaml").read_text())
    ema, raw = official_state_dict(preset, 0), official_state_dict(preset, 1)
    torch.save({"model": raw, "model_ema": ema}, exp / "models" / "last.pth")
    for weights, source in (("ema", ema), ("model", raw)):
        out = tmp_path / f"hf-{weights}"
        args = ["--experiment-dir", str(exp), "--output", str(out)] + (
            ["--weights", "model"] if weights == "model" else []
        )
        main(args)
        model = HieraMambaForVideoGrounding.from_pretrained(out, dtype=torch.float32)
        params = model.state_dict()
        for key, value in source.items():
            new = map_official_key(key)
            if new.startswith("reg_head.level_scales."):
                level = int(new.rsplit(".", 1)[1])
                assert params["reg_head.level_scales"][level] == value.reshape(())
            else:
                assert torch.equal(params[new].reshape(-1), value.reshape(-1)), key
    opt = yaml.safe_load((exp / "opt.yaml").read_text())
    assert model.config.early_fusion == opt["model"].get("early_fusion", True)
    assert model.config.text_encoder == opt["model"]["text_net"]["name"]


def test_conversion_fails_loudly():
    opt = yaml.safe_load((DATA / "official_layout" / "ego4d-nlq_opt.yaml").read_text())
    from hieramamba_hf.convert_hieramamba_original_to_hf import config_from_official_opt

    model = HieraMambaForVideoGrounding(config_from_official_opt(opt))
    state = official_state_dict("ego4d-nlq")
    convert_official_state_dict(state, model)  # complete: no error

    missing = dict(state)
    missing.pop("vid_net.branch.3.global_encoder.A_log")
    with pytest.raises(ValueError, match="without an official value:\n  model.backbone.blocks.3.global_mixer.A_log"):
        convert_official_state_dict(missing, model)
    extra = {**state, "vid_net.branch.0.anchor_pooling.pooler.gate_proj.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match="unexpected official keys"):
        convert_official_state_dict(extra, model)
    wrong = {**state, "fusion.ln_out.weight": torch.zeros(3, 1)}
    with pytest.raises(ValueError, match="shape mismatches"):
        convert_official_state_dict(wrong, model)
    opt["model"]["vid_net"]["pool_method"] = "attn"
    with pytest.raises(ValueError, match="pool_method"):
        config_from_official_opt(opt)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("preset", PRESETS)
def test_parity_on_cuda(preset):
    """Same golden check on the GPU path (mamba_ssm kernels through ssm_layers when installed), TF32 off."""
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    model = HieraMambaForVideoGrounding.from_pretrained(DATA / preset, dtype=torch.float32).eval().cuda()
    golden = torch.load(DATA / preset / "golden.pt", weights_only=True)
    for g in golden["eval"]:
        text, text_mask = pad(g["texts"])
        video = g["video"][None]
        with torch.no_grad():
            out = model(
                video.cuda(),
                torch.ones(video.shape[:2], dtype=torch.bool).cuda(),
                text.cuda(),
                text_mask.cuda(),
                torch.tensor([len(g["texts"])]).cuda(),
            )
        torch.testing.assert_close(out.logits.cpu(), g["logits"], atol=1e-4, rtol=0)
        torch.testing.assert_close(out.offsets.cpu(), g["offsets"], atol=1e-4, rtol=0)
