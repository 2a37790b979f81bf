# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""How often does the grounding demo reach its target (IoU >= 0.5 on at least 2 of 3 queries) on fresh videos?

    python examples/synthetic_grounding/demo_success_rate.py [--model PATH] --seeds 2001 2200

Draws the video and queries of `python examples/ground_video.py --seed S` for every seed S of the range, grounds
them with the checkpoint and prints how many videos get 0, 1, 2 or 3 queries right, and the hits per query type.
The videos are rendered straight to clip features (no mp4 round trip, about 10x faster than the demo itself); the
demo gets the same answers from the mp4 (tests/test_video_grounding_pipeline.py checks two seeds).
"""

import argparse
import collections
import json
import os
import sys
import time


sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # examples/: the demo
from ground_video import DEFAULT_MODEL, temporal_iou  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="checkpoint folder (default: %(default)s)")
    parser.add_argument("--seeds", type=int, nargs=2, required=True, metavar=("FIRST", "LAST"))
    parser.add_argument("--num-queries", type=int, default=3)
    parser.add_argument(
        "--shared-colours",
        action="store_true",
        help="as the demo's --shared-colours: videos whose kinds may share a colour",
    )
    args = parser.parse_args(argv)
    import torch
    from tqdm.auto import tqdm

    torch.set_num_threads(1)
    from synthetic import render_clip_features, sample_demo_video  # imports hieramamba_hf: registers the pipeline
    from transformers import pipeline

    start = time.perf_counter()
    grounder = pipeline("video-grounding", model=args.model)
    config, encoder = grounder.model.config, grounder.model.model.require_encoder("vision_model")
    info_path = os.path.join(args.model, "synthetic_info.json")
    if not os.path.isfile(info_path):
        raise SystemExit(f"{args.model} has no synthetic_info.json: it was not trained on the synthetic set")
    with open(info_path) as f:
        settings = json.load(f)["config"]
    if args.shared_colours:
        settings["distinct_colours"] = False
    per_video = collections.Counter()
    per_type = collections.defaultdict(lambda: [0, 0])
    seeds = range(args.seeds[0], args.seeds[1] + 1)
    for seed in tqdm(seeds, desc="videos"):
        synth, spec, queries = sample_demo_video(
            seed, args.num_queries, config.fps, config.clip_size, config.clip_stride, settings
        )
        features = torch.from_numpy(render_clip_features(spec, synth, encoder))
        predictions = grounder(features, query=[q["sentence"] for q in queries], top_k=1)
        hits = 0
        for query, preds in zip(queries, predictions):
            hit = temporal_iou((preds[0]["start"], preds[0]["end"]), query["truth"]) >= 0.5
            hits += hit
            per_type[query["type"]][0] += 1
            per_type[query["type"]][1] += hit
        per_video[hits] += 1
    n = len(seeds)
    need = (2 * args.num_queries + 2) // 3  # 2 of 3
    ok = sum(c for k, c in per_video.items() if k >= need)
    print(f"{args.model}: seeds {args.seeds[0]}-{args.seeds[1]} ({time.perf_counter() - start:.0f} s)")
    print(f"videos with >= {need} of {args.num_queries} queries at IoU >= 0.5: {ok} of {n} ({100 * ok / n:.1f}%)")
    print("videos by queries right: " + ", ".join(f"{k}: {per_video[k]}" for k in range(args.num_queries + 1)))
    total = sum(h for _, h in per_type.values())
    print(f"queries at IoU >= 0.5: {total} of {n * args.num_queries} ({100 * total / (n * args.num_queries):.1f}%)")
    for qtype, (m, h) in sorted(per_type.items()):
        print(f"  {qtype:<8} {h:>4} of {m:<4} ({100 * h / m:.1f}%)")


if __name__ == "__main__":
    main()
