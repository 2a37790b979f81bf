# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""MambaMia: state-space hierarchical compression of hour-long video for a Qwen2 video LLM.

Pipeline (paper, arXiv 2506.13564):
    frames -> SigLIP(2) vision tower (penultimate layer) -> compressor:
        Stage 1: one learnable query after every row of patch tokens, the whole video as ONE sequence through
                 bidirectional Mamba2 blocks with Gated Patch Aggregation (GPA); only the query outputs are kept
                 (the per-frame "anchors", k per frame);
        Stage 2: Temporal Axis Aggregator (TAA), a Mamba block along time over each frame's anchors with a residual,
                 whose step size Delta_t scores the frames; at inference delta sampling (Algorithm 1) keeps frames;
    -> projector (mlp2x_gelu) -> a learned frame separator after every kept frame -> Qwen2.
The state-space layers come from `ssm_layers.BiMamba2Mixer` (bidirectional for Stage 1, causal for the TAA).
"""

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer, GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache
from transformers.generation import GenerateBeamDecoderOnlyOutput, GenerateDecoderOnlyOutput
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutputWithPooling,
    MultimodalBaseModelOutputWithPast,
    MultimodalCausalLMOutputWithPast,
)

from ssm_layers import BiMamba2Mixer
from ssm_layers.checkpoints import CheckpointErrorsMixin

from .configuration_mambamia import MambaMiaConfig


# ----------------------------------------------------------------------------------------------------- outputs
@dataclass
class MambaMiaVideoOutput(BaseModelOutputWithPooling):
    r"""
    Output of [`MambaMiaModel.get_video_features`]: what the compressor made of each video and which frames it kept.

    last_hidden_state (`torch.FloatTensor` of shape `(num_valid_frames, num_patches, vision_hidden_size)`):
        Vision-tower features (layer `vision_feature_layer`) of every real frame, in order.
    pooler_output (`list[torch.FloatTensor]`):
        One tensor per video of shape `(kept_frames * tokens_per_frame, text_hidden_size)`: the LLM tokens of the
        kept frames in time order (k projected anchors, then the frame separator, per frame).
    frame_deltas (`torch.FloatTensor` of shape `(batch_size, num_frames)`, *optional*):
        Delta_t of the Temporal Axis Aggregator per frame (0 on padding frames); `None` without a TAA.
    kept_frames (`torch.BoolTensor` of shape `(batch_size, num_frames)`):
        Frames whose tokens go to the LLM (all real frames unless delta sampling applied).
    num_frames (`torch.LongTensor` of shape `(batch_size,)`):
        Real (not padding) frames of each video.
    kept_frame_indices (`list[torch.LongTensor]`):
        Per video, the indices (among its input frames) of the kept frames, in time order: the set S of Algorithm 1
        when delta sampling applied, every frame otherwise. What the model looked at.
    kept_frame_timestamps (`list[torch.DoubleTensor]`, *optional*):
        Per video, the time in seconds of each kept frame in the video file (from the processor's
        `video_timestamps`); `None` when no timestamps were given.
    """

    frame_deltas: torch.FloatTensor | None = None
    kept_frames: torch.BoolTensor | None = None
    num_frames: torch.LongTensor | None = None
    kept_frame_indices: list[torch.LongTensor] | None = None
    kept_frame_timestamps: list[torch.DoubleTensor] | None = None


@dataclass
class MambaMiaModelOutputWithPast(MultimodalBaseModelOutputWithPast):
    r"""
    Output of [`MambaMiaModel`]: the LLM's outputs (`last_hidden_state`, `cache`, `hidden_states`, `attentions`) and
    `video_outputs`, the [`MambaMiaVideoOutput`] of the videos (kept frame indices and timestamps included), `None`
    without videos.
    """


@dataclass
class MambaMiaCausalLMOutputWithPast(MultimodalCausalLMOutputWithPast):
    r"""
    Output of [`MambaMiaForConditionalGeneration`]: `loss` (with `labels`), `logits`, the LLM's `cache`,
    `hidden_states` and `attentions`, and `video_outputs`, the [`MambaMiaVideoOutput`] of the videos (kept frame
    indices and timestamps included), `None` without videos.
    """


@dataclass
class MambaMiaGenerateOutput(GenerateDecoderOnlyOutput):
    r"""
    [`GenerateDecoderOnlyOutput`] of `generate(..., return_dict_in_generate=True)` plus `video_outputs`, the
    [`MambaMiaVideoOutput`] of the prompt's videos (one entry per input video, not per returned sequence).
    """

    video_outputs: MambaMiaVideoOutput | None = None


@dataclass
class MambaMiaGenerateBeamOutput(GenerateBeamDecoderOnlyOutput):
    r"""
    [`GenerateBeamDecoderOnlyOutput`] (beam search) plus `video_outputs`, as [`MambaMiaGenerateOutput`].
    """

    video_outputs: MambaMiaVideoOutput | None = None


# ----------------------------------------------------------------------------------------------------- helpers
def delta_sampling(deltas: torch.Tensor, threshold: float) -> torch.BoolTensor:
    """Paper Algorithm 1 on one video's per-frame step sizes `deltas` (M,): returns the kept-frame mask (M,).

    A <- 0; for t in 1..M: A <- A + Delta_t; if A >= delta_thresh: keep frame t; A <- 0.
    """
    if deltas.ndim != 1:
        raise ValueError(
            f"delta_sampling takes one video's Delta_t of shape (num_frames,), got {tuple(deltas.shape)}."
        )
    if not torch.isfinite(deltas).all():
        raise ValueError("delta_sampling got NaN or infinite Delta_t values.")
    if not threshold > 0:
        raise ValueError(f"delta_sampling threshold must be > 0, got {threshold}.")
    keep = torch.zeros(deltas.shape[0], dtype=torch.bool, device=deltas.device)
    accumulator = 0.0
    for t, delta in enumerate(deltas.tolist()):
        accumulator += delta
        if accumulator >= threshold:
            keep[t] = True
            accumulator = 0.0
    return keep


def video_placeholder_positions(
    input_ids: torch.LongTensor, video_token_id: int, tokens_per_video: list[int]
) -> list[tuple[int, torch.LongTensor]] | None:
    """Where each video's tokens go: the videos, in batch order, fill the placeholder tokens of the rows in reading
    order (row by row, left to right), each taking as many as it has tokens, so adjacent placeholders of two videos
    need nothing between them. Returns one `(row, positions)` per video, or `None` when the rows' placeholder counts
    cannot be split into the videos' counts (a video would straddle two rows, or tokens are left over / missing)."""
    assignment, video = [], 0
    for row in range(input_ids.shape[0]):
        positions = (input_ids[row] == video_token_id).nonzero().flatten()
        start = 0
        while start < len(positions):
            if video == len(tokens_per_video) or start + tokens_per_video[video] > len(positions):
                return None
            assignment.append((row, positions[start : start + tokens_per_video[video]]))
            start += tokens_per_video[video]
            video += 1
    return assignment if video == len(tokens_per_video) else None


