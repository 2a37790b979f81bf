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
"""A small deterministic frame encoder (no learned or downloaded weights) for raw-video grounding pipelines.

HieraMamba consumes pre-extracted clip features (EgoVLP, C3D, CLIP). For the synthetic grounding set
(``examples/synthetic_grounding/synthetic.py``) and for end-to-end pipelines on raw videos we need an encoder that
anyone can rebuild bit-for-bit from a handful of numbers. :class:`SimpleFrameEncoder` is that encoder. For every RGB
frame ``(H, W, 3) uint8`` (any resolution of at least ``grid_size`` pixels a side) it computes, in float32:

1. **colour layout**: the frame in ``[0, 1]`` average-pooled to a ``grid_size x grid_size`` grid of mean RGB
   (``3 * grid_size**2`` numbers; ``adaptive_avg_pool2d``, so any resolution works);
2. **edge layout**: the luminance ``Y = 0.299 R + 0.587 G + 0.114 B``, its absolute horizontal and vertical
   differences ``|dY/dx|, |dY/dy|`` average-pooled to the same grid and multiplied by ``gradient_gain``
   (``2 * grid_size**2`` numbers; tells a horizontal bar from a vertical one);
3. **colour histogram**: a soft histogram over the fixed ``PALETTE`` (16 colours): each pixel of the frame
   average-pooled by ``histogram_pool`` (2) is assigned to the palette with weights
   ``softmax_k(-|x - p_k|^2 / (2 * palette_bandwidth^2))``, averaged over the frame (16 numbers, sums to 1);
4. **edge orientations** (optional, ``orientation_bins > 0``; off by default, 4 in the shipped checkpoint): the
   Sobel gradient of ``Y`` (kernels divided by 4, so a step edge of height ``h`` gives ``h``), its magnitude split
   over ``orientation_bins`` orientations in ``[0, pi)`` by linear interpolation between the two nearest bin centres
   ``k * pi / orientation_bins``, average-pooled to an ``orientation_grid`` (2) grid and multiplied by
   ``gradient_gain`` (``orientation_bins * orientation_grid**2`` numbers). Step 2 tells where the edges are; this
   block tells which way they run, in a form a linear read-out can use: a square's edges run at 0 and 90 degrees, a
   disc's at every angle. A linear probe of the shape of the clips of 300 synthetic videos
   (``examples/synthetic_grounding``) reads it at 91% from steps 1-3 and at 100% with ``orientation_bins=4``; the
   small grounding models trained on such features still bind mostly the colour word (README, Status);
5. the concatenation ``r`` (``5 * grid_size**2 + 16 + orientation_bins * orientation_grid**2`` numbers, 96 by
   default) is centred by 0.5 and, optionally, standardised per entry, ``(r - feature_mean) / feature_std``, like an
   image processor's ``image_mean`` / ``image_std``. Without it the features are badly conditioned: the frames are
   dark and mostly static, so an entry's mean is ~5x its spread, and the small object's colour lives in low-variance
   entries (the palette bins) that a model's first layers wash out. Standardising ``r`` itself, before the
   projection, gives each of these cues unit variance (a linear read-out of the event colour from an untrained
   HieraMamba's first pyramid level: 88%, against 60% when the projected features are standardised per channel
   instead). :meth:`SimpleFrameEncoder.fit_normalization` sets the two vectors from sample frames (the synthetic
   generator fits them on calibration videos outside its splits and saves them with the encoder);
6. projected by a fixed matrix ``W ~ N(0, 1/len(r))`` of shape ``(len(r), feature_dim)`` drawn from
   ``torch.Generator().manual_seed(projection_seed)`` (``feature_dim=0`` keeps ``r`` itself).

The feature of a clip is the **mean of its frames' features**: clip ``i`` covers frames
``[i * clip_stride, i * clip_stride + clip_size)`` (SnAG's clock: the clip is centred at
``(i * clip_stride + clip_size / 2) / fps`` seconds) and there are ``(F - clip_size) // clip_stride + 1`` clips in
``F`` frames (none when ``F < clip_size``).

The encoder is a :class:`~transformers.FeatureExtractionMixin`: ``save_pretrained(dir)`` writes
``preprocessor_config.json`` with those numbers and ``SimpleFrameEncoder.from_pretrained(dir)`` rebuilds the same
encoder. :meth:`SimpleFrameEncoder.encode_video_file` decodes a video with PyAV in chunks of frames (bounded memory)
and returns its clip features; mp4 compression changes them only slightly (see ``tests/test_synthetic.py``).
"""

import os

import numpy as np
import torch
import torch.nn.functional as F
from transformers.feature_extraction_utils import FeatureExtractionMixin


