# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""MambaMia token budget: LLM prompt length with and without delta sampling, through the real processor and
`select_video_tokens`, for videos of 64 to 384 frames.

    python benchmarks/mambamia_tokens.py [--frames 64 128 256 384] [--delta-mean 0.3]

Per frame count n: the prompt is the Qwen2 ChatML template with one `<video>` and a question, built by
`MambaMiaProcessor` (tokens_per_frame 25 = 24 anchors + 1 frame separator, the mambamia-7b preset) from n frames;
"without" = the processor's input_ids length (n x 25 video tokens + text); "with" = the length after
`select_video_tokens` removes the frames that delta sampling (paper Algorithm 1, M_thresh 180, delta_thresh 0.6)
drops. Delta_t comes from the preset's Temporal Axis Aggregator (width 24 x 3072, TAA hidden 384) run on random
anchors; a random TAA has no trained Delta_t, so its shared dt_bias is set by bisection so that the mean Delta_t is
`--delta-mean` (0.3 by default: about every second frame kept, as the paper reports for trained models). The
vision tower, Stage 1 and the LLM are not run (Stage 1 throughput is benchmarks/mambamia_compressor.py). The text
part uses the word-level tokenizer of examples/synthetic_video_qa/tiny_models.py (a Qwen2 BPE tokenizer cannot be
downloaded here), so the text tokens are indicative; the video tokens are exact. Also listed: the vision tokens
SigLIP produces (n x 576) and the compressor's input sequence (n x 600).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "synthetic_video_qa")
)  # the word-level tokenizer
from _machine import machine_line, markdown_table  # noqa: E402
from tiny_models import tiny_tokenizer  # noqa: E402

from mambamia_hf import MambaMiaConfig  # noqa: E402
from mambamia_hf.modeling_mambamia import (  # noqa: E402
    MambaMiaPreTrainedModel,
    MambaMiaTemporalAxisAggregator,
    delta_sampling,
    select_video_tokens,
)
from mambamia_hf.processing_mambamia import MambaMiaProcessor  # noqa: E402
from mambamia_hf.video_processing_mambamia import MambaMiaVideoProcessor  # noqa: E402


QUESTION = "what is in the video ? describe it"


def calibrated_deltas(config: MambaMiaConfig, frames: int, delta_mean: float) -> torch.Tensor:
    """Delta_t (frames,) of the preset's TAA on random anchors, its dt_bias bisected to a mean of `delta_mean`."""
    torch.manual_seed(0)
    taa = MambaMiaTemporalAxisAggregator(config)
    init_model = MambaMiaPreTrainedModel.__new__(MambaMiaPreTrainedModel)  # the model's _init_weights, no LLM
    init_model.config = config
    taa.apply(init_model._init_weights)
    taa.eval()
    anchors = torch.randn(1, frames, config.queries_per_frame, config.compressor_hidden_size)
    mask = torch.ones(1, frames, dtype=torch.bool)
    with torch.inference_mode():
        _, deltas = taa(anchors, mask)
        if delta_mean > 0:
            low, high = -12.0, 6.0
            for _ in range(25):
                taa.mixer.dt_bias.fill_((low + high) / 2)
                _, deltas = taa(anchors, mask)
                low, high = ((low + high) / 2, high) if float(deltas.mean()) < delta_mean else (low, (low + high) / 2)
    return deltas[0].float()


def run(frames=(64, 128, 256, 384), delta_mean: float = 0.3) -> str:
    start_cpu = time.process_time()
    config = MambaMiaConfig.from_preset("mambamia-7b")
    deltas = calibrated_deltas(config, max(frames), delta_mean)
    video_processor = MambaMiaVideoProcessor(size={"height": 32, "width": 32})  # pixels are not used here
    processor = MambaMiaProcessor(video_processor, tiny_tokenizer(), tokens_per_frame=config.tokens_per_frame)
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": QUESTION}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    rows = []
    for n in frames:
        inputs = processor(text=prompt, videos=np.zeros((n, 32, 32, 3), dtype=np.uint8), max_frames=n)
        without = int(inputs["attention_mask"].sum())
        kept = torch.ones(n, dtype=torch.bool)
        if config.delta_sampling and n > config.delta_sampling_min_frames:
            kept = delta_sampling(deltas[:n], config.delta_sampling_threshold)
        ids, mask = select_video_tokens(
            inputs["input_ids"],
            inputs["attention_mask"],
            kept[None],
            torch.tensor([n]),
            processor.video_token_id,
            config.tokens_per_frame,
            processor.tokenizer.pad_token_id,
        )
        with_ds = int(mask.sum())
        vision = n * config.num_patches_per_frame
        rows.append(
            [
                n,
                f"{vision:,}",
                f"{n * (config.num_patches_per_frame + config.queries_per_frame):,}",
                f"{without:,}",
                int(kept.sum()),
                f"{with_ds:,}",
                f"{vision / with_ds:.0f}x",
                f"{without / with_ds:.2f}x",
            ]
        )
    return "\n".join(
        [
            f"**MambaMia prompt length** (mambamia-7b token layout, {config.tokens_per_frame} LLM tokens per kept "
            "frame; "
            f"delta sampling above {config.delta_sampling_min_frames} frames with threshold "
            f"{config.delta_sampling_threshold}; Delta_t of a random TAA calibrated to mean {delta_mean:g}; "
            f"text tokens from the word-level test tokenizer; CPU {time.process_time() - start_cpu:.1f} s)",
            "",
            machine_line(),
            "",
            markdown_table(
                [
                    "frames",
                    "vision tokens (SigLIP)",
                    "compressor sequence",
                    "prompt tokens, all frames",
                    "kept frames (delta sampling)",
                    "prompt tokens, delta sampling",
                    "vision tokens / prompt",
                    "saving from delta sampling",
                ],
                rows,
            ),
        ]
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, nargs="+", default=[64, 128, 256, 384])
    ap.add_argument("--delta-mean", type=float, default=0.3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(run(args.frames, args.delta_mean))


if __name__ == "__main__":
    main()
