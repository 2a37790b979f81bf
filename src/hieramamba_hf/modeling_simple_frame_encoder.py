# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""A small deterministic frame encoder (no learned weights) that a grounding checkpoint can carry as its vision model.

HieraMamba consumes clip features (EgoVLP, C3D, CLIP). For the synthetic grounding set and its demo checkpoint the
project needs an encoder that anyone can rebuild bit-for-bit from a handful of numbers: `SimpleFrameEncoderModel`.
It is a `PreTrainedModel` (configured by `SimpleFrameEncoderConfig`), so it sits inside `HieraMambaModel` as its
`vision_model` and follows the device and dtype of the grounding model (it computes in float32 and returns the
dtype of its buffers). For every RGB frame, given as `pixel_values` `(N, 3, H, W)` in `[0, 1]` (any resolution of
at least `grid_size` pixels a side), it computes:

1. **colour layout**: the frame in `[0, 1]` average-pooled to a `grid_size x grid_size` grid of mean RGB
   (`3 * grid_size**2` numbers; `adaptive_avg_pool2d`, so any resolution works);
2. **edge layout**: the luminance `Y = 0.299 R + 0.587 G + 0.114 B`, its absolute horizontal and vertical
   differences `|dY/dx|, |dY/dy|` average-pooled to the same grid and multiplied by `gradient_gain`
   (`2 * grid_size**2` numbers; tells a horizontal bar from a vertical one);
3. **colour histogram**: a soft histogram over the fixed `PALETTE` (16 colours): each pixel of the frame
   average-pooled by `histogram_pool` (2) is assigned to the palette with weights
   `softmax_k(-|x - p_k|^2 / (2 * palette_bandwidth^2))`, averaged over the frame (16 numbers, sums to 1);
4. **edge orientations** (optional, `orientation_bins > 0`; off by default, 4 in the shipped checkpoint): the
   Sobel gradient of `Y` (kernels divided by 4, so a step edge of height `h` gives `h`), its magnitude split
   over `orientation_bins` orientations in `[0, pi)` by linear interpolation between the two nearest bin centres
   `k * pi / orientation_bins`, average-pooled to an `orientation_grid` (2) grid and multiplied by
   `gradient_gain` (`orientation_bins * orientation_grid**2` numbers). Step 2 tells where the edges are; this
   block tells which way they run, in a form a linear read-out can use: a square's edges run at 0 and 90 degrees, a
   disc's at every angle. A linear probe of the shape of the clips of 300 synthetic videos (the synthetic
   grounding set of `examples/synthetic_grounding`) reads it at 91% from steps 1-3 and at 100% with
   `orientation_bins=4`; the small grounding models trained on such features still bind mostly the colour word;
5. the concatenation `r` (`5 * grid_size**2 + 16 + orientation_bins * orientation_grid**2` numbers, 96 by default)
   is centred by 0.5 and standardised per entry, `(r - feature_mean) / feature_std`, like an image processor's
   `image_mean` / `image_std` (buffers, identity until `fit_normalization`). Without the standardisation the
   synthetic set's features are badly conditioned: the frames are dark and mostly static, so an entry's mean is ~5x
   its spread, and the small object's colour lives in low-variance entries (the palette bins) that a model's first
   layers wash out. Standardising `r` itself, before the projection, gives each of these cues unit variance (a
   linear read-out of the event colour from an untrained HieraMamba's first pyramid level: 88%, against 60% when the
   projected features are standardised per channel instead). `SimpleFrameEncoderModel.fit_normalization` sets the
   two vectors from sample frames (the synthetic generator fits them on calibration videos outside its splits and
   saves them with the encoder);
6. projected by a fixed matrix `W ~ N(0, 1/len(r))` of shape `(len(r), feature_dim)` drawn from
   `torch.Generator().manual_seed(projection_seed)` (`feature_dim=0` keeps `r` itself).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling

from .configuration_hieramamba import SimpleFrameEncoderConfig


# 16 fixed RGB reference colours in [0, 1]: black, white, two greys, the 6 primaries/secondaries, and 6 mixtures.
PALETTE = (
    (0.0, 0.0, 0.0),
    (1.0, 1.0, 1.0),
    (0.33, 0.33, 0.33),
    (0.67, 0.67, 0.67),
    (1.0, 0.0, 0.0),
    (0.0, 1.0, 0.0),
    (0.0, 0.0, 1.0),
    (1.0, 1.0, 0.0),
    (1.0, 0.0, 1.0),
    (0.0, 1.0, 1.0),
    (1.0, 0.5, 0.0),
    (0.5, 0.0, 1.0),
    (0.0, 0.5, 0.25),
    (0.5, 0.25, 0.0),
    (0.2, 0.2, 0.45),
    (1.0, 0.6, 0.7),
)


