# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Web demo of video temporal grounding (a Hugging Face Space's `app.py`): where in a video does each query happen?

    pip install -e ".[app]"        # or, as a Hugging Face Space does: pip install -r requirements.txt
    python app.py [--model PATH_OR_ID] [--port N] [--host ADDRESS]

The page takes an uploaded video, or draws a sample video with the synthetic generator the shipped checkpoint
(`checkpoints/hieramamba-synthetic/`) was trained on, so it works offline with no file at hand; it grounds one query
per line with `pipeline("video-grounding")` and shows per query the ranked moments (start, end, score), the
timeline picture of `examples/ground_video.py`, and the video: choosing a moment plays the video from its start.

A video is decoded and encoded once: its clip features (and the timeline's thumbnails) are kept per file, so more
queries on the same video run the grounding model only. Nothing leaves the machine: Gradio's analytics are off and
the page loads no outside resource.
"""

import argparse
import collections
import json
import logging
import os
import sys
import tempfile
import threading
import time

import numpy as np


# before gradio is imported (by `build_page`): no usage analytics, no version check, no Hub telemetry: the app runs
# offline
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.join(HERE, "checkpoints", "hieramamba-synthetic")
sys.path.insert(0, os.path.join(HERE, "examples"))  # ground_video: the synthetic sample video and the timeline
if os.path.isdir(os.path.join(HERE, "src")):  # the checkout's own packages: a Space runs it without installing it
    sys.path.insert(0, os.path.join(HERE, "src"))
from ssm_layers.video_io import open_video  # noqa: E402  (after the checkout's src/ is on the path)


MAX_QUERIES = 8  # tables on the page
THUMBNAILS = 24  # frames in the timeline's strip, as ground_video.draw_timeline draws them
CACHED_VIDEOS = 8  # videos whose clip features are kept

logger = logging.getLogger("hieramamba-demo")


class DemoInputError(ValueError):
    """Input the page explains to the user (no video, no query, too many queries)."""


def _relative(path: str) -> str:
    """`path` relative to the repository when it lies inside it (the page shows short names)."""
    relative = os.path.relpath(os.path.abspath(path), HERE)
    return path if relative.startswith(os.pardir) else relative


def parse_queries(text: str | None) -> list[str]:
    """The queries of the text box: one per non-blank line, stripped."""
    queries = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not queries:
        raise DemoInputError("Type at least one query (one per line).")
    if len(queries) > MAX_QUERIES:
        raise DemoInputError(f"At most {MAX_QUERIES} queries at a time, got {len(queries)}.")
    return queries


def _model_card(name: str) -> tuple[dict, str]:
    """The model card's metadata and its first paragraph of prose, from the folder or the local Hub cache (no
    download: the app runs offline)."""
    from huggingface_hub import metadata_load, try_to_load_from_cache

    path = os.path.join(name, "README.md")
    if not os.path.isfile(path):
        try:
            path = try_to_load_from_cache(name, "README.md")
        except Exception:  # not a Hub id either
            path = None
        if not isinstance(path, str):
            return {}, ""
    metadata = metadata_load(path) or {}
    text = open(path, encoding="utf-8").read()
    if text.startswith("---"):
        text = text.split("---", 2)[-1]
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip() and not p.lstrip().startswith("#")]
    return metadata, paragraphs[0] if paragraphs else ""


def _trained_on(metadata: dict) -> str | None:
    datasets = metadata.get("datasets")
    if datasets:
        return ", ".join(f"`{d}`" for d in ([datasets] if isinstance(datasets, str) else datasets))
    for entry in metadata.get("model-index") or []:
        for result in entry.get("results") or []:
            if (result.get("dataset") or {}).get("name"):
                return f"`{result['dataset']['name']}`"
    return None


class GroundingDemo:
    """The demo without its page: the model, the sample videos and the per-video feature cache. The Gradio page
    (`build_page`) only calls `sample_video` and `ground`."""

    def __init__(self, model: str = DEFAULT_MODEL):
        self.model_name = model
        self.grounder, self.load_error = None, None
        try:
            from transformers import pipeline

            import hieramamba_hf  # noqa: F401  (registers the "video-grounding" pipeline)

            self.grounder = pipeline("video-grounding", model=model)
        except Exception as error:  # the page says why; the process keeps serving it
            logger.exception("could not load the model %s", model)
            self.load_error = f"{type(error).__name__}: {error}"
        self.synthetic_info = None
        info = os.path.join(model, "synthetic_info.json")
        if os.path.isfile(info):
            with open(info) as f:
                self.synthetic_info = json.load(f)
        self.workdir = tempfile.mkdtemp(prefix="hieramamba-demo-")
        self._cache = collections.OrderedDict()  # (path, mtime, size) -> (features, duration, thumbnails)
        self._lock = threading.Lock()  # one decode at a time: two users grounding one video decode it once
        self.decodes = 0  # videos decoded and encoded so far (the page reports cache hits)

    # ------------------------------------------------------------------ the model
    @property
    def reads_video(self) -> bool:
        return self.grounder is not None and self.grounder.model.model.vision_model is not None

    def description(self) -> str:
        """Markdown: which model runs, what it was trained on, what it can read."""
        name = _relative(self.model_name)
        if self.grounder is None:
            return f"**Model:** `{name}`: it could not be loaded ({self.load_error}). Start the app with `--model`."
        inner = self.grounder.model.model
        config = self.grounder.model.config
        vision = type(inner.vision_model).__name__ if inner.vision_model is not None else None
        text = config.text_model_name_or_path or (
            type(inner.text_model).__name__ if inner.text_model is not None else None
        )
        metadata, summary = _model_card(self.model_name)
        lines = [
            f"**Model:** `{name}` (HieraMamba; frame encoder {f'`{vision}`' if vision else 'none'}, query encoder "
            f"{f'`{text}`' if text else 'none'}; it reads {config.fps:g} frames per second)."
        ]
        if self.synthetic_info is not None:
            lines.append(
                "**Trained on:** the project's synthetic grounding set (`examples/synthetic_grounding/synthetic.py`: "
                "coloured shapes moving over changing backgrounds, "
                f"{self.synthetic_info['config']['num_videos']} videos)."
            )
            lines.append(
                "> ⚠️ This demo model only knows coloured shapes: on real videos its moments mean nothing. "
                "Try it on a generated sample video, or start the app with `--model` and a real checkpoint."
            )
        else:
            trained_on = config.training_data or _trained_on(metadata)
            lines.append(f"**Trained on:** {trained_on or 'not stated (neither the config nor the model card says)'}.")
            if summary:
                lines.append(f"> {summary}")
        if vision is None:
            lines.append(
                "> ⚠️ This model has no frame encoder: it cannot read video files (it takes precomputed clip "
                "features only)."
            )
        return "\n\n".join(lines)

    # ------------------------------------------------------------------ sample videos
    def sample_video(self, seed: int | None = None, num_queries: int = 3, clips: int | None = None):
        """A fresh synthetic video on the model's clock (`ground_video.render_synthetic_video`, with the generator
        settings the shipped checkpoint was trained on) and its queries `[{"sentence", "truth"}]`."""
        from ground_video import render_synthetic_video

        if self.grounder is None:
            raise DemoInputError(f"No model is loaded ({self.load_error}).")
        seed = int(np.random.SeedSequence().entropy % 2**31) if seed is None else seed
        settings = dict(self.synthetic_info["config"]) if self.synthetic_info else {}
        folder = tempfile.mkdtemp(dir=self.workdir)
        path, queries = render_synthetic_video(folder, self.grounder.model.config, seed, clips, num_queries, settings)
        return path, [{"sentence": q["sentence"], "truth": tuple(q["truth"])} for q in queries]

    # ------------------------------------------------------------------ grounding
    def video_features(self, path: str, progress=None):
        """Clip features `(T, C)` of the video file, its duration (s) and the timeline's thumbnails:
        decoded and encoded on the first call (`progress(fraction, text)` per chunk), from the cache after that."""
        stat = os.stat(path)
        key = (os.path.realpath(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            entry = self._encode(path, progress)
            self._cache[key] = entry
            while len(self._cache) > CACHED_VIDEOS:
                self._cache.popitem(last=False)
            return entry

    def _encode(self, path, progress):
        """The pipeline's own decoding and encoding (`encode_video`), keeping the clip features and the
        timeline's thumbnails from the same pass."""
        fps = self.grounder.model.config.fps
        total = max(1, open_video(path).num_clock_frames(fps))
        wanted = set(np.linspace(0, total - 1, THUMBNAILS).round().astype(int).tolist())
        thumbnails, seen = [], [0]

        def keep_thumbnails(frames):
            thumbnails.extend(_thumbnail(frame) for i, frame in enumerate(frames) if seen[0] + i in wanted)
            seen[0] += len(frames)

        def report(done, frames_total):
            if progress is not None:
                progress(
                    min(done / frames_total, 1.0), f"decoding and encoding the video: {done} / {frames_total} frames"
                )

        self.decodes += 1
        features, duration = self.grounder.encode_video(path, progress=report, on_frames=keep_thumbnails)
        return features.float().cpu().numpy(), duration, thumbnails

    def ground(self, video: str | None, queries_text: str, top_k: int = 3, truths: dict | None = None, progress=None):
        """Ground the queries (one per line) in the video file. Returns `{"queries", "moments", "timeline",
        "duration", "cached"}`: per query its ranked moments `[{"start", "end", "score"}]` (seconds), the timeline
        picture (PNG path), the video's duration and whether its features came from the cache. Bad input raises
        `ValueError` (`OSError` for files) with a message for the page."""
        from ground_video import draw_timeline

        if self.grounder is None:
            raise DemoInputError(f"No model is loaded ({self.load_error}).")
        if not video:
            raise DemoInputError("Upload a video or generate a sample video first.")
        queries = parse_queries(queries_text)
        self.grounder.processor.check_queries(queries)  # a bad query fails before the video is decoded
        decodes = self.decodes
        features, duration, thumbnails = self.video_features(video, progress)
        if progress is not None:
            progress(1.0, f"grounding {len(queries)} quer{'y' if len(queries) == 1 else 'ies'}")
        moments = self.grounder(features, query=queries, top_k=int(top_k), duration=duration)
        truths = truths or {}
        rows = [{"sentence": q, "truth": truths.get(q)} for q in queries]
        timeline = os.path.join(tempfile.mkdtemp(dir=self.workdir), "timeline.png")
        fps = self.grounder.model.config.fps
        draw_timeline(timeline, video, duration, rows, moments, int(top_k), fps, thumbnails=thumbnails)
        return {
            "queries": queries,
            "moments": moments,
            "timeline": timeline,
            "duration": duration,
            "cached": self.decodes == decodes,
        }


