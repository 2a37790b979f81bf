# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""HieraMamba on the Hugging Face Hub: one-call save / push of model + processor with a generated model card.

* `save_checkpoint(folder, model, processor, ...)` writes a complete, self-describing checkpoint: config.json (with
  `auto_map`), model.safetensors (the grounding model and the encoders it stores), the processor's files, the
  auto_map shim files and README.md (the model card).
* `push_to_hub(model, processor, repo_id, ...)` saves that folder to a temporary directory and uploads it as ONE
  commit (create_repo + upload_folder).
* The shims are one-line modules importing the installed `hieramamba_hf`, so
  `AutoModel.from_pretrained(id, trust_remote_code=True)` (and AutoConfig / AutoProcessor /
  `AutoModelForVideoGrounding`) work when the package is installed but was never imported. No implementation
  is copied into the checkpoint. Registered local classes win over these shims once `hieramamba_hf` is imported.
* The model card is rendered from `model_cards/hieramamba.md` with `huggingface_hub.ModelCard`; its metadata
  (`ModelCardData`) carries library_name, pipeline_tag "video-grounding", tags (video-temporal-grounding,
  moment-retrieval, hieramamba), base_model = the Hub ids of the encoders the checkpoint names, and metrics as
  `EvalResult`s.
"""

from __future__ import annotations

import os
import sys
import tempfile

from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData

from ssm_layers.remote_code import write_auto_map_shims

from .configuration_hieramamba import AUTO_MAP


__all__ = ["MODEL_CARD_TEMPLATE", "make_model_card", "push_to_hub", "save_checkpoint"]


def _model_card_template() -> str:
    """model_cards/hieramamba.md of a source checkout (editable install), else the copy a wheel installs under
    <prefix>/share/ssm-video-models/model_cards/."""
    source = os.path.join(os.path.dirname(__file__), "..", "..", "model_cards", "hieramamba.md")
    installed = os.path.join(sys.prefix, "share", "ssm-video-models", "model_cards", "hieramamba.md")
    return os.path.normpath(source if os.path.isfile(source) else installed)


MODEL_CARD_TEMPLATE = _model_card_template()
TAGS = ("video-temporal-grounding", "moment-retrieval", "hieramamba", "state-space-model")


def _base_models(config) -> list[str]:
    names = []
    for name in (config.vision_model_name_or_path, config.text_model_name_or_path):
        if name and not os.path.isabs(name) and name.count("/") == 1 and name not in names:
            names.append(name)  # only Hub ids make sense as base_model
    return names


def _grounding_parameters(model) -> int:
    """Parameters of the grounding model, its encoders not counted."""
    encoders = [getattr(model.base_model, name) for name in ("vision_model", "text_model")]
    return model.num_parameters() - sum(encoder.num_parameters() for encoder in encoders if encoder is not None)


def _encoder_description(model, name: str) -> str:
    encoder = getattr(model.base_model, name)
    if encoder is None:
        return "none (pass precomputed features)"
    config = model.config
    feature = config.vision_feature if name == "vision_model" else config.text_feature
    source = config.vision_model_name_or_path if name == "vision_model" else config.text_model_name_or_path
    package = config.vision_model_package if name == "vision_model" else config.text_model_package
    if type(encoder).__name__ == "SimpleFrameEncoderModel":
        return "SimpleFrameEncoderModel (deterministic, no learned weights), stored in the checkpoint"
    if source or package:
        where = f"named: weights loaded from `{source}`" + (f" or the pip package `{package}`" if package else "")
    else:
        where = "stored in the checkpoint"
    return f"{type(encoder).__name__} ({feature}), {where}"


def make_model_card(
    model,
    repo_id: str | None = None,
    metrics: dict | None = None,
    dataset: str | None = None,
    dataset_name: str | None = None,
    license: str | None = "apache-2.0",
    description: str | None = None,
    template_path: str | None = None,
):
    """A `huggingface_hub.ModelCard` for a HieraMamba checkpoint.

    metrics: {"R@1,IoU=0.5": 42.0, ...} (percent) -> `EvalResult`s (task video-temporal-grounding) on `dataset`
    (a Hub dataset id or a name) in the card's model-index; requires a model name (`repo_id`)."""
    name = repo_id.split("/")[-1] if repo_id else "hieramamba"
    eval_results = None
    if metrics:
        if not dataset:
            raise ValueError("metrics need the dataset they were measured on (dataset=...).")
        eval_results = [
            EvalResult(
                task_type="video-temporal-grounding",
                task_name="Video temporal grounding",
                dataset_type=dataset,
                dataset_name=dataset_name or dataset,
                metric_type=key.lower(),
                metric_name=key,
                metric_value=float(value),
            )
            for key, value in metrics.items()
        ]
    base = _base_models(model.config)
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag="video-grounding",
        tags=list(TAGS),
        license=license,
        base_model=base or None,
        datasets=[dataset] if dataset and "/" in dataset else None,
        model_name=name,
        eval_results=eval_results,
    )
    config = model.config
    clock = (
        f"{config.fps:g} fps, clips of {config.clip_size:g} frames every {config.clip_stride:g} frames, "
        f"downsample {config.downsample_rate}"
    )
    kwargs = {
        "model_id": repo_id or name,
        "model_description": description or "HieraMamba video temporal grounding model.",
        "num_parameters": f"{_grounding_parameters(model) / 1e6:.2f}M",
        "frame_encoder": _encoder_description(model, "vision_model"),
        "text_encoder": _encoder_description(model, "text_model"),
        "feature_clock": clock,
        "video_input_dim": config.video_input_dim,
        "text_input_dim": config.text_input_dim,
        "metrics_table": "\n".join(f"| {k} | {float(v):.2f} |" for k, v in (metrics or {}).items())
        or "| (not evaluated) | |",
        "dataset": dataset_name or dataset or "not specified",
        "training_data": config.training_data or "data the checkpoint does not record",
    }
    template = template_path or MODEL_CARD_TEMPLATE
    if not os.path.isfile(template):
        raise FileNotFoundError(f"model card template not found: {template} (pass template_path=...).")
    return ModelCard.from_template(card_data, template_path=template, **kwargs)


def save_checkpoint(
    save_directory: str, model, processor, model_card: bool = True, repo_id: str | None = None, **card_kwargs
) -> str:
    """Save model + processor + auto_map shims (+ README.md model card) into one folder; returns the folder."""
    os.makedirs(save_directory, exist_ok=True)
    model.save_pretrained(save_directory)  # config.json with auto_map + the model shims
    processor.save_pretrained(save_directory)
    write_auto_map_shims(save_directory, "hieramamba_hf", AUTO_MAP)
    if model_card:
        card = make_model_card(model, repo_id=repo_id, **card_kwargs)
        card.save(os.path.join(save_directory, "README.md"))
    return save_directory


def push_to_hub(
    model,
    processor,
    repo_id: str,
    *,
    commit_message: str | None = None,
    private: bool | None = None,
    token: str | bool | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    **card_kwargs,
):
    """Push model + processor + shims + generated model card to `repo_id` in one commit (honours HF_ENDPOINT).
    Returns the `CommitInfo`."""
    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    with tempfile.TemporaryDirectory() as folder:
        save_checkpoint(folder, model, processor, repo_id=repo_id, **card_kwargs)
        return api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            commit_message=commit_message or "Upload HieraMamba model + processor",
            revision=revision,
            create_pr=create_pr,
        )
