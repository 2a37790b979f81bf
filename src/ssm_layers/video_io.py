# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""The project's one video-decoding module: stream a video file and keep only the sampled frames.

Both models read videos through this module (no torchvision). It decodes with PyAV or decord (an optional extra)
and never holds more than what the caller keeps: chunks of `chunk_size` frames on the grounding clock, at most
`max_frames` frames for uniform sampling, whatever the file's length. With PyAV every frame is decoded (a codec
cannot skip frames) but only the frames on screen at a sampling instant are converted to arrays; decord is asked
for the kept frame indices only, at most `chunk_size` at a time.

Two sampling rules, both exact:

* the grounding clock (HieraMamba): t_k = k / fps for every k with t_k < duration; keep the native frame on screen
  at t_k, i.e. native index floor(t_k * native_fps) (with PyAV: the decoded frame whose display interval holds t_k,
  the count exact once decoded, since container headers can lie);
* uniform sampling (MambaMia): n = min(ceil(duration * fps), max_frames, num_frames) instants
  linspace(0, duration, n, endpoint=False), each mapped to the nearest native frame round(t * native_fps).

    reader = open_video("movie.mp4")                      # probes; clear errors for bad files
    reader.metadata                                       # VideoMetadata(path, backend, native_fps, num_frames, ...)
    for chunk in reader.iter_clock_frames(fps=2.0, chunk_size=16):  # (n, H, W, 3) uint8 arrays, n <= 16
        ...
    frames = reader.read_uniform_frames(fps=1.0, max_frames=64)     # (n, H, W, 3) uint8, n <= 64

Only the standard library and numpy are imported here; `av` and `decord` are imported when a file is read.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np


__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "VideoMetadata",
    "VideoReader",
    "available_backends",
    "clock_frame_indices",
    "evenly_spaced_frames",
    "num_clock_frames",
    "open_video",
    "sample_frame_array",
    "uniform_frame_indices",
]

BACKENDS = ("pyav", "decord")
# Chosen by measurement (benchmarks/long_video_memory.py, 10- and 60-minute 320x240 files, 2-core CPU): PyAV peaks
# lower in every case and its memory does not grow with the file (decord's rise on the 2 fps clock: 68 MB for
# 10 minutes, 148 MB for 60; PyAV 30 and 33 MB), and it decodes the 60-minute clock in half decord's CPU time
# (16.6 vs 31.5 s). decord is faster only for sparse uniform sampling of long files (64 frames of 60 minutes:
# 3.1 vs 14.6 CPU s: it seeks to keyframes, PyAV decodes every frame); pass backend="decord" there.
DEFAULT_BACKEND = "pyav"
_MODULES = {"pyav": "av", "decord": "decord"}
_EPS = 1e-6


# ---------------------------------------------------------------------------------------------- sampling rules
def available_backends() -> tuple[str, ...]:
    """Installed decoding backends, `DEFAULT_BACKEND` first.

    Returns:
        `tuple[str, ...]`: a subset of `BACKENDS`.
    """
    installed = []
    for name in sorted(BACKENDS, key=lambda name: name != DEFAULT_BACKEND):
        try:
            __import__(_MODULES[name])
        except ImportError:
            continue
        installed.append(name)
    return tuple(installed)


def _check_positive(name: str, value: float):
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}.")


def _check_count(name: str, value: int):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")


def num_clock_frames(duration: float, fps: float) -> int:
    """Number of clock instants k / fps inside [0, duration).

    Args:
        duration (`float`): video length in seconds.
        fps (`float`): sampling rate of the clock.

    Returns:
        `int`: ceil(duration * fps) (up to a 1e-6 tolerance), at least 0.
    """
    _check_positive("sampling fps", fps)
    return max(0, math.ceil(duration * fps - _EPS))


def clock_frame_indices(num_frames: int, native_fps: float, fps: float) -> np.ndarray:
    """Native frame on screen at each clock instant: floor((k / fps) * native_fps) for k / fps < duration.

    Args:
        num_frames (`int`): native frames of the video (duration = num_frames / native_fps).
        native_fps (`float`): the video's frame rate.
        fps (`float`): sampling rate of the clock.

    Returns:
        `np.ndarray`: int64 native indices, non-decreasing (a frame repeats when fps > native_fps).
    """
    _check_positive("video fps", native_fps)
    count = num_clock_frames(num_frames / native_fps, fps)
    times = np.arange(count, dtype=np.float64) / fps
    return np.minimum(np.floor(times * native_fps + _EPS).astype(np.int64), num_frames - 1)


