#!/usr/bin/env python
# Copyright 2026 The HuggingFace Team. All rights reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Does a model trained on the synthetic set follow the query's colour / shape / motion, or only find events?

    python -m hieramamba_hf.evaluate --model DIR --annotations SET/annotations/synthetic_grounding.json \\
        --video-features SET/video_features --text-features SET/text_features --split test --output preds.json
    python examples/synthetic_kind_report.py SET preds.json

Prints, per query type, how often the top-1 segment lands on the queried event, on an event of the queried kind,
and how often a random event of the video has that kind; how often that event has the queried colour, shape and
motion; and, on the queries whose colour also shows on events of another kind, how often the top-1 event has the
queried kind against the chance of a model that reads only the colour word
(see `hieramamba_hf.synthetic.query_kind_report`). A second table splits that test by attribute: the queried kind
against a same-colour kind that differs in the shape only, in the motion only, or in both (queries whose top-1 event
is of one of the two kinds; the chance is the queried kind's share of their events).
"""

import argparse
import json

from hieramamba_hf.synthetic import query_kind_report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set_dir", help="the synthetic set (its info.json and annotations)")
    parser.add_argument("predictions", help="the --output JSON of python -m hieramamba_hf.evaluate")
    parser.add_argument("--split", default="test")
    args = parser.parse_args(argv)
    with open(args.predictions) as f:
        predictions = json.load(f)["predictions"]
    report = query_kind_report(args.set_dir, predictions, args.split)
    print(f"{'':<10} {'':>7} {'':>9} {'':>8} {'':>11} {'top-1 event has the':^23} {'queried colour also on another kind':^37}")
    print(f"{'query type':<10} {'queries':>7} {'event acc':>9} {'kind acc':>8} {'kind chance':>11} "
          f"{'colour':>7} {'shape':>7} {'motion':>7} {'queries':>9} {'kind acc':>12} {'chance':>14}")
    for key in sorted(report, key=lambda k: (k == "all", k)):
        row = report[key]
        print(f"{key:<10} {row['queries']:>7} {row['event_accuracy']:>8.1f}% {row['kind_accuracy']:>7.1f}% "
              f"{row['kind_chance']:>10.1f}% {row['colour_accuracy']:>6.1f}% {row['shape_accuracy']:>6.1f}% "
              f"{row['motion_accuracy']:>6.1f}% {row['colour_distractor_queries']:>9} "
              f"{row['colour_distractor_kind_accuracy']:>11.1f}% {row['colour_distractor_kind_chance']:>13.1f}%")
    print()
    print(f"{'':<10} {'top-1 on the queried kind or a same-colour kind differing in: queries, acc, chance':^81}")
    print(f"{'query type':<10} " + "   ".join(f"{h:^25}" for h in ("shape only", "motion only", "shape and motion")))
    for key in sorted(report, key=lambda k: (k == "all", k)):
        row = report[key]
        cells = [f"{row[f'{d}_distractor_queries']:>5} {row[f'{d}_distractor_kind_accuracy']:>8.1f}% "
                 f"{row[f'{d}_distractor_kind_chance']:>8.1f}%" for d in ("shape", "motion", "shape_motion")]
        print(f"{key:<10} " + "   ".join(cells))


if __name__ == "__main__":
    main()