def select_video_tokens(
    input_ids: torch.LongTensor,
    attention_mask: torch.Tensor | None,
    kept_frames: torch.BoolTensor,
    num_frames: torch.LongTensor,
    video_token_id: int,
    tokens_per_frame: int,
    pad_token_id: int,
) -> tuple[torch.LongTensor, torch.Tensor]:
    """Remove the placeholder tokens of the frames that delta sampling dropped.

    `input_ids` hold `num_frames[v] * tokens_per_frame` placeholder tokens per video (what [`MambaMiaProcessor`]
    writes), the videos filling the rows in order (see `video_placeholder_positions`). Each video's tokens are cut to
    its kept frames and the rows are left-padded again with `pad_token_id`. Prompts that already hold only the kept
    frames' tokens are returned as they are.

    Args:
        input_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`): the prompts.
        attention_mask (`torch.Tensor`, *optional*): their mask (1 = token); `None` means all tokens.
        kept_frames (`torch.BoolTensor` of shape `(num_videos, num_frames)`): [`MambaMiaVideoOutput.kept_frames`].
        num_frames (`torch.LongTensor` of shape `(num_videos,)`): real frames per video.
        video_token_id (`int`), tokens_per_frame (`int`), pad_token_id (`int`): from the config / tokenizer.

    Returns:
        `tuple[torch.LongTensor, torch.Tensor]`: the new `input_ids` and `attention_mask`.
    """
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    full = [int(n) * tokens_per_frame for n in num_frames]
    kept = [int(kept_frames[v, : int(n)].sum()) * tokens_per_frame for v, n in enumerate(num_frames)]
    assignment = video_placeholder_positions(input_ids, video_token_id, full)
    if assignment is None:
        if video_placeholder_positions(input_ids, video_token_id, kept) is not None:
            return input_ids, attention_mask  # already cut to the kept frames
        counts = (input_ids == video_token_id).sum(-1).tolist()
        raise ValueError(
            f"The video placeholder runs in input_ids ({counts} tokens per row) do not match the {len(full)} "
            f"video(s): they need {full} tokens ({[int(n) for n in num_frames]} frames) or {kept} (kept frames) x "
            f"{tokens_per_frame}."
        )
    keep_positions = attention_mask.bool().clone()
    for video, (row, positions) in enumerate(assignment):
        frame_keep = kept_frames[video, : int(num_frames[video])].repeat_interleave(tokens_per_frame)
        keep_positions[row, positions] &= frame_keep.to(keep_positions.device)
    rows = [input_ids[b][keep_positions[b]] for b in range(input_ids.shape[0])]
    width = max(r.shape[0] for r in rows)
    new_ids = input_ids.new_full((len(rows), width), pad_token_id)
    new_mask = attention_mask.new_zeros((len(rows), width))
    for b, row in enumerate(rows):
        new_ids[b, width - row.shape[0] :] = row
        new_mask[b, width - row.shape[0] :] = 1
    return new_ids, new_mask


def find_video_runs(input_ids: torch.LongTensor, video_token_id: int) -> list[tuple[int, int, int]]:
    """(row, start, length) of every maximal run of `video_token_id`, in batch-then-position order."""
    runs = []
    is_video = (input_ids == video_token_id).to(torch.int8)
    for row in range(input_ids.shape[0]):
        edges = torch.diff(is_video[row], prepend=is_video.new_zeros(1), append=is_video.new_zeros(1))
        starts = (edges == 1).nonzero().flatten().tolist()
        ends = (edges == -1).nonzero().flatten().tolist()
        runs.extend((row, s, e - s) for s, e in zip(starts, ends))
    return runs


def timestamps_of_kept_frames(video_outputs: "MambaMiaVideoOutput", video_timestamps) -> list[torch.DoubleTensor]:
    """The times (seconds) of each video's kept frames.

    Args:
        video_outputs ([`MambaMiaVideoOutput`]): its `kept_frame_indices` and `num_frames` are used.
        video_timestamps (`list[list[float]]` or `torch.Tensor` of shape `(num_videos, num_frames)`): every input
            frame's time in its video (the processor's `video_timestamps`; a padded tensor is cut to the real frames).

    Returns:
        `list[torch.DoubleTensor]`: per video, the kept frames' timestamps.
    """
    num_frames = video_outputs.num_frames.tolist()
    if len(video_timestamps) != len(num_frames):
        raise ValueError(f"Got video_timestamps for {len(video_timestamps)} videos, but {len(num_frames)} videos.")
    result = []
    for video, (stamps, indices, n) in enumerate(zip(video_timestamps, video_outputs.kept_frame_indices, num_frames)):
        stamps = torch.as_tensor(stamps, dtype=torch.float64).flatten()
        if isinstance(video_timestamps, torch.Tensor):
            stamps = stamps[:n]
        if stamps.shape[0] != n:
            raise ValueError(
                f"video_timestamps and the frames disagree: video {video} has {n} frames but {stamps.shape[0]} "
                "timestamps (one per input frame, as the processor returns them)."
            )
        result.append(stamps[indices.cpu()])
    return result


# ----------------------------------------------------------------------------------------------------- modules
class MambaMiaRMSNorm(nn.Module):
    def __init__(self, hidden_size: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)


