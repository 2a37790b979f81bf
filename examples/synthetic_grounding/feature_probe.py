#!/usr/bin/env python
# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Which inputs of a synthetic grounding set carry an event's colour, shape and motion? Linear probes.

    python examples/synthetic_grounding/feature_probe.py SET [--model DIR]

For the unique and ordinal queries of SET (each names one kind: colour, shape, motion), a multinomial logistic
regression is fitted on the train split and scored on the test split, for each attribute and for the whole kind, from:

- ``clip mean``: the mean clip feature over the queried event's clips (what one clip, or a pooled span, shows);
- ``clip trajectory``: that mean, plus the last and the middle clip minus the first (how the event changes);
- ``query text``: the query's text-encoder token features (``text_features/``), mean-pooled;
- with ``--model``: the model's text projection (``text_encoder.input_proj``) of those tokens, mean/max/min-pooled.

The chance row is the share of the most frequent class of the scored split.

Last, the rival ranking: can a small model pick the queried kind among the kinds of the same colour in its video
(the choice the grounding model gets wrong, see ``kind_report.py``)? For every unique / ordinal query whose colour
is shared by another kind of its video, each such kind is represented by the mean clip feature of its first event;
a two-tower scorer (one hidden layer of 64 per side on the standardised clip mean and query text mean,
score = dot product) is fitted with a softmax over the candidates of each training query (200 full-batch Adam
steps) and scored on the test queries; chance is the mean of ``1 / candidates``.