def _thumbnail(frame: np.ndarray, height: int = 72) -> np.ndarray:
    """A frame of the timeline's strip: RGB, `height` pixels high, an even width (what H.264 takes)."""
    from PIL import Image

    width = 2 * max(1, round(height * frame.shape[1] / frame.shape[0] / 2))
    return np.asarray(Image.fromarray(np.ascontiguousarray(frame[:, :, :3])).resize((width, height), Image.BILINEAR))


def error_message(error: Exception, video: str | None = None) -> str:
    """The page's words for a failed grounding: the library's message, with the upload's temporary path shortened
    to its file name."""
    text = str(error).strip() or type(error).__name__
    if isinstance(error, FileNotFoundError):
        text = "the video file is gone (upload it again)."
    if video:
        text = text.replace(os.path.realpath(video), os.path.basename(video)).replace(video, os.path.basename(video))
    kind = "" if isinstance(error, (ValueError, OSError)) else f"{type(error).__name__}: "
    return f"⚠️ **Could not ground the queries:** {kind}{text}"


# ---------------------------------------------------------------------- the page
CSS = """
#message p { margin: 0.2em 0; }
#model-info blockquote { margin: 0.4em 0; }
"""

SEEK_JS = """
(start) => {
    const player = document.querySelector('#player video');
    if (player && start !== null && start !== undefined) {
        player.currentTime = start;
        player.play().catch(() => {});
    }
    return [];
}
"""