class MambaMiaGatedPatchAggregation(nn.Module):
    """Gated Patch Aggregation (paper Eq. 2-3): each query pools its own group of patch tokens and mixes the pool in.

    The sequence is laid out as groups `[x_1 ... x_n, q]` (n = `query_interval` patches, then the query).
    """

    def __init__(self, config: MambaMiaConfig):
        super().__init__()
        self.query_interval = config.query_interval
        self.gate_epsilon = config.gpa_gate_epsilon
        self.dropout = nn.Dropout(config.gpa_dropout)
        self.weight_proj = nn.Linear(config.compressor_hidden_size, self.query_interval)  # W_alpha, b_alpha
        self.gate_proj = nn.Linear(config.compressor_hidden_size, 1)  # W_g, b_g

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        batch_size, seq_len, hidden_size = hidden_states.shape
        groups = hidden_states.view(batch_size, -1, self.query_interval + 1, hidden_size)
        patches, query = groups[:, :, :-1], groups[:, :, -1]
        alpha = torch.softmax(self.weight_proj(self.dropout(query)), dim=-1)  # Eq. 2: alpha = softmax(W_alpha q + b)
        aggregate = (alpha.unsqueeze(-1) * patches).sum(dim=2)  # Eq. 2: a = sum_i alpha_i x_i
        gate = torch.sigmoid(self.gate_proj(self.dropout(query)))  # Eq. 3: g = sigmoid(W_g q + b_g)
        gate = self.gate_epsilon + (1 - 2 * self.gate_epsilon) * gate  # clamp g to [eps, 1 - eps] (sister repo)
        query = (1 - gate) * query + gate * aggregate  # Eq. 3: q <- (1 - g) q + g a
        return torch.cat([patches, query.unsqueeze(2)], dim=2).view(batch_size, seq_len, hidden_size)


def _mixer(config: MambaMiaConfig, hidden_size: int, bidirectional: bool, layer_idx: int | None, taa: bool = False):
    return BiMamba2Mixer(
        hidden_size,
        state_size=config.taa_state_size if taa else config.compressor_state_size,
        expand=config.taa_expand if taa else config.compressor_expand,
        head_dim=config.taa_head_dim if taa else config.compressor_head_dim,
        n_groups=config.taa_n_groups if taa else config.compressor_n_groups,
        conv_kernel=config.compressor_conv_kernel,
        chunk_size=config.compressor_chunk_size,
        time_step_min=config.time_step_min,
        time_step_max=config.time_step_max,
        time_step_floor=config.time_step_floor,
        time_step_limit=tuple(config.time_step_limit),
        use_bias=config.use_bias,
        use_conv_bias=config.use_conv_bias,
        bidirectional=bidirectional,
        norm_before_gate=config.norm_before_gate,
        layer_norm_epsilon=config.layer_norm_epsilon,
        layer_idx=layer_idx,
    )