class SimpleFrameEncoderModel(PreTrainedModel):
    """Deterministic frame -> feature map (see the module docstring). Buffers: `projection` `(raw_dim,
    feature_dim)`, drawn from `projection_seed`; `feature_mean` / `feature_std` `(raw_dim,)`, the descriptor's
    standardisation (zeros / ones until `fit_normalization`)."""

    config: SimpleFrameEncoderConfig
    config_class = SimpleFrameEncoderConfig
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    _supports_sdpa = False
    _supports_flash_attn = False

    def __init__(self, config: SimpleFrameEncoderConfig):
        super().__init__(config)
        self.register_buffer("projection", torch.empty(config.raw_dim, config.feature_dim))
        self.register_buffer("feature_mean", torch.empty(config.raw_dim))
        self.register_buffer("feature_std", torch.empty(config.raw_dim))
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, SimpleFrameEncoderModel):
            config = module.config
            generator = torch.Generator().manual_seed(config.projection_seed)
            projection = torch.randn(config.raw_dim, config.feature_dim, generator=generator) / config.raw_dim**0.5
            init.copy_(module.projection, projection)
            init.zeros_(module.feature_mean)
            init.ones_(module.feature_std)

    @property
    def device(self) -> torch.device:
        return self.projection.device  # no parameters: the buffers say where the model lives

    @property
    def dtype(self) -> torch.dtype:
        return self.projection.dtype

    def descriptor(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Per-frame descriptor `r` (steps 1-4, centred by 0.5), float32: `(N, 3, H, W)` -> `(N, raw_dim)`."""
        config = self.config
        if pixel_values.ndim != 4 or pixel_values.shape[1] != 3:
            raise ValueError(f"pixel_values must be (N, 3, H, W) RGB in [0, 1], got {tuple(pixel_values.shape)}.")
        if min(pixel_values.shape[2:]) < max(config.grid_size, config.orientation_grid, 2):
            raise ValueError(
                f"frames of size {tuple(pixel_values.shape[2:])} are smaller than the grid {config.grid_size}."
            )
        x = pixel_values.float()
        grid = config.grid_size
        colour = F.adaptive_avg_pool2d(x, grid).flatten(1)  # step 1: colour layout
        luma = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None]
        grad_x = F.adaptive_avg_pool2d((luma[..., :, 1:] - luma[..., :, :-1]).abs(), grid).flatten(1)
        grad_y = F.adaptive_avg_pool2d((luma[..., 1:, :] - luma[..., :-1, :]).abs(), grid).flatten(1)
        edges = config.gradient_gain * torch.cat([grad_x, grad_y], dim=1)  # step 2: edge layout
        palette = torch.tensor(PALETTE, dtype=torch.float32, device=x.device)  # (K, 3)
        # softmax_k(-|x - p_k|^2 / 2s^2) == softmax_k((x.p_k - |p_k|^2 / 2) / s^2): |x|^2 is constant over k
        small = F.avg_pool2d(x, config.histogram_pool) if config.histogram_pool > 1 else x
        logits = torch.einsum("nchw,kc->nkhw", small, palette) - 0.5 * (palette**2).sum(1)[None, :, None, None]
        histogram = torch.softmax(logits / config.palette_bandwidth**2, dim=1).mean((2, 3))  # step 3: palette
        blocks = [colour, edges, histogram]
        if config.orientation_bins:
            blocks.append(config.gradient_gain * self._edge_orientations(luma))  # step 4: edge orientations
        return torch.cat(blocks, dim=1) - 0.5

    def _edge_orientations(self, luma: torch.Tensor) -> torch.Tensor:
        """Step 4: Sobel gradient magnitude split over `orientation_bins` orientations, pooled to a grid."""
        padded = F.pad(luma[:, 0], (1, 1, 1, 1), mode="replicate")  # (N, H + 2, W + 2)
        diff_x = padded[:, :, 2:] - padded[:, :, :-2]
        diff_y = padded[:, 2:, :] - padded[:, :-2, :]
        grad_x = (diff_x[:, :-2] + 2 * diff_x[:, 1:-1] + diff_x[:, 2:]) / 4  # Sobel [1 2 1]^T [-1 0 1] / 4
        grad_y = (diff_y[:, :, :-2] + 2 * diff_y[:, :, 1:-1] + diff_y[:, :, 2:]) / 4
        magnitude = torch.hypot(grad_x, grad_y)
        bins = self.config.orientation_bins
        position = (torch.atan2(grad_y, grad_x) % torch.pi) * (bins / torch.pi)  # orientation in bin units
        centres = torch.arange(bins, dtype=position.dtype, device=position.device).view(1, bins, 1, 1)
        distance = torch.remainder(position[:, None] - centres + bins / 2, bins) - bins / 2  # cyclic
        split = magnitude[:, None] * (1 - distance.abs()).clamp(min=0)  # linear interpolation between centres
        return F.adaptive_avg_pool2d(split, self.config.orientation_grid).flatten(1)

    def forward(self, pixel_values: torch.Tensor, **kwargs) -> BaseModelOutputWithPooling:
        """Frame features `(N, hidden_size)` in `pooler_output` (and `last_hidden_state`, `(N, 1, hidden_size)`)."""
        features = (self.descriptor(pixel_values) - self.feature_mean.float()) / self.feature_std.float()  # step 5
        if self.config.feature_dim > 0:
            features = features @ self.projection.float()  # step 6: fixed random projection
        features = features.to(self.projection.dtype)
        return BaseModelOutputWithPooling(last_hidden_state=features[:, None], pooler_output=features)

    @torch.no_grad()
    def fit_normalization(self, pixel_values, min_std: float = 1e-3) -> "SimpleFrameEncoderModel":
        """Set `feature_mean` / `feature_std` to the per-entry mean and standard deviation of the descriptor of
        `pixel_values` (an `(N, 3, H, W)` tensor or a list of such chunks), the standard deviation floored at
        `min_std`. Returns the model."""
        chunks = pixel_values if isinstance(pixel_values, (list, tuple)) else [pixel_values]
        descriptors = torch.cat([self.descriptor(chunk).double() for chunk in chunks])
        if descriptors.shape[0] < 2:
            raise ValueError("fit_normalization needs at least 2 frames.")
        self.feature_mean.copy_(descriptors.mean(0))
        self.feature_std.copy_(descriptors.std(0).clamp(min=min_std))
        return self


__all__ = ["PALETTE", "SimpleFrameEncoderModel"]