def uniform_frame_indices(num_frames: int, native_fps: float, fps: float, max_frames: int) -> np.ndarray:
    """MambaMia's rule: n = min(ceil(duration * fps), max_frames, num_frames) instants linspace(0, duration, n,
    endpoint=False), each mapped to the nearest native frame round(t * native_fps) (clipped to the video).

    Capping n at the number of frames means a rate above the video's own never repeats a frame.

    Args:
        num_frames (`int`): native frames of the video (duration = num_frames / native_fps).
        native_fps (`float`): the video's frame rate.
        fps (`float`): sampling rate cap.
        max_frames (`int`): frame budget.

    Returns:
        `np.ndarray`: n strictly increasing int64 native indices.
    """
    _check_positive("sampling fps", fps)
    _check_positive("video fps", native_fps)
    _check_count("max_frames", max_frames)
    if num_frames < 1:
        raise ValueError("The video has no frames (it is shorter than one frame).")
    duration = num_frames / native_fps
    n = max(1, min(math.ceil(duration * fps), max_frames, num_frames))
    timestamps = np.linspace(0.0, duration, n, endpoint=False)
    return np.clip(np.round(timestamps * native_fps).astype(np.int64), 0, num_frames - 1)


def sample_frame_array(frames, fps: float, native_fps: float | None = None) -> np.ndarray:
    """Resample a decoded frame array taken at `native_fps` onto the `fps` clock (see `clock_frame_indices`).

    Args:
        frames (`np.ndarray`): `(N, H, W, 3)` uint8 RGB frames.
        fps (`float`): sampling rate of the clock.
        native_fps (`float`, *optional*): rate of `frames`; None means they are already on the clock.

    Returns:
        `np.ndarray`: `frames` itself when already on the clock, else the frames at the clock's instants.
    """
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
    return frames[clock_frame_indices(frames.shape[0], native_fps, fps)]


def evenly_spaced_frames(frames: Sequence, max_frames: int) -> Sequence:
    """At most `max_frames` evenly spaced frames of an in-memory video: indices floor(i * N / max_frames).

    Args:
        frames (`np.ndarray` or `list`): the N frames (an array indexed on its first axis, or a list).
        max_frames (`int`): frame budget.

    Returns:
        `frames` itself when N <= max_frames, else the selected frames (same container type).
    """
    _check_count("max_frames", max_frames)
    if len(frames) <= max_frames:
        return frames
    indices = np.linspace(0, len(frames), max_frames, endpoint=False).astype(np.int64)
    return frames[indices] if isinstance(frames, np.ndarray) else [frames[i] for i in indices]


# ---------------------------------------------------------------------------------------------- reading files
@dataclass
class VideoMetadata:
    """What probing a video file tells (like transformers' `VideoMetadata`).

    Attributes:
        path (`str`): the file.
        backend (`str`): "pyav" or "decord", the backend that reads it.
        native_fps (`float`): the video's average frame rate.
        num_frames (`int` or None): native frame count; None when the container does not say (PyAV sets it after a
            full decode).
        duration (`float`): seconds; from the header until a full PyAV decode makes it exact.
        height (`int`), width (`int`): frame size in pixels.
    """

    path: str
    backend: str
    native_fps: float
    num_frames: int | None
    duration: float
    height: int
    width: int


class _NoFrames(Exception):
    pass


def _backend_errors(backend: str) -> tuple[type[Exception], ...]:
    """The exception base class a backend raises for files it cannot read."""
    if backend == "decord":
        import decord

        return (decord.DECORDError,)
    import av

    return (av.FFmpegError,)


def open_video(path: str | os.PathLike, backend: str | None = None) -> VideoReader:
    """Open and probe a video file.

    Args:
        path (`str` or `os.PathLike`): the video file.
        backend (`str`, *optional*): "pyav" or "decord"; None uses `DEFAULT_BACKEND` (the other installed backend
            when the default one is missing or cannot open the file: both stream with bounded memory).

    Returns:
        `VideoReader`: the reader, its `metadata` filled.

    Raises:
        FileNotFoundError: the path does not exist.
        ImportError: the named backend (or, with None, every backend) is not installed.
        ValueError: a bad backend name; a directory, an empty file, a file that is not a readable video, a file
            without a video stream or without frames (the message names the file).
    """
    return VideoReader(path, backend)


