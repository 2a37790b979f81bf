# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""MambaMia video processor: a video file or decoded frames -> the paper's uniformly sampled frames -> SigLIP pixels.

A transformers `BaseVideoProcessor` that needs no torchvision. In transformers 5.25 the torchvision-dependent parts
of `BaseVideoProcessor` are: `convert_to_rgb` (`tvF.grayscale_to_rgb`), the `TorchvisionBackend` image operations
`_preprocess` calls (`resize`, `center_crop`, `rescale_and_normalize`: `tvF.resize` / `tvF.crop` / `tvF.normalize`),
`fetch_videos` (decoding with torchcodec, torchvision as the fallback) and, for lists of image paths,
`process_image`. The class itself is only *marked* `@requires(backends=("vision", "torchvision"))`: it imports and
instantiates without torchvision, and `AutoVideoProcessor` finds a registered class without it. This processor
overrides `preprocess` and does each of those steps without torchvision:

* decoding: video files through the project's one streaming decoder, `ssm_layers.video_io` (PyAV or decord; only
  the kept frames are ever converted to arrays, so memory is bounded by the kept frames whatever the file's length);
* sampling: the paper's rule from the video's metadata, `sample_frames` (n = min(ceil(duration * fps), max_frames)
  instants linspace(0, duration, n, endpoint=False), each the nearest native frame);
* pixels: SigLIP's PIL / numpy path, frame by frame (`transformers.image_transforms.resize` with the PIL filter,
  `rescale`, `normalize`: what `SiglipImageProcessorPil` does to an image).

