# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""SimpleFrameEncoderModel: its definition by hand on simple frames, save / load, the descriptor's
standardisation, the edge-orientation block, and features of a decoded mp4 against those of its rendered frames."""

import numpy as np
import pytest
import torch
from conftest import load_example

from hieramamba_hf import ClipPooler, HieraMambaConfig, HieraMambaProcessor, SimpleFrameEncoderConfig
from hieramamba_hf import SimpleFrameEncoderModel as Encoder
from hieramamba_hf.modeling_hieramamba import num_clips
from hieramamba_hf.modeling_simple_frame_encoder import PALETTE
from ssm_layers.video_io import open_video


preprocess = HieraMambaProcessor().preprocess_frames  # (N, H, W, 3) uint8 -> pixel_values (N, 3, H, W) in [0, 1]


def encoder(**settings) -> Encoder:
    return Encoder(SimpleFrameEncoderConfig(**settings)).eval()


def test_definition_and_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(7, 24, 20, 3), dtype=np.uint8)
    pixel_values = preprocess(frames)
    model = encoder(feature_dim=32)
    out = model(pixel_values)
    per_frame = out.pooler_output
    assert per_frame.shape == (7, 32) and per_frame.dtype == torch.float32
    assert torch.equal(out.last_hidden_state[:, 0], per_frame)
    clips = ClipPooler(3, 2).push(per_frame)  # clips of 3 frames every 2 frames
    clock = HieraMambaConfig(clip_size=3, clip_stride=2, downsample_rate=1)
    assert clips.shape == (num_clips(7, clock), 32) == (3, 32)
    torch.testing.assert_close(clips[1], per_frame[2:5].mean(0))  # clip 1 = frames 2, 3, 4
    assert ClipPooler(3, 2).push(per_frame[:2]).shape == (0, 32)
    # raw block by hand for a constant frame: colour grid = the colour, no edges, histogram of that colour
    raw = encoder(feature_dim=0)(preprocess(np.full((1, 8, 8, 3), 255, dtype=np.uint8))).pooler_output
    assert raw.shape == (1, 5 * 16 + 16)
    torch.testing.assert_close(raw[0, :48], torch.full((48,), 0.5))
    torch.testing.assert_close(raw[0, 48:80], torch.full((32,), -0.5))
    d2 = ((torch.tensor(PALETTE) - 1.0) ** 2).sum(1)
    torch.testing.assert_close(raw[0, 80:] + 0.5, torch.softmax(-d2 / (2 * 0.15**2), 0))  # palette histogram
    assert raw[0, 80 + 1].item() + 0.5 > 0.99  # white is palette entry 1
    # the projection: N(0, 1 / raw_dim) drawn from projection_seed
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(model.projection, torch.randn(96, 32, generator=generator) / 96**0.5)
    # save / load: the same numbers rebuild the same encoder
    model.save_pretrained(tmp_path)
    reloaded = Encoder.from_pretrained(tmp_path)
    assert reloaded.config.to_diff_dict() == model.config.to_diff_dict()
    assert torch.equal(reloaded(pixel_values).pooler_output, per_frame)
    assert not torch.allclose(encoder(feature_dim=32, projection_seed=1)(pixel_values).pooler_output, per_frame)
    # the model follows the dtype of its buffers (it computes in float32)
    assert model.to(torch.float64)(pixel_values).pooler_output.dtype == torch.float64
    with pytest.raises(ValueError, match="uint8"):
        preprocess(frames.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model(pixel_values[:, :2])
    with pytest.raises(ValueError, match="smaller than the grid"):
        model(pixel_values[:, :, :3, :3])


def test_standardisation(tmp_path):
    rng = np.random.default_rng(1)
    pixel_values = preprocess(rng.integers(0, 256, size=(12, 16, 16, 3), dtype=np.uint8))
    model = encoder(feature_dim=24)
    descriptor = model.descriptor(pixel_values).double()
    assert descriptor.shape == (12, model.config.raw_dim) == (12, 96)
    # identity standardisation until fitted
    torch.testing.assert_close(model(pixel_values).pooler_output, descriptor.float() @ model.projection)
    model.fit_normalization([pixel_values[:5], pixel_values[5:]])  # chunks are pooled
    torch.testing.assert_close(model.feature_mean, descriptor.mean(0).float())
    # the descriptor is standardised per entry, then projected
    standard = (descriptor - descriptor.mean(0)) / descriptor.std(0).clamp(min=1e-3)
    expected = standard.float() @ model.projection
    torch.testing.assert_close(model(pixel_values).pooler_output, expected, atol=1e-4, rtol=1e-4)
    model.save_pretrained(tmp_path)  # the constants travel with the encoder
    reloaded = Encoder.from_pretrained(tmp_path)
    assert torch.equal(reloaded(pixel_values).pooler_output, model(pixel_values).pooler_output)
    with pytest.raises(RuntimeError, match="mismatch"):  # the buffers are sized by the config
        Encoder.from_pretrained(tmp_path, orientation_bins=4)
    # an entry that does not vary: its spread is floored at min_std
    constant = encoder(feature_dim=24).fit_normalization(pixel_values[:1].repeat(3, 1, 1, 1))
    assert torch.all(constant.feature_std == 1e-3)
    with pytest.raises(ValueError, match="at least 2 frames"):
        encoder(feature_dim=24).fit_normalization(pixel_values[:1])


def test_edge_orientations():
    """Step 4 (orientation_bins > 0): the Sobel magnitude of each pixel split over the orientations, pooled on a
    2 x 2 grid, after the 96 entries of steps 1-3 (unchanged)."""
    res = 32
    yy, xx = np.mgrid[0:res, 0:res] + 0.5
    square = np.zeros((1, res, res, 3), np.uint8)
    square[0, 4:12, 4:12] = 255  # in the top-left quarter: its edges run at 0 and 90 degrees only
    disc = np.zeros((1, res, res, 3), np.uint8)
    disc[0][(xx - 24) ** 2 + (yy - 24) ** 2 < 5.5**2] = 255  # in the bottom-right quarter
    model = encoder(feature_dim=0, gradient_gain=1.0, orientation_bins=4)
    assert model.config.raw_dim == 96 + 16
    blocks = [(model.descriptor(preprocess(frame))[0, 96:] + 0.5).view(4, 2, 2) for frame in (square, disc)]
    # (orientation bin, grid row, grid column): bins at 0, 45, 90, 135 degrees
    for block, (row, col) in zip(blocks, ((0, 0), (1, 1))):
        others = torch.ones(2, 2, dtype=torch.bool)
        others[row, col] = False
        assert torch.all(block[:, others] == 0)  # only the object's quarter has edges
    square_bins, disc_bins = blocks[0][:, 0, 0], blocks[1][:, 1, 1]
    # a straight vertical (horizontal) edge of height 1 gives magnitude 1 on the 2 pixels beside it, all in bin 0 (2)
    sides = 2 * 6 * 1.0  # per side: 2 pixel columns x 6 rows away from the corners
    assert square_bins[0] >= sides * 2 / (res / 2) ** 2 and square_bins[0] == pytest.approx(square_bins[2])
    assert square_bins[1] + square_bins[3] < 0.25 * (square_bins[0] + square_bins[2])  # corners only
    assert disc_bins[1] + disc_bins[3] > 0.6 * (disc_bins[0] + disc_bins[2])  # a disc's edges run every way
    # the default (orientation_bins=0): the descriptor of steps 1-3 alone, the same first 96 entries
    plain = encoder(feature_dim=0, gradient_gain=1.0)
    assert plain.config.raw_dim == 96
    torch.testing.assert_close(plain.descriptor(preprocess(disc)), model.descriptor(preprocess(disc))[:, :96])
    assert SimpleFrameEncoderConfig(feature_dim=0, orientation_bins=8, orientation_grid=3).raw_dim == 96 + 8 * 9
    with pytest.raises(ValueError, match="orientation_bins"):
        SimpleFrameEncoderConfig(orientation_bins=-1)


def test_decoded_mp4_features_match_the_rendered_frames_features(tmp_path):
    """A synthetic video written as H.264 (crf 18), decoded by ssm_layers.video_io on its clock and encoded chunk by
    chunk, gives the clip features of its rendered frames back within the compression error."""
    synthetic = load_example("synthetic_grounding/synthetic")
    config = synthetic.SyntheticGroundingConfig(num_videos=1, min_clips=40, max_clips=48, seed=3, chunk_frames=32)
    model = encoder(feature_dim=128)
    calibration = synthetic.sample_video_spec(config, synthetic.CALIBRATION_INDEX)
    model.fit_normalization(preprocess(synthetic.render_frames(calibration, config, 0, 96)))  # as the sets' encoders
    for index in (0, 2):
        spec = synthetic.sample_video_spec(config, index)
        path = str(tmp_path / f"video{index}.mp4")
        saved = torch.from_numpy(synthetic._write_video(path, spec, config, model))  # the rendered frames' features
        reader = open_video(path)
        assert reader.num_clock_frames(config.fps) == (spec["num_clips"] - 1) * 2 + 2
        pooler = ClipPooler(config.clip_size, config.clip_stride)
        with torch.no_grad():
            decoded = torch.cat(
                [
                    pooler.push(model(preprocess(chunk)).pooler_output)
                    for chunk in reader.iter_clock_frames(config.fps, 16)
                ]
            )
        assert decoded.shape == saved.shape
        # the encoder is standardised: compare the descriptors before standardisation, where the offset is kept
        # (the projection has full column rank, so its pseudo-inverse recovers them)
        inverse = torch.linalg.pinv(model.projection)
        raw_decoded = (decoded @ inverse) * model.feature_std + model.feature_mean
        raw_saved = (saved @ inverse) * model.feature_std + model.feature_mean
        rel = (raw_decoded - raw_saved).norm(dim=1) / raw_saved.norm(dim=1)
        cos = torch.nn.functional.cosine_similarity(raw_decoded, raw_saved, dim=1)
        assert rel.max() < 0.05 and cos.min() > 0.998, (rel.max(), cos.min())
        # the features do move with the content: far clips differ much more than the compression error
        assert (saved[1:] - saved[:-1]).norm(dim=1).max() > 5 * (decoded - saved).norm(dim=1).max()
