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
"""Which inputs of a synthetic grounding set carry an event's colour, shape and motion? Linear probes.

    python examples/synthetic_feature_probe.py SET [--model DIR]

For the unique and ordinal queries of SET (each names one kind: colour, shape, motion), a multinomial logistic
regression is fitted on the train split and scored on the test split, for each attribute and for the whole kind, from:

- ``clip mean``: the mean clip feature over the queried event's clips (what one clip, or a pooled span, shows);
- ``clip trajectory``: that mean, plus the last and the middle clip minus the first (how the event changes);
- ``query text``: the query's text-encoder token features (``text_features/``), mean-pooled;
- with ``--model``: the model's text projection (``text_encoder.input_proj``) of those tokens, mean/max/min-pooled.

The chance row is the share of the most frequent class of the scored split.

Last, the rival ranking: can a small model pick the queried kind among the kinds of the same colour in its video
(the choice the grounding model gets wrong, see ``examples/synthetic_kind_report.py``)? For every unique / ordinal
query whose colour is shared by another kind of its video, each such kind is represented by the mean clip feature of its
first event; a two-tower scorer (one hidden layer of 64 per side on the standardised clip mean and query text mean,
score = dot product) is fitted with a softmax over the candidates of each training query (200 full-batch Adam
steps) and scored on the test queries; chance is the mean of ``1 / candidates``.
"""

import argparse
import os

import numpy as np
import torch

from hieramamba_hf.synthetic import load_synthetic_split, query_targets, sample_video_spec


ATTRIBUTES = ("colour", "shape", "motion", "kind")