It returns `pixel_values_videos` (num_videos, max_frames_in_batch, 3, S, S) zero-padded, `video_frame_mask` (1 =
real frame) and `video_timestamps` (per video, every kept frame's time in seconds in its file).
"""

import os

import numpy as np
from transformers import BatchFeature
from transformers.image_transforms import normalize, rescale, resize
from transformers.image_utils import (
    IMAGENET_STANDARD_MEAN,
    IMAGENET_STANDARD_STD,
    ChannelDimension,
    PILImageResampling,
)
from transformers.processing_utils import VideosKwargs
from transformers.video_processing_utils import BaseVideoProcessor
from transformers.video_utils import VideoMetadata

from ssm_layers.video_io import open_video, uniform_frame_indices

from .remote_code import AUTO_MAP, write_shims


class MambaMiaVideoProcessorKwargs(VideosKwargs, total=False):
    r"""
    max_frames (`int`, *optional*):
        Frame budget of the paper's sampling rule: n = min(ceil(duration * fps), max_frames) frames.
    video_backend (`str`, *optional*):
        Decoder of video files: `"pyav"`, `"decord"` or `None` (`ssm_layers.video_io.DEFAULT_BACKEND`, the other
        installed backend as the fallback).
    """

    max_frames: int | None
    video_backend: str | None


class MambaMiaVideoProcessor(BaseVideoProcessor):
    r"""
    Video processor of [`MambaMiaForConditionalGeneration`]: decode, sample frames by the paper's rule, SigLIP pixels.

    Every default is a class attribute (saved in `video_preprocessor_config.json`); any of them can be given to the
    constructor or to a call.

    Args:
        size (`dict`, defaults to `{"height": 384, "width": 384}`): the vision tower's frame size (SigLIP2 so400m
            patch16 384).
        resample (`PILImageResampling`, defaults to `BICUBIC`), rescale_factor (`float`, defaults to 1/255),
        image_mean / image_std (defaults to 0.5 / 0.5): SigLIP's preprocessing.
        fps (`float`, defaults to 1.0): sampling-rate cap in frames per second (paper: up to 2 fps in training).
        max_frames (`int`, defaults to 384): frame budget (paper inference: 384; training 64 / 128).
        video_backend (`str`, *optional*): `"pyav"`, `"decord"` or `None` for video files.
        do_sample_frames (`bool`, defaults to True): sample by the rule; `False` keeps every frame of decoded
            frames (a file is always sampled).

    Videos are paths to video files, `(T, H, W, 3)` uint8 RGB arrays / tensors, or lists of PIL images / `(H, W, 3)`
    arrays; a list of those is a batch. Decoded frames without `video_metadata` are taken to be at `fps` already
    (their timestamps are i / fps); pass `video_metadata={"fps": native_fps}` (one per video) to sample them by the
    rule.
    """

    resample = PILImageResampling.BICUBIC
    image_mean = IMAGENET_STANDARD_MEAN
    image_std = IMAGENET_STANDARD_STD
    size = {"height": 384, "width": 384}
    rescale_factor = 1 / 255
    default_to_square = True
    do_resize = True
    do_rescale = True
    do_normalize = True
    do_convert_rgb = True
    do_center_crop = False
    do_sample_frames = True
    fps = 1.0
    max_frames = 384
    video_backend = None
    valid_kwargs = MambaMiaVideoProcessorKwargs
    model_input_names = ["pixel_values_videos", "video_frame_mask", "video_timestamps"]

    # ------------------------------------------------------------------ sampling
    def sample_frames(
        self, metadata: VideoMetadata, fps: float | None = None, max_frames: int | None = None, **kwargs
    ):
        """The paper's rule on a video's metadata: n = min(ceil(duration * fps), max_frames, num_frames) timestamps
        linspace(0, duration, n, endpoint=False), each mapped to the nearest frame (`uniform_frame_indices`).

        Args:
            metadata (`VideoMetadata`): `total_num_frames` and `fps` (the video's own rate) are used.
            fps (`float`, *optional*): sampling-rate cap; defaults to `self.fps`.
            max_frames (`int`, *optional*): frame budget; defaults to `self.max_frames`.

        Returns:
            `np.ndarray`: strictly increasing int64 frame indices.
        """
        fps = self.fps if fps is None else fps
        max_frames = self.max_frames if max_frames is None else max_frames
        return uniform_frame_indices(metadata.total_num_frames, metadata.fps, fps, max_frames)

    # ------------------------------------------------------------------ decoding
    def _load_file(self, path: str, fps: float, max_frames: int, video_backend: str | None):
        """Decode only the sampled frames of a file; (frames, metadata with the kept `frames_indices`)."""
        try:
            reader = open_video(path, backend=video_backend)
        except FileNotFoundError as error:
            raise ValueError(f"Video file not found: {path}") from error
        frames = reader.read_uniform_frames(fps, max_frames)  # the same rule, streamed: only kept frames are held
        info = reader.metadata  # exact after the decode (PyAV counts the frames it decoded)
        metadata = VideoMetadata(
            total_num_frames=info.num_frames,
            fps=info.native_fps,
            width=info.width,
            height=info.height,
            duration=info.duration,
            video_backend=info.backend,
        )
        metadata.frames_indices = self.sample_frames(metadata, fps=fps, max_frames=max_frames)
        if len(metadata.frames_indices) != len(frames):
            raise RuntimeError(f"{path}: decoded {len(frames)} frames for {len(metadata.frames_indices)} indices.")
        return frames, metadata

    def _load_frames(self, frames: np.ndarray, metadata, fps: float, max_frames: int, do_sample_frames: bool):
        """Decoded uint8 (T, H, W, 3) frames (from `flatten_videos`), sampled by the rule; (frames, metadata)."""
        native_fps = fps
        if metadata is not None:
            metadata = metadata if isinstance(metadata, dict) else dict(metadata.items())
            native_fps = metadata.get("fps") or fps
        metadata = VideoMetadata(
            total_num_frames=len(frames),
            fps=float(native_fps),
            width=frames.shape[2],
            height=frames.shape[1],
            duration=len(frames) / native_fps,
        )
        indices = np.arange(len(frames))
        if do_sample_frames:
            indices = self.sample_frames(metadata, fps=fps, max_frames=max_frames)
            frames = frames[indices]
        metadata.frames_indices = indices
        return frames, metadata

    # ------------------------------------------------------------------ pixels
    def _frames_to_pixels(
        self, frames, size, resample, do_resize, do_rescale, rescale_factor, do_normalize, image_mean, image_std
    ) -> np.ndarray:
        """SigLIP's PIL/numpy image path frame by frame: uint8 (T, H, W, 3) -> float32 (T, 3, S, S)."""
        height, width = (size.height, size.width) if do_resize else frames.shape[1:3]
        out = np.empty((len(frames), 3, height, width), dtype=np.float32)
        for i, frame in enumerate(frames):
            if do_resize:
                frame = resize(
                    frame,
                    (height, width),
                    resample=resample,
                    input_data_format=ChannelDimension.LAST,
                    data_format=ChannelDimension.LAST,
                )
            frame = np.moveaxis(frame, -1, 0)
            if do_rescale:
                frame = rescale(frame, rescale_factor, input_data_format=ChannelDimension.FIRST)
            if do_normalize:
                frame = normalize(frame, image_mean, image_std, input_data_format=ChannelDimension.FIRST)
            out[i] = frame
        return out

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs):
        """Save `video_preprocessor_config.json` with an `auto_map` entry and the shim file that imports the installed
        package (`AutoVideoProcessor.from_pretrained(folder, trust_remote_code=True)` works without importing it)."""
        self.auto_map = {"AutoVideoProcessor": AUTO_MAP["AutoVideoProcessor"]}
        write_shims(str(save_directory), ("video_processing_mambamia.py",))
        return super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)

    # ------------------------------------------------------------------ call
    def preprocess(self, videos, **kwargs) -> BatchFeature:
        """Decode / sample / preprocess `videos` (see the class docstring); keyword arguments override the defaults.

        Returns:
            [`BatchFeature`]: `pixel_values_videos`, `video_frame_mask`, `video_timestamps` and, with
            `return_metadata=True`, `video_metadata` (one transformers `VideoMetadata` per video).
        """
        unknown = sorted(set(kwargs) - set(self.valid_kwargs.__annotations__))
        if unknown:
            raise ValueError(
                f"MambaMiaVideoProcessor got unknown keyword argument(s) {unknown}; it takes "
                f"{sorted(self.valid_kwargs.__annotations__)}."
            )
        if kwargs.get("num_frames") is not None:
            raise ValueError(
                "MambaMiaVideoProcessor samples n = min(ceil(duration * fps), max_frames) frames: pass max_frames "
                "(and fps), not num_frames."
            )
        options = self._merge_and_standardize_kwargs(**kwargs)
        self._validate_preprocess_kwargs(**options)
        for option in ("do_center_crop", "do_pad"):
            if options.get(option):
                raise ValueError(f"MambaMiaVideoProcessor does not support {option}=True (frames are resized).")
        fps, max_frames = options["fps"], options["max_frames"]
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
            raise ValueError(f"fps must be a number > 0 (frames per second to sample), got {fps!r}.")

        video_list = flatten_videos(videos, options["do_convert_rgb"])
        metadata_list = _metadata_list(options["video_metadata"], len(video_list))
        pixel_values, metadata_out = [], []
        for video, metadata in zip(video_list, metadata_list):
            if isinstance(video, str):
                if not options["do_sample_frames"]:
                    raise ValueError(f"{video}: a video file is always sampled (do_sample_frames=False needs frames).")
                frames, metadata = self._load_file(video, fps, max_frames, options["video_backend"])
            else:
                frames, metadata = self._load_frames(video, metadata, fps, max_frames, options["do_sample_frames"])
            pixel_values.append(
                self._frames_to_pixels(
                    frames,
                    options["size"],
                    options["resample"],
                    options["do_resize"],
                    options["do_rescale"],
                    options["rescale_factor"],
                    options["do_normalize"],
                    options["image_mean"],
                    options["image_std"],
                )
            )
            metadata_out.append(metadata)
            del frames

        lengths = [len(p) for p in pixel_values]
        if len(pixel_values) == 1:
            batch = pixel_values[0][None]  # no copy of the (possibly 384-frame) pixel array
        else:
            shapes = {p.shape[1:] for p in pixel_values}
            if len(shapes) > 1:
                raise ValueError(f"Videos of one batch must have one frame size after resizing, got {sorted(shapes)}.")
            batch = np.zeros((len(pixel_values), max(lengths), *pixel_values[0].shape[1:]), dtype=np.float32)
            for i, pixels in enumerate(pixel_values):
                batch[i, : len(pixels)] = pixels
        del pixel_values
        frame_mask = np.zeros((len(lengths), max(lengths)), dtype=np.int64)
        for i, n in enumerate(lengths):
            frame_mask[i, :n] = 1
        data = {
            "pixel_values_videos": batch,
            "video_frame_mask": frame_mask,
            "video_timestamps": [[float(t) for t in metadata.timestamps] for metadata in metadata_out],
        }
        if options["return_metadata"]:
            data["video_metadata"] = metadata_out
        return BatchFeature(
            data, tensor_type=options["return_tensors"], skip_tensor_conversion=["video_timestamps", "video_metadata"]
        )


