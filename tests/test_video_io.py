"""Video decoding on the feature clock: decord and PyAV agree with the sampling rule by hand, stream in chunks, and
give clear errors for missing / non-video / zero-frame inputs."""

import numpy as np
import pytest

from conftest import write_mp4
from hieramamba_hf.video_io import SampledVideo, available_backends, num_sampled_frames, sample_frame_array


pytest.importorskip("av")
BACKENDS = [b for b in ("decord", "pyav") if b in available_backends()]


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
        "zero": empty,
        "text": str(root / "not_a_video.mp4"),
        "empty": str(root / "empty.mp4"),
        "root": root,
    }


def levels(chunks):
    frames = np.concatenate(list(chunks))
    return frames.reshape(len(frames), -1).mean(1), frames


@pytest.mark.parametrize("backend", BACKENDS)
def test_native_rate_equal_to_clock_takes_every_frame_in_chunks(videos, backend):
    video = SampledVideo(videos["clock"], fps=2.0, backend=backend)
    assert video.backend == backend
    assert (video.info.native_fps, video.info.num_frames, video.info.duration) == (2.0, 11, 5.5)
    assert (video.info.height, video.info.width) == (32, 32)
    chunks = list(video.chunks(chunk_size=4))
    assert [len(c) for c in chunks] == [4, 4, 3]  # streamed, never more than chunk_size frames at once
    means, frames = levels(chunks)
    assert frames.dtype == np.uint8 and frames.shape == (11, 32, 32, 3)
    np.testing.assert_allclose(means, [grey_level(i) for i in range(11)], atol=3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_resampling_a_faster_video_follows_the_rule_by_hand(videos, backend):
    # 45 frames at 30 fps = 1.5 s; clock 4 fps -> instants 0, .25, .5, .75, 1, 1.25
    # -> native frames floor(t * 30) = 0, 7, 15, 22, 30, 37
    video = SampledVideo(videos["fast"], fps=4.0, backend=backend)
    assert video.num_sampled_frames == 6
    means, _ = levels(video.chunks(chunk_size=5))
    np.testing.assert_allclose(means, [grey_level(i) for i in (0, 7, 15, 22, 30, 37)], atol=3)


def test_backends_agree(videos):
    if len(BACKENDS) < 2:
        pytest.skip("needs decord and PyAV")
    for path, fps in ((videos["clock"], 2.0), (videos["fast"], 3.0)):
        a = np.concatenate(list(SampledVideo(path, fps, backend="decord").chunks(3)))
        b = np.concatenate(list(SampledVideo(path, fps, backend="pyav").chunks(3)))
        assert a.shape == b.shape
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 2


def test_frame_array_resampling_by_hand():
    frames = np.arange(10, dtype=np.uint8)[:, None, None, None].repeat(3, -1).repeat(4, 1).repeat(4, 2)
    assert sample_frame_array(frames, fps=2.0) is frames  # already on the clock
    out = sample_frame_array(frames, fps=2.0, native_fps=5.0)  # 2 s -> instants 0, .5, 1, 1.5 -> frames 0, 2, 5, 7
    assert out[:, 0, 0, 0].tolist() == [0, 2, 5, 7]
    assert sample_frame_array(frames, fps=4.0, native_fps=2.0)[:, 0, 0, 0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4,
                                                                                         5, 5, 6, 6, 7, 7, 8, 8, 9, 9]
    assert num_sampled_frames(1.5, 4.0) == 6 and num_sampled_frames(1.49, 4.0) == 6 and num_sampled_frames(1.5, 2) == 3
    with pytest.raises(ValueError, match="zero frames"):
        sample_frame_array(frames[:0], fps=2.0)
    with pytest.raises(ValueError, match="uint8"):
        sample_frame_array(frames.astype(np.float32), fps=2.0)
    with pytest.raises(ValueError, match=r"\(num_frames, height, width, 3\)"):
        sample_frame_array(frames[..., :2], fps=2.0)


def test_clear_errors(videos):
    with pytest.raises(FileNotFoundError, match="video file not found"):
        SampledVideo(videos["root"] / "missing.mp4", fps=2.0)
    with pytest.raises(ValueError, match="not a readable video file"):
        SampledVideo(videos["text"], fps=2.0)
    with pytest.raises(ValueError, match="empty"):
        SampledVideo(videos["empty"], fps=2.0)
    with pytest.raises(ValueError, match="no video frames"):
        SampledVideo(videos["zero"], fps=2.0)
    with pytest.raises(ValueError, match="directory"):
        SampledVideo(videos["root"], fps=2.0)
    with pytest.raises(ValueError, match="fps must be > 0"):
        SampledVideo(videos["clock"], fps=0)
    with pytest.raises(ValueError, match="backend must be"):
        SampledVideo(videos["clock"], fps=2.0, backend="opencv")
    with pytest.raises(ValueError, match="chunk_size"):
        next(SampledVideo(videos["clock"], fps=2.0).chunks(0))
