# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""The web demo's logic (`app.py` at the repository root) without a browser: grounding through the feature cache,
the messages bad input gets, and what the page says about the model. The page in a browser: `test_app_browser.py`."""

import importlib.util
import os
import sys

import numpy as np
import pytest
from conftest import write_mp4
from PIL import Image
from test_video_grounding_pipeline import tiny_config


ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))


def _load_app():
    if "app" not in sys.modules:
        spec = importlib.util.spec_from_file_location("app", os.path.join(ROOT, "app.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules["app"] = module
        spec.loader.exec_module(module)
    return sys.modules["app"]


app = _load_app()


@pytest.fixture(scope="module")
def demo():
    """The demo on the shipped checkpoint."""
    demo = app.GroundingDemo()
    assert demo.load_error is None
    return demo


@pytest.fixture(scope="module")
def sample(demo):
    """A short sample video of the synthetic generator and its queries."""
    return demo.sample_video(seed=7, num_queries=3, clips=64)


def _failed(outputs):
    message, timeline, tables = outputs
    assert timeline is None and tables == [None] * app.MAX_QUERIES
    assert message.startswith("⚠️") and "Traceback" not in message
    return message


def test_parse_queries():
    assert app.parse_queries("  a red ball \n\n\tthe blue square\n  ") == ["a red ball", "the blue square"]
    for text in ("", None, " \n \n"):
        with pytest.raises(app.DemoInputError, match="at least one query"):
            app.parse_queries(text)
    with pytest.raises(app.DemoInputError, match=f"At most {app.MAX_QUERIES} queries"):
        app.parse_queries("\n".join(f"query {i}" for i in range(app.MAX_QUERIES + 1)))


def test_ground_decodes_a_video_once(demo, sample, monkeypatch):
    from ssm_layers.video_io import VideoReader

    path, queries = sample
    sentences = [q["sentence"] for q in queries]
    assert os.path.basename(path).startswith("synthetic_seed7") and all(q["truth"][0] < q["truth"][1] for q in queries)
    iterated = []
    iterate = VideoReader.iter_clock_frames
    monkeypatch.setattr(
        VideoReader,
        "iter_clock_frames",
        lambda self, *a, **k: iterated.append(str(self.path)) or iterate(self, *a, **k),
    )
    progress = []
    first = demo.ground(path, "\n".join(sentences[:2]), 3, progress=lambda f, text: progress.append((f, text)))
    assert not first["cached"] and iterated.count(path) == 1
    # progress while decoding and encoding: increasing fractions up to the whole video, then the grounding
    fractions = [f for f, text in progress if text.startswith("decoding and encoding")]
    assert len(fractions) >= 4 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert progress[-1] == (1.0, "grounding 2 queries")
    # the same answers as the pipeline on the file, with the video's duration
    assert first["queries"] == sentences[:2] and first["duration"] == pytest.approx(64 * 2 / 2.0, abs=0.5)
    expected = demo.grounder(path, query=sentences[:2], top_k=3)
    flat = [[m[key] for m in q for key in ("start", "end", "score")] for q in first["moments"]]
    assert flat == [
        pytest.approx([m[key] for m in q for key in ("start", "end", "score")], abs=1e-4) for q in expected
    ]
    picture = Image.open(first["timeline"])
    assert picture.format == "PNG" and picture.width > 1000

    # more queries on the same video: no decoding (the timeline reads its own small thumbnail video)
    progress.clear()
    iterated.clear()
    second = demo.ground(path, sentences[2], 2)
    assert second["cached"] and path not in iterated and not any(t.startswith("decoding") for _, t in progress)
    assert second["queries"] == sentences[2:] and len(second["moments"][0]) == 2
    # a changed file is decoded again
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 1_000_000_000))
    assert not demo.ground(path, sentences[2], 2)["cached"] and iterated.count(path) == 1


def test_page_ground_rows_and_messages(demo, sample):
    path, queries = sample
    truths = {q["sentence"]: q["truth"] for q in queries}
    message, timeline, tables = app.page_ground(demo, path, "\n".join(truths), 4, truths)
    assert message.startswith("Grounded 3 queries in `synthetic_seed7") and os.path.isfile(timeline)
    assert [t[0] for t in tables[:3]] == list(truths) and tables[3:] == [None] * (app.MAX_QUERIES - 3)
    for _, rows in tables[:3]:
        assert [r[0] for r in rows] == [1, 2, 3, 4]
        scores = [float(r[3]) for r in rows]
        assert scores == sorted(scores, reverse=True)
        assert all(0 <= float(r[1]) < float(r[2]) <= 64.5 for r in rows)


def test_bad_input_gives_a_message(demo, tmp_path):
    assert "Upload a video" in _failed(app.page_ground(demo, None, "a red ball", 3, {}))
    video = write_mp4(tmp_path / "ok.mp4", np.zeros((8, 32, 32, 3), np.uint8), fps=2)
    assert "at least one query" in _failed(app.page_ground(demo, video, " \n ", 3, {}))
    assert "At most" in _failed(app.page_ground(demo, video, "\n".join("q" * i for i in range(1, 12)), 3, {}))
    unreadable = tmp_path / "notes.mp4"
    unreadable.write_bytes(b"this is not a video " * 50)
    message = _failed(app.page_ground(demo, str(unreadable), "a red ball", 3, {}))
    assert "not a readable video file" in message and "notes.mp4" in message and str(tmp_path) not in message
    short = write_mp4(tmp_path / "short.mp4", np.zeros((1, 32, 32, 3), np.uint8), fps=2)
    message = "too short for this model: 0 clip(s) (0 s) where it needs at least 16"
    assert message in _failed(app.page_ground(demo, short, "a red ball", 3, {}))
    assert "gone" in _failed(app.page_ground(demo, str(tmp_path / "deleted.mp4"), "a red ball", 3, {}))


def test_model_without_frame_encoder(tmp_path):
    from hieramamba_hf import HieraMambaForVideoGrounding

    folder = tmp_path / "features-only"
    HieraMambaForVideoGrounding(tiny_config()).save_pretrained(folder)
    (folder / "README.md").write_text("---\ndatasets:\n- charades-sta\n---\n# tiny\n\nA tiny grounding model.\n")
    demo = app.GroundingDemo(str(folder))
    description = demo.description()
    assert "no frame encoder" in description and "cannot read video files" in description
    assert "**Trained on:** `charades-sta`" in description and "A tiny grounding model." in description
    assert "coloured shapes" not in description
    video = write_mp4(tmp_path / "ok.mp4", np.zeros((8, 32, 32, 3), np.uint8), fps=2)
    assert "has no frame encoder" in _failed(app.page_ground(demo, video, "a red ball", 3, {}))


def test_model_that_does_not_load(tmp_path):
    demo = app.GroundingDemo(str(tmp_path / "no-such-model"))
    assert demo.grounder is None and "could not be loaded" in demo.description()
    assert "No model is loaded" in _failed(app.page_ground(demo, None, "a red ball", 3, {}))
    video, _, _, message = app.page_sample(demo)
    assert video is None and message.startswith("⚠️ **Could not draw a sample video:** No model is loaded")


def test_shipped_model_description_and_offline_gradio(demo):
    description = demo.description()
    assert "`checkpoints/hieramamba-synthetic`" in description and "synthetic grounding set" in description
    assert "only knows coloured shapes" in description
    gradio = pytest.importorskip("gradio", reason="the page needs the app extra (pip install -e '.[app]')")
    from gradio import analytics

    assert not analytics.analytics_enabled()  # app.py turns gradio's usage analytics off before importing it
    page = app.build_page(demo)
    assert isinstance(page, gradio.Blocks) and not page.analytics_enabled
    ids = {block.elem_id for block in page.blocks.values()}
    assert {"player", "sample", "queries", "ground", "message", "timeline", "moments-0"} <= ids


def test_space_requirements_match_the_app_extra():
    """requirements.txt (what a Space installs, running the checkout uninstalled) = the package's dependencies and
    its `demo` and `app` extras in pyproject.toml."""
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    extras = project["optional-dependencies"]
    assert "ssm-video-models[demo]" in extras["app"]
    wanted = project["dependencies"] + extras["demo"] + [r for r in extras["app"] if not r.startswith("ssm-video")]
    with open(os.path.join(ROOT, "requirements.txt")) as f:
        listed = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    assert sorted(listed) == sorted(wanted)
