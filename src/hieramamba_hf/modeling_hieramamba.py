# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""HieraMamba: video temporal grounding with hierarchical Anchor-Mamba Pooling (arXiv 2510.23043).

Port of the official implementation (github jbistanbul/hieramamba, built on SnAG and Hydra), numerically identical
to it in float32 (see tests/test_hieramamba_parity.py). All tensors are channel-last: (batch, time, channels).

Data flow (`HieraMambaModel`):
    text tokens -> text encoder (identity + attention-pooling token, or transformer + background token)
    video clips -> [early fusion: 1x1 projection -> cross-modal fusion, one copy per query]
                -> backbone: 1x1 embedding, masked convs, absolute PE, AMP blocks -> pyramid (finest first)
                -> cross-modal fusion of every level (same fusion weights as the early fusion)
`HieraMambaForVideoGrounding` adds the shared classification / regression heads, the candidate points and the
training losses, and exposes the official decoding through `post_process_video_grounding`.

Encoders: a checkpoint that takes raw video and query strings holds its frame encoder (`vision_model`, e.g.
`SimpleFrameEncoderModel` or CLIP's vision tower) and query encoder (`text_model`, e.g. MiniLM or CLIP's text tower)
as sub-models of `HieraMambaModel`, built from `config.vision_config` / `config.text_config`, so `model.to(...)`
and `from_pretrained(..., dtype=..., device_map=...)` place them with the grounding weights.
`get_video_features` turns decoded frames into clip features on the config's feature clock (a clip of `clip_size`
sampled frames every `clip_stride * downsample_rate` frames, the mean of its frames' embeddings), streaming chunk by
chunk; `get_text_features` turns token ids into token features. An encoder may be *named* instead of stored
(`config.text_model_name_or_path`): `from_pretrained` then loads its weights from that Hub id, folder or pip package.

Official quirks reproduced by default (each has a flag or is documented where it lives):
* AMP interleaved-sequence mask counts valid tokens over a group of rows (`config.block_mask_mode`).
* Eval pads the text to `config.text_pad_length` tokens, which interpolates the text PE for TACoS (50 > 48).
* Hydra takes no mask: it sees the zero padding; the input is padded to a multiple of `config.padding_unit`.
* Windowed local attention adds -1e4 (not -inf) for padded keys and zeroes the rows of padded queries;
  global attention does not zero padded query rows.
Deliberate differences (no effect on the released checkpoints' evaluation): the absolute PE is interpolated
whenever the grid is longer than max_seq_len (the official code asserts in training mode); inputs are padded to
a multiple of `padding_unit` in training too (the official trainer pads every video to max_seq_len, so to reproduce
its Hydra context exactly, pad the batch to max_seq_len * embedding_stride yourself).
"""

from __future__ import annotations

import copy
import ctypes
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import transformers
from huggingface_hub import snapshot_download
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES
from transformers.utils import ModelOutput

from ssm_layers import Hydra
from ssm_layers.checkpoints import CheckpointErrorsMixin

from .configuration_hieramamba import HieraMambaConfig, SimpleFrameEncoderConfig
from .loss_hieramamba import HieraMambaContrastiveProjector, compute_grounding_loss
from .modeling_simple_frame_encoder import SimpleFrameEncoderModel
from .post_processing_hieramamba import post_process_model_outputs


class MissingEncoderError(ValueError):
    """The model has no encoder for this kind of input: pass precomputed features, or use a checkpoint with one."""


# ----------------------------------------------------------------------------------------------------------------
# small building blocks
# ----------------------------------------------------------------------------------------------------------------
def sinusoid_position_encoding(length: int, dim: int, max_len: int, device, dtype) -> torch.Tensor:
    """(length, dim) sinusoidal PE of a `max_len` grid, divided by sqrt(dim); linearly interpolated
    (align_corners=True) when length > max_len, sliced otherwise (SnAG `sinusoid_encoding`)."""
    n_freqs = dim // 2
    tics = torch.arange(max_len, dtype=torch.float32, device=device)
    freqs = 10000 ** torch.linspace(0, 1, n_freqs + 1, device=device)[:n_freqs]
    angles = tics[None, :] / freqs[:, None]
    pe = torch.cat((torch.sin(angles), torch.cos(angles))) / dim**0.5  # (dim, max_len)
    if length > max_len:
        pe = F.interpolate(pe[None], size=length, mode="linear", align_corners=True)[0]
    return pe[:, :length].t().to(dtype)


def drop_path(x: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth per sample."""
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    mask = (keep_prob + torch.rand(shape, dtype=x.dtype, device=x.device)).floor_()
    return x.div(keep_prob) * mask


class HieraMambaLayerScale(nn.Module):
    """Per-channel residual scale (init 1e-4) followed by drop-path."""

    def __init__(self, dim: int, drop_path: float = 0.0, init_value: float = 1e-4):
        super().__init__()
        self.init_value = init_value
        self.drop_path = drop_path
        self.scale = nn.Parameter(torch.full((dim,), init_value))

    def forward(self, x):
        return drop_path(x * self.scale.to(x.dtype), self.drop_path, self.training)


class HieraMambaRMSNorm(nn.Module):
    """RMSNorm computed in float32 (eps 1e-6 in the AMP blocks)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


class HieraMambaMaskedConv(nn.Conv1d):
    """Conv1d over channel-last input that zeroes padded steps first; returns the output's mask
    (the input mask subsampled by the stride)."""

    def forward(self, x, mask):
        x = super().forward((x * mask[..., None].to(x.dtype)).transpose(1, 2)).transpose(1, 2)
        return x, mask[:, :: self.stride[0]]


class HieraMambaFeedForward(nn.Module):
    """Linear(D, 4D) -> GELU -> Dropout -> Linear(4D, D) -> Dropout (SnAG FFN)."""

    def __init__(self, dim: int, expansion: int = 4, dropout: float = 0.0):
        super().__init__()
        self.fc = nn.Linear(dim, dim * expansion)
        self.proj = nn.Linear(dim * expansion, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.proj(self.dropout(F.gelu(self.fc(x)))))


class HieraMambaMaskedAttention(nn.Module):
    """Masked multi-head attention (SnAG `MaskedMHA`): global, or local with a window of `window_size` steps.

    Keys outside `kv_mask` are excluded. With `kv_repeats`, query sample b is repeated kv_repeats[b] times to meet
    its keys (cross-attention of one video with several queries).
    """

    def __init__(self, dim, num_heads, kv_dim=None, out_dim=None, window_size=0, attn_dropout=0.0, proj_dropout=0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"attention width {dim} is not a multiple of num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.window_size = window_size
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(kv_dim or dim, dim)
        self.value = nn.Linear(kv_dim or dim, dim)
        self.proj = nn.Linear(dim, out_dim or dim)
        self.attn_dropout = nn.Dropout(attn_dropout)
        self.proj_dropout = nn.Dropout(proj_dropout)

    def _heads(self, x):
        return x.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)  # (N, h, T, d)

    def forward(self, query, key, value, kv_mask, kv_repeats=None):
        q, k, v = self.query(query), self.key(key), self.value(value)
        if kv_repeats is not None and q.size(0) != k.size(0):
            q = q.repeat_interleave(kv_repeats, dim=0)
        scale = 1.0 / math.sqrt(math.sqrt(self.head_dim))  # applied to q and k each, as the official code
        q, k, v = self._heads(q) * scale, self._heads(k) * scale, self._heads(v)
        if self.window_size > 0:
            out = self._local_attention(q, k, v, kv_mask)
        else:
            scores = (q @ k.transpose(-1, -2)).masked_fill(~kv_mask[:, None, None, :], float("-inf"))
            out = self.attn_dropout(scores.softmax(dim=-1)) @ v
        out = out.transpose(1, 2).flatten(2)
        return self.proj_dropout(self.proj(out))

    def _local_attention(self, q, k, v, mask):
        """Sliding-window self-attention over offsets -w//2..w//2 (windows unfolded: linear memory)."""
        w, half = self.window_size, self.window_size // 2
        k = F.pad(k, (0, 0, half, half)).unfold(2, w, 1)  # (N, h, T, d, w)
        v = F.pad(v, (0, 0, half, half)).unfold(2, w, 1)
        valid = F.pad(mask, (half, half), value=False).unfold(1, w, 1)  # (N, T, w)
        in_range = F.pad(torch.ones_like(mask), (half, half), value=False).unfold(1, w, 1)
        # padded keys get -1e4 (official), keys beyond the sequence ends -inf
        bias = torch.where(valid, 0.0, -1e4).masked_fill(~in_range, float("-inf"))
        scores = (q[..., None] * k).sum(-2) + bias[:, None].to(q.dtype)  # (N, h, T, w)
        attn = scores.softmax(dim=-1).masked_fill(~mask[:, None, :, None], 0.0)  # padded queries attend to nothing
        attn = self.attn_dropout(attn)
        return (attn[..., None, :] * v).sum(-1)


class HieraMambaGlobalSelfAttention(nn.Module):
    """Full multi-head self-attention over the interleaved sequence (keys restricted to the valid positions), the
    quadratic stand-in for Hydra when `config.global_mixer_type == "attention"` (a benchmark baseline)."""

    def __init__(self, dim: int, head_dim: int):
        super().__init__()
        self.num_heads = dim // head_dim
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mask):
        q, k, v = self.qkv(x).unflatten(-1, (3, self.num_heads, -1)).permute(2, 0, 3, 1, 4)  # (3, N, h, L, d)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
        return self.proj(out.transpose(1, 2).flatten(2))