def collect(set_dir, split, model=None):
    """Per query: the probe inputs (dict of 1-d tensors) and the labels (dict of strings); and, per query with a
    same-colour rival kind, ``(candidates (K, C), query text mean, index of the queried kind)``."""
    config, videos = load_synthetic_split(set_dir, split)
    inputs, labels, rivals = [], [], []
    for video_id, video in videos.items():
        spec = sample_video_spec(config, int(video_id.rsplit("_", 1)[1]))
        target_of = query_targets(spec, config)
        clips = torch.from_numpy(np.load(os.path.join(set_dir, "video_features", f"{video_id}.npy"))).float()
        for query in video["annotations"]:
            if query["query_type"] not in ("unique", "ordinal"):
                continue
            event = spec["events"][target_of[query["sentence"]]]
            span = clips[event["start"] : event["end"]]
            text = torch.from_numpy(np.load(os.path.join(set_dir, "text_features", f"{query['sentence_id']}.npy")))
            text = text.float()
            same_colour = {}  # (shape, motion) -> first event of that kind with the queried colour
            for other in spec["events"]:
                if other["colour"] == event["colour"]:
                    same_colour.setdefault((other["shape"], other["motion"]), other)
            if len(same_colour) > 1:
                candidates = torch.stack([clips[e["start"] : e["end"]].mean(0) for e in same_colour.values()])
                rivals.append((candidates, text.mean(0), list(same_colour).index((event["shape"], event["motion"]))))
            row = {
                "clip mean": span.mean(0),
                "clip trajectory": torch.cat([span.mean(0), span[-1] - span[0], span[len(span) // 2] - span[0]]),
                "query text": text.mean(0),
            }
            if model is not None:
                with torch.no_grad():
                    tokens = model.model.text_encoder.input_proj(text)
                row["model text projection"] = torch.cat([tokens.mean(0), tokens.amax(0), tokens.amin(0)])
            inputs.append(row)
            labels.append({"colour": event["colour"], "shape": event["shape"], "motion": event["motion"],
                           "kind": f"{event['colour']} {event['shape']} {event['motion']}"})  # fmt: skip
    return inputs, labels, rivals


def probe_accuracy(x_train, y_train, x_test, y_test, l2=1e-4):
    """Test accuracy of a standardised multinomial logistic regression (LBFGS) fitted on the train split."""
    classes = sorted(set(y_train))
    keep = [i for i, y in enumerate(y_test) if y in classes]  # a test class never seen in training counts as wrong
    targets = torch.tensor([classes.index(y) for y in y_train])
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    weight = torch.zeros(x_train.shape[1], len(classes), requires_grad=True)
    bias = torch.zeros(len(classes), requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=300)

    def closure():
        optimizer.zero_grad()
        logits = (x_train - mean) / std @ weight + bias
        loss = torch.nn.functional.cross_entropy(logits, targets) + l2 * weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        predicted = ((x_test[keep] - mean) / std @ weight + bias).argmax(1)
    right = sum(classes[p] == y_test[i] for p, i in zip(predicted.tolist(), keep))
    return 100.0 * right / len(y_test)


def rival_ranking_accuracy(train, test, hidden=64, steps=200, seed=0):
    """Test accuracy and chance (%) of a two-tower scorer ranking each query's candidates (see the docstring);
    ``train`` / ``test``: lists of ``(candidates (K, C), text (D,), label)``."""

    def pack(items):
        size = max(len(c) for c, _, _ in items)
        candidates = torch.zeros(len(items), size, items[0][0].shape[1])
        mask = torch.zeros(len(items), size, dtype=torch.bool)
        for i, (c, _, _) in enumerate(items):
            candidates[i, : len(c)], mask[i, : len(c)] = c, True
        return candidates, mask, torch.stack([t for _, t, _ in items]), torch.tensor([y for _, _, y in items])

    (c_train, m_train, t_train, y_train), (c_test, m_test, t_test, y_test) = pack(train), pack(test)
    c_mean, c_std = c_train[m_train].mean(0), c_train[m_train].std(0) + 1e-6
    t_mean, t_std = t_train.mean(0), t_train.std(0) + 1e-6
    torch.manual_seed(seed)
    towers = [torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, hidden))
              for d in (c_train.shape[2], t_train.shape[1])]  # fmt: skip
    optimizer = torch.optim.Adam([p for tower in towers for p in tower.parameters()], lr=1e-3)

    def scores(candidates, mask, text):
        video = towers[0]((candidates - c_mean) / c_std)
        query = towers[1]((text - t_mean) / t_std)
        return (video @ query[:, :, None])[..., 0].masked_fill(~mask, float("-inf"))

    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(scores(c_train, m_train, t_train), y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = (scores(c_test, m_test, t_test).argmax(1) == y_test).float().mean().item()
    chance = (1.0 / m_test.sum(1).float()).mean().item()
    return 100.0 * accuracy, 100.0 * chance


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set_dir", help="the synthetic set (info.json, annotations, video and text features)")
    parser.add_argument("--model", help="a HieraMamba checkpoint: also probe its text projection")
    parser.add_argument("--fit-split", default="train", help="split the probes are fitted on")
    parser.add_argument("--score-split", default="test", help="split the probes are scored on")
    args = parser.parse_args(argv)
    model = None
    if args.model:
        from hieramamba_hf import HieraMambaForVideoGrounding  # noqa: PLC0415

        model = HieraMambaForVideoGrounding.from_pretrained(args.model).eval()
    train = collect(args.set_dir, args.fit_split, model)
    test = collect(args.set_dir, args.score_split, model)
    for split, (inputs, _, _) in ((args.fit_split, train), (args.score_split, test)):
        if not inputs:
            raise SystemExit(f"{args.set_dir}: no unique or ordinal queries in the {split!r} split")
    print(f"{len(train[0])} {args.fit_split} / {len(test[0])} {args.score_split} queries (unique and ordinal); "
          f"accuracy on {args.score_split} in %")
    print(f"{'input':<24} {'dim':>5} " + " ".join(f"{a:>7}" for a in ATTRIBUTES))
    chance = []
    for attribute in ATTRIBUTES:
        values = [labels[attribute] for labels in test[1]]
        chance.append(100.0 * max(values.count(v) for v in set(values)) / len(values))
    print(f"{'chance (majority)':<24} {'':>5} " + " ".join(f"{c:>7.1f}" for c in chance))
    for name in train[0][0]:
        x_train = torch.stack([row[name] for row in train[0]])
        x_test = torch.stack([row[name] for row in test[0]])
        accuracies = [
            probe_accuracy(x_train, [y[a] for y in train[1]], x_test, [y[a] for y in test[1]]) for a in ATTRIBUTES
        ]
        print(f"{name:<24} {x_train.shape[1]:>5} " + " ".join(f"{a:>7.1f}" for a in accuracies))
    if not train[2] or not test[2]:
        print("rival ranking: no query whose colour another kind of its video shares in both splits")
        return
    accuracy, chance = rival_ranking_accuracy(train[2], test[2])
    print(f"rival ranking (queried kind among the same-colour kinds of its video, two-tower scorer on clip mean and "
          f"query text): {accuracy:.1f}% of {len(test[2])} {args.score_split} queries (chance {chance:.1f}%)")


if __name__ == "__main__":
    main()