__all__ = ["SimpleFrameEncoder", "PALETTE", "clip_features_from_frame_features", "num_clips_for_frames"]


# 16 fixed RGB reference colours in [0, 1]: black, white, two greys, the 6 primaries/secondaries, and 6 mixtures.
PALETTE = (
    (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (0.33, 0.33, 0.33), (0.67, 0.67, 0.67),
    (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 1.0, 0.0), (1.0, 0.0, 1.0), (0.0, 1.0, 1.0),
    (1.0, 0.5, 0.0), (0.5, 0.0, 1.0), (0.0, 0.5, 0.25), (0.5, 0.25, 0.0), (0.2, 0.2, 0.45), (1.0, 0.6, 0.7),
)  # fmt: skip


def num_clips_for_frames(num_frames: int, clip_size: int, clip_stride: int) -> int:
    """Number of full clips of ``clip_size`` frames taken every ``clip_stride`` frames."""
    if num_frames < clip_size:
        return 0
    return (num_frames - clip_size) // clip_stride + 1


def clip_features_from_frame_features(frame_features: torch.Tensor, clip_size: int, clip_stride: int) -> torch.Tensor:
    """Mean of the frame features of each clip: ``(F, C) -> (T, C)`` with ``T = num_clips_for_frames(F, ...)``."""
    if clip_size < 1 or clip_stride < 1:
        raise ValueError(f"clip_size and clip_stride must be >= 1, got {clip_size} and {clip_stride}")
    num_clips = num_clips_for_frames(frame_features.shape[0], clip_size, clip_stride)
    if num_clips == 0:
        return frame_features.new_zeros((0, frame_features.shape[1]))
    csum = torch.cat([frame_features.new_zeros((1, frame_features.shape[1]), dtype=torch.float64),
                      frame_features.double().cumsum(0)])  # fmt: skip
    starts = torch.arange(num_clips) * clip_stride
    return ((csum[starts + clip_size] - csum[starts]) / clip_size).to(frame_features.dtype)


class SimpleFrameEncoder(FeatureExtractionMixin):
    r"""Deterministic frame -> feature map (colour layout, edge layout, palette histogram, fixed projection).

    Args:
        grid_size (`int`, defaults to 4): side of the spatial pooling grid.
        feature_dim (`int`, defaults to 128): output channels; 0 returns the raw ``5 * grid_size**2 + 16`` numbers.
        projection_seed (`int`, defaults to 0): seed of the fixed projection matrix.
        palette_bandwidth (`float`, defaults to 0.15): softness of the palette histogram.
        gradient_gain (`float`, defaults to 4.0): scale of the edge-layout block.
        histogram_pool (`int`, defaults to 2): the palette histogram is taken on the frame average-pooled by this
            factor (``avg_pool2d``, 4x cheaper for 2).
        orientation_bins (`int`, defaults to 0): orientations of the edge-orientation block (0: no such block; 4 is
            the setting measured in step 4 of the module docstring).
        orientation_grid (`int`, defaults to 2): side of the edge-orientation block's pooling grid.
        clip_size (`int`, defaults to 2): frames per clip.
        clip_stride (`int`, defaults to 2): frames between clip starts.
        frame_rate (`float`, *optional*): frames per second the encoder expects videos to be sampled at (recorded for
            pipelines; :meth:`encode_video_file` checks it against the stream when given).
        feature_mean (`list[float]`, *optional*): per-entry mean subtracted from the descriptor ``r`` (step 5).
        feature_std (`list[float]`, *optional*): per-entry scale the centred descriptor is divided by (step 5).
    """

    model_input_names = ["video_features"]

    def __init__(
        self,
        grid_size: int = 4,
        feature_dim: int = 128,
        projection_seed: int = 0,
        palette_bandwidth: float = 0.15,
        gradient_gain: float = 4.0,
        histogram_pool: int = 2,
        orientation_bins: int = 0,
        orientation_grid: int = 2,
        clip_size: int = 2,
        clip_stride: int = 2,
        frame_rate: float | None = None,
        feature_mean: list[float] | None = None,
        feature_std: list[float] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if histogram_pool < 1:
            raise ValueError(f"histogram_pool must be >= 1, got {histogram_pool}")
        if orientation_bins < 0 or orientation_grid < 1:
            raise ValueError(
                f"orientation_bins must be >= 0 and orientation_grid >= 1, got {orientation_bins}, {orientation_grid}"
            )
        if grid_size < 1 or feature_dim < 0 or clip_size < 1 or clip_stride < 1 or palette_bandwidth <= 0:
            raise ValueError(
                "SimpleFrameEncoder needs grid_size >= 1, feature_dim >= 0, clip_size >= 1, clip_stride >= 1 and "
                f"palette_bandwidth > 0; got {grid_size}, {feature_dim}, {clip_size}, {clip_stride}, "
                f"{palette_bandwidth}"
            )
        self.grid_size = int(grid_size)
        self.feature_dim = int(feature_dim)
        self.projection_seed = int(projection_seed)
        self.palette_bandwidth = float(palette_bandwidth)
        self.gradient_gain = float(gradient_gain)
        self.histogram_pool = int(histogram_pool)
        self.orientation_bins = int(orientation_bins)
        self.orientation_grid = int(orientation_grid)
        self.clip_size = int(clip_size)
        self.clip_stride = int(clip_stride)
        self.frame_rate = None if frame_rate is None else float(frame_rate)
        if (feature_mean is None) != (feature_std is None):
            raise ValueError("feature_mean and feature_std must be given together")
        self.feature_mean = None if feature_mean is None else [float(v) for v in feature_mean]
        self.feature_std = None if feature_std is None else [float(v) for v in feature_std]
        if self.feature_mean is not None:
            if len(self.feature_mean) != self.raw_dim or len(self.feature_std) != self.raw_dim:
                raise ValueError(
                    f"feature_mean / feature_std need {self.raw_dim} values (the descriptor size), got "
                    f"{len(self.feature_mean)} / {len(self.feature_std)}"
                )
            if min(self.feature_std) <= 0:
                raise ValueError("feature_std must be positive")

    @property
    def raw_dim(self) -> int:
        return 5 * self.grid_size**2 + len(PALETTE) + self.orientation_bins * self.orientation_grid**2

    @property
    def output_dim(self) -> int:
        return self.feature_dim if self.feature_dim > 0 else self.raw_dim

    def to_dict(self):
        output = super().to_dict()
        return {key: value for key, value in output.items() if not key.startswith("_")}

    def projection(self) -> torch.Tensor:
        """The fixed ``(raw_dim, feature_dim)`` projection, regenerated from ``projection_seed``."""
        generator = torch.Generator().manual_seed(self.projection_seed)
        return torch.randn(self.raw_dim, self.feature_dim, generator=generator) / self.raw_dim**0.5

    def _projection_cached(self) -> torch.Tensor:
        key = (self.projection_seed, self.raw_dim, self.feature_dim)
        if getattr(self, "_projection_key", None) != key:
            self._projection, self._projection_key = self.projection(), key
        return self._projection

    @torch.no_grad()
    def encode_descriptor(self, frames) -> torch.Tensor:
        """Per-frame descriptor ``r`` (steps 1-4, centred by 0.5): ``(N, H, W, 3)`` uint8 -> ``(N, raw_dim)``."""
        frames = torch.as_tensor(np.asarray(frames) if not isinstance(frames, torch.Tensor) else frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must have shape (N, H, W, 3), got {tuple(frames.shape)}")
        if frames.dtype != torch.uint8:
            raise ValueError(f"frames must be uint8 RGB, got dtype {frames.dtype}")
        if min(frames.shape[1], frames.shape[2]) < max(self.grid_size, self.orientation_grid, 2):
            raise ValueError(f"frames of size {tuple(frames.shape[1:3])} are smaller than the grid {self.grid_size}")
        x = frames.permute(0, 3, 1, 2).float() / 255.0  # (N, 3, H, W)
        grid = self.grid_size
        colour = F.adaptive_avg_pool2d(x, grid).flatten(1)  # colour layout
        luma = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None]
        grad_x = F.adaptive_avg_pool2d((luma[..., :, 1:] - luma[..., :, :-1]).abs(), grid).flatten(1)
        grad_y = F.adaptive_avg_pool2d((luma[..., 1:, :] - luma[..., :-1, :]).abs(), grid).flatten(1)
        edges = self.gradient_gain * torch.cat([grad_x, grad_y], dim=1)  # edge layout
        palette = torch.tensor(PALETTE, dtype=torch.float32)  # (K, 3)
        # softmax_k(-|x - p_k|^2 / 2s^2) == softmax_k((x.p_k - |p_k|^2 / 2) / s^2): |x|^2 is constant over k
        small = F.avg_pool2d(x, self.histogram_pool) if self.histogram_pool > 1 else x
        logits = torch.einsum("nchw,kc->nkhw", small, palette) - 0.5 * (palette**2).sum(1)[None, :, None, None]
        histogram = torch.softmax(logits / self.palette_bandwidth**2, dim=1).mean((2, 3))  # palette histogram
        blocks = [colour, edges, histogram]
        if self.orientation_bins:
            blocks.append(self.gradient_gain * self._edge_orientations(luma))  # edge orientations
        return torch.cat(blocks, dim=1) - 0.5

    def _edge_orientations(self, luma: torch.Tensor) -> torch.Tensor:
        """Step 4: Sobel gradient magnitude split over ``orientation_bins`` orientations, pooled to a grid."""
        padded = F.pad(luma[:, 0], (1, 1, 1, 1), mode="replicate")  # (N, H + 2, W + 2)
        diff_x = padded[:, :, 2:] - padded[:, :, :-2]
        diff_y = padded[:, 2:, :] - padded[:, :-2, :]
        grad_x = (diff_x[:, :-2] + 2 * diff_x[:, 1:-1] + diff_x[:, 2:]) / 4  # Sobel [1 2 1]^T [-1 0 1] / 4
        grad_y = (diff_y[:, :, :-2] + 2 * diff_y[:, :, 1:-1] + diff_y[:, :, 2:]) / 4
        magnitude = torch.hypot(grad_x, grad_y)
        bins = self.orientation_bins
        position = (torch.atan2(grad_y, grad_x) % torch.pi) * (bins / torch.pi)  # orientation in bin units
        centres = torch.arange(bins, dtype=position.dtype).view(1, bins, 1, 1)
        distance = torch.remainder(position[:, None] - centres + bins / 2, bins) - bins / 2  # cyclic
        split = magnitude[:, None] * (1 - distance.abs()).clamp(min=0)  # linear interpolation between centres
        return F.adaptive_avg_pool2d(split, self.orientation_grid).flatten(1)

    @torch.no_grad()
    def encode_frames(self, frames) -> torch.Tensor:
        """Per-frame features: ``(N, H, W, 3)`` uint8 (numpy or torch) -> ``(N, output_dim)`` float32."""
        features = self.encode_descriptor(frames)
        if self.feature_mean is not None:  # per-entry standardisation of the descriptor (step 5)
            mean, std = torch.tensor(self.feature_mean), torch.tensor(self.feature_std)
            features = (features - mean) / std
        if self.feature_dim > 0:
            features = features @ self._projection_cached()  # fixed random projection (step 6)
        return features

    @torch.no_grad()
    def fit_normalization(self, frames, min_std: float = 1e-3) -> "SimpleFrameEncoder":
        """Set ``feature_mean`` / ``feature_std`` to the per-entry mean and standard deviation of the descriptor
        ``r`` of ``frames`` (an ``(N, H, W, 3)`` uint8 array or a list of such chunks), the standard deviation
        floored at ``min_std``. Returns ``self``."""
        chunks = frames if isinstance(frames, (list, tuple)) else [frames]
        descriptors = torch.cat([self.encode_descriptor(chunk).double() for chunk in chunks])
        if descriptors.shape[0] < 2:
            raise ValueError("fit_normalization needs at least 2 frames")
        self.feature_mean = descriptors.mean(0).tolist()
        self.feature_std = descriptors.std(0).clamp(min=min_std).tolist()
        return self

    def __call__(self, frames) -> torch.Tensor:
        """Clip features of a frame sequence ``(F, H, W, 3)`` uint8 -> ``(T, output_dim)``."""
        return clip_features_from_frame_features(self.encode_frames(frames), self.clip_size, self.clip_stride)

    @torch.no_grad()
    def encode_video_file(self, path: str | os.PathLike, chunk_frames: int = 512) -> torch.Tensor:
        """Decode a video file with PyAV, ``chunk_frames`` frames at a time, and return its clip features ``(T, C)``."""
        import av  # noqa: PLC0415  (optional dependency of this method only)

        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"video file not found: {path}")
        frame_features, chunk = [], []
        with av.open(path) as container:
            if not container.streams.video:
                raise ValueError(f"no video stream in {path}")
            stream = container.streams.video[0]
            if self.frame_rate is not None and stream.average_rate is not None:
                if abs(float(stream.average_rate) - self.frame_rate) > 1e-3 * self.frame_rate:
                    raise ValueError(
                        f"{path} runs at {float(stream.average_rate)} fps but the encoder expects {self.frame_rate} fps"
                    )
            for frame in container.decode(stream):
                chunk.append(frame.to_ndarray(format="rgb24"))
                if len(chunk) == chunk_frames:
                    frame_features.append(self.encode_frames(np.stack(chunk)))
                    chunk = []
        if chunk:
            frame_features.append(self.encode_frames(np.stack(chunk)))
        if not frame_features:
            raise ValueError(f"no frames could be decoded from {path}")
        return clip_features_from_frame_features(torch.cat(frame_features), self.clip_size, self.clip_stride)
