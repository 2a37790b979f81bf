# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""HieraMamba post-processing: point predictions -> ranked segments in seconds, a faithful port of the official
evaluator (github jbistanbul/hieramamba `libs/worker.py::EvaluatorAuxiliary.predict` and `_collect_segments`,
`libs/nms/nms.py`, and the compiled `libs/nms/src/nms_cpu.cpp`; identical in SnAG fmu2/snag_release).
Own code, no official code copied; pure torch, no compiled extension.

`post_process_video_grounding` takes, for the Q queries of ONE video (levels concatenated, level 0 first):
  logits       (Q, P)     classification logits.
  offsets      (Q, P, 2)  regression offsets in stride units (after the head's ReLU).
  points       (P, 4)     (t, r_min, r_max, stride), t on the backbone grid.
  points_mask  (Q, P) or (P,) bool, valid points (None = all valid).
  durations    float or (Q,) video duration in seconds (clamping range).
and per query:
  1. decode: score = sigmoid(logit) * mask; keep score > pre_nms_thresh; keep the pre_nms_topk best;
     segment = [t - o_0 * stride, t + o_1 * stride]; drop segments with length <= seg_len_thresh;
     re-rank and keep pre_nms_topk again (the official evaluator does both, for its sliding windows);
  2. NMS (`batched_nms`): Gaussian soft-NMS (nms_mode "soft_nms": repeatedly take the highest current score and
     decay every remaining score by exp(-IoU^2 / nms_sigma), dropping scores < nms_min_score; IoU with areas
     e - s + 1e-6, float32, exactly the official C++ loop including its swap order for ties) or greedy NMS
     ("nms": drop IoU >= nms_iou_thresh, after dropping scores <= nms_min_score); then segment voting
     (voting_thresh > 0: each kept segment becomes the score-weighted mean of all pre-NMS segments with
     IoU >= voting_thresh; scores unchanged); keep the max_num_segments best;
  3. to seconds: (seg * embedding_stride * clip_stride * downsample_rate + 0.5 * clip_size) / fps, clamped to
     [0, duration].
Returns one ranked list per query of {"segment": (start_s, end_s), "score": float} (the input format of
`metrics_hieramamba.compute_grounding_metrics`).

Settings: keyword arguments, else attributes of `config` (HieraMambaConfig names: pre_nms_thresh, pre_nms_topk,
seg_len_thresh, nms_mode, nms_iou_thresh, nms_min_score, nms_sigma, voting_thresh, max_num_segments, fps,
clip_size, clip_stride, downsample_rate, embedding_stride), else the defaults of `HieraMambaConfig` (the Ego4D-NLQ
setup). `fps` in the config is a default; pass each video's own fps. `post_process_model_outputs` does the same for
the outputs of a `HieraMambaForVideoGrounding` forward over several videos.

Only the first max_num_segments soft-NMS selections are computed: later selections never change the earlier ones
and the official code discards them, so this is exact, not an approximation.
Behaviour kept from the official code (no fix needed): the selected soft-NMS scores are the decayed ones; the
voting IoU has no epsilon (segments are longer than seg_len_thresh); ties in score are ranked by the same unstable
`argsort` / `sort` calls as the official code.
Differences: each query uses its own row of points_mask (the official evaluator applies the first query's mask
to all queries of the video, which is the same mask for one video); max_num_segments < 1 raises (the official
returns no segment at all). Not ported: external scores (`ext_scores`) and sliding windows
(the released evaluators use one window per video), the `to_fixed_len` data mode.
"""

from __future__ import annotations

import torch

from .configuration_hieramamba import HieraMambaConfig


# the settings read from the config; their defaults are HieraMambaConfig's
_SETTINGS = (
    "pre_nms_thresh",
    "pre_nms_topk",
    "seg_len_thresh",
    "nms_mode",
    "nms_iou_thresh",
    "nms_min_score",
    "nms_sigma",
    "voting_thresh",
    "max_num_segments",
    "fps",
    "clip_size",
    "clip_stride",
    "downsample_rate",
    "embedding_stride",
)
_DEFAULTS = HieraMambaConfig()


def _check_segments(segments: torch.Tensor, scores: torch.Tensor):
    if segments.ndim != 2 or segments.shape[-1] != 2:
        raise ValueError(f"segments must be (n, 2), got {tuple(segments.shape)}.")
    if scores.shape != segments.shape[:1]:
        raise ValueError(f"scores must be ({segments.shape[0]},), got {tuple(scores.shape)}.")


def soft_nms_1d(
    segments: torch.Tensor,
    scores: torch.Tensor,
    sigma: float = _DEFAULTS.nms_sigma,
    min_score: float = _DEFAULTS.nms_min_score,
    max_num_segs: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian soft-NMS of the official compiled `softnms_1d_cpu` (method 2), float32.

    segments (n, 2), scores (n,). Iteration i takes the first maximum of the current scores of positions >= i
    (swapping it to position i), decays each later score by exp(-IoU^2 / sigma) and drops those < min_score by
    swapping in the last position. Returns the selected segments (k, 2) and their scores at selection time, in
    selection order; max_num_segs > 0 stops after that many selections.
    """
    _check_segments(segments, scores)
    x1 = segments[:, 0].detach().float().cpu().clone()
    x2 = segments[:, 1].detach().float().cpu().clone()
    score = scores.detach().float().cpu().clone()
    area = x2 - x1 + 1e-6
    state = torch.stack((x1, x2, score, area))  # (4, n) rows: start, end, score, area
    sigma_t = torch.tensor(sigma, dtype=torch.float32)
    min_score_t = torch.tensor(min_score, dtype=torch.float32)
    num = state.shape[1]
    selected = []
    i = 0
    while i < num and (max_num_segs <= 0 or i < max_num_segs):
        j = i + int(torch.argmax(state[2, i:num]))  # first maximum, as the C++ strict '<' scan
        if j != i:
            state[:, [i, j]] = state[:, [j, i]]
        start, end, top, top_area = state[:, i]
        selected.append(state[:3, i].clone())
        rest = state[:, i + 1 : num]
        overlap = (torch.minimum(end, rest[1]) - torch.maximum(start, rest[0])).clamp(min=0)
        iou = overlap / (top_area + rest[3] - overlap)
        rest[2] *= torch.exp(-(iou * iou) / sigma_t)  # Gaussian decay
        removed = rest[2] < min_score_t
        kept = int((~removed).sum())
        if kept < removed.numel():
            # the C++ loop fills each dropped slot (left to right) with the last surviving entry
            holes = removed[:kept].nonzero(as_tuple=True)[0]
            fillers = kept + (~removed[kept:]).nonzero(as_tuple=True)[0].flip(0)
            rest[:, holes] = rest[:, fillers]
            num = i + 1 + kept
        i += 1
    if not selected:
        return segments.new_zeros((0, 2), dtype=torch.float32), scores.new_zeros((0,), dtype=torch.float32)
    out = torch.stack(selected)
    return out[:, :2].contiguous(), out[:, 2].contiguous()


def hard_nms_1d(
    segments: torch.Tensor,
    scores: torch.Tensor,
    iou_thresh: float = _DEFAULTS.nms_iou_thresh,
    min_score: float = _DEFAULTS.nms_min_score,
    max_num_segs: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy NMS of the official `NMSop` + compiled `nms_1d_cpu`: keep scores > min_score (if min_score > 0), visit
    by descending score, drop later segments with IoU >= iou_thresh (areas e - s + 1e-6). Returns kept segments and
    scores in visiting order (at most max_num_segs when > 0)."""
    _check_segments(segments, scores)
    segments, scores = segments.detach().float().cpu(), scores.detach().float().cpu()
    if min_score > 0:
        keep = scores > min_score
        segments, scores = segments[keep], scores[keep]
    order = torch.sort(scores, descending=True)[1]
    x1, x2 = segments[order, 0], segments[order, 1]
    area = x2 - x1 + 1e-6
    alive = torch.ones(len(order), dtype=torch.bool)
    thresh = torch.tensor(iou_thresh, dtype=torch.float32)
    kept = []
    position = 0
    while position < len(order) and (max_num_segs <= 0 or len(kept) < max_num_segs):
        if not alive[position]:
            position += 1
            continue
        kept.append(position)
        rest = slice(position + 1, None)
        overlap = (torch.minimum(x2[position], x2[rest]) - torch.maximum(x1[position], x1[rest])).clamp(min=0)
        iou = overlap / (area[position] + area[rest] - overlap)
        alive[rest] &= ~(iou >= thresh)
        position += 1
    index = order[torch.tensor(kept, dtype=torch.long)]
    return segments[index], scores[index]


def segment_voting(
    nms_segments: torch.Tensor,
    all_segments: torch.Tensor,
    all_scores: torch.Tensor,
    iou_thresh: float = _DEFAULTS.voting_thresh,
) -> torch.Tensor:
    """(k, 2): each NMS segment replaced by the score-weighted mean of the segments of `all_segments` (n, 2) whose
    IoU with it (no epsilon) is >= iou_thresh (official `segment_voting`)."""
    _check_segments(all_segments, all_scores)
    left = torch.maximum(nms_segments[:, None, 0], all_segments[None, :, 0])
    right = torch.minimum(nms_segments[:, None, 1], all_segments[None, :, 1])
    overlap = (right - left).clamp(min=0)
    union = (
        (nms_segments[:, None, 1] - nms_segments[:, None, 0])
        + (all_segments[None, :, 1] - all_segments[None, :, 0])
        - overlap
    )
    weights = (overlap / union >= iou_thresh).float() * all_scores[None]
    weights = weights / weights.sum(dim=1, keepdim=True)
    return weights @ all_segments  # segment voting


def batched_nms(
    segments: torch.Tensor,
    scores: torch.Tensor,
    mode: str | None = _DEFAULTS.nms_mode,
    iou_thresh: float = _DEFAULTS.nms_iou_thresh,
    min_score: float = _DEFAULTS.nms_min_score,
    max_num_segs: int = _DEFAULTS.max_num_segments,
    sigma: float = _DEFAULTS.nms_sigma,
    voting_thresh: float = _DEFAULTS.voting_thresh,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Official `batched_nms`: NMS ("soft_nms" | "nms" | None), segment voting when voting_thresh > 0 (and an NMS
    ran), then the max_num_segs highest scores in descending order. Returns (k, 2) segments, (k,) scores (CPU)."""
    _check_segments(segments, scores)
    if max_num_segs < 1:
        raise ValueError(f"max_num_segs must be >= 1, got {max_num_segs}.")
    if mode not in ("soft_nms", "nms", None):
        raise ValueError(f"NMS mode must be 'soft_nms', 'nms' or None, got {mode!r}.")
    segments, scores = segments.detach().float().cpu(), scores.detach().float().cpu()
    if len(segments) == 0:
        return torch.zeros(0, 2), torch.zeros(0)
    if mode is None:
        nms_segments, nms_scores = segments, scores
    else:
        if mode == "soft_nms":
            nms_segments, nms_scores = soft_nms_1d(segments, scores, sigma, min_score, max_num_segs)
        else:
            nms_segments, nms_scores = hard_nms_1d(segments, scores, iou_thresh, min_score, max_num_segs)
        if voting_thresh > 0 and len(nms_segments) > 0:
            nms_segments = segment_voting(nms_segments, segments, scores, voting_thresh)
    order = nms_scores.argsort(descending=True)[: min(max_num_segs, len(nms_segments))]
    return nms_segments[order], nms_scores[order]


def decode_segments(
    logits: torch.Tensor,
    offsets: torch.Tensor,
    points: torch.Tensor,
    mask: torch.Tensor | None = None,
    pre_nms_thresh: float = _DEFAULTS.pre_nms_thresh,
    pre_nms_topk: int = _DEFAULTS.pre_nms_topk,
    seg_len_thresh: float = _DEFAULTS.seg_len_thresh,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Candidate segments of one query (official `_collect_segments`): logits (P,), offsets (P, 2), points (P, 4),
    mask (P,). Returns segments (n, 2) on the grid and scores (n,), by descending score."""
    if points.ndim != 2 or points.shape[-1] != 4:
        raise ValueError(f"points must be (P, 4), got {tuple(points.shape)}.")
    num_points = points.shape[0]
    if logits.shape != (num_points,) or offsets.shape != (num_points, 2):
        raise ValueError(
            f"logits {tuple(logits.shape)} / offsets {tuple(offsets.shape)} must be "
            f"({num_points},) / ({num_points}, 2)."
        )
    scores = torch.sigmoid(logits.detach().float())
    if mask is not None:
        if mask.shape != (num_points,):
            raise ValueError(f"mask must be ({num_points},), got {tuple(mask.shape)}.")
        scores = scores * mask.float()
    keep = scores > pre_nms_thresh
    points, scores, offsets = points[keep].float(), scores[keep], offsets[keep].detach().float()
    order = scores.argsort(descending=True)[: min(len(scores), pre_nms_topk)]
    points, scores, offsets = points[order], scores[order], offsets[order]
    left = points[:, 0] - offsets[:, 0] * points[:, 3]
    right = points[:, 0] + offsets[:, 1] * points[:, 3]
    keep = right - left > seg_len_thresh
    return torch.stack((left, right), dim=-1)[keep], scores[keep]


def grid_to_seconds(
    segments: torch.Tensor,
    fps: float,
    clip_size: float,
    clip_stride: float,
    downsample_rate: int,
    embedding_stride: int,
    duration: float | None = None,
) -> torch.Tensor:
    """Backbone-grid segments -> seconds: (seg * embedding_stride * clip_stride * downsample_rate
    + 0.5 * clip_size) / fps, clamped to [0, duration] (same float32 operation order as the official code)."""
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}.")
    segments = segments * embedding_stride
    segments = (segments * (clip_stride * downsample_rate) + 0.5 * clip_size) / fps
    return segments.clamp(min=0, max=duration) if duration is not None else segments.clamp(min=0)


def distinct_moments(moments: list[dict], iou_threshold: float, top_k: int) -> list[dict]:
    """The first `top_k` of ranked moments ({"segment": (s, e), "score"}) whose temporal IoU with every moment kept
    before them is below `iou_threshold`: one entry per moment where soft-NMS selected it several times."""
    kept = []
    for moment in moments:
        start, end = moment["segment"]
        if all(_iou(start, end, *other["segment"]) < iou_threshold for other in kept):
            kept.append(moment)
            if len(kept) == top_k:
                break
    return kept


def _iou(start_a: float, end_a: float, start_b: float, end_b: float) -> float:
    inter = max(0.0, min(end_a, end_b) - max(start_a, start_b))
    union = max(end_a, end_b) - min(start_a, start_b)
    return inter / union if union > 0 else 1.0


def post_process_video_grounding(
    logits: torch.Tensor,
    offsets: torch.Tensor,
    points: torch.Tensor,
    points_mask: torch.Tensor | None = None,
    durations: float | torch.Tensor | list | None = None,
    config=None,
    **settings,
) -> list[list[dict]]:
    """Ranked segments in seconds for each query of one video (see the module docstring).

    logits (Q, P), offsets (Q, P, 2), points (P, 4), points_mask (Q, P) / (P,) / None, durations float or (Q,).
    Returns Q lists (best first, at most max_num_segments) of {"segment": (start_s, end_s), "score": float}.
    """
    unknown = set(settings) - set(_SETTINGS)
    if unknown:
        raise ValueError(f"Unknown post-processing settings: {sorted(unknown)}.")
    s = {
        k: settings[k]
        if k in settings
        else getattr(config, k, getattr(_DEFAULTS, k))
        if config is not None
        else getattr(_DEFAULTS, k)
        for k in _SETTINGS
    }
    if logits.ndim != 2:
        raise ValueError(f"logits must be (Q, P), got {tuple(logits.shape)}.")
    num_queries, num_points = logits.shape
    if num_queries == 0 or num_points == 0:
        raise ValueError(f"logits is empty: shape {tuple(logits.shape)}.")
    if points.shape != (num_points, 4):
        raise ValueError(f"points must be ({num_points}, 4) = (t, r_min, r_max, stride), got {tuple(points.shape)}.")
    if offsets.shape != (num_queries, num_points, 2):
        raise ValueError(f"offsets must be ({num_queries}, {num_points}, 2), got {tuple(offsets.shape)}.")
    if points_mask is not None:
        if points_mask.shape == (num_points,):
            points_mask = points_mask[None].expand(num_queries, -1)
        if points_mask.shape != (num_queries, num_points):
            raise ValueError(
                f"points_mask must be ({num_queries}, {num_points}) or ({num_points},), "
                f"got {tuple(points_mask.shape)}."
            )
    if durations is None:
        raise ValueError("durations (video duration in seconds, float or one per query) is required.")
    durations = torch.as_tensor(durations, dtype=torch.float64).reshape(-1)
    if durations.numel() == 1:
        durations = durations.expand(num_queries)
    if durations.numel() != num_queries:
        raise ValueError(f"durations must be a float or have Q={num_queries} entries, got {durations.numel()}.")

    points = points.detach().cpu()
    results = []
    for q in range(num_queries):
        segs, scores = decode_segments(
            logits[q].cpu(),
            offsets[q].cpu(),
            points,
            None if points_mask is None else points_mask[q].cpu(),
            s["pre_nms_thresh"],
            s["pre_nms_topk"],
            s["seg_len_thresh"],
        )
        order = scores.argsort(descending=True)[: min(len(segs), s["pre_nms_topk"])]
        segs, scores = batched_nms(
            segs[order],
            scores[order],
            s["nms_mode"],
            s["nms_iou_thresh"],
            s["nms_min_score"],
            s["max_num_segments"],
            s["nms_sigma"],
            s["voting_thresh"],
        )
        segs = grid_to_seconds(
            segs,
            s["fps"],
            s["clip_size"],
            s["clip_stride"],
            s["downsample_rate"],
            s["embedding_stride"],
            float(durations[q]),
        )
        results.append(
            [{"segment": (float(a), float(b)), "score": float(c)} for (a, b), c in zip(segs.tolist(), scores.tolist())]
        )
    return results


def post_process_model_outputs(outputs, durations, config, queries_per_video=None, fps=None, **settings):
    """Ranked segments in seconds for every query of a `HieraMambaForVideoGrounding` forward over B videos.

    outputs: the model output (`logits`, `offsets`, `points`, `points_mask`, `queries_per_video`); durations: (B,)
    seconds per video; config: the model's config; queries_per_video: (B,) (default: the one in `outputs`, else one
    query per video); fps: (B,) per-video fps (default `config.fps`); settings override config values.
    Returns Q lists (query order of the forward) of {"segment": (start_s, end_s), "score": float}.
    """
    durations = torch.as_tensor(durations, dtype=torch.float64).reshape(-1)
    if queries_per_video is None:
        queries_per_video = outputs.get("queries_per_video")
    if queries_per_video is None:
        queries_per_video = torch.ones(len(durations), dtype=torch.long)
    counts = [int(n) for n in torch.as_tensor(queries_per_video).reshape(-1)]
    if len(counts) != len(durations) or sum(counts) != outputs["logits"].size(0):
        raise ValueError(
            f"durations ({len(durations)}) and queries_per_video ({counts}) must describe the "
            f"{outputs['logits'].size(0)} queries of the outputs."
        )
    if fps is not None:
        fps = [float(f) for f in torch.as_tensor(fps, dtype=torch.float64).reshape(-1)]
        if len(fps) != len(counts):
            raise ValueError(f"fps must have one value per video ({len(counts)}), got {len(fps)}.")
    results, start = [], 0
    for b, n in enumerate(counts):
        rows = slice(start, start + n)
        video_settings = dict(settings) if fps is None else dict(settings, fps=fps[b])
        results += post_process_video_grounding(
            outputs["logits"][rows],
            outputs["offsets"][rows],
            outputs["points"],
            outputs["points_mask"][rows],
            float(durations[b]),
            config=config,
            **video_settings,
        )
        start += n
    return results


__all__ = [
    "batched_nms",
    "decode_segments",
    "grid_to_seconds",
    "hard_nms_1d",
    "post_process_model_outputs",
    "post_process_video_grounding",
    "segment_voting",
    "soft_nms_1d",
]
