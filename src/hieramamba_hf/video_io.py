"""Streaming video decoding on a feature clock (decord by default, PyAV fallback; no torchvision).

A HieraMamba checkpoint consumes clip features computed on a fixed clock: frames sampled at `fps` frames per
second, a clip every `clip_stride * downsample_rate` sampled frames spanning `clip_size` sampled frames. This module
turns a video file (any native frame rate) or a decoded frame array into the sampled frames, chunk by chunk, so an
hour-long video never holds more than `chunk_size` frames in memory.

Sampling rule (both backends): sampled frame k is shown at t_k = k / fps seconds, for every k with t_k < duration;
it is the native frame on screen at t_k, i.e. native index floor(t_k * native_fps) (first frame at t = 0).
With native_fps == fps every frame is taken once.

    video = SampledVideo("movie.mp4", fps=2.0)      # opens and probes; clear errors for bad files
    video.info                                      # VideoInfo(backend, native_fps, num_frames, duration, ...)
    for chunk in video.chunks(chunk_size=64):       # (n, H, W, 3) uint8 arrays, n <= 64
        ...
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np


__all__ = ["VideoInfo", "SampledVideo", "available_backends", "num_sampled_frames", "sample_frame_array"]

_EPS = 1e-6


def available_backends() -> tuple[str, ...]:
    """Installed decoding backends, in order of preference."""
    backends = []
    for name, module in (("decord", "decord"), ("pyav", "av")):
        try:
            __import__(module)
        except ImportError:
            continue
        backends.append(name)
    return tuple(backends)


def num_sampled_frames(duration: float, fps: float) -> int:
    """Number of sampling instants k / fps that fall inside [0, duration)."""
    if not fps > 0:
        raise ValueError(f"sampling fps must be > 0, got {fps}.")
    return max(0, math.ceil(duration * fps - _EPS))


def _native_indices(num_native: int, native_fps: float, fps: float) -> np.ndarray:
    """Native frame index shown at each sampling instant (floor(t_k * native_fps))."""
    count = num_sampled_frames(num_native / native_fps, fps)
    times = np.arange(count, dtype=np.float64) / fps
    return np.minimum(np.floor(times * native_fps + _EPS).astype(np.int64), num_native - 1)


def sample_frame_array(frames, fps: float, native_fps: float | None = None) -> np.ndarray:
    """Resample a decoded frame array `(N, H, W, 3)` uint8 taken at `native_fps` onto the `fps` clock
    (`native_fps=None`: the frames are already on the clock). Returns a view or a new array."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"a frame array must have shape (num_frames, height, width, 3), got {frames.shape}.")
    if frames.dtype != np.uint8:
        raise ValueError(f"a frame array must be uint8 RGB, got dtype {frames.dtype}.")
    if frames.shape[0] == 0:
        raise ValueError("the frame array has zero frames.")
    if native_fps is None or abs(native_fps - fps) <= _EPS * fps:
        return frames
    if not native_fps > 0:
        raise ValueError(f"video_fps must be > 0, got {native_fps}.")
    return frames[_native_indices(frames.shape[0], native_fps, fps)]


@dataclass
class VideoInfo:
    """What probing a video file tells: backend used, native frame rate, native frame count (None when the
    container does not say), duration in seconds (exact after a full decode with PyAV), frame size."""

    path: str
    backend: str
    native_fps: float
    num_frames: int | None
    duration: float
    height: int
    width: int


