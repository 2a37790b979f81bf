# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Convert an official HieraMamba experiment folder (github jbistanbul/hieramamba) to a transformers folder.

    python -m hieramamba_hf.convert_hieramamba_original_to_hf --experiment-dir DIR --output OUT \
        [--weights ema|model] [--checkpoint PATH] [--fps FPS] [--dataset NAME] [--clip ID_OR_PATH] [--features-only]

Reads DIR/opt.yaml (the training yaml the official `train.py` copies into the experiment folder; the official
defaults of `libs/core/opt.py` fill what it leaves out) and DIR/models/last.pth (`{'model', 'model_ema'}`, loaded
with weights_only=True), maps every key, and writes OUT with `save_pretrained` (safetensors). Any unmapped official
key, any model key left without a value, or any shape mismatch raises. The contrastive projectors are the only
parameters absent from official checkpoints (the official trainer never saves them): they keep their fresh
initialisation and the script says so.

The released setup (`--dataset`, detected from the feature widths when not given) sets the feature clock and
`config.training_data`. MAD and MAD-v2 were trained on CLIP features that a transformers CLIP model computes, so their
checkpoints also read video files and query strings: the converter names the CLIP model by Hub id (its weights are
not copied; `from_pretrained` fetches them) and saves its image processor and tokenizer as the processor:

* frames at 5 fps, each the CLIP image embedding (`image_embeds` of `CLIPVisionModelWithProjection`: the projected,
  unnormalised output of OpenAI CLIP's `encode_image`, which the MAD authors state they used), one clip per frame;
* query tokens: `last_hidden_state` of `CLIPTextModel` (OpenAI CLIP's `ln_final` output of every token, start and end
  tokens included, unprojected and unnormalised), at most 77 tokens (longer queries are refused);
* MAD: `openai/clip-vit-base-patch32` (512-d); MAD-v2: `openai/clip-vit-large-patch14` (768-d).

`--clip` names another CLIP folder or Hub id (e.g. a local copy); `--features-only` keeps the checkpoint on
precomputed features. Ego4D-NLQ (EgoVLP features) and TACoS (C3D + GloVe) checkpoints take precomputed features only.
"""

from __future__ import annotations

import argparse
import copy
import os
import re

import torch
import yaml
from transformers import AutoConfig

from .configuration_hieramamba import HieraMambaConfig
from .modeling_hieramamba import HieraMambaForVideoGrounding
from .processing_hieramamba import HieraMambaProcessor


# defaults of the official `libs/core/opt.py` / module signatures for the keys the released yamls may omit
_VID_NET_DEFAULTS = {
    "stride": 1,
    "use_abs_pe": True,
    "local_window_size": 5,
    "local_encode": False,
    "local_encode_num_layers": 0,
    "pool_method": "mean",
    "block_type": "AnchorMambaPoolingBlockGated",
    "local_encoder_type": "transformer",
    "mamba_headdim": 64,
    "mamba_dstate": 64,
    "mamba_expand": 2,
    "mamba_dconv": 7,
    "bidirectional": True,
    "arch": (2, 0, 7),
}
_NMS_DEFAULTS = {
    "mode": "soft_nms",
    "iou_thresh": 0.1,
    "min_score": 0.001,
    "max_num_segs": 5,
    "sigma": 0.9,
    "voting_thresh": 0.95,
}

# What each released setup was trained on, its feature clock, and the CLIP model behind its features (None: no
# transformers model computes them). The sources are cited in docs/hieramamba.md ("Official checkpoints").
OFFICIAL_DATASETS = {
    "ego4d-nlq": {
        "fps": 30.0,
        "clip": None,
        "training_data": "Ego4D-NLQ with EgoVLP features (github showlab/EgoVLP): 256-d video features of clips of "
        "32 frames every 16 frames at 30 fps, and 768-d EgoVLP token features of the query",
    },
    "tacos": {
        "fps": 29.4,
        "clip": None,
        "training_data": "TACoS with 4096-d C3D features of clips of 16 frames every 16 frames at 29.4 fps, and "
        "GloVe 6B-300d word vectors of the query",
    },
    "mad": {
        "fps": 5.0,
        "clip": "openai/clip-vit-base-patch32",
        "training_data": "MAD (movies) with CLIP ViT-B/32 features: 512-d image embeddings of frames at 5 fps and "
        "512-d token features of the query",
    },
    "mad-v2": {
        "fps": 5.0,
        "clip": "openai/clip-vit-large-patch14",
        "training_data": "MAD-v2 (movies, AutoAD) with CLIP ViT-L/14 features: 768-d image embeddings of frames at "
        "5 fps and 768-d token features of the query",
    },
}


def detect_dataset(config: HieraMambaConfig) -> str | None:
    """The released setup whose feature widths, embedding stride and text encoder `config` has (None if none)."""
    for name in OFFICIAL_DATASETS:
        preset = HieraMambaConfig.from_preset(name)
        keys = ("video_input_dim", "text_input_dim", "embedding_stride", "text_encoder")
        if all(getattr(preset, key) == getattr(config, key) for key in keys):
            return name
    return None


# projectors live in the official trainer's loss modules, which are never saved
PROJECTOR_PREFIXES = ("acc_projector.", "spc_projector.")


def _require(condition: bool, message: str):
    if not condition:
        raise ValueError(f"Unsupported official configuration: {message}")


def config_from_official_opt(opt: dict, **overrides) -> HieraMambaConfig:
    """HieraMambaConfig from an official (raw, un-merged) opt dict such as `yaml.safe_load(opt.yaml)`."""
    _require(opt.get("model_net", {}).get("name", "hieramamba") == "hieramamba", "model_net.name must be hieramamba")
    model = opt["model"]
    text, vid = model["text_net"], {**_VID_NET_DEFAULTS, **model["vid_net"]}
    fusion, cls_head, reg_head = model.get("fusion", {}), model.get("cls_head", {}), model.get("reg_head", {})
    train, evaluation = opt.get("train", {}), opt.get("eval", {})
    data = train.get("data", {})
    pt_gen = opt.get("pt_gen", {})
    aux = train.get("loss_aux", {})
    acc, spc = aux.get("ds_contrast", {}), aux.get("gt_contrast", {})
    nms = {**_NMS_DEFAULTS, **evaluation.get("nms", {})}

    _require(vid.get("name", "hieramamba_backbone") == "hieramamba_backbone", "vid_net.name")
    _require(tuple(vid["arch"])[1] == 0, "stem transformers (arch[1] > 0)")
    _require(vid["pool_method"] == "mean", f"pool_method {vid['pool_method']!r}")
    _require(vid["block_type"] == "AnchorMambaPoolingBlockGated", f"block_type {vid['block_type']!r}")
    _require(vid["local_encoder_type"] == "transformer", "local_encoder_type")
    _require(bool(vid["bidirectional"]), "unidirectional Mamba2 global encoder")
    _require(text.get("name", "transformer") in ("identity", "transformer"), "text_net.name")
    _require(text.get("embd_dim") is not None, "text_net without embedding projection (embd_dim: null)")
    _require(fusion.get("name", "xattn") == "xattn", "fusion.name (only 'xattn')")
    _require(not cls_head.get("concat_text", False) and not reg_head.get("concat_text", False), "concat_text")
    _require(not pt_gen.get("use_offset", False), "pt_gen.use_offset")
    _require(not model.get("use_mst", False), "use_mst")
    _require(cls_head.get("n_layers", 2) == reg_head.get("n_layers", 2), "cls/reg heads with different depths")

    is_transformer = text.get("name", "transformer") == "transformer"
    n_local = vid["local_encode_num_layers"]
    kwargs = dict(
        video_input_dim=vid["in_dim"],
        hidden_size=vid["embd_dim"],
        max_seq_len=vid["max_seq_len"],
        embedding_stride=vid["stride"],
        num_embedding_convs=tuple(vid["arch"])[0],
        num_amp_blocks=tuple(vid["arch"])[2],
        use_abs_pe=bool(vid["use_abs_pe"]),
        local_encode=bool(vid["local_encode"]),
        num_local_encoder_blocks=None if n_local == 0 else n_local,
        local_window_size=vid["local_window_size"],
        hydra_state_size=vid["mamba_dstate"],
        hydra_conv_kernel=vid["mamba_dconv"],
        hydra_expand=vid["mamba_expand"],
        hydra_head_dim=vid["mamba_headdim"],
        text_input_dim=text["in_dim"],
        text_hidden_size=text["embd_dim"],
        text_encoder=text.get("name", "transformer"),
        text_num_heads=text.get("n_heads", 4),
        text_num_layers=text.get("n_layers", 5),
        text_max_seq_len=text["max_seq_len"],
        text_pad_length=evaluation.get("max_text_len", 24),
        text_use_abs_pe=bool(text.get("use_abs_pe", is_transformer)),
        text_use_background_token=bool(text.get("use_bkgd_token", True)),
        text_attn_dropout=text.get("attn_pdrop", 0.0),
        text_proj_dropout=text.get("proj_pdrop", 0.0),
        text_path_dropout=text.get("path_pdrop", 0.0),
        # the official evaluator batches all queries of a video, or runs them one by one (MAD)
        block_mask_mode="video" if evaluation.get("batchify_text_queries", True) else "sample",
        early_fusion=bool(model.get("early_fusion", True)),
        cross_attention_mode=fusion.get("xattn_mode", "adaln"),
        fusion_num_layers=fusion.get("n_layers", 2),
        fusion_num_heads=fusion.get("n_heads", 4),
        fusion_attn_dropout=fusion.get("attn_pdrop", 0.0),
        fusion_proj_dropout=fusion.get("proj_pdrop", 0.1),
        fusion_path_dropout=fusion.get("path_pdrop", 0.1),
        head_num_layers=cls_head.get("n_layers", 2),
        cls_prior_prob=cls_head.get("prior_prob", 0.0),
        regression_range=float(pt_gen.get("regression_range", 4)),
        regression_sigma=float(pt_gen.get("sigma", 0.5)),
        pre_nms_thresh=evaluation.get("pre_nms_thresh", 0.001),
        pre_nms_topk=evaluation.get("pre_nms_topk", 2000),
        seg_len_thresh=evaluation.get("seg_len_thresh", 0.1),
        nms_mode=nms["mode"],
        nms_iou_thresh=nms["iou_thresh"],
        nms_min_score=nms["min_score"],
        nms_sigma=nms["sigma"],
        voting_thresh=nms["voting_thresh"],
        max_num_segments=nms["max_num_segs"],
        clip_size=float(data.get("clip_size", 1)),
        clip_stride=float(data.get("clip_stride", 1)),
        downsample_rate=int(data.get("downsample_rate", 1)),
        center_sampling_radius=train.get("center_sampling_radius", 1.5),
        reg_loss=train.get("reg_loss", "diou"),
        reg_loss_weight=train.get("loss_weight", 1.0),
        initial_loss_norm=float(train.get("loss_norm", 160)),
        loss_norm_momentum=train.get("loss_norm_momentum", 0.9),
        acc_loss_weight=float(acc.get("weight", 1.0)) if acc.get("enable", False) else 0.0,
        acc_neg_ratio=float(acc.get("neg_ratio", 0.2)),
        acc_gap_ratio=float(acc.get("gap_ratio", 0.3)),
        acc_temperature=float(acc.get("temperature", 0.07)),
        spc_loss_weight=float(spc.get("weight", 1.0)) if spc.get("enable", False) else 0.0,
        spc_neg_ratio=float(spc.get("neg_ratio", 1.0)),
        spc_temperature=float(spc.get("temperature", 0.07)),
        projector_dim=int(acc.get("proj_outdim", spc.get("proj_outdim", 256))),
    )
    kwargs.update(overrides)
    return HieraMambaConfig(**kwargs)


# official key -> our key, in order; the first matching rule wins
_LAYER_RULES = [  # SnAG TransformerEncoder (local encoder, text transformer layers)
    (r"attn\.([qkv])_conv\.conv\.weight", r"\1_conv.weight"),
    (r"attn\.([qkv])_norm\.(weight|bias)", r"\1_norm.\2"),
    (r"attn\.attn\.(query|key|value|proj)\.(weight|bias)", r"attn.\1.\2"),
    (r"ln_attn\.(weight|bias)", r"attn_norm.\1"),
    (r"drop_path_attn\.scale", r"attn_scale.scale"),
    (r"ffn\.(fc|proj)\.(weight|bias)", r"ffn.\1.\2"),
    (r"ln_ffn\.(weight|bias)", r"ffn_norm.\1"),
    (r"drop_path_ffn\.scale", r"ffn_scale.scale"),
]
_BLOCK_RULES = [  # AnchorMambaPoolingBlockGated
    (r"global_encoder\.(.+)", r"global_mixer.\1"),
    (r"norm_global\.weight", r"global_norm.weight"),
    (r"norm_local\.weight", r"local_norm.weight"),
    (r"norm_ffn\.weight", r"ffn_norm.weight"),
    (r"drop_path_global\.scale", r"global_scale.scale"),
    (r"drop_path_local\.scale", r"local_scale.scale"),
    (r"drop_path_ffn\.scale", r"ffn_scale.scale"),
    (r"gate([12])\.0\.(weight|bias)", r"gate\1.\2"),
    (r"ffn\.0\.(weight|bias)", r"ffn.0.\1"),
    (r"ffn\.(w12|w2)\.weight", r"ffn.\1.weight"),
]
_FUSION_RULES = [  # SnAG TransformerDecoder
    (r"xattn\.q_conv\.conv\.weight", r"query_conv.weight"),
    (r"xattn\.q_norm\.(weight|bias)", r"query_norm.\1"),
    (r"xattn\.xattn\.(query|key|value|proj)\.(weight|bias)", r"cross_attn.\1.\2"),
    (r"ln_xattn_q\.(weight|bias)", r"query_ln.\1"),
    (r"ln_xattn_kv\.(weight|bias)", r"text_ln.\1"),
    (r"ffn\.(fc|proj)\.(weight|bias)", r"ffn.\1.\2"),
    (r"ln_ffn\.(weight|bias)", r"ffn_ln.\1"),
    (r"drop_path_ffn\.scale", r"ffn_scale.scale"),
]
_HEAD_RULES = [
    (r"convs\.(\d+)\.conv\.weight", r"convs.\1.weight"),
    (r"norms\.(\d+)\.(weight|bias)", r"norms.\1.\2"),
    (r"(?:cls|reg)_head\.conv\.(weight|bias)", r"output.\1"),
]
_TOP_RULES = [
    (r"text_net\.embd_fc\.conv\.(weight|bias)", r"model.text_encoder.input_proj.\1", None),
    (
        r"text_net\.attn_pool\.attn\.(query|key|value|proj)\.(weight|bias)",
        r"model.text_encoder.attention_pool.\1.\2",
        None,
    ),
    (r"text_net\.bkgd_token", r"model.text_encoder.background_token", None),
    (r"text_net\.transformer\.(\d+)\.(.+)", r"model.text_encoder.layers.\1.", _LAYER_RULES),
    (r"vid_proj\.conv\.(weight|bias)", r"model.video_proj.\1", None),
    (r"vid_net\.embd_fc\.conv\.(weight|bias)", r"model.backbone.input_proj.\1", None),
    (r"vid_net\.embd_convs\.(\d+)\.conv\.weight", r"model.backbone.embed_convs.\1.weight", None),
    (r"vid_net\.embd_norms\.(\d+)\.(weight|bias)", r"model.backbone.embed_norms.\1.\2", None),
    (r"vid_net\.branch\.(\d+)\.local_encoder\.(.+)", r"model.backbone.blocks.\1.local_encoder.", _LAYER_RULES),
    (r"vid_net\.branch\.(\d+)\.(.+)", r"model.backbone.blocks.\1.", _BLOCK_RULES),
    (r"fusion\.layers\.(\d+)\.(.+)", r"model.fusion.layers.\1.", _FUSION_RULES),
    (r"fusion\.ln_out\.(weight|bias)", r"model.fusion.final_norm.\1", None),
    (r"cls_head\.(.+)", r"cls_head.", _HEAD_RULES),
    (r"reg_head\.scales\.(\d+)\.scale", r"reg_head.level_scales.\1", None),
    (r"reg_head\.(.+)", r"reg_head.", _HEAD_RULES),
]


def map_official_key(key: str) -> str | None:
    """Our parameter name for an official state-dict key (None when no rule matches).
    `reg_head.level_scales.<l>` names element l of the stacked per-level scales."""
    for pattern, target, sub_rules in _TOP_RULES:
        match = re.fullmatch(pattern, key)
        if match is None:
            continue
        if sub_rules is None:
            return match.expand(target)
        prefix, rest = match.expand(target), match.groups()[-1]
        for sub_pattern, sub_target in sub_rules:
            sub = re.fullmatch(sub_pattern, rest)
            if sub is not None:
                return prefix + sub.expand(sub_target)
        return None
    return None


def _squeezed(shape) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def convert_official_state_dict(official: dict, model: HieraMambaForVideoGrounding) -> dict[str, torch.Tensor]:
    """Map an official state dict onto `model`'s parameter names. Raises on any unexpected or missing key and on
    any shape mismatch (shapes may differ only by singleton dims: 1x1 convs -> Linear, (C, 1) norms -> (C,))."""
    target = model.state_dict()
    converted: dict[str, torch.Tensor] = {}
    level_scales: dict[int, torch.Tensor] = {}
    unexpected, mismatched = [], []
    for key, value in official.items():
        new_key = map_official_key(key)
        if new_key is not None and new_key.startswith("reg_head.level_scales."):
            level_scales[int(new_key.rsplit(".", 1)[1])] = value
            continue
        if new_key is None or new_key not in target:
            unexpected.append(f"{key} -> {new_key}")
            continue
        if _squeezed(value.shape) != _squeezed(target[new_key].shape):
            mismatched.append(f"{key} {tuple(value.shape)} -> {new_key} {tuple(target[new_key].shape)}")
            continue
        converted[new_key] = value.detach().reshape(target[new_key].shape).clone()
    if level_scales:
        n = target["reg_head.level_scales"].numel()
        if sorted(level_scales) != list(range(n)):
            mismatched.append(f"reg_head.scales levels {sorted(level_scales)} != {n} pyramid levels")
        else:
            converted["reg_head.level_scales"] = torch.stack([level_scales[i].reshape(()) for i in range(n)])
    missing = [k for k in target if k not in converted and not k.startswith(PROJECTOR_PREFIXES)]
    problems = []
    if unexpected:
        problems.append("unexpected official keys:\n  " + "\n  ".join(unexpected))
    if missing:
        problems.append("model keys without an official value:\n  " + "\n  ".join(missing))
    if mismatched:
        problems.append("shape mismatches:\n  " + "\n  ".join(mismatched))
    if problems:
        raise ValueError("Official checkpoint does not match the configuration:\n" + "\n".join(problems))
    return converted


def with_clip_encoders(model: HieraMambaForVideoGrounding, clip: str) -> HieraMambaForVideoGrounding:
    """`model` with the CLIP model `clip` (Hub id or folder) as its frame and query encoders, named rather than
    stored: `image_embeds` of the vision tower per frame, `last_hidden_state` of the text tower per token."""
    clip_config = AutoConfig.from_pretrained(clip)
    vision, text = clip_config.vision_config, clip_config.text_config
    vision.projection_dim = clip_config.projection_dim
    config = model.config
    if (clip_config.projection_dim, text.hidden_size) != (config.video_input_dim, config.text_input_dim):
        raise ValueError(
            f"the CLIP model {clip!r} gives {clip_config.projection_dim}-d image embeddings and {text.hidden_size}-d "
            f"token features, the checkpoint takes {config.video_input_dim}-d and {config.text_input_dim}-d."
        )
    config = copy.deepcopy(config)
    config.vision_config, config.vision_feature, config.vision_model_name_or_path = vision, "image_embeds", clip
    config.text_config, config.text_feature, config.text_model_name_or_path = text, "last_hidden_state", clip
    with_encoders = HieraMambaForVideoGrounding(config)
    result = with_encoders.load_state_dict(model.state_dict(), strict=False)
    encoders = ("model.vision_model.", "model.text_model.")
    if result.unexpected_keys or not all(key.startswith(encoders) for key in result.missing_keys):
        raise RuntimeError(f"attaching the encoders lost weights: {result}")
    return with_encoders.eval()


def convert_experiment(
    experiment_dir: str,
    output: str | None = None,
    weights: str = "ema",
    checkpoint: str | None = None,
    dataset: str | None = None,
    clip: str | None = None,
    features_only: bool = False,
    **config_overrides,
) -> HieraMambaForVideoGrounding:
    """Load DIR/opt.yaml and the checkpoint, build and fill the model (with its CLIP encoders for MAD and MAD-v2,
    see the module docstring); save it and its processor to `output` when given."""
    if weights not in ("ema", "model"):
        raise ValueError(f"--weights must be 'ema' or 'model', got {weights!r}.")
    if dataset is not None and dataset not in OFFICIAL_DATASETS:
        raise ValueError(f"--dataset must be one of {sorted(OFFICIAL_DATASETS)}, got {dataset!r}.")
    with open(os.path.join(experiment_dir, "opt.yaml")) as f:
        opt = yaml.safe_load(f)
    config = config_from_official_opt(opt)
    dataset = dataset or detect_dataset(config)
    recipe = OFFICIAL_DATASETS.get(dataset, {})
    settings = {"fps": recipe["fps"], "training_data": recipe["training_data"]} if recipe else {}
    config = config_from_official_opt(opt, **{**settings, **config_overrides})
    checkpoint = checkpoint or os.path.join(experiment_dir, "models", "last.pth")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    key = "model_ema" if weights == "ema" else "model"
    if isinstance(state, dict) and key in state:
        state = state[key]
    elif isinstance(state, dict) and ("model" in state or "model_ema" in state):
        raise ValueError(f"checkpoint {checkpoint} has no '{key}' entry (keys: {sorted(state)}).")
    state = {k.removeprefix("module."): v for k, v in state.items()}  # DDP-wrapped saves

    model = HieraMambaForVideoGrounding(config)
    converted = convert_official_state_dict(state, model)
    result = model.load_state_dict(converted, strict=False)
    assert all(k.startswith(PROJECTOR_PREFIXES) for k in result.missing_keys) and not result.unexpected_keys
    model.eval()
    clip = None if features_only else clip or recipe.get("clip")
    processor = HieraMambaProcessor()
    if clip is not None:
        model = with_clip_encoders(model, clip)
        processor = HieraMambaProcessor.from_components(clip, clip)
    if output is not None:
        model.save_pretrained(output)
        processor.save_pretrained(output)
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment-dir", required=True, help="official experiment folder (opt.yaml, models/)")
    parser.add_argument("--output", required=True, help="output folder for save_pretrained")
    parser.add_argument("--weights", choices=("ema", "model"), default="ema", help="which weights (default: ema)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint path (default: DIR/models/last.pth)")
    parser.add_argument("--fps", type=float, default=None, help="default fps stored in the config")
    parser.add_argument(
        "--dataset", choices=sorted(OFFICIAL_DATASETS), default=None, help="released setup (default: detected)"
    )
    parser.add_argument("--clip", default=None, help="CLIP Hub id or folder for MAD / MAD-v2 (default: the official)")
    parser.add_argument("--features-only", action="store_true", help="no encoders: precomputed features only")
    args = parser.parse_args(argv)
    overrides = {} if args.fps is None else {"fps": args.fps}
    model = convert_experiment(
        args.experiment_dir,
        args.output,
        args.weights,
        args.checkpoint,
        args.dataset,
        args.clip,
        args.features_only,
        **overrides,
    )
    n_params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith(PROJECTOR_PREFIXES))
    n_params -= sum(
        p.numel() for n, p in model.named_parameters() if n.startswith(("model.vision_model.", "model.text_model."))
    )
    print(f"Converted {args.weights} weights ({n_params / 1e6:.2f}M parameters) to {args.output}.")
    if model.config.training_data:
        print(f"Trained on: {model.config.training_data}.")
    if model.model.vision_model is not None:
        print(
            f"Reads video files and query text through {model.config.vision_model_name_or_path} (named, not copied)."
        )
    print(
        "Note: the contrastive projectors (acc_projector, spc_projector) are not in official checkpoints; "
        "they keep a fresh initialisation."
    )


if __name__ == "__main__":
    main()