With ``--model DIR --binding``, where does the checkpoint lose that choice? For every such query and each
same-colour rival kind of its video, the model runs on the video and the query, and each feature below is averaged
over the queried event and over the rival's event; a logistic regression on the difference (queried minus rival,
both signs) is fitted on the train split and scored on the test split (chance 50%). Query-independent inputs (the
clip features) must stay at chance; a query-aware feature that carries the match does not. Features: the clip
features, the first fusion's output (early fusion: what the backbone reads), the backbone's level-0 output and the
fused level-0 features the heads read; the model's own choice is the higher mean classification logit. Last, the
same modules fresh (the text encoder, a video projection and the fusion of the checkpoint's config, then a linear
score of the mean over the candidate's clips), trained on the rival choice itself (softmax over the candidates of
each query, batches of 256, 100 AdamW steps): can the fusion learn the binding when it is asked for it directly?
"""

import argparse
import os

import numpy as np
import torch
from kind_report import load_synthetic_split, query_targets
from synthetic import sample_video_spec


ATTRIBUTES = ("colour", "shape", "motion", "kind")


def iter_queries(set_dir, split):
    """Every unique / ordinal query of ``split`` (each names one kind): ``(clips (T, C), text tokens (L, D), queried
    event, same_colour)``; ``same_colour`` maps each (shape, motion) with the queried colour to its first event."""
    config, videos = load_synthetic_split(set_dir, split)
    for video_id, video in videos.items():
        spec = sample_video_spec(config, int(video_id.rsplit("_", 1)[1]))
        target_of = query_targets(spec, config)
        clips = torch.from_numpy(np.load(os.path.join(set_dir, "video_features", f"{video_id}.npy"))).float()
        for query in video["annotations"]:
            if query["query_type"] not in ("unique", "ordinal"):
                continue
            event = spec["events"][target_of[query["sentence"]]]
            text = torch.from_numpy(np.load(os.path.join(set_dir, "text_features", f"{query['sentence_id']}.npy")))
            same_colour = {}
            for other in spec["events"]:
                if other["colour"] == event["colour"]:
                    same_colour.setdefault((other["shape"], other["motion"]), other)
            yield clips, text.float(), event, same_colour


def collect(set_dir, split, model=None):
    """Per query: the probe inputs (dict of 1-d tensors) and the labels (dict of strings); and, per query with a
    same-colour rival kind, ``(candidates (K, C), query text mean, index of the queried kind)``."""
    inputs, labels, rivals = [], [], []
    for clips, text, event, same_colour in iter_queries(set_dir, split):
        span = clips[event["start"] : event["end"]]
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
        labels.append(
            {
                "colour": event["colour"],
                "shape": event["shape"],
                "motion": event["motion"],
                "kind": f"{event['colour']} {event['shape']} {event['motion']}",
            }
        )
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
    towers = [
        torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, hidden))
        for d in (c_train.shape[2], t_train.shape[1])
    ]
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


def match_features(set_dir, split, model):
    """Per (query, same-colour rival kind) pair: ``{feature name: (mean over the queried event, mean over the
    rival's event)}`` of the features named in the module docstring (the rival kind's first event)."""
    fusion_outputs = []
    hook = model.model.fusion.register_forward_hook(lambda module, args, output: fusion_outputs.append(output[0]))
    pairs = []
    try:
        for clips, text, event, same_colour in iter_queries(set_dir, split):
            if len(same_colour) < 2:
                continue
            fusion_outputs.clear()
            with torch.no_grad():
                out = model(
                    clips[None],
                    torch.ones(1, len(clips), dtype=torch.bool),
                    text[None],
                    torch.ones(1, len(text), dtype=torch.bool),
                )
            length = len(clips)
            features = {"clip features": clips}
            if model.config.early_fusion:
                features["first fusion output"] = fusion_outputs[0][0, :length]
            features["backbone level 0"] = out.sequence_features[0][0, :length]
            features["fused level 0"] = out.pyramid_features[0][0, :length]
            features["classification logit"] = out.logits[0, :length, None]
            for kind, rival in same_colour.items():
                if kind == (event["shape"], event["motion"]):
                    continue
                spans = (slice(event["start"], event["end"]), slice(rival["start"], rival["end"]))
                pairs.append({name: tuple(f[span].mean(0) for span in spans) for name, f in features.items()})
    finally:
        hook.remove()
    return pairs


def pairwise_probe_accuracy(train, test, l2=1e-4):
    """Test accuracy (%) of a logistic regression that tells which of two feature vectors is the queried one from
    their difference; ``train`` / ``test``: lists of ``(queried (C,), rival (C,))``."""
    difference = torch.stack([a - b for a, b in train])
    x = torch.cat([difference, -difference])
    y = torch.cat([torch.ones(len(difference)), torch.zeros(len(difference))])
    std = x.std(0) + 1e-6
    weight = torch.zeros(x.shape[1], requires_grad=True)
    optimizer = torch.optim.LBFGS([weight], max_iter=300)

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x / std @ weight, y) + l2 * weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        scores = torch.stack([a - b for a, b in test]) / std @ weight
    return 100.0 * (scores > 0).float().mean().item()


def fresh_fusion_accuracy(set_dir, fit_split, score_split, config, steps=100, batch_size=256, max_clips=12, seed=0):
    """Test accuracy and chance (%) of the checkpoint config's text encoder + video projection + fusion, freshly
    initialised and trained on the rival choice itself (see the docstring)."""
    from hieramamba_hf.modeling_hieramamba import HieraMambaFusion, HieraMambaTextEncoder

    def pack(split):
        items = [
            (
                [c[e["start"] : e["end"]][:max_clips] for e in same.values()],
                text,
                list(same).index((event["shape"], event["motion"])),
            )
            for c, text, event, same in iter_queries(set_dir, split)
            if len(same) > 1
        ]
        n, k, length = len(items), max(len(c) for c, _, _ in items), max(len(t) for _, t, _ in items)
        clips = torch.zeros(n, k, max_clips, items[0][0][0].shape[1])
        clip_mask = torch.zeros(n, k, max_clips, dtype=torch.bool)
        text = torch.zeros(n, length, items[0][1].shape[1])
        text_mask = torch.zeros(n, length, dtype=torch.bool)
        for i, (candidates, tokens, _) in enumerate(items):
            for j, span in enumerate(candidates):
                clips[i, j, : len(span)], clip_mask[i, j, : len(span)] = span, True
            text[i, : len(tokens)], text_mask[i, : len(tokens)] = tokens, True
        return clips, clip_mask, text, text_mask, torch.tensor([label for _, _, label in items])

    train, test = pack(fit_split), pack(score_split)
    mean, std = train[0][train[1]].mean(0), train[0][train[1]].std(0) + 1e-6
    torch.manual_seed(seed)
    text_encoder, fusion = HieraMambaTextEncoder(config), HieraMambaFusion(config)
    video_proj = torch.nn.Linear(config.video_input_dim, config.hidden_size)
    score = torch.nn.Linear(config.hidden_size, 1)
    modules = (text_encoder, fusion, video_proj, score)
    optimizer = torch.optim.AdamW([p for m in modules for p in m.parameters()], lr=1e-3)

    def scores(clips, clip_mask, text, text_mask):
        n, k = clips.shape[:2]
        tokens, token_mask = text_encoder(text, text_mask)
        video = video_proj((clips - mean) / std).flatten(0, 1)
        mask = clip_mask.flatten(0, 1)  # each (query, candidate) pair meets the query's tokens
        fused, fused_mask = fusion(
            video,
            mask,
            tokens.repeat_interleave(k, 0),
            token_mask.repeat_interleave(k, 0),
            torch.ones(n * k, dtype=torch.long),
        )
        pooled = (fused * fused_mask[..., None]).sum(1) / fused_mask.sum(1).clamp(min=1)[:, None]
        return score(pooled).view(n, k).masked_fill(~clip_mask.any(-1), float("-inf"))

    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        batch = torch.randint(len(train[4]), (batch_size,), generator=generator)
        loss = torch.nn.functional.cross_entropy(scores(*(t[batch] for t in train[:4])), train[4][batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = (scores(*test[:4]).argmax(1) == test[4]).float().mean().item()
    chance = (1.0 / test[1].any(-1).sum(1).float()).mean().item()
    return 100.0 * accuracy, 100.0 * chance


def print_binding(args, model):
    train = match_features(args.set_dir, args.fit_split, model)
    test = match_features(args.set_dir, args.score_split, model)
    if not train or not test:
        print("binding: no query whose colour another kind of its video shares in both splits")
        return
    print(
        f"binding: queried vs same-colour rival event, {len(train)} {args.fit_split} / {len(test)} "
        f"{args.score_split} pairs; pairwise accuracy on {args.score_split} in % (chance 50)"
    )
    own = [float(a[0] > b[0]) for a, b in (pair["classification logit"] for pair in test)]
    print(f"  {'the model (higher mean classification logit)':<46} {100.0 * sum(own) / len(own):>6.1f}")
    for name in test[0]:
        if name != "classification logit":
            accuracy = pairwise_probe_accuracy([pair[name] for pair in train], [pair[name] for pair in test])
            print(f"  {'linear probe on ' + name:<46} {accuracy:>6.1f}")
    accuracy, chance = fresh_fusion_accuracy(args.set_dir, args.fit_split, args.score_split, model.config)
    print(f"  fresh text encoder + fusion trained on the choice: {accuracy:.1f}% (chance {chance:.1f}%)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set_dir", help="the synthetic set (info.json, annotations, video and text features)")
    parser.add_argument("--model", help="a HieraMamba checkpoint: also probe its text projection")
    parser.add_argument(
        "--binding",
        action="store_true",
        help="with --model: where the model loses the same-colour rival choice (see above)",
    )
    parser.add_argument("--fit-split", default="train", help="split the probes are fitted on")
    parser.add_argument("--score-split", default="test", help="split the probes are scored on")
    args = parser.parse_args(argv)
    if args.binding and not args.model:
        parser.error("--binding needs --model")
    model = None
    if args.model:
        from hieramamba_hf import HieraMambaForVideoGrounding

        model = HieraMambaForVideoGrounding.from_pretrained(args.model).eval()
    train = collect(args.set_dir, args.fit_split, model)
    test = collect(args.set_dir, args.score_split, model)
    for split, (inputs, _, _) in ((args.fit_split, train), (args.score_split, test)):
        if not inputs:
            raise SystemExit(f"{args.set_dir}: no unique or ordinal queries in the {split!r} split")
    print(
        f"{len(train[0])} {args.fit_split} / {len(test[0])} {args.score_split} queries (unique and ordinal); "
        f"accuracy on {args.score_split} in %"
    )
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
    print(
        f"rival ranking (queried kind among the same-colour kinds of its video, two-tower scorer on clip mean and "
        f"query text): {accuracy:.1f}% of {len(test[2])} {args.score_split} queries (chance {chance:.1f}%)"
    )
    if args.binding:
        print_binding(args, model)


if __name__ == "__main__":
    main()