class SampledVideo:
    """A video file read on a sampling clock of `fps` frames per second, in chunks (see the module docstring).

    backend: "decord", "pyav" or None (decord when installed and able to open the file, else PyAV).
    Errors: FileNotFoundError for a missing path; ValueError for a file no backend can read as a video, a file
    without a video stream, or a video with zero frames.
    """

    def __init__(self, path: str | os.PathLike, fps: float, backend: str | None = None):
        self.path = os.fspath(path)
        if not fps > 0:
            raise ValueError(f"sampling fps must be > 0, got {fps}.")
        self.fps = float(fps)
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"video file not found: {self.path}")
        if os.path.isdir(self.path):
            raise ValueError(f"expected a video file, got a directory: {self.path}")
        if os.path.getsize(self.path) == 0:
            raise ValueError(f"{self.path} is empty (0 bytes): not a video file.")
        installed = available_backends()
        if backend is not None and backend not in ("decord", "pyav"):
            raise ValueError(f"backend must be 'decord', 'pyav' or None, got {backend!r}.")
        if backend is not None and backend not in installed:
            raise ImportError(f"the {backend!r} video backend is not installed (installed: {installed}).")
        if not installed:
            raise ImportError("reading video files needs decord or PyAV (pip install decord av).")
        candidates = [backend] if backend is not None else list(installed)
        errors = {}
        for name in candidates:
            try:
                self.info = self._probe_decord() if name == "decord" else self._probe_pyav()
                break
            except _NoFrames as error:  # a readable container without frames: no point trying another backend
                raise ValueError(f"{self.path} contains no video frames ({error}).") from None
            except Exception as error:  # noqa: BLE001  (any backend failure -> try the next one)
                errors[name] = f"{type(error).__name__}: {str(error).strip()[:200]}"
        else:
            details = "; ".join(f"{k}: {v}" for k, v in errors.items())
            raise ValueError(f"{self.path} is not a readable video file ({details}).")
        self.backend = self.info.backend

    # ------------------------------------------------------------------ probing
    def _probe_decord(self) -> VideoInfo:
        import decord  # noqa: PLC0415

        reader = decord.VideoReader(self.path, ctx=decord.cpu(0), num_threads=1)
        num = len(reader)
        if num == 0:
            raise _NoFrames("decord found 0 frames")
        native_fps = float(reader.get_avg_fps())
        if not native_fps > 0:
            raise ValueError("decord reports no frame rate")
        height, width = reader[0].shape[:2]
        reader.seek(0)
        del reader
        return VideoInfo(self.path, "decord", native_fps, num, num / native_fps, int(height), int(width))

    def _probe_pyav(self) -> VideoInfo:
        import av  # noqa: PLC0415

        with av.open(self.path) as container:
            if not container.streams.video:
                raise _NoFrames("no video stream")
            stream = container.streams.video[0]
            native_fps = float(stream.average_rate or stream.guessed_rate or 0)
            if not native_fps > 0:
                raise ValueError("PyAV reports no frame rate")
            num = int(stream.frames) or None
            if num is not None:
                duration = num / native_fps
            elif stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1e6
            else:
                duration = 0.0
            first = next(container.decode(stream), None)
            if first is None:
                raise _NoFrames("PyAV decoded 0 frames")
            return VideoInfo(self.path, "pyav", native_fps, num, duration, first.height, first.width)

    @property
    def num_sampled_frames(self) -> int:
        """Expected number of sampled frames (exact for decord; from the container's header for PyAV)."""
        return num_sampled_frames(self.info.duration, self.fps)

    # ------------------------------------------------------------------ decoding
    def chunks(self, chunk_size: int = 64):
        """Yield the sampled frames as `(n, H, W, 3)` uint8 arrays, n <= chunk_size, in time order."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
        if self.backend == "decord":
            yield from self._chunks_decord(chunk_size)
        else:
            yield from self._chunks_pyav(chunk_size)

    def _chunks_decord(self, chunk_size):
        import decord  # noqa: PLC0415

        reader = decord.VideoReader(self.path, ctx=decord.cpu(0), num_threads=1)
        indices = _native_indices(self.info.num_frames, self.info.native_fps, self.fps)
        for lo in range(0, len(indices), chunk_size):
            yield reader.get_batch(indices[lo : lo + chunk_size].tolist()).asnumpy()
        del reader

    def _chunks_pyav(self, chunk_size):
        chunk, k = [], 0
        for frame, shown_until in self._pyav_frames():
            array = None  # converted only if some sampling instant falls inside this frame's display time
            while k / self.fps + _EPS < shown_until:
                if array is None:
                    array = frame.to_ndarray(format="rgb24")
                chunk.append(array)
                k += 1
                if len(chunk) == chunk_size:
                    yield np.stack(chunk)
                    chunk = []
        if chunk:
            yield np.stack(chunk)

    def _pyav_frames(self):
        """Each decoded frame with the time (from the first frame) until which it is shown; sets the exact
        duration at the end."""
        import av  # noqa: PLC0415

        native_fps = self.info.native_fps
        previous, origin, last_time = None, None, None
        with av.open(self.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for index, frame in enumerate(container.decode(stream)):
                time = frame.time if frame.time is not None else index / native_fps
                if origin is None:
                    origin = time
                time -= origin
                if previous is not None:
                    yield previous, time  # the previous frame is shown until this one starts
                previous, last_time = frame, time
            if previous is None:
                raise ValueError(f"{self.path} contains no video frames (PyAV decoded 0 frames).")
            end = last_time + 1.0 / native_fps
            yield previous, end
        self.info.duration = end  # exact now


class _NoFrames(Exception):
    pass