class HieraMambaTransformerLayer(nn.Module):
    """SnAG transformer encoder layer: [depthwise conv3 + LayerNorm on q, k, v] -> masked MHA -> FFN x4.
    Used as the AMP local encoder (with convs, windowed) and as the text transformer layer (no convs)."""

    def __init__(
        self,
        dim,
        num_heads,
        window_size=0,
        use_conv=True,
        attn_dropout=0.0,
        proj_dropout=0.0,
        path_dropout=0.0,
        layer_scale_init=1e-4,
    ):
        super().__init__()
        self.use_conv = use_conv
        if use_conv:
            self.q_conv = HieraMambaMaskedConv(dim, dim, 3, padding=1, groups=dim, bias=False)
            self.k_conv = HieraMambaMaskedConv(dim, dim, 3, padding=1, groups=dim, bias=False)
            self.v_conv = HieraMambaMaskedConv(dim, dim, 3, padding=1, groups=dim, bias=False)
            self.q_norm, self.k_norm, self.v_norm = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = HieraMambaMaskedAttention(
            dim, num_heads, window_size=window_size, attn_dropout=attn_dropout, proj_dropout=proj_dropout
        )
        self.attn_norm = nn.LayerNorm(dim)
        self.attn_scale = HieraMambaLayerScale(dim, path_dropout, layer_scale_init)
        self.ffn = HieraMambaFeedForward(dim, 4, proj_dropout)
        self.ffn_norm = nn.LayerNorm(dim)
        self.ffn_scale = HieraMambaLayerScale(dim, path_dropout, layer_scale_init)

    def forward(self, x, mask):
        m = mask[..., None].to(x.dtype)
        x = x * m
        h = self.attn_norm(x)
        if self.use_conv:
            q = self.q_norm(self.q_conv(h, mask)[0])
            k = self.k_norm(self.k_conv(h, mask)[0])
            v = self.v_norm(self.v_conv(h, mask)[0])
        else:
            q = k = v = h
        x = x * m + self.attn_scale(self.attn(q, k, v, mask))
        return x + self.ffn_scale(self.ffn(self.ffn_norm(x)) * m)


# ----------------------------------------------------------------------------------------------------------------
# text encoder
# ----------------------------------------------------------------------------------------------------------------
class HieraMambaTextEncoder(nn.Module):
    """Text net. "identity": 1x1 projection, then a pooled token (masked-mean token refined by one masked MHA over
    [mean; tokens]) is prepended. "transformer": 1x1 projection, sinusoidal PE, learned background token prepended,
    `text_num_layers` transformer layers. Output length L + 1; the prepended token takes the first token's mask."""

    def __init__(self, config: HieraMambaConfig):
        super().__init__()
        self.config = config
        dim = config.text_hidden_size
        self.input_proj = nn.Linear(config.text_input_dim, dim)
        self.attention_pool = None
        self.background_token = None
        self.layers = nn.ModuleList()
        if config.text_encoder == "identity":
            if config.text_use_background_token:
                self.attention_pool = HieraMambaMaskedAttention(dim, config.text_num_heads)
        else:
            if config.text_use_background_token:
                self.background_token = nn.Parameter(torch.zeros(dim))
            for _ in range(config.text_num_layers):
                self.layers.append(
                    HieraMambaTransformerLayer(
                        dim,
                        config.text_num_heads,
                        use_conv=False,
                        attn_dropout=config.text_attn_dropout,
                        proj_dropout=config.text_proj_dropout,
                        path_dropout=config.text_path_dropout,
                    )
                )

    def forward(self, text, mask):
        m = mask[..., None].to(text.dtype)
        x = self.input_proj(text * m)
        if self.config.text_use_abs_pe:
            pe = sinusoid_position_encoding(x.size(1), x.size(2), self.config.text_max_seq_len, x.device, x.dtype)
            x = x + pe * m
        if self.attention_pool is not None:
            mean = (x * m).sum(1, keepdim=True) / mask.sum(1)[:, None, None]
            h = torch.cat((mean, x), dim=1)
            mask = torch.cat((mask[:, :1], mask), dim=1)
            pooled = self.attention_pool(h, h, h, mask)[:, :1]  # attention pooling: the mean token's output
            x = torch.cat((pooled, x), dim=1)
        if self.background_token is not None:
            token = self.background_token.to(x.dtype).expand(x.size(0), 1, -1)
            x = torch.cat((token, x), dim=1)
            mask = torch.cat((mask[:, :1], mask), dim=1)
        for layer in self.layers:
            x = layer(x, mask)
        return x, mask


# ----------------------------------------------------------------------------------------------------------------
# cross-modal fusion
# ----------------------------------------------------------------------------------------------------------------
class HieraMambaFusionLayer(nn.Module):
    """SnAG cross-attention decoder layer (no self-attention, no residual around the cross-attention):
    q' = LN(dwconv3(LN_q(q)));  [scale | shift] = MHA(q', LN_kv(text))
    q = AdaLN(q) * scale + shift;  q = q + LS(FFN(LN(q)))"""

    def __init__(self, config: HieraMambaConfig):
        super().__init__()
        dim = config.hidden_size
        self.query_ln = nn.LayerNorm(dim)
        self.text_ln = nn.LayerNorm(config.text_hidden_size)
        self.query_conv = HieraMambaMaskedConv(dim, dim, 3, padding=1, groups=dim, bias=False)
        self.query_norm = nn.LayerNorm(dim)
        self.cross_attn = HieraMambaMaskedAttention(
            dim,
            config.fusion_num_heads,
            kv_dim=config.text_hidden_size,
            out_dim=2 * dim,
            attn_dropout=config.fusion_attn_dropout,
            proj_dropout=config.fusion_proj_dropout,
        )
        # "adaln": LayerNorm without affine before the text-conditioned scale/shift; "affine": no norm
        self.adaln = config.cross_attention_mode == "adaln"
        self.ffn = HieraMambaFeedForward(dim, 4, config.fusion_proj_dropout)
        self.ffn_ln = nn.LayerNorm(dim)
        self.ffn_scale = HieraMambaLayerScale(dim, config.fusion_path_dropout, config.layer_scale_init)

    def forward(self, q, q_mask, text, text_mask, text_repeats):
        q = q * q_mask[..., None].to(q.dtype)
        h = self.query_norm(self.query_conv(self.query_ln(q), q_mask)[0])
        h = self.cross_attn(h, self.text_ln(text), self.text_ln(text), text_mask, text_repeats)
        if q.size(0) != h.size(0):
            q = q.repeat_interleave(text_repeats, dim=0)
            q_mask = q_mask.repeat_interleave(text_repeats, dim=0)
        m = q_mask[..., None].to(q.dtype)
        q = q * m
        if self.adaln:
            q = F.layer_norm(q, q.shape[-1:], eps=1e-5)
        scale, shift = h.chunk(2, dim=-1)
        q = q * scale + shift
        return q + self.ffn_scale(self.ffn(self.ffn_ln(q)) * m), q_mask