def flatten_videos(videos, do_convert_rgb: bool = True) -> list:
    """A video or a batch of videos (nested lists too, as `apply_chat_template` passes one list per conversation,
    empty for a conversation without video) -> a flat list of videos: paths as `str`, decoded frames as checked
    uint8 `(T, H, W, 3)` arrays (a list of frames stacked, PIL images converted to RGB with `do_convert_rgb`).

    Args:
        videos: a path, a `(T, H, W, 3)` array / tensor, a `(B, T, H, W, 3)` batch, a list of frames, or lists of
            those.
        do_convert_rgb (`bool`, defaults to True): convert PIL frames to RGB.

    Returns:
        `list`: one entry per video, in order.
    """
    if hasattr(videos, "detach") and hasattr(videos, "numpy"):  # torch tensor
        videos = videos.detach().cpu().numpy()
    if isinstance(videos, (str, os.PathLike)):
        return [os.fspath(videos)]
    if isinstance(videos, np.ndarray):
        return [_frames_array(video, do_convert_rgb) for video in (videos if videos.ndim == 5 else [videos])]
    if isinstance(videos, (list, tuple)):
        if len(videos) == 0:
            raise ValueError("Got an empty list of videos.")
        if all(_is_frame(item) for item in videos):
            return [_frames_array(videos, do_convert_rgb)]  # one video as a list of frames
        flat = []
        for item in videos:
            if not (isinstance(item, (list, tuple)) and len(item) == 0):  # a conversation without video
                flat.extend(flatten_videos(item, do_convert_rgb))
        return flat
    if videos is None:
        raise ValueError("A video is None: give a path to a video file or decoded frames.")
    raise ValueError(
        f"Unsupported video input of type {type(videos).__name__}: give a path, a (T, H, W, 3) uint8 array or a "
        "list of frames."
    )


