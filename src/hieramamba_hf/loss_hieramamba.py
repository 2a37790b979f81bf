# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""HieraMamba training losses, a faithful port of the official trainer (github jbistanbul/hieramamba,
`libs/worker.py::TrainerAuxiliary._microbatch_forward_backward`, `libs/modeling/{loss,losses,contrastive_losses}.py`,
`libs/train_utils.py`), which builds on SnAG (github fmu2/snag_release). Own code, no official code copied.

Total (per micro-batch):  total = cls + reg_loss_weight * reg + acc_loss_weight * ACC + spc_loss_weight * SPC
where every term is divided by the trainer's running `loss_norm` (see `update_loss_norm`).

Tensors taken by `compute_grounding_loss` (Q = number of (video, query) pairs, P = points over all levels,
level l has L_l points, D = hidden size; everything channel-last):

  logits         (Q, P)     classification logits, levels concatenated (level 0 first).
  offsets        (Q, P, 2)  regression offsets in stride units (>= 0, after the head's ReLU).
  points         (P, 4)     (t, r_min, r_max, stride) per point, t on the backbone grid.
  points_mask    (Q, P)     bool, valid (non-padded) points.
  segments       (Q, 2)     GT (start, end) on the backbone grid, i.e. the dataset target divided by the
                            embedding stride (official: `d['target'] / vid_stride`).
  level_sizes    [L_0, L_1, ...] with sum == P.

  For ACC (anchor-child contrastive), one entry per AMP block l (ALL blocks, including the last block, whose
  anchors are otherwise dropped from the pyramid):
    sequence_features[l] (N, L_l, D)   block l's sequence output = the backbone pyramid level fed to the LATE
                                       fusion (before it; for early-fusion models it is after the early fusion).
    sequence_masks[l]    (N, L_l)      bool.
    anchor_features[l]   (N, ceil(L_l / 2), D)  block l's anchor output.
    anchor_masks[l]      (N, ceil(L_l / 2))     bool (max-pool of the sequence mask).
  For SPC (segment/point-prototype contrastive): the same `sequence_features` (before the late fusion) with
  `points_mask` split by level; positives are the cls positives, negatives lie outside the GT span.
  N == Q with early fusion (one backbone pass per (video, query) pair). Without early fusion (TACoS) the
  backbone runs once per video: N = number of videos and `queries_per_video` (N,) (sum == Q, queries of a
  video consecutive) must be given; SPC then repeats the features per query and ACC is multiplied by
  mean(queries_per_video), as the official trainer does.

Projectors: `HieraMambaContrastiveProjector` (Linear(D, D, no bias) -> LayerNorm -> GELU -> Linear(D, 256) ->
L2-normalise), one for ACC and one for SPC. In the official code they are built by the trainer AFTER the optimizer
and never saved, so they stay at their random initialisation and are not trained (gradients reach the
backbone only). Here they are real sub-modules of the model: trained and saved with it.

Official quirks reproduced by default (`fix_quirks=True` fixes them):
  * ACC indexes children on the flattened (N * L) sequence: for odd L the second child of the last anchor is
    token 0 of the next sample (or the last token again for the last sample). Fixed: that child is dropped.
    (L_l is even in all released setups.)
  * SPC GT-span mask: indices ceil(s * L_l / L_0) .. floor(e * L_l / L_0) are clamped into [0, L_l - 1] BEFORE
    the emptiness check, so a GT span lying entirely outside the window marks the first / last token as span.
    Fixed: such spans are empty.
Other official behaviour kept as is: under early fusion ACC negatives come from the same (video, query) row
only; the ACC gap uses the padded anchor length; ACC / SPC (per-anchor / per-query means) are still divided by
`loss_norm`; reg_loss "iou" is the official `ctr_giou_loss`, which is plain 1 - IoU in 1D.
Not ported (off in every released config): the 1- and 3-layer projector variants, `span_contr_gt`, `use_mst`,
SPC without projector. The official multiplies every loss by the world size (DDP); that is the trainer's job.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .configuration_hieramamba import HieraMambaConfig


# loss setting -> the HieraMambaConfig field it is read from (the config holds every default)
_SETTINGS = {
    name: name
    for name in (
        "center_sampling_radius",
        "label_smoothing",
        "focal_alpha",
        "focal_gamma",
        "reg_loss",
        "reg_loss_weight",
        "acc_loss_weight",
        "acc_neg_ratio",
        "acc_gap_ratio",
        "acc_temperature",
        "acc_radius",
        "acc_hard_negatives",
        "acc_cross_video_negatives",
        "spc_loss_weight",
        "spc_neg_ratio",
        "spc_temperature",
    )
}
_SETTINGS["fix_quirks"] = "fix_loss_quirks"
_DEFAULTS = HieraMambaConfig()


class HieraMambaContrastiveProjector(nn.Module):
    """Projection head of the ACC / SPC losses: Linear(D, D*expand, no bias) -> LayerNorm -> GELU ->
    Linear(D*expand, projector_dim) -> L2-normalise (official `LNProjector`, num_layers=2, expand=1.0).

    The official trainer builds this module after the optimizer and never saves it, so there it keeps its random
    initialisation; here it is a trained, saved sub-module of the model.
    """

    def __init__(self, hidden_size: int, projector_dim: int = 256, expand: float = 1.0, layer_norm_eps: float = 1e-5):
        super().__init__()
        inner = int(expand * hidden_size)
        self.fc1 = nn.Linear(hidden_size, inner, bias=False)
        self.ln1 = nn.LayerNorm(inner, eps=layer_norm_eps)
        self.act1 = nn.GELU()
        self.fc2 = nn.Linear(inner, projector_dim)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(..., D) -> (..., projector_dim), unit L2 norm on the last dim."""
        return F.normalize(self.fc2(self.act1(self.ln1(self.fc1(hidden_states)))), p=2, dim=-1)


# ----------------------------------------------------------------------------------------------- basic losses
def sigmoid_focal_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    alpha: float = _DEFAULTS.focal_alpha,
    gamma: float = _DEFAULTS.focal_gamma,
    label_smoothing: float = _DEFAULTS.label_smoothing,
) -> torch.Tensor:
    """Summed sigmoid focal loss with label smoothing (targets 1 - ls/2 and ls/2); logits, labels any equal shape.

    p_t uses the smoothed target; alpha_t uses the hard label (official `sigmoid_focal_loss(smoothing=True)`).
    """
    if logits.shape != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} must have the same shape.")
    logits = logits.float()
    hard = labels.float()
    targets = hard * (1.0 - label_smoothing) + label_smoothing / 2
    prob = torch.sigmoid(logits)
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none") * (1 - p_t).pow(gamma)  # focal loss
    if alpha >= 0:
        positive = (targets >= 0.5).float()
        loss = (alpha * positive + (1 - alpha) * (1 - positive)) * loss
    return loss.sum()


def center_offset_iou_loss(
    pred_offsets: torch.Tensor, gt_offsets: torch.Tensor, loss_type: str = _DEFAULTS.reg_loss, eps: float = 1e-8
) -> torch.Tensor:
    """Summed 1 - IoU ("iou", official `ctr_giou_loss`, which reduces to IoU in 1D) or DIoU ("diou") loss of
    segments given as non-negative (left, right) offsets from a shared centre, shapes (K, 2)."""
    if pred_offsets.shape != gt_offsets.shape or pred_offsets.ndim != 2 or pred_offsets.shape[-1] != 2:
        raise ValueError(
            f"pred_offsets {tuple(pred_offsets.shape)} and gt_offsets {tuple(gt_offsets.shape)} must both be (K, 2)."
        )
    if loss_type not in ("iou", "diou"):
        raise ValueError(f"loss_type must be 'iou' or 'diou', got {loss_type!r}.")
    pred_offsets, gt_offsets = pred_offsets.float(), gt_offsets.float()
    if (pred_offsets < 0).any():
        raise ValueError("predicted offsets must be non-negative.")
    if (gt_offsets < 0).any():
        raise ValueError("GT offsets must be non-negative.")
    lp, rp = pred_offsets.unbind(-1)
    lg, rg = gt_offsets.unbind(-1)
    intersection = torch.minimum(lp, lg) + torch.minimum(rp, rg)
    union = (lp + rp) + (lg + rg) - intersection
    loss = 1.0 - intersection / union.clamp(min=eps)  # 1 - IoU
    if loss_type == "diou":
        enclosing = torch.maximum(lp, lg) + torch.maximum(rp, rg)
        centre_distance = 0.5 * (rp - lp - rg + lg)
        loss = loss + torch.square(centre_distance / enclosing.clamp(min=eps))  # DIoU penalty
    return loss.sum()


# ------------------------------------------------------------------------------------------ point assignment
def assign_points(
    points: torch.Tensor, segments: torch.Tensor, center_sampling_radius: float = _DEFAULTS.center_sampling_radius
) -> tuple[torch.Tensor, torch.Tensor]:
    """Positive labels and GT offsets of every point for every segment.

    points (P, 4) = (t, r_min, r_max, stride); segments (Q, 2) on the same grid.
    Returns labels (Q, P) bool and offsets (Q, P, 2) = ((t - s) / stride, (e - t) / stride).
    Positive: t strictly inside [c - radius*stride, c + radius*stride] clipped to [s, e] (c = GT centre),
    and max(t - s, e - t) in [r_min, r_max).
    """
    _check_points(points)
    if segments.ndim != 2 or segments.shape[-1] != 2:
        raise ValueError(f"segments must be (Q, 2), got {tuple(segments.shape)}.")
    t, r_min, r_max, stride = (points[:, i][None] for i in range(4))
    start, end = segments[:, 0:1], segments[:, 1:2]
    to_start, to_end = t - start, end - t
    offsets = torch.stack((to_start, to_end), dim=-1) / stride[..., None]
    centre = 0.5 * (start + end)
    radius = stride * center_sampling_radius
    window_min = torch.maximum(centre - radius, start)  # centre sampling window clipped to the GT
    window_max = torch.minimum(centre + radius, end)
    inside_window = (t - window_min > 0) & (window_max - t > 0)
    reach = torch.maximum(to_start, to_end)
    inside_range = (reach >= r_min) & (reach < r_max)
    return inside_window & inside_range, offsets


def gt_span_masks(
    segments: torch.Tensor, level_sizes: Sequence[int], fix_quirks: bool = _DEFAULTS.fix_loss_quirks
) -> torch.Tensor:
    """(Q, P) bool: point i of level l lies in the GT span, i.e. ceil(s * L_l / L_0) <= i <= floor(e * L_l / L_0)
    (official `generate_multiscale_gt_masks`; see the module docstring for the clamping quirk)."""
    if segments.ndim != 2 or segments.shape[-1] != 2:
        raise ValueError(f"segments must be (Q, 2), got {tuple(segments.shape)}.")
    masks = []
    segments = segments.detach().float()
    for size in level_sizes:
        scaled = segments * (size / level_sizes[0])  # float32, as the official tensor * python float
        first, last = torch.ceil(scaled[:, 0]), torch.floor(scaled[:, 1])
        if fix_quirks:
            first, last = first.clamp(min=0), last.clamp(max=size - 1)
        else:
            first, last = first.clamp(0, size - 1), last.clamp(0, size - 1)
        index = torch.arange(size, device=segments.device, dtype=torch.float32)[None]
        masks.append((index >= first[:, None]) & (index <= last[:, None]))
    return torch.cat(masks, dim=1)


# -------------------------------------------------------------------------------------- contrastive losses
def anchor_child_contrastive_loss(
    anchors: torch.Tensor,
    anchor_mask: torch.Tensor,
    sequence: torch.Tensor,
    sequence_mask: torch.Tensor,
    projector: nn.Module,
    temperature: float = _DEFAULTS.acc_temperature,
    neg_ratio: float = _DEFAULTS.acc_neg_ratio,
    gap_ratio: float = _DEFAULTS.acc_gap_ratio,
    radius: int = _DEFAULTS.acc_radius,
    hard_negatives: bool = _DEFAULTS.acc_hard_negatives,
    cross_video_negatives: bool = _DEFAULTS.acc_cross_video_negatives,
    generator: torch.Generator | None = None,
    fix_quirks: bool = _DEFAULTS.fix_loss_quirks,
) -> torch.Tensor:
    """ACC loss of ONE pyramid level (official `contrastive_subsample_negative_mp`), a scalar.

    anchors (N, La, D), anchor_mask (N, La), sequence (N, L, D), sequence_mask (N, L), La == ceil(L / 2).
    Anchor t's positives are its children 2t, 2t+1 (and those of anchors t +- 1..radius); negatives are other
    anchors of the same sample with |dt| > max(1, int(gap_ratio * La)), ceil(neg_ratio * #pos) drawn at random
    per anchor (or the most similar ones with hard_negatives). Loss = mean over valid anchors of
    -log(sum_pos e^{s/tau} / (sum_pos e^{s/tau} + sum_neg e^{s/tau} + 1e-9)).
    The random draw is one `torch.rand((V, V), generator=generator)` call (V = number of valid anchors), as
    the official `rand_like`, so a generator seeded like the global RNG reproduces the official draw.
    """
    if anchors.ndim != 3 or sequence.ndim != 3 or anchors.shape[0] != sequence.shape[0]:
        raise ValueError(
            f"anchors (N, La, D) and sequence (N, L, D) expected, "
            f"got {tuple(anchors.shape)} and {tuple(sequence.shape)}."
        )
    batch, anchor_len, dim = anchors.shape
    seq_len = sequence.shape[1]
    if sequence.shape[2] != dim or anchor_len != (seq_len + 1) // 2:
        raise ValueError(
            f"anchors {tuple(anchors.shape)} must be (N, ceil(L/2), D) for sequence {tuple(sequence.shape)}."
        )
    if anchor_mask.shape != (batch, anchor_len) or sequence_mask.shape != (batch, seq_len):
        raise ValueError(
            f"anchor_mask {tuple(anchor_mask.shape)} / sequence_mask {tuple(sequence_mask.shape)} must be "
            f"({batch}, {anchor_len}) / ({batch}, {seq_len})."
        )
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}.")
    device = anchors.device
    num_anchors = batch * anchor_len
    flat_anchor_mask = anchor_mask.reshape(num_anchors).bool()
    flat_seq_mask = sequence_mask.reshape(batch * seq_len).bool()
    sample_id = torch.arange(num_anchors, device=device) // anchor_len
    time_id = torch.arange(num_anchors, device=device) % anchor_len

    z_seq = F.normalize(projector(sequence.reshape(batch * seq_len, dim)), dim=-1)
    child_features, child_masks = [], []
    for shift in range(-radius, radius + 1):
        shifted = time_id + shift
        in_range = (shifted >= 0) & (shifted < anchor_len)
        even = (sample_id * seq_len + 2 * shifted).clamp(0, batch * seq_len - 1)
        odd = (even + 1).clamp(0, batch * seq_len - 1)
        odd_in_range = in_range & (2 * shifted + 1 < seq_len) if fix_quirks else in_range
        child_features += [z_seq[even], z_seq[odd]]
        child_masks += [in_range & flat_seq_mask[even], odd_in_range & flat_seq_mask[odd]]
    z_pos = torch.stack(child_features, dim=1)  # (N*La, 2*(2r+1), d)
    pos_mask = torch.stack(child_masks, dim=1)

    valid = flat_anchor_mask & (pos_mask.sum(1) > 0)
    if not bool(valid.any()):
        return anchors.new_zeros((), dtype=torch.float32)
    idx = valid.nonzero(as_tuple=False).view(-1)
    z_anchor = F.normalize(projector(anchors.reshape(num_anchors, dim)[idx]), dim=-1)
    z_pos, pos_mask = z_pos[idx], pos_mask[idx]
    valid_sample, valid_time = sample_id[idx], time_id[idx]
    num_valid = z_anchor.shape[0]

    exp_pos = (torch.exp((z_anchor[:, None] * z_pos).sum(-1) / temperature) * pos_mask.float()).sum(1)
    exp_sim = torch.exp(z_anchor @ z_anchor.T / temperature)
    same_sample = valid_sample[None] == valid_sample[:, None]
    gap = max(1, int(gap_ratio * anchor_len))
    near = same_sample & ((valid_time[None] - valid_time[:, None]).abs() <= gap)
    eye = torch.eye(num_valid, dtype=torch.bool, device=device)
    candidates = ~(eye | near) if cross_video_negatives else same_sample & ~(eye | near)
    exp_sim = exp_sim * candidates.float()

    per_row = (neg_ratio * pos_mask.sum(1).float()).ceil().long().clamp(min=1)
    per_row = torch.minimum(per_row, candidates.sum(1))
    max_draw = int(per_row.max())
    if hard_negatives:
        ranking = exp_sim.masked_fill(~candidates, -1)
    else:
        uniform = torch.rand((num_valid, num_valid), generator=generator, device=device, dtype=exp_sim.dtype)
        ranking = uniform * candidates.float() - (~candidates).float()
    top = torch.topk(ranking, k=max_draw, dim=1, largest=True).indices
    keep = torch.arange(max_draw, device=device)[None] < per_row[:, None]
    selected = torch.zeros_like(candidates)
    selected[torch.arange(num_valid, device=device)[:, None].expand_as(top), top] = keep
    neg_sum = (exp_sim * selected.float()).sum(1)
    return (-torch.log(exp_pos / (exp_pos + neg_sum + 1e-9))).mean()  # multi-positive InfoNCE


def segment_prototype_contrastive_loss(
    features: torch.Tensor,
    mask: torch.Tensor,
    positives: torch.Tensor,
    span: torch.Tensor,
    projector: nn.Module,
    temperature: float = _DEFAULTS.spc_temperature,
    neg_ratio: float = _DEFAULTS.spc_neg_ratio,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """SPC loss of ONE pyramid level (official `MultiScaleMaskedGTPointContrastive._compute_infonce_loss_pooled`).

    features (Q, L, D), mask / positives / span (Q, L) bool. Per query, among valid points: positives = cls
    positives, negatives = not positive and outside the GT span, int(#pos * neg_ratio) of them drawn with
    `torch.randperm(#neg, generator=generator)` when there are more. Prototype = normalised mean of the positive
    projections; loss = -log(sum_pos e^{s/tau} / sum_{pos+neg} e^{s/tau}). Mean over queries having both
    positives and negatives (0 if none).
    """
    if features.ndim != 3:
        raise ValueError(f"features must be (Q, L, D), got {tuple(features.shape)}.")
    for name, value in (("mask", mask), ("positives", positives), ("span", span)):
        if value.shape != features.shape[:2]:
            raise ValueError(f"{name} must be {tuple(features.shape[:2])}, got {tuple(value.shape)}.")
    mask, positives, span = mask.bool(), positives.bool(), span.bool()
    pos_sel = positives & mask
    neg_sel = ~positives & ~span & mask
    used = torch.zeros(features.shape[0], dtype=torch.bool)
    for q in range(features.shape[0]):  # sampling loop: same RNG calls, same order as the official code
        num_pos, neg_idx = int(pos_sel[q].sum()), neg_sel[q].nonzero(as_tuple=True)[0]
        if num_pos == 0 or neg_idx.numel() == 0:
            neg_sel[q] = False
            continue
        num_keep = int(num_pos * neg_ratio)
        if neg_idx.numel() > num_keep:
            order = torch.randperm(neg_idx.numel(), generator=generator, device=features.device)
            neg_sel[q] = False
            neg_sel[q, neg_idx[order[:num_keep]]] = True
        used[q] = num_keep > 0
    if not bool(used.any()):
        return features.new_zeros((), dtype=torch.float32)
    used = used.to(features.device)
    proj = F.normalize(projector(features[used]), p=2, dim=-1)  # (Qu, L, d)
    pos_sel, neg_sel = pos_sel[used], neg_sel[used]
    prototype = (proj * pos_sel[..., None]).sum(1) / pos_sel.sum(1, keepdim=True)
    prototype = F.normalize(prototype, p=2, dim=-1)  # segment prototype
    sim = (proj @ prototype[..., None]).squeeze(-1) / temperature  # (Qu, L)
    log_pos = sim.masked_fill(~pos_sel, float("-inf")).logsumexp(1)
    log_all = sim.masked_fill(~(pos_sel | neg_sel), float("-inf")).logsumexp(1)
    return (log_all - log_pos).mean()  # InfoNCE against the prototype


# ---------------------------------------------------------------------------------------------- entry point
def update_loss_norm(
    loss_norm: float, num_pos: int | torch.Tensor, momentum: float = _DEFAULTS.loss_norm_momentum
) -> float:
    """Trainer's running normaliser, updated after each optimisation step:
    loss_norm <- momentum * loss_norm + (1 - momentum) * max(num_pos, 1), with num_pos the positive count of
    the whole step (summed over micro-batches and, under DDP, over ranks)."""
    num_pos = float(num_pos.sum().item() if torch.is_tensor(num_pos) else num_pos)
    return momentum * float(loss_norm) + (1.0 - momentum) * max(num_pos, 1.0)


def _setting(name, config, overrides):
    """A loss setting: the keyword override, else the config's field, else HieraMambaConfig's default."""
    if name in overrides:
        return overrides[name]
    field = _SETTINGS[name]
    return getattr(config, field, getattr(_DEFAULTS, field)) if config is not None else getattr(_DEFAULTS, field)


def compute_grounding_loss(
    logits: torch.Tensor,
    offsets: torch.Tensor,
    points: torch.Tensor,
    points_mask: torch.Tensor,
    segments: torch.Tensor,
    level_sizes: Sequence[int],
    sequence_features: Sequence[torch.Tensor] | None = None,
    sequence_masks: Sequence[torch.Tensor] | None = None,
    anchor_features: Sequence[torch.Tensor] | None = None,
    anchor_masks: Sequence[torch.Tensor] | None = None,
    acc_projector: nn.Module | None = None,
    spc_projector: nn.Module | None = None,
    loss_norm: float = 1.0,
    queries_per_video: torch.Tensor | Sequence[int] | None = None,
    generator: torch.Generator | None = None,
    config=None,
    **settings,
) -> dict[str, torch.Tensor]:
    """All HieraMamba losses of one micro-batch (shapes in the module docstring).

    Settings come from `settings` keywords, else from `config` attributes (HieraMambaConfig names; `fix_quirks` is
    the config's `fix_loss_quirks`), else HieraMambaConfig's defaults (the Ego4D-NLQ setup):
    center_sampling_radius, label_smoothing, focal_alpha, focal_gamma, reg_loss, reg_loss_weight,
    acc_loss_weight, acc_neg_ratio, acc_gap_ratio, acc_temperature, acc_radius, acc_hard_negatives,
    acc_cross_video_negatives, spc_loss_weight, spc_neg_ratio, spc_temperature, fix_quirks.
    ACC (all levels) runs before SPC, so with `generator` seeded like the official global RNG the negative
    draws are the official ones; `generator` must live on the features' device (None = global RNG, as the
    official). A zero weight skips that loss (its features may then be None).

    Returns {"cls", "reg", "acc", "spc", "total", "num_pos"}: cls / reg / acc / spc already divided by
    `loss_norm`; total = cls + reg_w * reg + acc_w * acc + spc_w * spc; num_pos = #(positive & valid) points,
    to feed `update_loss_norm` after the step.
    """
    unknown = set(settings) - set(_SETTINGS)
    if unknown:
        raise ValueError(f"Unknown loss settings: {sorted(unknown)}.")
    s = {name: _setting(name, config, settings) for name in _SETTINGS}
    if s["reg_loss"] not in ("iou", "diou"):
        raise ValueError(f"reg_loss must be 'iou' or 'diou', got {s['reg_loss']!r}.")
    _check_predictions(logits, offsets, points, points_mask)
    num_queries, num_points = logits.shape
    if segments.shape != (num_queries, 2):
        raise ValueError(f"segments must be ({num_queries}, 2), got {tuple(segments.shape)}.")
    level_sizes = [int(n) for n in level_sizes]
    if sum(level_sizes) != num_points or any(n <= 0 for n in level_sizes):
        raise ValueError(f"level_sizes {level_sizes} must be positive and sum to P={num_points}.")
    if not loss_norm > 0:
        raise ValueError(f"loss_norm must be > 0, got {loss_norm}.")
    points_mask = points_mask.bool()

    labels, gt_offsets = assign_points(points, segments, s["center_sampling_radius"])
    positive = labels & points_mask
    num_pos = positive.sum()
    cls = (
        sigmoid_focal_loss(
            logits[points_mask], labels[points_mask], s["focal_alpha"], s["focal_gamma"], s["label_smoothing"]
        )
        / loss_norm
    )
    reg = center_offset_iou_loss(offsets[positive], gt_offsets[positive], s["reg_loss"]) / loss_norm

    if queries_per_video is not None:
        queries_per_video = torch.as_tensor(queries_per_video, dtype=torch.long, device=logits.device)
        if queries_per_video.ndim != 1 or int(queries_per_video.sum()) != num_queries:
            raise ValueError(f"queries_per_video must be (N,) summing to Q={num_queries}.")
    expected_batch = num_queries if queries_per_video is None else queries_per_video.shape[0]

    zero = logits.new_zeros((), dtype=torch.float32)
    acc = spc = zero
    if s["acc_loss_weight"] != 0:
        _check_levels(
            "ACC",
            level_sizes,
            expected_batch,
            acc_projector,
            sequence_features=sequence_features,
            sequence_masks=sequence_masks,
            anchor_features=anchor_features,
            anchor_masks=anchor_masks,
        )
        acc = zero
        for seq, seq_mask, anc, anc_mask in zip(sequence_features, sequence_masks, anchor_features, anchor_masks):
            acc = acc + anchor_child_contrastive_loss(
                anc,
                anc_mask,
                seq,
                seq_mask,
                acc_projector,
                s["acc_temperature"],
                s["acc_neg_ratio"],
                s["acc_gap_ratio"],
                s["acc_radius"],
                s["acc_hard_negatives"],
                s["acc_cross_video_negatives"],
                generator,
                s["fix_quirks"],
            )
        acc = acc / loss_norm
        if queries_per_video is not None:
            acc = queries_per_video.float().mean() * acc  # official: per-video backbone, scaled by queries
    if s["spc_loss_weight"] != 0:
        _check_levels(
            "SPC",
            level_sizes,
            expected_batch,
            spc_projector,
            sequence_features=sequence_features,
            sequence_masks=sequence_masks,
        )
        span = gt_span_masks(segments, level_sizes, s["fix_quirks"])
        spc = zero
        for feats, pos_l, mask_l, span_l in zip(
            sequence_features,
            labels.split(level_sizes, 1),
            points_mask.split(level_sizes, 1),
            span.split(level_sizes, 1),
        ):
            if queries_per_video is not None:
                feats = torch.repeat_interleave(feats, queries_per_video, dim=0)
            spc = spc + segment_prototype_contrastive_loss(
                feats, mask_l, pos_l, span_l, spc_projector, s["spc_temperature"], s["spc_neg_ratio"], generator
            )
        spc = spc / loss_norm

    total = cls + s["reg_loss_weight"] * reg + s["acc_loss_weight"] * acc + s["spc_loss_weight"] * spc
    return {"cls": cls, "reg": reg, "acc": acc, "spc": spc, "total": total, "num_pos": num_pos}


# ----------------------------------------------------------------------------------------------- validation
def _check_points(points):
    if points.ndim != 2 or points.shape[-1] != 4:
        raise ValueError(f"points must be (P, 4) = (t, r_min, r_max, stride), got {tuple(points.shape)}.")
    if points.shape[0] == 0:
        raise ValueError("points is empty.")


def _check_predictions(logits, offsets, points, points_mask):
    _check_points(points)
    if logits.ndim != 2:
        raise ValueError(f"logits must be (Q, P), got {tuple(logits.shape)}.")
    if logits.shape[0] == 0:
        raise ValueError("logits is empty (no queries).")
    num_queries, num_points = logits.shape
    if points.shape[0] != num_points:
        raise ValueError(f"points has {points.shape[0]} rows but logits has P={num_points}.")
    if offsets.shape != (num_queries, num_points, 2):
        raise ValueError(f"offsets must be ({num_queries}, {num_points}, 2), got {tuple(offsets.shape)}.")
    if points_mask.shape != (num_queries, num_points):
        raise ValueError(f"points_mask must be ({num_queries}, {num_points}), got {tuple(points_mask.shape)}.")


def _check_levels(name, level_sizes, batch, projector, **tensors):
    if projector is None:
        raise ValueError(f"{name} loss has a non-zero weight but no projector was given.")
    for key, value in tensors.items():
        if value is None or len(value) != len(level_sizes):
            raise ValueError(f"{name} loss needs {key} with one tensor per level ({len(level_sizes)} levels).")
    for level, size in enumerate(level_sizes):
        seq = tensors["sequence_features"][level]
        seq_mask = tensors["sequence_masks"][level]
        if seq.ndim != 3 or seq.shape[:2] != (batch, size) or seq_mask.shape != (batch, size):
            raise ValueError(
                f"{name}: level {level} sequence features {tuple(seq.shape)} / mask {tuple(seq_mask.shape)} "
                f"must be ({batch}, {size}, D) / ({batch}, {size})."
            )
        if "anchor_features" in tensors:
            anc, anc_mask = tensors["anchor_features"][level], tensors["anchor_masks"][level]
            expected = (batch, math.ceil(size / 2))
            if anc.ndim != 3 or anc.shape[:2] != expected or anc_mask.shape != expected:
                raise ValueError(
                    f"{name}: level {level} anchors {tuple(anc.shape)} / mask {tuple(anc_mask.shape)} must be "
                    f"{expected + ('D',)} / {expected}."
                )


__all__ = [
    "HieraMambaContrastiveProjector",
    "anchor_child_contrastive_loss",
    "assign_points",
    "center_offset_iou_loss",
    "compute_grounding_loss",
    "gt_span_masks",
    "segment_prototype_contrastive_loss",
    "sigmoid_focal_loss",
    "update_loss_norm",
]
