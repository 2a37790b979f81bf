# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""MambaMia configuration.

MambaMia (Kim & Seo, AAAI 2026, arXiv 2506.13564) compresses the frame features of an hour-long video with a
state-space compressor before a Qwen2 LLM. No official code or checkpoint is public: every choice the paper leaves
open is a field below, with the default documented as "paper", "sister repo" (naver-ai/unimambamia-av, whose backbone
is "modified from naver-ai/mambamia") or "port choice".
"""

import math
from typing import Literal

from transformers import AutoConfig
from transformers.configuration_utils import PreTrainedConfig, SubConfigSpec

from .remote_code import AUTO_MAP, write_shims


# SigLIP2 so400m patch16 at 384x384 (google/siglip2-so400m-patch16-384). The fixed-resolution SigLIP2 checkpoints use
# the SigLIP architecture, so the default vision config is a `siglip_vision_model`.
SIGLIP2_SO400M_PATCH16_384 = {
    "model_type": "siglip_vision_model",
    "hidden_size": 1152,
    "intermediate_size": 4304,
    "num_hidden_layers": 27,
    "num_attention_heads": 16,
    "patch_size": 16,
    "image_size": 384,
    "vision_use_head": False,
}

# Qwen/Qwen2-7B-Instruct.
QWEN2_7B = {
    "model_type": "qwen2",
    "vocab_size": 152064,
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0,
    "tie_word_embeddings": False,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
}

PRESETS = {
    "mambamia-7b": {
        "vision_config": SIGLIP2_SO400M_PATCH16_384,
        "text_config": QWEN2_7B,
        "video_token_id": 151647,
    },
}


class MambaMiaConfig(PreTrainedConfig):
    r"""
    Configuration of [`MambaMiaForConditionalGeneration`] (vision tower -> compressor -> projector -> Qwen2).

    Sub-models:
        vision_config: SigLIP / SigLIP2 vision config (`siglip_vision_model`; default SigLIP2 so400m patch16 384).
        text_config: Qwen2 config (default Qwen2-7B-Instruct sizes when built with `from_preset("mambamia-7b")`).

    Vision features:
        vision_feature_layer (`int`, defaults to -2): hidden state of the vision tower fed to the compressor
            (paper: penultimate layer; SigLIP has no CLS token so all patches are kept).
        video_frame_size (`int`, *optional*): side of the square frames fed to the tower. `None` means the tower's
            `image_size` (SigLIP, and the fixed-resolution SigLIP2 checkpoints such as so400m-patch16-384) or, for a
            NaFlex `siglip2_vision_model` (no image size), the largest square grid within its `num_patches`.
        vision_batch_size (`int`, *optional*, defaults to 32): frames per vision-tower call; only the selected layer
            of each call is kept, which bounds memory for 384-frame videos (the sister repo encodes long clips in
            five chunks). `None` encodes all frames in one call. Does not change the result.

    Stage 1, spatiotemporal compressor (periodic queries through bidirectional Mamba2 blocks with GPA):
        compressor_hidden_size (`int`, defaults to 3072): width of the compressor. Port choice (the paper gives only
            the total, ~247M parameters); 3072 is the width of the sister repo's periodic-query compressor.
        compressor_num_layers (`int`, defaults to 3): number of bidirectional Mamba2 blocks (paper: 3).
        patches_per_query (`int`, *optional*): number of patch tokens each learnable query follows. `None` (default)
            means one query after each row of the patch grid (paper: 24 patches -> k = 24 queries per frame).
        compressor_state_size / compressor_expand / compressor_head_dim / compressor_n_groups /
        compressor_conv_kernel / compressor_chunk_size: Mamba2 mixer sizes (sister repo: 128 / 2 / 64 / 8 / 4 / 256).
        time_step_min / time_step_max / time_step_floor / time_step_limit: dt initialisation range and clamp
            (sister repo: 1e-3 / 0.1 / 1e-4 / (0, inf)).
        use_bias / use_conv_bias: biases of in_proj/out_proj and of the depthwise convolution (False / True).
        norm_before_gate (`bool`, defaults to True): gated RMSNorm order of the mixer (sister repo: normalise, then
            gate with SiLU(z)). The gated RMSNorm is taken per group of `compressor_expand * compressor_hidden_size /
            compressor_n_groups` channels, as the fused kernel the sister repo calls (`ngroups` sets its group size).
        layer_norm_epsilon (`float`, defaults to 1e-5): epsilon of every RMSNorm of the compressor.
        residual_in_fp32 (`bool`, defaults to True): keep the block residual in float32 (sister repo).
        use_gated_patch_aggregation (`bool`, defaults to True): GPA in every block (paper Eq. 2-3). False gives the
            plain periodic-query compressor of the ablation.
        gpa_dropout (`float`, defaults to 0.1): dropout on the query before the GPA linears (sister repo).
        gpa_init_scale (`float`, defaults to 1e-3): W_alpha and W_g start at default init times this (sister repo),
            so GPA starts as mean pooling with g = 0.5.
        gpa_gate_epsilon (`float`, defaults to 0.01): g is mapped to [eps, 1 - eps] (sister repo code, not in paper).
        compressor_streaming_segment_length (`int`, *optional*): memory-lean Stage 1 at inference. When set, a
            forward without grad on videos without frame padding runs the blocks in place on one residual buffer
            and the mixers segment by segment (`BiMamba2Mixer.forward_streaming`, this many tokens per segment),
            so memory is about two (L, d) tensors instead of several (L, 14,432) ones (384 frames: ~6 GB instead
            of ~90 GB in float32). Same result up to float rounding. `None` (default), training and padded batches
            use the normal forward. Does not change the architecture (a runtime choice like `vision_batch_size`).

    Initialisation (the paper is silent; as the sister repo): each Mamba2 mixer's `in_proj`, `out_proj` and
    depthwise convolutions keep PyTorch's default initialisation (bias included), `dt_bias` is softplus^-1 of a
    log-uniform dt in [time_step_min, time_step_max], the backward `dt_bias_b` is 1, A = -(1..nheads), D = 1; the
    query is randn / sqrt(d), `input_proj` xavier-uniform with a zero bias; the GPA linears as described above. The
    TAA's down / up projections and the projector (port choices) take the normal(0, initializer_range) init.

    Stage 2, Temporal Axis Aggregator (TAA):
        use_temporal_axis_aggregator (`bool`, defaults to True): run the TAA (paper). Without it no Delta_t exists
            and delta sampling is disabled.
        taa_hidden_size (`int`, *optional*, defaults to 384): the TAA sees each frame as one vector of k * d
            (24 x 3072 = 73,728 values); a Mamba2 mixer at that width would have billions of parameters, so the port
            projects it down to `taa_hidden_size` and back up (port choice, sized so the compressor totals ~0.25B).
            `None` runs the mixer on the full k * d vector with no projections.
        taa_bidirectional (`bool`, defaults to False): the paper contradicts itself; its method overview says
            unidirectional (causal), which is the default.
        taa_state_size / taa_expand / taa_head_dim / taa_n_groups: mixer sizes of the TAA (port choice 128/2/64/1).
        delta_head_reduction (`"mean"`, `"max"` or `"sum"`, defaults to `"mean"`): Mamba2 has one Delta per head;
            the per-frame score Delta_t is this reduction over heads (port choice).

    Delta sampling (paper Algorithm 1, inference only):
        delta_sampling (`bool`, defaults to True): apply Algorithm 1 in eval mode.
        delta_sampling_min_frames (`int`, defaults to 180): M_thresh; sampling applies only when a video has more
            frames than this (paper, Qwen2-7B: 180; Vicuna: 64).
        delta_sampling_threshold (`float`, defaults to 0.6): delta_thresh of Algorithm 1 (paper, Qwen2-7B: 0.6).
        Algorithm 1 can keep no frame when the Delta values never sum to the threshold; the port then keeps the frame
        with the largest Delta_t so a video is never dropped.

    LLM side:
        video_token_id (`int`, defaults to 151647): id of the video placeholder token.
        use_frame_separator (`bool`, defaults to True): a learned vector (LLM width) after every kept frame's tokens
            (sister repo `image_newframe`), so each frame gives k + 1 LLM tokens.
        projector_hidden_act (`str`, defaults to `"gelu"`), multimodal_projector_bias (`bool`, defaults to True):
            the mlp2x_gelu projector Linear(d -> D) -> GELU -> Linear(D -> D) from compressor width d to LLM width D.
        initializer_range (`float`, defaults to 0.02): std of the normal init of linear layers.

    Example:

    ``python
    >>> from mambamia_hf import MambaMiaConfig, MambaMiaForConditionalGeneration
    >>> config = MambaMiaConfig.from_preset("mambamia-7b")
    >>> with torch.device("meta"):
    ...     model = MambaMiaForConditionalGeneration(config)
    ``
    """

    model_type = "mambamia"
    attribute_map = {"video_token_index": "video_token_id"}
    sub_configs_defaults = {
        "vision_config": SubConfigSpec(
            config_class=AutoConfig,
            model_type="siglip_vision_model",
            init_kwargs={k: v for k, v in SIGLIP2_SO400M_PATCH16_384.items() if k != "model_type"},
        ),
        "text_config": SubConfigSpec(
            config_class=AutoConfig,
            model_type="qwen2",
            init_kwargs={k: v for k, v in QWEN2_7B.items() if k != "model_type"},
        ),
    }

    vision_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    vision_feature_layer: int = -2
    video_frame_size: int | None = None
    vision_batch_size: int | None = 32
    video_token_id: int = 151647
    # Stage 1: compressor
    compressor_hidden_size: int = 3072
    compressor_num_layers: int = 3
    patches_per_query: int | None = None
    compressor_state_size: int = 128
    compressor_expand: int = 2
    compressor_head_dim: int = 64
    compressor_n_groups: int = 8
    compressor_conv_kernel: int = 4
    compressor_chunk_size: int = 256
    time_step_min: float = 0.001
    time_step_max: float = 0.1
    time_step_floor: float = 1e-4
    time_step_limit: list | tuple = (0.0, float("inf"))
    use_bias: bool = False
    use_conv_bias: bool = True
    norm_before_gate: bool = True
    layer_norm_epsilon: float = 1e-5
    residual_in_fp32: bool = True
    use_gated_patch_aggregation: bool = True
    gpa_dropout: float = 0.1
    gpa_init_scale: float = 1e-3
    gpa_gate_epsilon: float = 0.01
    compressor_streaming_segment_length: int | None = None
    # Stage 2: temporal axis aggregator
    use_temporal_axis_aggregator: bool = True
    taa_hidden_size: int | None = 384
    taa_bidirectional: bool = False
    taa_state_size: int = 128
    taa_expand: int = 2
    taa_head_dim: int = 64
    taa_n_groups: int = 1
    delta_head_reduction: Literal["mean", "max", "sum"] = "mean"
    # Delta sampling (Algorithm 1)
    delta_sampling: bool = True
    delta_sampling_min_frames: int = 180
    delta_sampling_threshold: float = 0.6
    # LLM side
    use_frame_separator: bool = True
    projector_hidden_act: str = "gelu"
    multimodal_projector_bias: bool = True
    initializer_range: float = 0.02
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.time_step_limit = tuple(float(v) for v in self.time_step_limit)
        if self.compressor_streaming_segment_length is not None and self.compressor_streaming_segment_length < 1:
            raise ValueError(
                "compressor_streaming_segment_length must be None or >= 1, got "
                f"{self.compressor_streaming_segment_length}"
            )
        if self.delta_head_reduction not in ("mean", "max", "sum"):
            raise ValueError(f"delta_head_reduction must be 'mean', 'max' or 'sum', got {self.delta_head_reduction!r}")
        if self.vision_config.model_type not in ("siglip_vision_model", "siglip2_vision_model"):
            raise ValueError(
                f"vision_config must be a SigLIP or SigLIP2 vision config, got {self.vision_config.model_type!r}"
            )
        if self.frame_size % self.vision_config.patch_size != 0:
            raise ValueError(f"frame size {self.frame_size} is not a multiple of the patch size")
        grid = self.patch_grid
        ppq = self.patches_per_query if self.patches_per_query is not None else grid[1]
        if ppq <= 0 or (grid[0] * grid[1]) % ppq != 0:
            raise ValueError(
                f"patches_per_query={ppq} must divide the {grid[0]}x{grid[1]} = {grid[0] * grid[1]} patches per frame"
            )
        inner = self.compressor_expand * self.compressor_hidden_size
        if inner % self.compressor_head_dim != 0 or (inner // self.compressor_head_dim) % self.compressor_n_groups:
            raise ValueError(
                f"compressor: expand*hidden_size={inner} must split into heads of {self.compressor_head_dim} whose "
                f"count is divisible by compressor_n_groups={self.compressor_n_groups}"
            )
        if not self.tie_word_embeddings and getattr(self.text_config, "tie_word_embeddings", False):
            self.tie_word_embeddings = self.text_config.tie_word_embeddings

    # ------------------------------------------------------------------ derived sizes
    @property
    def frame_size(self) -> int:
        """Side of the square frames the vision tower takes."""
        if self.video_frame_size is not None:
            return self.video_frame_size
        if getattr(self.vision_config, "image_size", None) is not None:
            return self.vision_config.image_size
        return math.isqrt(self.vision_config.num_patches) * self.vision_config.patch_size  # SigLIP2 NaFlex

    @property
    def patch_grid(self) -> tuple[int, int]:
        """(rows, columns) of the vision tower's patch grid."""
        side = self.frame_size // self.vision_config.patch_size
        return side, side

    @property
    def num_patches_per_frame(self) -> int:
        rows, cols = self.patch_grid
        return rows * cols

    @property
    def query_interval(self) -> int:
        """Number of patch tokens each learnable query follows (a query closes every group)."""
        return self.patches_per_query if self.patches_per_query is not None else self.patch_grid[1]

    @property
    def queries_per_frame(self) -> int:
        """k: compressed tokens per frame."""
        return self.num_patches_per_frame // self.query_interval

    @property
    def tokens_per_frame(self) -> int:
        """LLM tokens per kept frame: k anchors plus the frame separator."""
        return self.queries_per_frame + int(self.use_frame_separator)

    def num_video_tokens(self, num_frames: int) -> int:
        """Number of video placeholder tokens one video with `num_frames` kept frames expands to."""
        return num_frames * self.tokens_per_frame

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs):
        """Save `config.json` with an `auto_map` and the small shim files that import the installed package."""
        self.auto_map = dict(AUTO_MAP)
        write_shims(str(save_directory))
        return super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)

    @classmethod
    def from_preset(cls, name: str, **kwargs) -> "MambaMiaConfig":
        """Build a named configuration; `"mambamia-7b"` = SigLIP2 so400m patch16 384 + Qwen2-7B + compressor."""
        if name not in PRESETS:
            raise ValueError(f"Unknown MambaMia preset {name!r}; known presets: {sorted(PRESETS)}")
        preset = {k: (dict(v) if isinstance(v, dict) else v) for k, v in PRESETS[name].items()}
        preset.update(kwargs)
        return cls(**preset)


__all__ = ["MambaMiaConfig"]