def table_rows(moments: list[dict]) -> list[list]:
    """A query's ranked moments as the rows of its table: rank, start, end (seconds), score."""
    return [[rank, f"{m['start']:.1f}", f"{m['end']:.1f}", f"{m['score']:.3f}"] for rank, m in enumerate(moments, 1)]


def page_sample(demo: GroundingDemo, progress=None) -> tuple:
    """The "Draw a sample video" button: (video, queries text, true moments per query, message)."""
    try:
        if progress is not None:
            progress(0.0, "drawing a sample video")
        path, queries = demo.sample_video()
    except Exception as error:
        logger.exception("sample video failed")
        return None, "", {}, f"⚠️ **Could not draw a sample video:** {error}"
    truths = {q["sentence"]: q["truth"] for q in queries}
    message = (
        f"Sample video `{os.path.basename(path)}` drawn with {len(queries)} of its queries (their true moments "
        "show in green on the timeline). Press **Ground**, or type your own queries."
    )
    return path, "\n".join(truths), truths, message


def page_ground(demo: GroundingDemo, video, queries_text, top_k, truths, progress=None) -> tuple:
    """The "Ground" button: (message, timeline PNG or None, per table its (query, rows) or None). Every failure
    becomes the message: the page never shows a stack trace."""
    start = time.perf_counter()
    try:
        result = demo.ground(video, queries_text, top_k, truths, progress=progress)
    except Exception as error:
        if not isinstance(error, (ValueError, OSError)):
            logger.exception("grounding failed")
        return error_message(error, video), None, [None] * MAX_QUERIES
    count = len(result["queries"])
    message = (
        f"Grounded {count} quer{'y' if count == 1 else 'ies'} in `{os.path.basename(video)}` "
        f"({result['duration']:.1f} s of video) in {time.perf_counter() - start:.1f} s"
        + ("; its features came from the cache (decoded once)." if result["cached"] else ".")
        + " Click a moment to play the video from its start."
    )
    tables = [(query, table_rows(moments)) for query, moments in zip(result["queries"], result["moments"])]
    return message, result["timeline"], tables + [None] * (MAX_QUERIES - count)