class HieraMambaFusion(nn.Module):
    """`fusion_num_layers` fusion layers and a final LayerNorm; video sample b meets its `text_repeats[b]` queries."""

    def __init__(self, config: HieraMambaConfig):
        super().__init__()
        self.layers = nn.ModuleList(HieraMambaFusionLayer(config) for _ in range(config.fusion_num_layers))
        self.final_norm = nn.LayerNorm(config.hidden_size)

    def forward(self, video, video_mask, text, text_mask, text_repeats):
        for layer in self.layers:
            video, video_mask = layer(video, video_mask, text, text_mask, text_repeats)
        video = self.final_norm(video)
        if video.size(0) != text.size(0):
            video = video.repeat_interleave(text_repeats, dim=0)
            video_mask = video_mask.repeat_interleave(text_repeats, dim=0)
        return video, video_mask


# ----------------------------------------------------------------------------------------------------------------
# AMP backbone
# ----------------------------------------------------------------------------------------------------------------
class HieraMambaSwiGLU(nn.Module):
    """SwiGLU FFN of AMP blocks without local encoder: w2(silu(gate) * up), hidden int(8D/3)."""

    def __init__(self, dim: int, dropout: float):
        super().__init__()
        hidden = int(2 * (4 * dim) / 3)
        self.w12 = nn.Linear(dim, 2 * hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        gate, up = self.w12(x).chunk(2, dim=-1)
        return self.dropout(self.w2(F.silu(gate) * up))


class HieraMambaAMPBlock(nn.Module):
    """Anchor-Mamba Pooling block (stride 2).

        S  = [a_0, x_0, x_1, a_1, x_2, x_3, ...],  a_b = mean(x_2b, x_2b+1)     anchor before its frames
        G  = (S + LS(Hydra(RMSNorm(S)))) * e
        F1 = g1 * G + (1 - g1) * S,    g1 = sigmoid(W1 [S; G])                  gated global fusion
        Lc = (F1 + LS(LocalTransformer(RMSNorm(F1), e))) * e
        F2 = g2 * Lc + (1 - g2) * F1,  g2 = sigmoid(W2 [F1; Lc])                gated local fusion
        Out = F2 + LS(FFN(RMSNorm(F2)))
    Returns this level's sequence tokens (length L), their mask, the anchors (input of the next block, length
    ceil(L / 2)) and the anchor mask (max-pool of the mask, ceil mode).
    """

    def __init__(self, config: HieraMambaConfig, index: int):
        super().__init__()
        dim = config.hidden_size
        self.config = config
        n_local = config.num_local_encoder_blocks
        self.local_encode = config.local_encode and (n_local is None or n_local == 0 or index < n_local)
        self.global_norm = HieraMambaRMSNorm(dim, config.rms_norm_eps)
        self.global_mixer = (
            None
            if not config.use_global_mixer
            else Hydra(
                dim,
                d_state=config.hydra_state_size,
                d_conv=config.hydra_conv_kernel,
                expand=config.hydra_expand,
                headdim=config.hydra_head_dim,
                ngroups=config.hydra_ngroups,
                chunk_size=config.hydra_chunk_size,
                layer_idx=index,
            )
            if config.global_mixer_type == "hydra"
            else HieraMambaGlobalSelfAttention(dim, config.hydra_head_dim)
        )
        self.global_scale = HieraMambaLayerScale(dim, config.amp_dropout, config.layer_scale_init)
        self.gate1 = nn.Linear(2 * dim, dim)
        if self.local_encode:
            window = config.local_window_size if index < config.num_windowed_blocks else 0
            self.local_norm = HieraMambaRMSNorm(dim, config.rms_norm_eps)
            self.local_encoder = HieraMambaTransformerLayer(
                dim, config.local_num_heads, window_size=window, layer_scale_init=config.layer_scale_init
            )
            self.local_scale = HieraMambaLayerScale(dim, config.amp_dropout, config.layer_scale_init)
            self.gate2 = nn.Linear(2 * dim, dim)
            self.ffn = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Dropout(config.amp_dropout))
        else:
            self.ffn = HieraMambaSwiGLU(dim, config.amp_dropout)
        self.ffn_norm = HieraMambaRMSNorm(dim, config.rms_norm_eps)
        self.ffn_scale = HieraMambaLayerScale(dim, config.amp_dropout, config.layer_scale_init)

    def interleave(self, x, mask, video_index):
        """Anchors (mean of each pair, zero-padded to even length) placed before their two frames."""
        batch, length, dim = x.shape
        num_blocks = (length + 1) // 2
        x = F.pad(x, (0, 0, 0, 2 * num_blocks - length))
        frames = x.view(batch, num_blocks, 2, dim)
        anchors = frames.mean(dim=2, keepdim=True)  # a_b = (x_2b + x_2b+1) / 2
        combined = torch.cat((anchors, frames), dim=2).view(batch, 3 * num_blocks, dim)
        frame_mask = F.pad(mask, (0, 2 * num_blocks - length), value=False).view(batch, num_blocks, 2)
        anchor_mask = frame_mask.any(dim=-1)
        # official mask of S: its first n positions are valid, n = valid frames + valid anchors counted over a
        # group of rows: the whole batch ("batch"), the rows of one video ("video") or each row ("sample", exact)
        n_valid = mask.sum(1) + anchor_mask.sum(1)
        if self.config.block_mask_mode == "batch":
            n_valid = n_valid.sum().expand(batch)
        elif self.config.block_mask_mode == "video":
            n_valid = torch.zeros_like(n_valid).index_add_(0, video_index, n_valid)[video_index]
        combined_mask = torch.arange(3 * num_blocks, device=x.device)[None] < n_valid[:, None]
        return combined, combined_mask, anchor_mask

    def forward(self, x, mask, video_index):
        length = x.size(1)
        x = x * mask[..., None].to(x.dtype)
        s, e, anchor_mask = self.interleave(x, mask, video_index)
        em = e[..., None].to(s.dtype)
        if self.global_mixer is None:  # local-only ablation (config.use_global_mixer=False): G = S
            g = s * em
        elif isinstance(self.global_mixer, HieraMambaGlobalSelfAttention):  # full self-attention baseline
            g = (s + self.global_scale(self.global_mixer(self.global_norm(s), e))) * em
        else:
            g = (s + self.global_scale(self.global_mixer(self.global_norm(s)))) * em
        g1 = torch.sigmoid(self.gate1(torch.cat((s, g), dim=-1)))
        fused = g1 * g + (1 - g1) * s
        if self.local_encode:
            lc = (fused + self.local_scale(self.local_encoder(self.local_norm(fused), e))) * em
            g2 = torch.sigmoid(self.gate2(torch.cat((fused, lc), dim=-1)))
            fused = g2 * lc + (1 - g2) * fused
        out = fused + self.ffn_scale(self.ffn(self.ffn_norm(fused)))
        out = out.view(out.size(0), -1, 3, out.size(-1))
        anchors = out[:, :, 0]
        sequence = out[:, :, 1:].flatten(1, 2)[:, :length]
        return sequence, mask, anchors, anchor_mask