class MambaMiaCompressorBlock(GradientCheckpointingLayer):
    """RMSNorm -> [GPA on the queries] -> bidirectional Mamba2 mixer -> + residual (the block input)."""

    def __init__(self, config: MambaMiaConfig, layer_idx: int):
        super().__init__()
        self.residual_in_fp32 = config.residual_in_fp32
        self.norm = MambaMiaRMSNorm(config.compressor_hidden_size, eps=config.layer_norm_epsilon)
        self.gpa = MambaMiaGatedPatchAggregation(config) if config.use_gated_patch_aggregation else None
        self.mixer = _mixer(config, config.compressor_hidden_size, bidirectional=True, layer_idx=layer_idx)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        residual = hidden_states.float() if self.residual_in_fp32 else hidden_states
        hidden_states = self.norm(hidden_states.to(self.norm.weight.dtype))
        if self.gpa is not None:
            hidden_states = self.gpa(hidden_states)
        hidden_states = self.mixer(hidden_states, attention_mask=attention_mask)
        return hidden_states + residual

    def forward_streaming(self, hidden_states: torch.Tensor, segment_length: int) -> torch.Tensor:
        """`forward` at inference on an unpadded sequence, in place: the block output is added into `hidden_states`
        (B, L, d), the residual stream (float32 when `residual_in_fp32`), which is returned. The only other (B, L, d)
        tensor is the normalised, GPA-updated mixer input; the mixer runs in segments of `segment_length` tokens."""
        dtype = self.norm.weight.dtype
        mixer_input = torch.empty(hidden_states.shape, dtype=dtype, device=hidden_states.device)
        group = self.gpa.query_interval + 1 if self.gpa is not None else 1
        step = max(1, segment_length // group) * group  # whole GPA groups
        for start in range(0, hidden_states.shape[1], step):
            chunk = self.norm(hidden_states[:, start : start + step].to(dtype))
            mixer_input[:, start : start + step] = self.gpa(chunk) if self.gpa is not None else chunk
        return self.mixer.forward_streaming(mixer_input, segment_length, residual=hidden_states)


class MambaMiaTemporalAxisAggregator(GradientCheckpointingLayer):
    """Stage 2: each frame's k anchors as one vector f_t (k*d), a Mamba block along time with a residual.

    Its step size Delta_t = softplus(W_Delta f_t + b_Delta) (one scalar per frame after reducing over heads) scores
    the frames for delta sampling. With `taa_hidden_size` set, f_t is projected down before the mixer and back up.
    """

    def __init__(self, config: MambaMiaConfig):
        super().__init__()
        width = config.queries_per_frame * config.compressor_hidden_size
        inner = config.taa_hidden_size if config.taa_hidden_size is not None else width
        self.head_reduction = config.delta_head_reduction
        self.norm = MambaMiaRMSNorm(width, eps=config.layer_norm_epsilon)
        self.down_proj = nn.Linear(width, inner) if config.taa_hidden_size is not None else None
        self.mixer = _mixer(config, inner, bidirectional=config.taa_bidirectional, layer_idx=None, taa=True)
        self.up_proj = nn.Linear(inner, width) if config.taa_hidden_size is not None else None

    def forward(self, anchors: torch.Tensor, frame_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch_size, num_frames, k, hidden_size = anchors.shape
        frames = anchors.reshape(batch_size, num_frames, k * hidden_size)  # f_t, (B, M, k*d)
        hidden_states = self.norm(frames)
        if self.down_proj is not None:
            hidden_states = self.down_proj(hidden_states)
        hidden_states, delta = self.mixer(hidden_states, attention_mask=frame_mask, return_delta=True)
        if self.up_proj is not None:
            hidden_states = self.up_proj(hidden_states)
        frames = frames + hidden_states.to(frames.dtype)  # residual along the temporal axis
        # Delta_t = softplus(W_Delta f_t + b_Delta): Mamba2 has one per head, reduced to one scalar per frame
        delta = getattr(delta, self.head_reduction)(dim=-1)
        delta = delta.values if self.head_reduction == "max" else delta
        delta = delta * frame_mask.to(delta.dtype)
        return frames.view(batch_size, num_frames, k, hidden_size), delta


class MambaMiaCompressor(nn.Module):
    """Periodic queries through bidirectional Mamba2 blocks with GPA (Stage 1) and the TAA (Stage 2)."""

    def __init__(self, config: MambaMiaConfig):
        super().__init__()
        self.query_interval = config.query_interval
        self.queries_per_frame = config.queries_per_frame
        hidden_size = config.compressor_hidden_size
        self.input_proj = nn.Linear(config.vision_config.hidden_size, hidden_size)
        self.query = nn.Parameter(torch.randn(hidden_size) / math.sqrt(hidden_size))  # one query shared by all groups
        self.layers = nn.ModuleList(
            [MambaMiaCompressorBlock(config, layer_idx=i) for i in range(config.compressor_num_layers)]
        )
        self.norm_f = MambaMiaRMSNorm(hidden_size, eps=config.layer_norm_epsilon)
        self.residual_in_fp32 = config.residual_in_fp32
        self.streaming_segment_length = config.compressor_streaming_segment_length
        self.temporal_aggregator = (
            MambaMiaTemporalAxisAggregator(config) if config.use_temporal_axis_aggregator else None
        )

    def insert_queries(self, features: torch.Tensor) -> torch.Tensor:
        """(B, M, P, d) patch features -> (B, M * k * (n + 1), d): a query after every n = P / k patch tokens."""
        batch_size, num_frames, num_patches, hidden_size = features.shape
        groups = features.view(batch_size, num_frames, self.queries_per_frame, self.query_interval, hidden_size)
        queries = self.query.to(features.dtype).expand(batch_size, num_frames, self.queries_per_frame, 1, hidden_size)
        return torch.cat([groups, queries], dim=3).view(batch_size, -1, hidden_size)

    def stage1_streaming(self, features: torch.Tensor, segment_length: int) -> torch.Tensor:
        """Stage 1 without grad on unpadded videos with two (B, L, d) tensors: the query-interleaved input is written
        frame chunk by frame chunk into one residual buffer that each block updates in place. Returns the residual
        stream (B, L, d) before `norm_f`."""
        batch_size, num_frames, num_patches, _ = features.shape
        k, n = self.queries_per_frame, self.query_interval
        hidden_size = self.query.shape[0]
        dtype = torch.float32 if self.residual_in_fp32 else features.dtype  # blocks return fp32 residuals
        hidden_states = torch.empty(batch_size, num_frames, k, n + 1, hidden_size, dtype=dtype, device=features.device)
        step = max(1, segment_length // (num_patches + k))  # frames per input_proj call
        for start in range(0, num_frames, step):
            projected = self.input_proj(features[:, start : start + step])
            hidden_states[:, start : start + step, :, :n] = projected.view(batch_size, -1, k, n, hidden_size)
        hidden_states[:, :, :, n] = self.query.to(features.dtype)
        hidden_states = hidden_states.view(batch_size, -1, hidden_size)
        for layer in self.layers:
            layer.forward_streaming(hidden_states, segment_length)
        return hidden_states

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """features (B, M, P, vision_hidden), frame_mask (B, M) -> anchors (B, M, k, d), Delta_t (B, M) or None.

        With `compressor_streaming_segment_length` set, Stage 1 runs `stage1_streaming` when there is no grad and
        no frame padding (same result, far less memory)."""
        batch_size, num_frames = frame_mask.shape
        group = self.query_interval + 1
        if self.streaming_segment_length is not None and not torch.is_grad_enabled() and bool(frame_mask.all()):
            hidden_states = self.stage1_streaming(features, self.streaming_segment_length)
            # norm_f acts per token: only the anchors are normalised
            hidden_states = hidden_states.view(batch_size, num_frames, self.queries_per_frame, group, -1)[:, :, :, -1]
            anchors = self.norm_f(hidden_states.to(features.dtype))
        else:
            hidden_states = self.insert_queries(self.input_proj(features))
            input_dtype = hidden_states.dtype
            token_mask = frame_mask.repeat_interleave(self.queries_per_frame * group, dim=1)  # whole video: 1 sequence
            for layer in self.layers:
                hidden_states = layer(hidden_states, attention_mask=token_mask)
            hidden_states = self.norm_f(hidden_states.to(input_dtype))
            anchors = hidden_states.view(batch_size, num_frames, self.queries_per_frame, group, -1)[:, :, :, -1]
        if self.temporal_aggregator is None:
            return anchors, None
        return self.temporal_aggregator(anchors, frame_mask)


class MambaMiaMultiModalProjector(nn.Module):
    """mlp2x_gelu: Linear(d -> D) -> GELU -> Linear(D -> D), from compressor width d to LLM width D."""

    def __init__(self, config: MambaMiaConfig):
        super().__init__()
        text_hidden = config.text_config.hidden_size
        self.linear_1 = nn.Linear(config.compressor_hidden_size, text_hidden, bias=config.multimodal_projector_bias)
        self.act = ACT2FN[config.projector_hidden_act]
        self.linear_2 = nn.Linear(text_hidden, text_hidden, bias=config.multimodal_projector_bias)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(hidden_states)))


# ----------------------------------------------------------------------------------------------------- models
class MambaMiaPreTrainedModel(CheckpointErrorsMixin, PreTrainedModel):  # clear error for corrupt safetensors
    config: MambaMiaConfig
    config_class = MambaMiaConfig
    base_model_prefix = "model"
    input_modalities = ("video", "text")
    supports_gradient_checkpointing = True
    _no_split_modules = ["MambaMiaCompressorBlock", "MambaMiaTemporalAxisAggregator"]
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    _can_compile_fullgraph = False

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, MambaMiaModel) and module.frame_separator is not None:
            init.normal_(module.frame_separator, mean=0.0, std=1 / math.sqrt(self.config.text_config.hidden_size))
        elif isinstance(module, MambaMiaCompressor):
            # (modules without own parameters are skipped by transformers for custom code, so the GPA linears are
            # initialised here, from the compressor that owns the query)
            init.normal_(module.query, mean=0.0, std=1 / math.sqrt(self.config.compressor_hidden_size))
            init.xavier_uniform_(module.input_proj.weight)
            init.zeros_(module.input_proj.bias)
            for layer in module.layers:
                if layer.gpa is None:
                    continue
                # default nn.Linear init scaled by gpa_init_scale, zero bias: mean pooling and g = 0.5 at start
                for linear in (layer.gpa.weight_proj, layer.gpa.gate_proj):
                    if not getattr(linear.weight, "_is_hf_initialized", False):
                        weight = torch.empty_like(linear.weight)
                        torch.nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
                        init.copy_(linear.weight, weight * self.config.gpa_init_scale)
                    init.zeros_(linear.bias)
        elif isinstance(module, BiMamba2Mixer):
            # the sister repo: in_proj, out_proj and the convolutions keep PyTorch's default initialisation (its
            # _init_weights only zeroes Linear biases, and use_bias is off there), dt_bias log-uniform, dt_bias_b = 1
            for layer in (module.in_proj, module.out_proj, module.conv1d, getattr(module, "conv1d_b", None)):
                if layer is not None:
                    _init_like_pytorch_default(layer)
            for name, value in module.initial_ssm_parameters().items():
                init.copy_(getattr(module, name), value)