class VideoReader:
    """A video file, probed, read with bounded memory (see the module docstring). Build it with `open_video`.

    Args:
        path (`str` or `os.PathLike`): the video file.
        backend (`str`, *optional*): "pyav", "decord" or None (see `open_video`).
    """

    def __init__(self, path: str | os.PathLike, backend: str | None = None):
        self.path = os.fspath(path)
        if backend is not None and backend not in BACKENDS:
            raise ValueError(f"backend must be 'pyav', 'decord' or None, got {backend!r}.")
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"video file not found: {self.path}")
        if os.path.isdir(self.path):
            raise ValueError(f"expected a video file, got a directory: {self.path}")
        if os.path.getsize(self.path) == 0:
            raise ValueError(f"{self.path} is empty (0 bytes): not a video file.")
        installed = available_backends()
        if backend is not None and backend not in installed:
            raise ImportError(f"the {backend!r} video backend is not installed (installed: {installed}).")
        if not installed:
            raise ImportError("reading video files needs PyAV or decord (pip install av).")
        errors = {}
        for name in [backend] if backend is not None else installed:
            try:
                self.metadata = self._probe_decord() if name == "decord" else self._probe_pyav()
                break
            except _NoFrames as error:  # a readable file without frames: no point trying another backend
                raise ValueError(
                    f"{self.path} contains no video frames: the video is shorter than one frame ({error})."
                ) from None
            except (*_backend_errors(name), OSError, RuntimeError, ValueError, IndexError) as error:
                errors[name] = f"{type(error).__name__}: {str(error).strip()[:200]}"
        else:
            details = "; ".join(f"{name}: {error}" for name, error in errors.items())
            raise ValueError(f"Cannot decode {self.path}: not a readable video file ({details}).")

    @property
    def backend(self) -> str:
        """The backend reading the file ("pyav" or "decord")."""
        return self.metadata.backend

    def __repr__(self) -> str:
        return f"VideoReader({self.metadata})"

    # ------------------------------------------------------------------ probing
    def _probe_decord(self) -> VideoMetadata:
        import decord

        reader = decord.VideoReader(self.path, ctx=decord.cpu(0), num_threads=1)
        num_frames = len(reader)
        if num_frames == 0:
            raise _NoFrames("decord found 0 frames")
        native_fps = float(reader.get_avg_fps())
        if not native_fps > 0:
            raise ValueError("decord reports no frame rate")
        height, width = reader[0].shape[:2]
        return VideoMetadata(
            self.path, "decord", native_fps, num_frames, num_frames / native_fps, int(height), int(width)
        )

    def _probe_pyav(self) -> VideoMetadata:
        import av

        with av.open(self.path) as container:
            if not container.streams.video:
                raise _NoFrames("no video stream")
            stream = container.streams.video[0]
            native_fps = float(stream.average_rate or stream.guessed_rate or 0)
            if not native_fps > 0:
                raise ValueError("PyAV reports no frame rate")
            num_frames = int(stream.frames) or None
            if num_frames is not None:
                duration = num_frames / native_fps
            elif stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1e6
            else:
                duration = 0.0
            first = next(container.decode(stream), None)
            if first is None:
                raise _NoFrames("PyAV decoded 0 frames")
            return VideoMetadata(self.path, "pyav", native_fps, num_frames, duration, first.height, first.width)

    # ------------------------------------------------------------------ the grounding clock
    def num_clock_frames(self, fps: float) -> int:
        """Expected number of clock frames at `fps`: exact with decord, from the container's header with PyAV
        until a full decode (`iter_clock_frames`) has made `metadata.duration` exact.

        Args:
            fps (`float`): sampling rate of the clock.

        Returns:
            `int`: ceil(duration * fps).
        """
        return num_clock_frames(self.metadata.duration, fps)

    def iter_clock_frames(self, fps: float, chunk_size: int = 64) -> Iterator[np.ndarray]:
        """The frames on screen at t_k = k / fps for every t_k < duration, in time order, in chunks.

        Args:
            fps (`float`): sampling rate of the clock.
            chunk_size (`int`, defaults to 64): frames per chunk (the most this reader holds at once).

        Returns:
            `Iterator[np.ndarray]`: `(n, H, W, 3)` uint8 RGB chunks, n <= chunk_size (only the last one shorter).
        """
        _check_positive("sampling fps", fps)
        _check_count("chunk_size", chunk_size)
        if self.backend == "decord":
            indices = clock_frame_indices(self.metadata.num_frames, self.metadata.native_fps, fps)
            return self._decord_chunks(indices, chunk_size)
        return self._pyav_chunks(self._pyav_clock_copies(fps), chunk_size)

    # ------------------------------------------------------------------ uniform sampling
    def read_uniform_frames(self, fps: float, max_frames: int) -> np.ndarray:
        """MambaMia's frames: `uniform_frame_indices(num_frames, native_fps, fps, max_frames)` of the file.

        With PyAV a file whose header gives no frame count is demuxed (not decoded) once to count its frames; when
        the decoded count differs from that estimate and changes the indices, the file is decoded once more with
        the exact ones.

        Args:
            fps (`float`): sampling rate cap.
            max_frames (`int`): frame budget.

        Returns:
            `np.ndarray`: `(n, H, W, 3)` uint8 RGB frames, n <= max_frames.
        """
        _check_positive("sampling fps", fps)
        _check_count("max_frames", max_frames)
        native_fps = self.metadata.native_fps
        if self.backend == "decord":
            indices = uniform_frame_indices(self.metadata.num_frames, native_fps, fps, max_frames)
            return self._collect(self._decord_chunks(indices), len(indices))
        estimate = self.metadata.num_frames or self._pyav_count_packets()
        indices = uniform_frame_indices(estimate, native_fps, fps, max_frames) if estimate else np.zeros(1, np.int64)
        frames = self._collect(self._pyav_chunks(self._pyav_index_copies(indices)), len(indices))
        exact = uniform_frame_indices(self.metadata.num_frames, native_fps, fps, max_frames)
        if not np.array_equal(exact, indices):
            del frames
            frames = self._collect(self._pyav_chunks(self._pyav_index_copies(exact)), len(exact))
        return frames

    @staticmethod
    def _collect(chunks: Iterator[np.ndarray], count: int) -> np.ndarray:
        """Copy up to `count` frames from `chunks` into one array (never holding the chunks and the result twice)."""
        out, filled = None, 0
        for chunk in chunks:
            if out is None:
                out = np.empty((count, *chunk.shape[1:]), dtype=chunk.dtype)
            out[filled : filled + len(chunk)] = chunk
            filled += len(chunk)
        return out[:filled]

    # ------------------------------------------------------------------ decord
    def _decord_chunks(self, indices: np.ndarray, chunk_size: int = 64) -> Iterator[np.ndarray]:
        """decord decodes only what `indices` need, asked for at most `chunk_size` indices at a time."""
        import decord

        reader = decord.VideoReader(self.path, ctx=decord.cpu(0), num_threads=1)
        for start in range(0, len(indices), chunk_size):
            yield reader.get_batch(indices[start : start + chunk_size].tolist()).asnumpy()

    # ------------------------------------------------------------------ PyAV
    def _pyav_count_packets(self) -> int:
        """Video packets of the file (one per frame for the usual codecs), read without decoding."""
        import av

        with av.open(self.path) as container:
            stream = container.streams.video[0]
            return sum(1 for packet in container.demux(stream) if packet.size)

    def _pyav_frames(self) -> Iterator[tuple]:
        """Each decoded frame as (index, frame, shown_until): the time (from the first frame) until which it is on
        screen. Sets `metadata.num_frames` and the exact `metadata.duration` at the end."""
        import av

        native_fps = self.metadata.native_fps
        previous, origin, last_time, index = None, None, None, -1
        with av.open(self.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for index, frame in enumerate(container.decode(stream)):
                time = frame.time if frame.time is not None else index / native_fps
                if origin is None:
                    origin = time
                time -= origin
                if previous is not None:
                    yield index - 1, previous, time  # the previous frame is shown until this one starts
                previous, last_time = frame, time
            if previous is None:
                raise ValueError(f"{self.path} contains no video frames: the video is shorter than one frame.")
            end = last_time + 1.0 / native_fps
            yield index, previous, end
        self.metadata.num_frames, self.metadata.duration = index + 1, end  # exact now

    def _pyav_clock_copies(self, fps: float) -> Iterator[tuple]:
        """(frame, copies): how many clock instants k / fps fall in each frame's display interval."""
        k = 0
        for _, frame, shown_until in self._pyav_frames():
            copies = 0
            while k / fps + _EPS < shown_until:
                copies, k = copies + 1, k + 1
            yield frame, copies

    def _pyav_index_copies(self, indices: np.ndarray) -> Iterator[tuple]:
        """(frame, copies): how many times each decoded frame's index appears in `indices`."""
        counts = np.bincount(indices)
        for index, frame, _ in self._pyav_frames():
            yield frame, int(counts[index]) if index < len(counts) else 0

    @staticmethod
    def _pyav_chunks(copies: Iterator[tuple], chunk_size: int = 64) -> Iterator[np.ndarray]:
        """Convert only the frames kept at least once (`frame.to_ndarray`), in chunks of `chunk_size` frames."""
        chunk = []
        for frame, count in copies:
            if count:
                array = frame.to_ndarray(format="rgb24")
                for _ in range(count):
                    chunk.append(array)
                    if len(chunk) == chunk_size:
                        yield np.stack(chunk)
                        chunk = []
        if chunk:
            yield np.stack(chunk)