class HieraMambaBackbone(nn.Module):
    """1x1 embedding -> masked convs (LayerNorm, ReLU) -> absolute PE -> AMP blocks. Block 0 reads the features,
    block i > 0 the anchors of block i - 1; level l of the pyramid is block l's sequence output."""

    def __init__(self, config: HieraMambaConfig):
        super().__init__()
        self.config = config
        dim = config.hidden_size
        in_dim = dim if config.early_fusion else config.video_input_dim
        self.input_proj = nn.Linear(in_dim, dim)
        self.embed_convs = nn.ModuleList()
        self.embed_norms = nn.ModuleList()
        stride = config.embedding_stride
        for _ in range(config.num_embedding_convs):
            if stride > 1:
                conv = HieraMambaMaskedConv(dim, dim, 5, stride=2, padding=2, bias=False)
            else:
                conv = HieraMambaMaskedConv(dim, dim, 3, stride=1, padding=1, bias=False)
            self.embed_convs.append(conv)
            self.embed_norms.append(nn.LayerNorm(dim))
            stride = max(stride // 2, 1)
        self.blocks = nn.ModuleList(HieraMambaAMPBlock(config, i) for i in range(config.num_amp_blocks))

    def forward(self, x, mask, video_index):
        """x (N, T, C), mask (N, T), video_index (N,): the video of each row (groups the batch-summed mask)."""
        m = mask[..., None].to(x.dtype)
        x = self.input_proj(x * m)
        for conv, norm in zip(self.embed_convs, self.embed_norms):
            x, mask = conv(x, mask)
            x = F.relu(norm(x))
        m = mask[..., None].to(x.dtype)
        if self.config.use_abs_pe:
            pe = sinusoid_position_encoding(x.size(1), x.size(2), self.config.max_seq_len, x.device, x.dtype)
            x = x + pe * m
        else:
            x = x * m
        sequences, sequence_masks, anchors, anchor_masks = (), (), (), ()
        for block in self.blocks:
            seq, seq_mask, x, mask = block(x, mask, video_index)
            sequences += (seq,)
            sequence_masks += (seq_mask,)
            anchors += (x,)
            anchor_masks += (mask,)
        return sequences, sequence_masks, anchors, anchor_masks


# ----------------------------------------------------------------------------------------------------------------
# heads, points, projectors
# ----------------------------------------------------------------------------------------------------------------
class HieraMambaHead(nn.Module):
    """Head shared over pyramid levels: n x [masked conv k3 (no bias) -> LayerNorm -> ReLU] -> masked conv k3."""

    def __init__(self, config: HieraMambaConfig, out_dim: int):
        super().__init__()
        dim, k = config.hidden_size, config.head_kernel_size
        self.convs = nn.ModuleList(
            HieraMambaMaskedConv(dim, dim, k, padding=k // 2, bias=False) for _ in range(config.head_num_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(config.head_num_layers))
        self.output = HieraMambaMaskedConv(dim, out_dim, k, padding=k // 2)

    def forward(self, x, mask):
        for conv, norm in zip(self.convs, self.norms):
            x = F.relu(norm(conv(x, mask)[0]))
        return self.output(x, mask)[0]


class HieraMambaRegressionHead(HieraMambaHead):
    """Offsets = ReLU(scale_l * head(x)), one learned scalar per pyramid level (init 1).

    `level` is the pyramid level of the whole input (int) or of each of its steps ((T,) long, packed levels)."""

    def __init__(self, config: HieraMambaConfig):
        super().__init__(config, 2)
        self.level_scales = nn.Parameter(torch.ones(config.num_amp_blocks))

    def forward(self, x, mask, level):
        scale = self.level_scales[level].to(x.dtype).unsqueeze(-1)  # (1,) or (T, 1): broadcasts over the offsets
        return F.relu(super().forward(x, mask) * scale)


def pack_pyramid(levels, masks, gap: int = 1):
    """Concatenate pyramid levels (N, T_l, D) along time, each followed by `gap` masked zero steps, so that one
    call of a per-step module with masked k <= 2 * gap + 1 convolutions (fusion, heads) over the packed sequence
    equals its calls level by level: the gap plays the zero padding at each level's ends. Returns the packed
    features and mask and the (T_packed,) level index of every step (gap steps included)."""
    gap_x = levels[0].new_zeros(levels[0].size(0), gap, levels[0].size(2))
    gap_mask = masks[0].new_zeros(masks[0].size(0), gap)
    packed = torch.cat([t for x in levels for t in (x, gap_x)], dim=1)
    packed_mask = torch.cat([t for m in masks for t in (m, gap_mask)], dim=1)
    sizes = torch.tensor([m.size(1) + gap for m in masks], device=packed.device)
    return packed, packed_mask, torch.repeat_interleave(torch.arange(len(masks), device=packed.device), sizes)


def unpack_pyramid(packed, sizes, gap: int = 1):
    """Inverse of `pack_pyramid`: the per-level (N, T_l, ...) views of a packed tensor."""
    return tuple(x[:, :size] for x, size in zip(packed.split([s + gap for s in sizes], dim=1), sizes))


def regression_ranges(config: HieraMambaConfig) -> list[tuple[float, float]]:
    """Per-level (r_min, r_max): (0, r), then (r*sigma, 2r) doubling; the last level reaches max_seq_len + 1."""
    r = config.regression_range
    ranges = [(0.0, float(r))]
    for level in range(1, config.num_amp_blocks):
        v_min, v_max = r * config.regression_sigma, r * 2
        if level == config.num_amp_blocks - 1:
            v_max = max(v_max, config.max_seq_len + 1)
        ranges.append((float(v_min), float(v_max)))
        r = v_max
    return ranges


def make_points(level_lengths, config: HieraMambaConfig, device=None) -> torch.Tensor:
    """Candidate points of all levels, finest first: (P, 4) = (t, r_min, r_max, stride), t = i * 2^l."""
    points = []
    for level, (n, (r_min, r_max)) in enumerate(zip(level_lengths, regression_ranges(config))):
        stride = 2**level
        t = torch.arange(n, dtype=torch.float32, device=device) * stride
        rest = torch.tensor([r_min, r_max, stride], dtype=torch.float32, device=device).expand(n, 3)
        points.append(torch.cat((t[:, None], rest), dim=1))
    return torch.cat(points)


# ----------------------------------------------------------------------------------------------------------------
# encoders and the feature clock
# ----------------------------------------------------------------------------------------------------------------
class ClipPooler:
    """Clip features on the feature clock, streamed: push per-frame features chunk by chunk, get the clips completed
    so far. Clip i = mean of sampled frames [i * step, i * step + clip_size); only the frames of unfinished clips are
    kept between pushes."""

    def __init__(self, clip_size: int, step: int):
        if clip_size < 1 or step < 1:
            raise ValueError(f"clip_size and clip step must be >= 1, got {clip_size} and {step}.")
        self.clip_size, self.step = int(clip_size), int(step)
        self.buffer = None  # frame features from frame index `self.offset` on
        self.offset = 0
        self.next_clip = 0

    def push(self, frame_features: torch.Tensor) -> torch.Tensor:
        buffer = frame_features if self.buffer is None else torch.cat((self.buffer, frame_features))
        end = self.offset + buffer.shape[0]
        count = max(0, (end - self.clip_size - self.next_clip * self.step) // self.step + 1)
        start = self.next_clip * self.step - self.offset
        if count:
            window = buffer[start : start + (count - 1) * self.step + self.clip_size]
            clips = window.unfold(0, self.clip_size, self.step).mean(-1)  # clip feature: mean of its frames
        else:
            clips = buffer.new_zeros((0, buffer.shape[1]))
        self.next_clip += count
        keep_from = min(self.next_clip * self.step, end) - self.offset
        self.buffer, self.offset = buffer[keep_from:].clone(), self.offset + keep_from
        return clips


def num_clips(num_frames: int, config: HieraMambaConfig) -> int:
    """Clips of `config.clip_size` frames every `clip_stride * downsample_rate` frames in `num_frames` frames."""
    step = int(config.clip_stride) * int(config.downsample_rate)
    return max(0, (num_frames - int(config.clip_size)) // step + 1) if num_frames >= config.clip_size else 0


def text_token_features(
    text_model: PreTrainedModel,
    input_ids: torch.LongTensor,
    attention_mask: torch.LongTensor | None = None,
    feature: str = "last_hidden_state",
) -> tuple[torch.FloatTensor, torch.BoolTensor]:
    """Query token features of a text model, inside a HieraMamba model or not (`HieraMambaModel.get_text_features`
    calls it; the synthetic grounding set computes its MiniLM features with it).

    Args:
        text_model: the text encoder (e.g. a `BertModel`, or a `CLIPTextModelWithProjection` for "text_embeds").
        input_ids: `(Q, L)` token ids, padded at the end.
        attention_mask: `(Q, L)`, 1 for real tokens (default: all real).
        feature: "last_hidden_state" (every token, padding zeroed) or "text_embeds" (the projected pooled embedding
            as one token).

    Returns:
        The features `(Q, L, C)` (or `(Q, 1, C)`) and their mask `(Q, L)` (or `(Q, 1)`).

    Raises:
        ValueError: if a query has more tokens than the text model reads.
    """
    limit = getattr(text_model.config, "max_position_embeddings", None)
    if limit is not None and input_ids.shape[1] > limit:
        raise ValueError(
            f"a query has {input_ids.shape[1]} tokens but the text model reads at most {limit}: shorten it."
        )
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    input_ids, attention_mask = input_ids.to(text_model.device), attention_mask.to(text_model.device)
    out = text_model(input_ids=input_ids, attention_mask=attention_mask)
    if feature == "text_embeds":
        features = out.text_embeds[:, None]
        return features, torch.ones(features.shape[:2], dtype=torch.bool, device=features.device)
    mask = attention_mask.bool()
    return out.last_hidden_state * mask[..., None].to(out.last_hidden_state.dtype), mask


def release_free_heap():
    """Give freed heap pages back to the OS (glibc `malloc_trim`; no-op elsewhere). Decoding and encoding a long
    video allocate large short-lived buffers between small long-lived ones; without this, glibc keeps the holes and
    RSS creeps up with the video's length although nothing is retained (benchmarks/pipeline_memory.py)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


try:
    _MALLOC_TRIM = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):
    _MALLOC_TRIM = None


def encoder_from_config(config, feature: str) -> PreTrainedModel:
    """The encoder sub-model for `config`: `SimpleFrameEncoderModel`, the `...WithProjection` class of a CLIP-like
    model when its projected embedding ("image_embeds" / "text_embeds") is the feature, else `AutoModel`."""
    if isinstance(config, SimpleFrameEncoderConfig):
        return SimpleFrameEncoderModel(config)
    if feature in ("image_embeds", "text_embeds"):
        base = MODEL_MAPPING_NAMES.get(config.model_type)
        model_class = getattr(transformers, f"{base}WithProjection", None) if base else None
        if model_class is None:
            raise ValueError(
                f"the feature {feature!r} needs a model with a projection (as CLIP); {config.model_type!r} has none."
            )
        return model_class._from_config(config)
    return AutoModel.from_config(config)


def resolve_named_encoder(name_or_path: str | None, package: str | None, **hub_kwargs) -> str:
    """Folder of an encoder named by a checkpoint: the installed pip `package`'s model folder (its
    `get_model_path()`, else the package folder), else `name_or_path` (a folder, or a Hub id fetched through the
    cache and HF_HUB_OFFLINE rules)."""
    if package:
        try:
            module = __import__(package)
        except ImportError:
            module = None
        if module is not None:
            return (
                str(module.get_model_path()) if hasattr(module, "get_model_path") else os.path.dirname(module.__file__)
            )
    if not name_or_path:
        raise MissingEncoderError(f"the encoder's package {package!r} is not installed and no name_or_path is given.")
    if os.path.isdir(name_or_path):
        return name_or_path
    hint = f" (or pip install {package.replace('_', '-')})" if package else ""
    if os.path.isabs(name_or_path) or name_or_path.startswith("."):
        raise MissingEncoderError(f"could not load the encoder {name_or_path!r}{hint}: no such folder.")
    try:
        return snapshot_download(name_or_path, **hub_kwargs)
    except Exception as error:
        raise MissingEncoderError(f"could not load the encoder {name_or_path!r}{hint}: {error}") from error


# ----------------------------------------------------------------------------------------------------------------
# outputs
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class HieraMambaModelOutput(ModelOutput):
    r"""
    pyramid_features (`tuple(torch.FloatTensor)`, one (Q, T_l, D) per level, finest first):
        Text-fused pyramid, the input of the heads.
    pyramid_masks (`tuple(torch.BoolTensor)`, (Q, T_l) per level):
        Valid steps of each level.
    sequence_features (`tuple(torch.FloatTensor)`, (N, T_l, D) per level):
        Backbone sequence tokens before the late fusion (N = Q with early fusion, B otherwise); ACC/SPC input.
    sequence_masks (`tuple(torch.BoolTensor)`, (N, T_l) per level).
    anchor_features (`tuple(torch.FloatTensor)`, (N, ceil(T_l / 2), D) per level):
        AMP anchors of each level (anchor t summarises sequence tokens 2t and 2t+1); ACC input.
    anchor_masks (`tuple(torch.BoolTensor)`, (N, ceil(T_l / 2)) per level).
    text_features (`torch.FloatTensor` (Q, L + 1, D_text)) and text_mask (`torch.BoolTensor` (Q, L + 1)):
        Encoded text with its prepended pooled / background token.
    queries_per_video (`torch.LongTensor` (B,)): queries of each video, as used by the forward.
    """

    pyramid_features: tuple[torch.FloatTensor, ...] | None = None
    pyramid_masks: tuple[torch.BoolTensor, ...] | None = None
    sequence_features: tuple[torch.FloatTensor, ...] | None = None
    sequence_masks: tuple[torch.BoolTensor, ...] | None = None
    anchor_features: tuple[torch.FloatTensor, ...] | None = None
    anchor_masks: tuple[torch.BoolTensor, ...] | None = None
    text_features: torch.FloatTensor | None = None
    text_mask: torch.BoolTensor | None = None
    queries_per_video: torch.LongTensor | None = None


@dataclass
class HieraMambaVideoGroundingOutput(ModelOutput):
    r"""
    loss (`torch.FloatTensor` scalar, when `segments` are given):
        cls + reg_weight * reg + acc_weight * ACC + spc_weight * SPC, each divided by `loss_norm`.
    loss_dict (`dict[str, torch.Tensor]`, when `segments` are given):
        `compute_grounding_loss` output: "cls", "reg", "acc", "spc" (each divided by loss_norm, unweighted),
        "total" and "num_pos" (the positive count the trainer feeds to `update_loss_norm`).
    logits (`torch.FloatTensor` (Q, P)): classification logits of all points, levels concatenated finest first.
    offsets (`torch.FloatTensor` (Q, P, 2)): stride-normalised distances to the segment start and end.
    points (`torch.FloatTensor` (P, 4)): (t, r_min, r_max, stride) of each point, in backbone grid units.
    points_mask (`torch.BoolTensor` (Q, P)): valid points.
    queries_per_video (`torch.LongTensor` (B,)): as given to forward (all ones by default).
    The remaining fields are those of `HieraMambaModelOutput`.
    """

    loss: torch.FloatTensor | None = None
    loss_dict: dict | None = None
    logits: torch.FloatTensor | None = None
    offsets: torch.FloatTensor | None = None
    points: torch.FloatTensor | None = None
    points_mask: torch.BoolTensor | None = None
    queries_per_video: torch.LongTensor | None = None
    pyramid_features: tuple[torch.FloatTensor, ...] | None = None
    pyramid_masks: tuple[torch.BoolTensor, ...] | None = None
    sequence_features: tuple[torch.FloatTensor, ...] | None = None
    sequence_masks: tuple[torch.BoolTensor, ...] | None = None
    anchor_features: tuple[torch.FloatTensor, ...] | None = None
    anchor_masks: tuple[torch.BoolTensor, ...] | None = None


# ----------------------------------------------------------------------------------------------------------------
# pretrained models
# ----------------------------------------------------------------------------------------------------------------
class HieraMambaPreTrainedModel(CheckpointErrorsMixin, PreTrainedModel):  # clear error for corrupt safetensors
    config_class = HieraMambaConfig
    config: HieraMambaConfig
    base_model_prefix = "model"
    main_input_name = "video_features"
    input_modalities = ("video", "text")
    supports_gradient_checkpointing = False
    _supports_sdpa = False
    _supports_flash_attn = False
    _no_split_modules = ["HieraMambaAMPBlock"]

    def _init_weights(self, module):
        """Official initialisation: PyTorch default for Linear/Conv weights with zero biases, LayerNorms 1/0,
        LayerScales 1e-4, level scales 1, background token trunc-normal(0.02), Hydra dt/A/D as official Hydra,
        classification bias from `cls_prior_prob` (a conv's `bias_init` attribute). The encoder sub-models
        initialise themselves."""
        if isinstance(module, (nn.Linear, nn.Conv1d)):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                init.constant_(module.bias, getattr(module, "bias_init", 0.0))
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, HieraMambaRMSNorm):
            init.ones_(module.weight)
        elif isinstance(module, HieraMambaLayerScale):
            init.constant_(module.scale, module.init_value)
        elif isinstance(module, Hydra):
            init.ones_(module.norm.weight)
            if not getattr(module.A_log, "_is_hf_initialized", False):
                module.reset_ssm_parameters()
        elif isinstance(module, HieraMambaTextEncoder) and module.background_token is not None:
            init.trunc_normal_(module.background_token, mean=0.0, std=0.02, a=-2.0, b=2.0)
        elif isinstance(module, HieraMambaRegressionHead):
            init.ones_(module.level_scales)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """`PreTrainedModel.from_pretrained`, then the weights of the encoders the checkpoint names rather than
        stores (`config.text_model_name_or_path` / `vision_model_name_or_path`) are loaded from where it names them."""
        loaded = super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        hub_kwargs = {key: kwargs[key] for key in ("cache_dir", "local_files_only", "token") if key in kwargs}
        model.base_model.load_named_encoders(**hub_kwargs)
        return loaded

    @classmethod
    def from_components(
        cls,
        config: HieraMambaConfig,
        vision_model=None,
        text_model=None,
        *,
        store_encoders: bool = True,
        vision_model_package: str | None = None,
        text_model_package: str | None = None,
    ):
        """A model with a freshly initialised grounding part (from `config`) and pretrained encoders.

        Args:
            config: the grounding model's config; `video_input_dim` / `text_input_dim` must equal the encoders'
                feature widths (`vision_feature` / `text_feature` choose the features).
            vision_model: "simple" (a `SimpleFrameEncoderModel` `video_input_dim` wide), an encoder model, or a Hub
                id / folder of an image model or of a composite model such as CLIP (its vision tower is taken).
            text_model: an encoder model, or a Hub id / folder of a text model or of a composite model such as CLIP.
                A Hub id is read from the installed `*_model_package` when one is given.
            store_encoders: save the encoders' weights with the model (default); False names the Hub ids / folders
                given (and `*_model_package`) in the config instead, so the checkpoint stays small and
                `from_pretrained` loads them from there.
            vision_model_package / text_model_package: pip packages shipping those encoders' folders.

        Example (MAD-style CLIP features): `HieraMambaForVideoGrounding.from_components(
        HieraMambaConfig.from_preset("mad", vision_feature="image_embeds"), "openai/clip-vit-base-patch32",
        "openai/clip-vit-base-patch32")`.
        """
        config = copy.deepcopy(config)
        encoders = {}
        for kind, given, package, width_name in (
            ("vision", vision_model, vision_model_package, "video_input_dim"),
            ("text", text_model, text_model_package, "text_input_dim"),
        ):
            if given is None:
                continue
            feature = getattr(config, f"{kind}_feature")
            if isinstance(given, str) and given == "simple" and kind == "vision":
                given = SimpleFrameEncoderModel(SimpleFrameEncoderConfig(feature_dim=config.video_input_dim))
            elif isinstance(given, (str, os.PathLike)):
                if not store_encoders:
                    setattr(config, f"{kind}_model_name_or_path", os.fspath(given))
                given = load_encoder(resolve_named_encoder(os.fspath(given), package), kind, feature)
            if package is not None:
                setattr(config, f"{kind}_model_package", package)
            width = encoder_width(given, feature)
            if width != getattr(config, width_name):
                raise ValueError(
                    f"the {kind} encoder gives {width}-d features ({feature}) but config.{width_name} is "
                    f"{getattr(config, width_name)}."
                )
            setattr(config, f"{kind}_config", given.config)
            encoders[f"{kind}_model"] = given
        model = cls(config)
        for name, encoder in encoders.items():
            getattr(model.base_model, name).load_state_dict(encoder.state_dict())
        return model


def load_encoder(name_or_path: str, kind: str, feature: str) -> PreTrainedModel:
    """A pretrained transformers encoder from a Hub id or folder: the vision ("vision") or text ("text") tower of a
    composite checkpoint such as CLIP, built as `encoder_from_config` builds it for `feature`."""
    config = AutoConfig.from_pretrained(name_or_path)
    sub = getattr(config, f"{kind}_config", None)
    if sub is not None:  # a composite checkpoint (CLIP, SigLIP): its tower, with the composite's projection width
        if getattr(config, "projection_dim", None) is not None:
            sub.projection_dim = config.projection_dim
        config = sub
    model_class = (
        type(encoder_from_config(config, feature)) if not isinstance(config, SimpleFrameEncoderConfig) else None
    )
    if model_class is None:
        return SimpleFrameEncoderModel.from_pretrained(name_or_path)
    return model_class.from_pretrained(name_or_path, config=config)


def encoder_width(model: PreTrainedModel, feature: str) -> int:
    """Width of the features `feature` of the encoder `model`."""
    if feature in ("image_embeds", "text_embeds"):
        return int(model.config.projection_dim)
    return int(model.config.hidden_size)


def _check_inputs(config, video_features, video_mask, text_features, text_mask, queries_per_video):
    """Clear errors for malformed input (shapes, dtypes, empty or NaN inputs)."""
    if video_features.ndim != 3:
        raise ValueError(f"video_features must be (B, T, C_video), got shape {tuple(video_features.shape)}.")
    if video_features.size(-1) != config.video_input_dim:
        raise ValueError(
            f"video_features have width {video_features.size(-1)}, the config expects "
            f"video_input_dim={config.video_input_dim}."
        )
    if text_features.ndim != 3:
        raise ValueError(f"text_features must be (Q, L, C_text), got shape {tuple(text_features.shape)}.")
    if text_features.size(-1) != config.text_input_dim:
        raise ValueError(
            f"text_features have width {text_features.size(-1)}, the config expects "
            f"text_input_dim={config.text_input_dim}."
        )
    for name, feats, mask in (("video", video_features, video_mask), ("text", text_features, text_mask)):
        if not feats.is_floating_point():
            raise ValueError(f"{name}_features must be a floating-point tensor, got {feats.dtype}.")
        if mask.dtype != torch.bool:
            raise ValueError(f"{name}_mask must be a bool tensor, got {mask.dtype}.")
        if mask.shape != feats.shape[:2]:
            raise ValueError(
                f"{name}_mask has shape {tuple(mask.shape)} but {name}_features has length shape "
                f"{tuple(feats.shape[:2])}: mask/feature length mismatch."
            )
        if not mask.any(dim=1).all():
            raise ValueError(f"empty {name}: some {name}_mask rows have no valid step.")
        if (mask[:, 1:] & ~mask[:, :-1]).any():
            raise ValueError(f"{name}_mask must mark a prefix of valid steps (padding at the end only).")
        if not torch.isfinite(feats).all():
            raise ValueError(f"{name}_features contain NaN or infinite values.")
    if queries_per_video.ndim != 1 or queries_per_video.numel() != video_features.size(0):
        raise ValueError(
            f"queries_per_video must have one entry per video ({video_features.size(0)}), got shape "
            f"{tuple(queries_per_video.shape)}."
        )
    if (queries_per_video < 1).any():
        raise ValueError("queries_per_video entries must be >= 1.")
    if int(queries_per_video.sum()) != text_features.size(0):
        raise ValueError(
            f"queries_per_video sums to {int(queries_per_video.sum())} but there are {text_features.size(0)} "
            "text queries."
        )


class HieraMambaModel(HieraMambaPreTrainedModel):
    """Text encoder, fusion and AMP backbone; returns the fused pyramid (see `HieraMambaModelOutput`). Holds the
    frame and query encoders (`vision_model`, `text_model`) when the config has them."""

    def __init__(self, config: HieraMambaConfig):
        super().__init__(config)
        self.vision_model = None
        if config.vision_config is not None:
            self.vision_model = encoder_from_config(config.vision_config, config.vision_feature)
        self.text_model = None
        if config.text_config is not None:
            self.text_model = encoder_from_config(config.text_config, config.text_feature)
        self.text_encoder = HieraMambaTextEncoder(config)
        self.video_proj = nn.Linear(config.video_input_dim, config.hidden_size) if config.early_fusion else None
        self.fusion = HieraMambaFusion(config)
        self.backbone = HieraMambaBackbone(config)
        named = self.named_encoders()  # their weights live elsewhere: neither saved nor expected in the checkpoint
        self._keys_to_ignore_on_load_missing = {rf"(^|\.){name}\." for name in named}
        self._keys_to_ignore_on_save = {f"{name}.{key}" for name in named for key in getattr(self, name).state_dict()}
        self.post_init()

    # ------------------------------------------------------------------ encoders
    def named_encoders(self) -> dict[str, tuple[str | None, str | None]]:
        """{"vision_model" / "text_model": (name_or_path, package)} for the encoders whose weights the checkpoint
        names instead of storing."""
        config, named = self.config, {}
        for name, source, package in (
            ("vision_model", config.vision_model_name_or_path, config.vision_model_package),
            ("text_model", config.text_model_name_or_path, config.text_model_package),
        ):
            if getattr(self, name) is not None and (source or package):
                named[name] = (source, package)
        return named

    @torch.no_grad()
    def load_named_encoders(self, **hub_kwargs):
        """Load the weights of the named encoders (see `named_encoders`) into `vision_model` / `text_model`, in
        place, keeping their device and dtype. `from_pretrained` calls it; call it after building a model from a
        config that names its encoders. `hub_kwargs` (cache_dir, local_files_only, token) go to the Hub download."""
        for name, (source, package) in self.named_encoders().items():
            module = getattr(self, name)
            folder = resolve_named_encoder(source, package, **hub_kwargs)
            dtype = next(module.parameters()).dtype
            weights = type(module).from_pretrained(folder, config=module.config, dtype=dtype).state_dict()
            try:
                module.load_state_dict(weights, strict=True)
            except RuntimeError as error:
                raise ValueError(
                    f"the {name} weights in {folder} do not fit config.{name[:-6]}_config: {error}"
                ) from None

    def require_encoder(self, name: str) -> PreTrainedModel:
        """The `vision_model` or `text_model`, or a clear error naming what the checkpoint takes instead."""
        if getattr(self, name) is None:
            what, instead = {
                "vision_model": ("frame encoder", "clip features (num_clips, video_input_dim)"),
                "text_model": ("query encoder", "query token features (L, text_input_dim)"),
            }[name]
            trained = self.config.training_data
            raise MissingEncoderError(
                f"this HieraMamba checkpoint has no {what} (config.{name[:-6]}_config is None), so it cannot read "
                f"{'video frames' if name == 'vision_model' else 'query text'}: pass precomputed {instead} instead"
                + (f". It was trained on {trained}" if trained else "")
                + " (how to compute features: docs/hieramamba.md, 'Official checkpoints')."
            )
        return getattr(self, name)

    def get_frame_features(self, pixel_values: torch.FloatTensor) -> torch.FloatTensor:
        """Frame embeddings `(N, video_input_dim)` of `pixel_values` `(N, 3, H, W)` (as prepared by the processor):
        the `config.vision_feature` output of the vision model."""
        vision_model = self.require_encoder("vision_model")
        pixel_values = pixel_values.to(device=vision_model.device, dtype=vision_model.dtype)
        out = vision_model(pixel_values=pixel_values)
        if self.config.vision_feature == "cls":
            return out.last_hidden_state[:, 0]
        return getattr(out, self.config.vision_feature)

    def get_video_features(
        self, pixel_values_videos: torch.FloatTensor | Iterable[torch.FloatTensor], num_frames: int | None = None
    ) -> torch.FloatTensor:
        """Clip features `(T, video_input_dim)` of ONE video sampled on the feature clock (`config.fps`): its frames
        `(N, 3, H, W)`, or an iterable of such chunks in time order (streamed: only the frames of unfinished clips
        are kept, so an hour-long video never holds more than a chunk). `num_frames`, the expected frame count when
        known, sizes the output once (keeps the heap from fragmenting on long videos)."""
        chunks = [pixel_values_videos] if isinstance(pixel_values_videos, torch.Tensor) else pixel_values_videos
        step = int(self.config.clip_stride) * int(self.config.downsample_rate)
        pooler = ClipPooler(int(self.config.clip_size), step)
        features, count = None, 0
        for index, chunk in enumerate(chunks):
            clips = pooler.push(self.get_frame_features(chunk))
            if features is None:
                features = clips.new_empty(
                    (max(num_clips(num_frames or 0, self.config), len(clips), 1), clips.shape[1])
                )
            if count + len(clips) > len(features):
                grown = features.new_empty((max(2 * len(features), count + len(clips)), features.shape[1]))
                grown[:count] = features[:count]
                features = grown
            features[count : count + len(clips)] = clips
            count += len(clips)
            if index % 8 == 7:
                release_free_heap()
        release_free_heap()
        if count == 0:
            raise ValueError(
                f"the video is too short for one clip: a clip needs {self.config.clip_size:g} frames at "
                f"{self.config.fps:g} fps ({self.config.clip_size / self.config.fps:.3g} s)."
            )
        return features if count == len(features) else features[:count].clone()

    def get_text_features(
        self, input_ids: torch.LongTensor, attention_mask: torch.LongTensor | None = None
    ) -> tuple[torch.FloatTensor, torch.BoolTensor]:
        """Query token features `(Q, L, text_input_dim)` and their mask `(Q, L)` from token ids (as prepared by the
        processor): the text model's `last_hidden_state` over every token (padding zeroed), or with
        `config.text_feature == "text_embeds"` its projected pooled embedding as one token."""
        text_model = self.require_encoder("text_model")
        return text_token_features(text_model, input_ids, attention_mask, self.config.text_feature)

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        video_features: torch.FloatTensor,
        video_mask: torch.BoolTensor | None = None,
        text_features: torch.FloatTensor | None = None,
        text_mask: torch.BoolTensor | None = None,
        queries_per_video: torch.LongTensor | None = None,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        **kwargs,
    ) -> HieraMambaModelOutput:
        config = self.config
        video_features, video_mask, text_features, text_mask, queries_per_video = self.prepare_inputs(
            video_features, video_mask, text_features, text_mask, queries_per_video, input_ids, attention_mask
        )
        video_features, video_mask = self.pad_video(video_features, video_mask)
        text_features, text_mask = self.pad_text(text_features, text_mask)

        text, text_mask = self.text_encoder(text_features, text_mask)
        if config.early_fusion:
            # early fusion: the backbone runs once per (video, query) pair
            m = video_mask[..., None].to(video_features.dtype)
            video = self.video_proj(video_features * m)
            video, video_mask = self.fusion(video, video_mask, text, text_mask, queries_per_video)
            video_index = torch.arange(len(queries_per_video), device=video.device)
            video_index = video_index.repeat_interleave(queries_per_video)
            sequences, sequence_masks, anchors, anchor_masks = self.backbone(video, video_mask, video_index)
            repeats = None
        else:
            video_index = torch.arange(video_features.size(0), device=video_features.device)
            sequences, sequence_masks, anchors, anchor_masks = self.backbone(video_features, video_mask, video_index)
            repeats = queries_per_video
        # all levels in one fusion call (packed along time, same result as level by level, far fewer operators)
        sizes = [m.size(1) for m in sequence_masks]
        packed, packed_mask, _ = pack_pyramid(sequences, sequence_masks)
        fused, fused_masks = self.fusion(packed, packed_mask, text, text_mask, repeats)
        fused, fused_masks = unpack_pyramid(fused, sizes), unpack_pyramid(fused_masks, sizes)
        return HieraMambaModelOutput(
            pyramid_features=fused,
            pyramid_masks=fused_masks,
            sequence_features=sequences,
            sequence_masks=sequence_masks,
            anchor_features=anchors,
            anchor_masks=anchor_masks,
            text_features=text,
            text_mask=text_mask,
            queries_per_video=queries_per_video,
        )

    def prepare_inputs(
        self, video_features, video_mask, text_features, text_mask, queries_per_video, input_ids, attention_mask
    ):
        """Default masks (all valid) and `queries_per_video` (one query per video), token ids through the text
        model, then clear errors for malformed input."""
        if input_ids is not None:
            if text_features is not None:
                raise ValueError("give the queries as text_features or as input_ids, not both.")
            text_features, text_mask = self.get_text_features(input_ids, attention_mask)
        if text_features is None:
            raise ValueError("no queries: pass text_features (Q, L, text_input_dim) or input_ids (Q, L).")
        device = video_features.device
        if video_mask is None:
            video_mask = torch.ones(video_features.shape[:2], dtype=torch.bool, device=device)
        if text_mask is None:
            text_mask = torch.ones(text_features.shape[:2], dtype=torch.bool, device=text_features.device)
        if queries_per_video is None:
            queries_per_video = torch.ones(video_features.size(0), dtype=torch.long, device=device)
        queries_per_video = torch.as_tensor(queries_per_video, dtype=torch.long, device=device)
        _check_inputs(self.config, video_features, video_mask, text_features, text_mask, queries_per_video)
        return video_features, video_mask, text_features.to(video_features.dtype), text_mask, queries_per_video

    def pad_video(self, video_features, video_mask):
        """Zero-pad the time axis to a multiple of `config.padding_unit` (the official evaluator's padding)."""
        unit = self.config.padding_unit
        pad = -video_features.size(1) % unit
        if pad:
            video_features = F.pad(video_features, (0, 0, 0, pad))
            video_mask = F.pad(video_mask, (0, pad), value=False)
        return video_features, video_mask

    def pad_text(self, text_features, text_mask):
        """In eval mode, zero-pad the tokens to `config.text_pad_length` as the official evaluator does."""
        target = self.config.text_pad_length
        if self.training or target is None or text_features.size(1) >= target:
            return text_features, text_mask
        pad = target - text_features.size(1)
        return F.pad(text_features, (0, 0, 0, pad)), F.pad(text_mask, (0, pad), value=False)


class HieraMambaForVideoGrounding(HieraMambaPreTrainedModel):
    """HieraMamba with classification / regression heads over the candidate points of all pyramid levels, the
    training losses (when `segments` are given) and the official decoding (`post_process_video_grounding`)."""

    def __init__(self, config: HieraMambaConfig):
        super().__init__(config)
        self.model = HieraMambaModel(config)
        self.cls_head = HieraMambaHead(config, 1)
        prior = config.cls_prior_prob  # classification bias from the prior probability of a positive
        self.cls_head.output.bias_init = -math.log((1 - prior) / prior) if prior > 0 else 0.0
        self.reg_head = HieraMambaRegressionHead(config)
        # contrastive projectors of ACC / SPC (trained and saved here; the official code never trains them)
        self.acc_projector = HieraMambaContrastiveProjector(config.hidden_size, config.projector_dim)
        self.spc_projector = HieraMambaContrastiveProjector(config.hidden_size, config.projector_dim)
        self.post_init()

    def forward(
        self,
        video_features: torch.FloatTensor,
        video_mask: torch.BoolTensor | None = None,
        text_features: torch.FloatTensor | None = None,
        text_mask: torch.BoolTensor | None = None,
        queries_per_video: torch.LongTensor | None = None,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        segments: torch.FloatTensor | None = None,
        loss_norm: float | None = None,
        loss_generator: torch.Generator | None = None,
        **kwargs,
    ) -> HieraMambaVideoGroundingOutput:
        r"""
        video_features (B, T, C_video) float; video_mask (B, T) bool (valid prefix; default all valid);
        text_features (Q, L, C_text) float with text_mask (Q, L) bool, or input_ids / attention_mask (Q, L) of the
        model's text model; queries_per_video (B,) long, default all ones, query q belongs to video
        `repeat_interleave` order; segments (Q, 2) float, optional, ground truth in input feature-grid units
        (divided by `embedding_stride` to reach the backbone grid of `points`); loss_norm: the trainer's running
        normaliser (default `config.initial_loss_norm`; update it after each step with
        `update_loss_norm(loss_norm, output.loss_dict["num_pos"])`); loss_generator: RNG of the contrastive
        negative sampling.
        """
        out = self.model(
            video_features, video_mask, text_features, text_mask, queries_per_video, input_ids, attention_mask
        )
        num_queries = int(out.queries_per_video.sum())
        if segments is not None and (segments.ndim != 2 or segments.shape != (num_queries, 2)):
            raise ValueError(f"segments must be (Q, 2) with Q={num_queries}, got {tuple(segments.shape)}.")
        if segments is not None and (not torch.isfinite(segments).all() or (segments[:, 1] < segments[:, 0]).any()):
            raise ValueError("segments must be finite with start <= end.")
        # the heads see all levels in one call (packed along time, with gaps as wide as their convs' padding)
        sizes = [m.size(1) for m in out.pyramid_masks]
        gap = self.config.head_kernel_size // 2
        x, mask, level = pack_pyramid(out.pyramid_features, out.pyramid_masks, gap)
        logits = torch.cat(unpack_pyramid(self.cls_head(x, mask).squeeze(-1), sizes, gap), dim=1)
        offsets = torch.cat(unpack_pyramid(self.reg_head(x, mask, level), sizes, gap), dim=1)
        points = make_points(sizes, self.config, video_features.device)
        points_mask = torch.cat(out.pyramid_masks, dim=1)

        loss = loss_dict = None
        if segments is not None:
            loss_dict = compute_grounding_loss(
                logits,
                offsets,
                points,
                points_mask,
                segments / self.config.embedding_stride,
                [m.size(1) for m in out.pyramid_masks],
                sequence_features=out.sequence_features,
                sequence_masks=out.sequence_masks,
                anchor_features=out.anchor_features,
                anchor_masks=out.anchor_masks,
                acc_projector=self.acc_projector,
                spc_projector=self.spc_projector,
                loss_norm=self.config.initial_loss_norm if loss_norm is None else loss_norm,
                queries_per_video=None if self.config.early_fusion else out.queries_per_video,
                generator=loss_generator,
                config=self.config,
            )
            loss = loss_dict["total"]
        return HieraMambaVideoGroundingOutput(
            loss=loss,
            loss_dict=loss_dict,
            logits=logits,
            offsets=offsets,
            points=points,
            points_mask=points_mask,
            queries_per_video=out.queries_per_video,
            pyramid_features=out.pyramid_features,
            pyramid_masks=out.pyramid_masks,
            sequence_features=out.sequence_features,
            sequence_masks=out.sequence_masks,
            anchor_features=out.anchor_features,
            anchor_masks=out.anchor_masks,
        )

    @torch.no_grad()
    def post_process_video_grounding(self, outputs, durations, queries_per_video=None, fps=None, **settings):
        """Ranked segments in seconds for every query (decoding, Gaussian soft-NMS, segment voting, seconds clamped to
        the duration) with this model's config: `post_processing_hieramamba.post_process_model_outputs`, which
        `HieraMambaProcessor.post_process_video_grounding` also calls.

        outputs: this model's output; durations: (B,) seconds per video; queries_per_video: (B,) as in forward
        (default: the one stored in `outputs`); fps: (B,) per-video fps (default `config.fps`); settings override
        config values. Returns Q lists (query order of the forward) of {"segment": (start_s, end_s), "score": float}.
        """
        return post_process_model_outputs(outputs, durations, self.config, queries_per_video, fps, **settings)


__all__ = [
    "ClipPooler",
    "MissingEncoderError",
    "HieraMambaModel",
    "HieraMambaForVideoGrounding",
    "HieraMambaPreTrainedModel",
    "HieraMambaModelOutput",
    "HieraMambaVideoGroundingOutput",
    "make_points",
    "regression_ranges",
]
