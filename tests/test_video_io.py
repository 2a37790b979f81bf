# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""ssm_layers.video_io: both sampling rules agree with hand-computed frames on both backends, decoding streams and
keeps only the sampled frames (counted, not timed), and bad inputs give clear errors."""

import subprocess
import sys

import numpy as np
import pytest
from conftest import write_mp4

from ssm_layers import video_io
from ssm_layers.video_io import (
    VideoReader,
    available_backends,
    clock_frame_indices,
    evenly_spaced_frames,
    num_clock_frames,
    open_video,
    sample_frame_array,
    uniform_frame_indices,
)


# PyAV is a hard dependency: its tests never skip. decord is an optional extra.
needs_decord = pytest.mark.skipif("decord" not in available_backends(), reason="decord (optional extra) not installed")
BACKENDS = ["pyav", pytest.param("decord", marks=needs_decord)]


def grey_level(i):
    return (i * 9) % 250


def write_video(path, num_frames, fps, size=32):
    """Frame i is a uniform grey of level grey_level(i) (survives H.264 within a few levels)."""
    frames = np.stack([np.full((size, size, 3), grey_level(i), np.uint8) for i in range(num_frames)])
    return write_mp4(path, frames, fps, crf=10)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    empty = write_mp4(root / "zero_frames.mp4", np.zeros((0, 32, 32, 3), np.uint8), fps=2)
    (root / "not_a_video.mp4").write_text("this is text, not a video")
    (root / "empty.mp4").write_bytes(b"")
    return {
        "clock": write_video(root / "clock.mp4", 11, fps=2),  # native rate == clock rate
        "fast": write_video(root / "fast.mp4", 45, fps=30),  # 1.5 s at 30 fps
        "long": write_video(root / "long.mp4", 300, fps=30),  # 10 s: many more frames than are kept
        "zero": empty,
        "text": str(root / "not_a_video.mp4"),
        "empty": str(root / "empty.mp4"),
        "root": root,
    }


def levels(frames):
    frames = np.concatenate(list(frames)) if not isinstance(frames, np.ndarray) else frames
    return frames.reshape(len(frames), -1).mean(1), frames


# ---------------------------------------------------------------------------------------------- pure rules
def test_clock_rule_by_hand():
    # 45 frames at 30 fps = 1.5 s; clock 4 fps -> instants 0, .25, .5, .75, 1, 1.25 -> floor(t * 30)
    assert clock_frame_indices(45, 30.0, 4.0).tolist() == [0, 7, 15, 22, 30, 37]
    assert clock_frame_indices(11, 2.0, 2.0).tolist() == list(range(11))  # native rate == clock: every frame once
    assert clock_frame_indices(3, 2.0, 4.0).tolist() == [0, 0, 1, 1, 2, 2]  # a faster clock repeats frames
    assert num_clock_frames(1.5, 4.0) == 6 and num_clock_frames(1.49, 4.0) == 6 and num_clock_frames(1.5, 2) == 3


def _old_sample_frame_indices(num_frames, native_fps, fps, max_frames):
    """The rule mambamia_hf.processing_mambamia.sample_frame_indices applied, restated in plain Python."""
    duration = num_frames / native_fps
    n = max(1, min(-int(-duration * fps // 1), max_frames, num_frames))
    return [min(max(int(np.round(i * (duration / n) * native_fps)), 0), num_frames - 1) for i in range(n)]


def test_uniform_rule_by_hand_and_as_before():
    # 45 frames at 30 fps, 4 fps: n = 6, instants 0, .25, ..., 1.25 -> round(t * 30) (halves to even: 7.5 -> 8)
    assert uniform_frame_indices(45, 30.0, 4.0, 384).tolist() == [0, 8, 15, 22, 30, 38]
    # budget of 4 -> instants 0, .375, .75, 1.125 -> 0, 11.25, 22.5, 33.75
    assert uniform_frame_indices(45, 30.0, 4.0, 4).tolist() == [0, 11, 22, 34]
    assert uniform_frame_indices(300, 30.0, 1.0, 4).tolist() == [0, 75, 150, 225]
    assert uniform_frame_indices(12, 4.0, 1000.0, 10**6).tolist() == list(range(12))  # never repeats a frame
    assert uniform_frame_indices(15, 30.0, 1.0, 384).tolist() == [0]  # 0.5 s at 1 fps: still one frame
    for num_frames in (1, 2, 7, 45, 301, 1800):
        for native_fps in (2.0, 24.0, 29.97, 30.0):
            for fps in (0.5, 1.0, 2.0, 7.0):
                for max_frames in (1, 4, 64, 384):
                    expected = _old_sample_frame_indices(num_frames, native_fps, fps, max_frames)
                    assert uniform_frame_indices(num_frames, native_fps, fps, max_frames).tolist() == expected
    with pytest.raises(ValueError, match="shorter than one frame"):
        uniform_frame_indices(0, 30.0, 1.0, 384)
    with pytest.raises(ValueError, match="max_frames must be an integer >= 1"):
        uniform_frame_indices(10, 30.0, 1.0, 0)


def test_evenly_spaced_frames_of_an_in_memory_video():
    frames = np.arange(10, dtype=np.uint8)[:, None, None, None].repeat(3, -1)
    assert evenly_spaced_frames(frames, 4)[:, 0, 0, 0].tolist() == [0, 2, 5, 7]  # floor(i * 10 / 4)
    assert evenly_spaced_frames(list(range(10)), 4) == [0, 2, 5, 7]
    assert evenly_spaced_frames(frames, 10) is frames
    with pytest.raises(ValueError, match="max_frames"):
        evenly_spaced_frames(frames, 0)


def test_frame_array_resampling_by_hand():
    frames = np.arange(10, dtype=np.uint8)[:, None, None, None].repeat(3, -1).repeat(4, 1).repeat(4, 2)
    assert sample_frame_array(frames, fps=2.0) is frames  # already on the clock
    out = sample_frame_array(frames, fps=2.0, native_fps=5.0)  # 2 s -> instants 0, .5, 1, 1.5 -> frames 0, 2, 5, 7
    assert out[:, 0, 0, 0].tolist() == [0, 2, 5, 7]
    expected = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9]
    assert sample_frame_array(frames, fps=4.0, native_fps=2.0)[:, 0, 0, 0].tolist() == expected
    with pytest.raises(ValueError, match="zero frames"):
        sample_frame_array(frames[:0], fps=2.0)
    with pytest.raises(ValueError, match="uint8"):
        sample_frame_array(frames.astype(np.float32), fps=2.0)
    with pytest.raises(ValueError, match=r"\(num_frames, height, width, 3\)"):
        sample_frame_array(frames[..., :2], fps=2.0)


# ---------------------------------------------------------------------------------------------- files
@pytest.mark.parametrize("backend", BACKENDS)
def test_native_rate_equal_to_clock_takes_every_frame_in_chunks(videos, backend):
    reader = open_video(videos["clock"], backend=backend)
    assert reader.backend == backend
    metadata = reader.metadata
    assert (metadata.native_fps, metadata.num_frames, metadata.duration) == (2.0, 11, 5.5)
    assert (metadata.height, metadata.width) == (32, 32)
    chunks = list(reader.iter_clock_frames(fps=2.0, chunk_size=4))
    assert [len(c) for c in chunks] == [4, 4, 3]  # streamed, never more than chunk_size frames at once
    means, frames = levels(chunks)
    assert frames.dtype == np.uint8 and frames.shape == (11, 32, 32, 3)
    np.testing.assert_allclose(means, [grey_level(i) for i in range(11)], atol=3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_resampling_a_faster_video_follows_the_clock_rule_by_hand(videos, backend):
    reader = open_video(videos["fast"], backend=backend)
    assert reader.num_clock_frames(4.0) == 6
    means, _ = levels(reader.iter_clock_frames(fps=4.0, chunk_size=5))
    np.testing.assert_allclose(means, [grey_level(i) for i in (0, 7, 15, 22, 30, 37)], atol=3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_uniform_frames_follow_the_rule_by_hand(videos, backend):
    reader = open_video(videos["fast"], backend=backend)
    means, frames = levels(reader.read_uniform_frames(fps=4.0, max_frames=384))
    assert frames.shape == (6, 32, 32, 3) and frames.dtype == np.uint8
    np.testing.assert_allclose(means, [grey_level(i) for i in (0, 8, 15, 22, 30, 38)], atol=3)
    means, _ = levels(reader.read_uniform_frames(fps=4.0, max_frames=4))
    np.testing.assert_allclose(means, [grey_level(i) for i in (0, 11, 22, 34)], atol=3)


def test_pyav_uniform_frames_are_exact_when_the_header_count_is_wrong_or_missing(videos):
    for header_count in (None, 40, 50):
        reader = open_video(videos["fast"], backend="pyav")
        reader.metadata.num_frames = header_count  # None: counted from the packets; else a lying header
        means, _ = levels(reader.read_uniform_frames(fps=4.0, max_frames=4))
        np.testing.assert_allclose(means, [grey_level(i) for i in (0, 11, 22, 34)], atol=3)
        assert reader.metadata.num_frames == 45


def test_backends_agree(videos):
    if "decord" not in available_backends():
        pytest.skip("needs decord (optional extra) and PyAV")
    for path, fps in ((videos["clock"], 2.0), (videos["fast"], 3.0)):
        a = np.concatenate(list(open_video(path, backend="decord").iter_clock_frames(fps, chunk_size=3)))
        b = np.concatenate(list(open_video(path, backend="pyav").iter_clock_frames(fps, chunk_size=3)))
        assert a.shape == b.shape
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 2
        a = open_video(path, backend="decord").read_uniform_frames(fps, max_frames=5)
        b = open_video(path, backend="pyav").read_uniform_frames(fps, max_frames=5)
        assert a.shape == b.shape
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 2


# ---------------------------------------------------------------------------------------------- bounded memory
def test_pyav_converts_only_the_kept_frames(videos, monkeypatch):
    conversions = []

    class CountingFrame:
        def __init__(self, frame):
            self.frame = frame

        def to_ndarray(self, **kwargs):
            conversions.append(1)
            return self.frame.to_ndarray(**kwargs)

    decoded = VideoReader._pyav_frames
    monkeypatch.setattr(
        VideoReader, "_pyav_frames", lambda self: ((i, CountingFrame(f), t) for i, f, t in decoded(self))
    )
    reader = open_video(videos["long"], backend="pyav")  # 300 frames
    chunks = list(reader.iter_clock_frames(fps=2.0, chunk_size=16))
    assert [len(c) for c in chunks] == [16, 4] and len(conversions) == 20
    conversions.clear()
    frames = reader.read_uniform_frames(fps=1.0, max_frames=4)
    assert len(frames) == 4 and len(conversions) == 4


@needs_decord
def test_decord_is_asked_only_for_the_kept_frames(videos, monkeypatch):
    import decord

    requests = []

    class SpyReader(decord.VideoReader):
        def get_batch(self, indices):
            requests.append(list(indices))
            return super().get_batch(indices)

    monkeypatch.setattr(decord, "VideoReader", SpyReader)
    reader = open_video(videos["long"], backend="decord")  # 300 frames
    assert sum(len(c) for c in reader.iter_clock_frames(fps=2.0, chunk_size=16)) == 20
    assert [len(r) for r in requests] == [16, 4]
    assert [i for request in requests for i in request] == list(range(0, 300, 15))
    requests.clear()
    assert len(reader.read_uniform_frames(fps=1.0, max_frames=4)) == 4
    assert requests == [[0, 75, 150, 225]]


def test_importing_the_module_imports_no_decoder():
    code = (
        "import sys, ssm_layers; assert 'ssm_layers.video_io' not in sys.modules; "
        "import ssm_layers.video_io; assert not {'av', 'decord'} & set(sys.modules), 'decoder imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------- errors
def test_clear_errors(videos):
    with pytest.raises(FileNotFoundError, match="video file not found"):
        open_video(videos["root"] / "missing.mp4")
    with pytest.raises(ValueError, match="not a readable video file"):
        open_video(videos["text"])
    with pytest.raises(ValueError, match="empty"):
        open_video(videos["empty"])
    with pytest.raises(ValueError, match="no video frames"):
        open_video(videos["zero"])
    with pytest.raises(ValueError, match="directory"):
        open_video(videos["root"])
    with pytest.raises(ValueError, match="backend must be"):
        open_video(videos["clock"], backend="opencv")
    reader = open_video(videos["clock"])
    with pytest.raises(ValueError, match="fps must be > 0"):
        reader.iter_clock_frames(fps=0)
    with pytest.raises(ValueError, match="chunk_size"):
        next(reader.iter_clock_frames(fps=2.0, chunk_size=0))
    with pytest.raises(ValueError, match="fps must be > 0"):
        reader.read_uniform_frames(fps=-1.0, max_frames=4)
    with pytest.raises(ValueError, match="max_frames"):
        reader.read_uniform_frames(fps=1.0, max_frames=0)


def test_errors_name_the_backend(videos, monkeypatch):
    with pytest.raises(ValueError, match=r"not a readable video file \(pyav: "):
        open_video(videos["text"], backend="pyav")
    monkeypatch.setattr(video_io, "available_backends", lambda: ("pyav",))
    with pytest.raises(ImportError, match="'decord' video backend is not installed"):
        open_video(videos["clock"], backend="decord")


@needs_decord
def test_default_backend_falls_back_to_the_other_installed_one(videos, monkeypatch):
    other = next(b for b in available_backends() if b != video_io.DEFAULT_BACKEND)

    def cannot_open(self):
        raise RuntimeError("cannot open")

    monkeypatch.setattr(VideoReader, f"_probe_{video_io.DEFAULT_BACKEND}", cannot_open)
    assert open_video(videos["clock"]).backend == other
    with pytest.raises(ValueError, match=f"{video_io.DEFAULT_BACKEND}: RuntimeError: cannot open"):
        open_video(videos["clock"], backend=video_io.DEFAULT_BACKEND)
