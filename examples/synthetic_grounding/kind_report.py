#!/usr/bin/env python
# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Does a model trained on the synthetic set follow the query's colour / shape / motion, or only find events?

    python -m hieramamba_hf.evaluate --model DIR --annotations SET/annotations/synthetic_grounding.json \\
        --video-features SET/video_features --text-features SET/text_features --split test --output preds.json
    python examples/synthetic_grounding/kind_report.py SET preds.json

Prints, per query type, how often the top-1 segment lands on the queried event, on an event of the queried kind,
and how often a random event of the video has that kind; how often that event has the queried colour, shape and
motion; and, on the queries whose colour also shows on events of another kind, how often the top-1 event has the
queried kind against the chance of a model that reads only the colour word (see `query_kind_report`). A second
table splits that test by attribute: the queried kind against a same-colour kind that differs in the shape only, in
the motion only, or in both (queries whose top-1 event is of one of the two kinds; the chance is the queried kind's
share of their events).

Also here: `load_synthetic_split` and `query_targets`, which read a set back with the generator's own record of
each video (its events and which event each query names), for this report and `feature_probe.py`.
"""

import argparse
import collections
import json
import os

from synthetic import SyntheticGroundingConfig, _event_frames, _kind, make_queries, sample_video_spec


def load_synthetic_split(set_dir: str | os.PathLike, split: str) -> tuple[SyntheticGroundingConfig, dict]:
    """The generator config of a synthetic set (its ``info.json``) and the ``{video_id: video}`` of ``split``."""
    set_dir = os.fspath(set_dir)
    with open(os.path.join(set_dir, "info.json")) as f:
        saved = json.load(f)["config"]
    fields = SyntheticGroundingConfig.__dataclass_fields__
    config = SyntheticGroundingConfig(**{k: v for k, v in saved.items() if k in fields})
    with open(os.path.join(set_dir, "annotations", "synthetic_grounding.json")) as f:
        return config, json.load(f)[split]


def query_targets(spec: dict, config: SyntheticGroundingConfig) -> dict[str, int]:
    """``{sentence: index of the queried event}`` for the queries the generator wrote for video ``spec``."""
    queries = make_queries(spec, config.queries_per_video, config.query_type_weights)
    return {q["sentence"]: q["event"] for q in queries}


# (shape, motion) differ from the queried kind's
_RIVAL_KINDS = {"shape": (True, False), "motion": (False, True), "shape_motion": (True, True)}


def query_kind_report(set_dir: str | os.PathLike, predictions: list[dict], split: str = "test") -> dict:
    """Does a model follow the query's words? For each query of ``split``, the top-1 predicted segment is mapped to
    the event it overlaps most (in seconds); ``predictions`` are the records of ``python -m hieramamba_hf.evaluate
    --output`` (``{"sentence_id", "predictions": [{"segment": (s, e), ...}, ...]}``). Returns, per query type and for
    ``"all"``, in percent:

    - ``queries``, ``event_accuracy`` (that event is the queried one), ``kind_accuracy`` (it has the queried colour,
      shape and motion) and ``kind_chance`` (the share of the video's events with that kind);
    - ``colour_accuracy`` / ``shape_accuracy`` / ``motion_accuracy``: it has the queried colour / shape / motion;
    - ``colour_distractor_queries``: the queries whose video shows the queried colour on events of another kind, and
      on them ``colour_distractor_kind_accuracy`` (the top-1 event has the queried kind) and
      ``colour_distractor_kind_chance`` (the share of the queried colour's events that have the queried kind): a model
      that reads the colour word but not the shape and motion words scores that chance;
    - the same two-way test one attribute at a time: ``{d}_distractor_queries`` for ``d`` in ``"shape"``,
      ``"motion"``, ``"shape_motion"`` counts the queries whose video has events of the queried colour that differ
      from the queried kind in the shape only / in the motion only / in both, and whose top-1 event is of the queried
      kind or of such a rival kind; on them ``{d}_distractor_kind_accuracy`` (the top-1 event has the queried kind)
      and ``{d}_distractor_kind_chance`` (the queried kind's share of the two kinds' events). A model that binds the
      shape word but not the motion word is above chance on ``shape`` and at chance on ``motion``."""
    config, videos = load_synthetic_split(set_dir, split)
    top1 = {r["sentence_id"]: r["predictions"][0]["segment"] for r in predictions if r["predictions"]}
    totals = {}
    for video_id, video in videos.items():
        spec = sample_video_spec(config, int(video_id.rsplit("_", 1)[1]))
        events = spec["events"]
        spans = [tuple(f / config.fps for f in _event_frames(e, config)) for e in events]
        target_of = query_targets(spec, config)
        for query in video["annotations"]:
            if query["sentence_id"] not in top1:
                raise ValueError(f"no prediction for query {query['sentence_id']} of the {split} split")
            start, end = top1[query["sentence_id"]]
            hit = max(range(len(events)), key=lambda i: min(end, spans[i][1]) - max(start, spans[i][0]))
            target = target_of[query["sentence"]]
            same_kind = [_kind(e) == _kind(events[target]) for e in events]
            same_colour = [e["colour"] == events[target]["colour"] for e in events]
            distracted = sum(same_colour) > sum(same_kind)  # the queried colour also shows on another kind
            for key in (query["query_type"], "all"):
                row = totals.setdefault(key, collections.Counter())
                row["queries"] += 1
                row["event_accuracy"] += hit == target
                row["kind_accuracy"] += same_kind[hit]
                row["kind_chance"] += sum(same_kind) / len(events)
                for attribute in ("colour", "shape", "motion"):
                    row[f"{attribute}_accuracy"] += events[hit][attribute] == events[target][attribute]
                row["colour_distractor_queries"] += distracted
                row["colour_distractor_kind_accuracy"] += distracted and same_kind[hit]
                row["colour_distractor_kind_chance"] += distracted and sum(same_kind) / sum(same_colour)
                for name, differs in _RIVAL_KINDS.items():  # queried kind against a kind differing in `differs` only
                    rival = [
                        same_colour[i]
                        and (e["shape"] != events[target]["shape"], e["motion"] != events[target]["motion"]) == differs
                        for i, e in enumerate(events)
                    ]
                    chosen = any(rival) and (same_kind[hit] or rival[hit])
                    row[f"{name}_distractor_queries"] += chosen
                    row[f"{name}_distractor_kind_accuracy"] += chosen and same_kind[hit]
                    row[f"{name}_distractor_kind_chance"] += chosen and sum(same_kind) / (sum(same_kind) + sum(rival))
    report = {}
    for key, row in totals.items():
        counts = {name: row.pop(name) for name in list(row) if name.endswith("queries")}  # the denominators
        report[key] = dict(counts)
        for name, value in row.items():  # percentages: of the queries counted by `{d}_distractor_queries` for those
            prefix = name.partition("_distractor_kind")[0]
            denominator = counts[f"{prefix}_distractor_queries"] if "_distractor_kind" in name else counts["queries"]
            report[key][name] = 100 * value / denominator if denominator else float("nan")
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set_dir", help="the synthetic set (its info.json and annotations)")
    parser.add_argument("predictions", help="the --output JSON of python -m hieramamba_hf.evaluate")
    parser.add_argument("--split", default="test")
    args = parser.parse_args(argv)
    with open(args.predictions) as f:
        predictions = json.load(f)["predictions"]
    report = query_kind_report(args.set_dir, predictions, args.split)
    print(
        f"{'':<10} {'':>7} {'':>9} {'':>8} {'':>11} {'top-1 event has the':^23} "
        f"{'queried colour also on another kind':^37}"
    )
    print(
        f"{'query type':<10} {'queries':>7} {'event acc':>9} {'kind acc':>8} {'kind chance':>11} "
        f"{'colour':>7} {'shape':>7} {'motion':>7} {'queries':>9} {'kind acc':>12} {'chance':>14}"
    )
    for key in sorted(report, key=lambda k: (k == "all", k)):
        row = report[key]
        print(
            f"{key:<10} {row['queries']:>7} {row['event_accuracy']:>8.1f}% {row['kind_accuracy']:>7.1f}% "
            f"{row['kind_chance']:>10.1f}% {row['colour_accuracy']:>6.1f}% {row['shape_accuracy']:>6.1f}% "
            f"{row['motion_accuracy']:>6.1f}% {row['colour_distractor_queries']:>9} "
            f"{row['colour_distractor_kind_accuracy']:>11.1f}% {row['colour_distractor_kind_chance']:>13.1f}%"
        )
    print()
    print(f"{'':<10} {'top-1 on the queried kind or a same-colour kind differing in: queries, acc, chance':^81}")
    print(f"{'query type':<10} " + "   ".join(f"{h:^25}" for h in ("shape only", "motion only", "shape and motion")))
    for key in sorted(report, key=lambda k: (k == "all", k)):
        row = report[key]
        cells = [
            f"{row[f'{d}_distractor_queries']:>5} {row[f'{d}_distractor_kind_accuracy']:>8.1f}% "
            f"{row[f'{d}_distractor_kind_chance']:>8.1f}%"
            for d in ("shape", "motion", "shape_motion")
        ]
        print(f"{key:<10} " + "   ".join(cells))


if __name__ == "__main__":
    main()