def _init_like_pytorch_default(layer: nn.Linear | nn.Conv1d):
    """`nn.Linear` / `nn.Conv1d`'s own `reset_parameters`: kaiming-uniform weight (a = sqrt(5)), bias uniform in
    +-1 / sqrt(fan_in); through `transformers.initialization` so that loaded weights are left alone."""
    init.kaiming_uniform_(layer.weight, a=math.sqrt(5))
    if layer.bias is not None:
        fan_in = layer.weight[0].numel()
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        init.uniform_(layer.bias, -bound, bound)


class MambaMiaModel(MambaMiaPreTrainedModel):
    """Vision tower + compressor + projector + frame separator + Qwen2 decoder (no LM head)."""

    def __init__(self, config: MambaMiaConfig):
        super().__init__(config)
        self.vision_tower = AutoModel.from_config(config.vision_config)
        self.compressor = MambaMiaCompressor(config)
        self.multi_modal_projector = MambaMiaMultiModalProjector(config)
        text_hidden = config.text_config.hidden_size
        self.frame_separator = (
            nn.Parameter(torch.randn(text_hidden) / math.sqrt(text_hidden)) if config.use_frame_separator else None
        )
        self.language_model = AutoModel.from_config(config.text_config)
        self.post_init()

    def get_input_embeddings(self):
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.language_model.set_input_embeddings(value)

    # ------------------------------------------------------------------ video
    def _check_video_inputs(self, pixel_values_videos: torch.Tensor, video_frame_mask: torch.Tensor | None):
        if pixel_values_videos.ndim != 5:
            raise ValueError(
                "pixel_values_videos must have shape (batch_size, num_frames, channels, height, width), got "
                f"{tuple(pixel_values_videos.shape)}"
            )
        batch_size, num_frames, channels, height, width = pixel_values_videos.shape
        size = self.config.frame_size
        if (height, width) != (size, size):
            raise ValueError(
                f"The vision tower takes {size}x{size} frames, got {height}x{width}: resize the frames with "
                "MambaMiaProcessor (or the vision tower's image processor)."
            )
        if channels != self.config.vision_config.num_channels:
            raise ValueError(f"Expected {self.config.vision_config.num_channels} channels per frame, got {channels}")
        if num_frames < 1:
            raise ValueError("A video needs at least one frame; got 0 frames.")
        if not torch.isfinite(pixel_values_videos).all():
            raise ValueError("pixel_values_videos contain NaN or infinite values.")
        if video_frame_mask is None:
            return torch.ones(batch_size, num_frames, dtype=torch.bool, device=pixel_values_videos.device)
        frame_mask = video_frame_mask.to(pixel_values_videos.device).bool()
        if frame_mask.shape != (batch_size, num_frames):
            raise ValueError(
                f"video_frame_mask must have shape {(batch_size, num_frames)}, got {tuple(frame_mask.shape)}"
            )
        if not frame_mask[:, 0].all():
            raise ValueError("Every video needs at least one frame (video_frame_mask has an empty video).")
        if (frame_mask[:, 1:] & ~frame_mask[:, :-1]).any():
            raise ValueError("video_frame_mask must mark the real frames first, then padding frames (right padding).")
        return frame_mask

    def select_frames(self, frame_deltas: torch.Tensor | None, frame_mask: torch.Tensor) -> torch.BoolTensor:
        """Kept-frame mask: all real frames, or delta sampling (Algorithm 1) in eval mode for videos longer than
        `delta_sampling_min_frames`. If Algorithm 1 keeps nothing, the frame with the largest Delta_t is kept."""
        kept = frame_mask.clone()
        if self.training or not self.config.delta_sampling or frame_deltas is None:
            return kept
        for b in range(frame_mask.shape[0]):
            num_frames = int(frame_mask[b].sum())
            if num_frames <= self.config.delta_sampling_min_frames:
                continue
            deltas = frame_deltas[b, :num_frames].float()
            keep = delta_sampling(deltas, self.config.delta_sampling_threshold)
            if not keep.any():
                keep[deltas.argmax()] = True
            kept[b, :num_frames] = keep
        return kept

    def _run_vision_tower(self, frames: torch.Tensor):
        """(N, C, S, S) frames -> vision outputs with all hidden states. A NaFlex SigLIP2 tower takes patch rows
        (N, grid*grid, P*P*C) ordered as its image processor does, a full mask and the spatial shape of the grid."""
        if self.config.vision_config.model_type != "siglip2_vision_model":
            return self.vision_tower(frames, output_hidden_states=True, return_dict=True)
        n, c, size, _ = frames.shape
        p = self.config.vision_config.patch_size
        grid = size // p
        patches = frames.reshape(n, c, grid, p, grid, p).permute(0, 2, 4, 3, 5, 1).reshape(n, grid * grid, p * p * c)
        return self.vision_tower(
            patches,
            pixel_attention_mask=torch.ones(n, grid * grid, dtype=torch.long, device=frames.device),
            spatial_shapes=torch.tensor([[grid, grid]] * n, dtype=torch.long, device=frames.device),
            output_hidden_states=True,
            return_dict=True,
        )

    def get_video_features(
        self,
        pixel_values_videos: torch.FloatTensor,
        video_frame_mask: torch.Tensor | None = None,
        vision_feature_layer: int | None = None,
        video_timestamps: list[list[float]] | torch.Tensor | None = None,
        **kwargs,
    ) -> MambaMiaVideoOutput:
        r"""
        pixel_values_videos (`torch.FloatTensor` of shape `(batch_size, num_frames, channels, height, width)`):
            Frames of each video (one video per batch row), normalised for the vision tower.
        video_frame_mask (`torch.Tensor` of shape `(batch_size, num_frames)`, *optional*):
            1 for real frames, 0 for padding frames (right padding) when videos of different lengths are batched.
        vision_feature_layer (`int`, *optional*): hidden state of the tower to read; `config.vision_feature_layer`.
        video_timestamps (`list[list[float]]` or `torch.Tensor`, *optional*):
            Every frame's time in seconds in its video ([`MambaMiaVideoProcessor`] returns them); they give
            `kept_frame_timestamps`.

        Returns [`MambaMiaVideoOutput`] with `pooler_output` = one `(kept_frames * tokens_per_frame, hidden)` tensor
        per video, and which frames were kept (`kept_frame_indices`, `kept_frame_timestamps`).
        """
        frame_mask = self._check_video_inputs(pixel_values_videos, video_frame_mask)
        layer = vision_feature_layer if vision_feature_layer is not None else self.config.vision_feature_layer
        batch_size, num_frames = frame_mask.shape
        real_frames = pixel_values_videos[frame_mask]
        chunk = self.config.vision_batch_size or real_frames.shape[0]
        patch_features = torch.cat(  # penultimate layer by default; SigLIP has no CLS token, all patches are kept
            [
                self._run_vision_tower(real_frames[start : start + chunk]).hidden_states[layer]
                for start in range(0, real_frames.shape[0], chunk)
            ]
        )
        features = patch_features.new_zeros(batch_size, num_frames, *patch_features.shape[1:])
        features[frame_mask] = patch_features

        compressor_dtype = self.compressor.input_proj.weight.dtype
        anchors, frame_deltas = self.compressor(features.to(compressor_dtype), frame_mask)
        kept_frames = self.select_frames(frame_deltas, frame_mask)

        tokens = self.multi_modal_projector(anchors)  # (B, M, k, D)
        if self.frame_separator is not None:
            separator = self.frame_separator.to(tokens.dtype).expand(batch_size, num_frames, 1, tokens.shape[-1])
            tokens = torch.cat([tokens, separator], dim=2)  # frame separator after every frame's tokens
        video_tokens = [tokens[b][kept_frames[b]].flatten(0, 1) for b in range(batch_size)]
        output = MambaMiaVideoOutput(
            last_hidden_state=patch_features,
            pooler_output=video_tokens,
            frame_deltas=frame_deltas,
            kept_frames=kept_frames,
            num_frames=frame_mask.sum(-1),
            kept_frame_indices=[kept_frames[b].nonzero().flatten() for b in range(batch_size)],
        )
        if video_timestamps is not None:
            output.kept_frame_timestamps = timestamps_of_kept_frames(output, video_timestamps)
        return output

    def get_placeholder_mask(
        self,
        input_ids: torch.LongTensor | None,
        inputs_embeds: torch.FloatTensor,
        video_outputs: MambaMiaVideoOutput,
    ) -> torch.BoolTensor:
        """Positions of the video placeholder tokens, checked against the videos: with `input_ids`, the videos fill
        the placeholders in order and every video must get exactly its tokens (see `video_placeholder_positions`);
        with `inputs_embeds` only, the total count must match."""
        counts = [int(v.shape[0]) for v in video_outputs.pooler_output]
        if input_ids is None:
            video_embed = self.get_input_embeddings()(
                torch.tensor(self.config.video_token_id, device=inputs_embeds.device)
            )
            mask = (inputs_embeds == video_embed).all(-1)
            if int(mask.sum()) != sum(counts):
                raise ValueError(
                    f"Video placeholders and video tokens disagree: {int(mask.sum())} video placeholder tokens in "
                    f"inputs_embeds for {sum(counts)} video tokens {counts}."
                )
            return mask
        if video_placeholder_positions(input_ids, self.config.video_token_id, counts) is None:
            row_counts = (input_ids == self.config.video_token_id).sum(-1).tolist()
            hint = ""
            if sum(row_counts) > sum(counts) and not bool(video_outputs.kept_frames.all()):
                hint = (
                    " Delta sampling dropped frames: use generate(), which removes the dropped frames' placeholders, "
                    "or mambamia_hf.select_video_tokens(...) before calling the model."
                )
            raise ValueError(
                f"Video placeholders and video tokens disagree: the rows hold {row_counts} video placeholder tokens "
                f"for {len(counts)} video(s) of {counts} tokens ({self.config.tokens_per_frame} per kept frame; the "
                f"videos fill the placeholders in order and a video's tokens stay in one row).{hint}"
            )
        return input_ids == self.config.video_token_id

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values_videos: torch.FloatTensor | None = None,
        video_frame_mask: torch.Tensor | None = None,
        video_timestamps: list[list[float]] | torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        use_cache: bool | None = None,
        mm_encoder_outputs: dict[str, BaseModelOutputWithPooling] | None = None,
        **kwargs,
    ) -> MambaMiaModelOutputWithPast:
        r"""
        pixel_values_videos (`torch.FloatTensor` of shape `(num_videos, num_frames, channels, height, width)`,
            *optional*): the videos' frames ([`MambaMiaProcessor`]).
        video_frame_mask (`torch.Tensor` of shape `(num_videos, num_frames)`, *optional*): 1 = real frame.
        video_timestamps (`list[list[float]]` or `torch.Tensor`, *optional*): every frame's time in seconds; gives
            `video_outputs.kept_frame_timestamps`.
        mm_encoder_outputs (`dict`, *optional*): `{"video": MambaMiaVideoOutput}` computed beforehand.
        """
        if (input_ids is None) ^ (inputs_embeds is not None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
        if (input_ids if input_ids is not None else inputs_embeds).shape[1] == 0:
            raise ValueError("Empty prompt: input_ids / inputs_embeds have zero tokens.")
        if pixel_values_videos is not None and mm_encoder_outputs is not None and mm_encoder_outputs.get("video"):
            raise ValueError("Pass either pixel_values_videos or mm_encoder_outputs['video'], not both.")
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)

        mm_encoder_outputs = dict(mm_encoder_outputs) if mm_encoder_outputs is not None else {}
        if mm_encoder_outputs.get("video") is None and pixel_values_videos is not None:
            mm_encoder_outputs["video"] = self.get_video_features(pixel_values_videos, video_frame_mask)

        video_outputs = mm_encoder_outputs.get("video")
        if video_outputs is not None:
            mask = self.get_placeholder_mask(input_ids, inputs_embeds, video_outputs)
            video_features = torch.cat(list(video_outputs.pooler_output), dim=0)
            video_features = video_features.to(inputs_embeds.device, inputs_embeds.dtype)
            inputs_embeds = inputs_embeds.masked_scatter(mask.unsqueeze(-1).to(inputs_embeds.device), video_features)
            if video_timestamps is not None and video_outputs.kept_frame_timestamps is None:
                video_outputs.kept_frame_timestamps = timestamps_of_kept_frames(video_outputs, video_timestamps)
        elif (
            input_ids is not None
            and (cache is None or cache.get_seq_length() == 0)
            and (input_ids == self.config.video_token_id).any()
        ):
            raise ValueError(
                "input_ids contain video placeholder tokens but no video (pixel_values_videos) was given."
            )

        outputs = self.language_model(
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        return MambaMiaModelOutputWithPast(
            last_hidden_state=outputs.last_hidden_state,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            video_outputs=video_outputs,
        )


class MambaMiaForConditionalGeneration(MambaMiaPreTrainedModel, GenerationMixin):
    _tied_weights_keys = {"lm_head.weight": "model.language_model.embed_tokens.weight"}

    def __init__(self, config: MambaMiaConfig):
        super().__init__(config)
        self.model = MambaMiaModel(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def get_video_features(
        self, pixel_values_videos, video_frame_mask=None, vision_feature_layer=None, video_timestamps=None, **kwargs
    ) -> MambaMiaVideoOutput:
        """[`MambaMiaModel.get_video_features`]."""
        return self.model.get_video_features(
            pixel_values_videos, video_frame_mask, vision_feature_layer, video_timestamps=video_timestamps, **kwargs
        )

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values_videos: torch.FloatTensor | None = None,
        video_frame_mask: torch.Tensor | None = None,
        video_timestamps: list[list[float]] | torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        mm_encoder_outputs: dict[str, BaseModelOutputWithPooling] | None = None,
        **kwargs,
    ) -> MambaMiaCausalLMOutputWithPast:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
            Targets for the causal-LM loss (-100 = ignored; video placeholder positions should be -100).

        The other arguments are [`MambaMiaModel.forward`]'s. `output.video_outputs.kept_frame_indices` /
        `kept_frame_timestamps` tell which frames the LLM saw.
        """
        outputs = self.model(
            input_ids=input_ids,
            pixel_values_videos=pixel_values_videos,
            video_frame_mask=video_frame_mask,
            video_timestamps=video_timestamps,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            mm_encoder_outputs=mm_encoder_outputs,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        slice_indices = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(hidden_states[:, slice_indices, :])
        loss = None
        if labels is not None:
            loss = self.loss_function(
                logits=logits, labels=labels, vocab_size=self.config.text_config.vocab_size, **kwargs
            )
        return MambaMiaCausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            video_outputs=outputs.video_outputs,
        )

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values_videos: torch.FloatTensor | None = None,
        video_frame_mask: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        video_timestamps: list[list[float]] | torch.Tensor | None = None,
        **kwargs,
    ):
        """`GenerationMixin.generate`, encoding the videos once before prefill.

        When delta sampling drops frames, the dropped frames' placeholder tokens are removed from the prompt before
        prefill (the LLM sees only the kept frames' tokens); the returned sequences still start with the caller's
        `input_ids`, so `output[:, input_ids.shape[1]:]` are the new tokens as usual.

        What the model looked at: with `return_dict_in_generate=True` the output is a [`MambaMiaGenerateOutput`]
        (or [`MambaMiaGenerateBeamOutput`]) whose `video_outputs.kept_frame_indices` and
        `video_outputs.kept_frame_timestamps` (seconds, from the processor's `video_timestamps`) list the kept
        frames of each input video.
        """
        video_outputs = (kwargs.get("mm_encoder_outputs") or {}).get("video")
        original_input_ids, shortened = input_ids, False
        if pixel_values_videos is not None and input_ids is not None and video_outputs is None:
            video_outputs = self.model.get_video_features(
                pixel_values_videos, video_frame_mask, video_timestamps=video_timestamps
            )
            num_frames = video_outputs.num_frames
            if any(int(k.sum()) != int(n) for k, n in zip(video_outputs.kept_frames, num_frames)):
                pad_token_id = self.generation_config.pad_token_id
                if pad_token_id is None:
                    pad_token_id = self.config.text_config.pad_token_id or 0
                if isinstance(pad_token_id, (list, tuple)):
                    pad_token_id = pad_token_id[0]
                input_ids, attention_mask = select_video_tokens(
                    input_ids,
                    attention_mask,
                    video_outputs.kept_frames,
                    num_frames,
                    self.config.video_token_id,
                    self.config.tokens_per_frame,
                    int(pad_token_id),
                )
                shortened = True
            kwargs["mm_encoder_outputs"] = {"video": video_outputs}
            pixel_values_videos = None
        elif video_timestamps is not None and video_outputs is not None:
            if video_outputs.kept_frame_timestamps is None:
                video_outputs.kept_frame_timestamps = timestamps_of_kept_frames(video_outputs, video_timestamps)
        elif video_timestamps is not None and pixel_values_videos is None:
            raise ValueError("video_timestamps were given without videos (pixel_values_videos).")
        if pixel_values_videos is not None:
            kwargs["pixel_values_videos"] = pixel_values_videos
            kwargs["video_frame_mask"] = video_frame_mask
            kwargs["video_timestamps"] = video_timestamps
        output = super().generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        sequences = output if isinstance(output, torch.Tensor) else output.sequences
        if shortened:
            prompts = original_input_ids.to(sequences.device)
            prompts = prompts.repeat_interleave(sequences.shape[0] // prompts.shape[0], dim=0)  # num_return_sequences
            sequences = torch.cat([prompts, sequences[:, input_ids.shape[1] :]], dim=1)
        if isinstance(output, torch.Tensor):
            return sequences
        output.sequences = sequences
        wrapper = MambaMiaGenerateBeamOutput if isinstance(output, GenerateBeamDecoderOnlyOutput) else None
        if wrapper is None and isinstance(output, GenerateDecoderOnlyOutput):
            wrapper = MambaMiaGenerateOutput
        return wrapper(**output, video_outputs=video_outputs) if wrapper is not None else output

    # ------------------------------------------------------------------ build from parts
    @classmethod
    def from_components(
        cls,
        vision_id_or_path: str,
        text_id_or_path: str,
        dtype: torch.dtype | str | None = None,
        **compressor_kwargs,
    ) -> "MambaMiaForConditionalGeneration":
        """Load a pretrained SigLIP/SigLIP2 vision tower and a Qwen2 causal LM, and initialise a fresh compressor,
        projector and frame separator (`compressor_kwargs` are [`MambaMiaConfig`] fields).

        Unless `video_token_id` is given, it is the id of `"<video>"` in the text checkpoint's tokenizer (added as a
        special token when missing, as [`MambaMiaProcessor.from_components`] does; the embeddings are resized when
        the id falls outside the LLM's vocabulary)."""
        vision_config = AutoConfig.from_pretrained(vision_id_or_path)
        vision_config = getattr(vision_config, "vision_config", vision_config)
        if vision_config.model_type not in ("siglip_vision_model", "siglip2_vision_model"):
            raise ValueError(f"Expected a SigLIP / SigLIP2 vision model, got model_type {vision_config.model_type!r}")
        vision = _headless_vision_tower(AutoModel.from_pretrained(vision_id_or_path, dtype=dtype))
        text = AutoModelForCausalLM.from_pretrained(text_id_or_path, dtype=dtype)
        if text.config.model_type != "qwen2":
            raise ValueError(f"Expected a Qwen2 language model, got model_type {text.config.model_type!r}")
        if "video_token_id" not in compressor_kwargs:
            tokenizer = AutoTokenizer.from_pretrained(text_id_or_path)
            if "<video>" not in tokenizer.get_vocab():
                tokenizer.add_special_tokens({"additional_special_tokens": ["<video>"]})
            compressor_kwargs["video_token_id"] = tokenizer.convert_tokens_to_ids("<video>")
            if compressor_kwargs["video_token_id"] >= text.config.vocab_size:
                text.resize_token_embeddings(len(tokenizer))
        config = MambaMiaConfig(
            vision_config=vision.config.to_dict(), text_config=text.config.to_dict(), **compressor_kwargs
        )
        with torch.device("meta"):
            model = cls(config)
        model.model.vision_tower = vision
        model.model.language_model = text.model
        model.lm_head = text.lm_head
        param_dtype = next(text.parameters()).dtype
        fresh = [model.model.compressor, model.model.multi_modal_projector]
        for module in fresh:
            module.to_empty(device="cpu")
            module.apply(model._init_weights)
            module.to(param_dtype)
        if model.model.frame_separator is not None:
            hidden = config.text_config.hidden_size
            model.model.frame_separator = nn.Parameter(torch.randn(hidden, dtype=param_dtype) / math.sqrt(hidden))
        model.tie_weights()
        model.config.dtype = param_dtype
        return model


def _headless_vision_tower(vision):
    """A SigLIP / SigLIP2 vision model without its attention-pooling head (MambaMia reads a hidden layer; the head
    would only be dead weights). A full image + text checkpoint gives its vision half."""
    if hasattr(vision, "text_model"):
        vision = vision.vision_model
    if not getattr(vision.config, "vision_use_head", False):
        return vision
    config = copy.deepcopy(vision.config)
    config.vision_use_head = False
    with init.no_init_weights():
        headless = AutoModel.from_config(config, dtype=next(vision.parameters()).dtype)
    state = {k: v for k, v in vision.state_dict().items() if not k.startswith("head.")}
    headless.load_state_dict(state, strict=True)
    return headless


__all__ = [
    "MambaMiaPreTrainedModel",
    "MambaMiaModel",
    "MambaMiaForConditionalGeneration",
    "MambaMiaCompressor",
    "MambaMiaGatedPatchAggregation",
    "MambaMiaTemporalAxisAggregator",
    "MambaMiaVideoOutput",
    "MambaMiaModelOutputWithPast",
    "MambaMiaCausalLMOutputWithPast",
    "MambaMiaGenerateOutput",
    "MambaMiaGenerateBeamOutput",
    "delta_sampling",
    "select_video_tokens",
    "find_video_runs",
    "timestamps_of_kept_frames",
    "video_placeholder_positions",
]