def build_page(demo: GroundingDemo):
    """The Gradio page of `demo`."""
    import gradio as gr

    def on_sample(progress=gr.Progress()):
        path, queries_text, truths, message = page_sample(demo, lambda f, text: progress(f, desc=text))
        if path is None:
            return gr.Video(), gr.Textbox(), truths, message
        return path, queries_text, truths, message

    def on_ground(video, queries_text, top_k, truths, progress=gr.Progress()):
        message, timeline, tables = page_ground(
            demo, video, queries_text, top_k, truths, lambda f, text: progress(f, desc=text)
        )
        updates = [
            gr.Dataframe(value=table[1], label=table[0], visible=True) if table else gr.Dataframe(visible=False)
            for table in tables
        ]
        return [message, gr.Image(value=timeline, visible=timeline is not None)] + updates

    def on_select(evt: gr.SelectData):
        return float(evt.row_value[1])

    top = max(int(demo.grounder.model.config.max_num_segments), 1) if demo.grounder else 5
    with gr.Blocks(title="HieraMamba video grounding", analytics_enabled=False) as page:
        gr.Markdown(
            "# HieraMamba: where in the video does it happen?\n"
            "Upload a video (or draw a sample one), type one query per line and press **Ground**: each query gets "
            "its ranked moments, the timeline shows them, and clicking a moment plays the video from there."
        )
        gr.Markdown(demo.description(), elem_id="model-info")
        truths = gr.State({})
        seek = gr.Number(visible="hidden", elem_id="seek")
        with gr.Row():
            with gr.Column(scale=5):
                video = gr.Video(label="Video", sources=["upload"], elem_id="player", height=360)
                sample = gr.Button("Draw a sample video", elem_id="sample", interactive=demo.grounder is not None)
                queries = gr.Textbox(
                    label="Queries (one per line)",
                    lines=4,
                    placeholder="a red circle moves to the left\na blue square rests on the screen",
                    elem_id="queries",
                )
                top_k = gr.Slider(1, top, value=min(3, top), step=1, label="Moments per query", elem_id="top-k")
                run = gr.Button("Ground", variant="primary", elem_id="ground", interactive=demo.grounder is not None)
            with gr.Column(scale=6):
                message = gr.Markdown(elem_id="message")
                tables = [
                    gr.Dataframe(
                        headers=["rank", "start (s)", "end (s)", "score"],
                        datatype=["number", "str", "str", "str"],
                        interactive=False,
                        visible=False,
                        elem_id=f"moments-{i}",
                        elem_classes=["moments"],
                    )
                    for i in range(MAX_QUERIES)
                ]
        timeline = gr.Image(label="Timeline", type="filepath", interactive=False, visible=False, elem_id="timeline")

        sample.click(on_sample, None, [video, queries, truths, message])
        run.click(on_ground, [video, queries, top_k, truths], [message, timeline] + tables)
        queries.submit(on_ground, [video, queries, top_k, truths], [message, timeline] + tables)
        for table in tables:
            table.select(on_select, None, seek).then(None, seek, None, js=SEEK_JS)
    return page


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="checkpoint folder or Hub id (default: the demo one)")
    parser.add_argument("--port", type=int, default=None, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--host", default=None, help="address (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio's own start-up probes of the local server
    demo = GroundingDemo(args.model)
    import gradio as gr

    page = build_page(demo)
    page.queue(default_concurrency_limit=1).launch(
        server_name=args.host,
        server_port=args.port,
        share=False,
        theme=gr.themes.Default(),
        css=CSS,
    )


if __name__ == "__main__":
    main()