def _is_frame(item) -> bool:
    """A PIL image or an (H, W, C) array / tensor (one frame of a video given as a list of frames)."""
    if hasattr(item, "convert") and hasattr(item, "size") and not isinstance(item, np.ndarray):
        return True
    return hasattr(item, "ndim") and item.ndim == 3 and hasattr(item, "shape")


def _frames_array(video, do_convert_rgb: bool) -> np.ndarray:
    """A video of decoded frames -> uint8 (T, H, W, 3), with clear errors for anything else."""
    if isinstance(video, (list, tuple)):
        if len(video) == 0:
            raise ValueError("The video is shorter than one frame (it has no frames).")
        frames = []
        for frame in video:
            if hasattr(frame, "convert") and not isinstance(frame, np.ndarray):  # PIL
                frame = frame.convert("RGB") if do_convert_rgb else frame
            elif hasattr(frame, "detach"):
                frame = frame.detach().cpu().numpy()
            frames.append(np.asarray(frame))
        sizes = {f.shape for f in frames}
        if len(sizes) > 1:
            raise ValueError(f"All frames of a video must have one size, got frames of shapes {sorted(sizes)}.")
        video = np.stack(frames)
    video = np.asarray(video)
    if video.ndim == 4 and video.shape[0] == 0:
        raise ValueError("The video is shorter than one frame (it has no frames).")
    if video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"Frames must be (num_frames, height, width, 3) RGB, got shape {video.shape}.")
    if video.shape[1] == 0 or video.shape[2] == 0:
        raise ValueError(f"Frames must be at least 1x1 pixels, got shape {video.shape}.")
    if video.dtype != np.uint8:
        raise ValueError(
            f"Frames must be uint8 RGB (0..255), got dtype {video.dtype}; convert float frames in [0, 1] with "
            "(frames * 255).round().astype(np.uint8)."
        )
    return video


def _metadata_list(video_metadata, num_videos: int) -> list:
    """`video_metadata` (None, one dict / VideoMetadata, or one per video) -> one entry per video."""
    if video_metadata is None:
        return [None] * num_videos
    if isinstance(video_metadata, (dict, VideoMetadata)):
        video_metadata = [video_metadata]
    if len(video_metadata) != num_videos:
        raise ValueError(f"Got {len(video_metadata)} video_metadata entries for {num_videos} videos (one per video).")
    return list(video_metadata)


__all__ = ["MambaMiaVideoProcessor", "flatten_videos"]
