# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""`pipeline("video-grounding")`: where in a video does each query happen?

    import hieramamba_hf                                   # registers the task
    from transformers import pipeline
    grounder = pipeline("video-grounding", model="checkpoints/hieramamba-synthetic")
    grounder("video.mp4", query="a red ball slides to the right", top_k=3)
    # -> [{"start": 12.0, "end": 17.5, "score": 0.81}, ...]        (seconds, best first)
    grounder("video.mp4", query=["q1", "q2"])              # -> one ranked list per query; the video is decoded once
    grounder([{"video": "a.mp4", "query": "q"}, {"video": "b.mp4", "query": ["q1", "q2"]}])  # several videos

Inputs: `video` is a file path (decoded by `ssm_layers.video_io` on the model's feature clock, streamed chunk by
chunk through the model's frame encoder), a decoded frame array `(N, H, W, 3)` uint8 (taken at `video_fps`, default:
already on the clock), or precomputed clip features `(T, video_input_dim)` float. `query` is a string, precomputed
token features `(L, text_input_dim)`, or a list of them. Parameters: `top_k` (segments per query, default
`config.max_num_segments`), `video_fps`, `progress` (tqdm bar while decoding and encoding), `backend` ("pyav" /
"decord"), `duration` (seconds, for clip-feature input when the video's real duration is known),
`query_batch_size` (queries per model forward; default all; 1 lowers the peak memory of long videos with many
queries), `distinct_moment_iou` (default `config.distinct_moment_iou`, 0.9: a moment is listed once, not again with a
lower score at IoU >= 0.9; None lists soft-NMS's selections as the official evaluation sees them).
`grounder.encode_video(video)` returns a video's clip features and duration, to ground more queries later without
decoding it again.

As in transformers' video-classification pipeline, the pipeline decodes and the processor prepares: frames go
through `HieraMambaProcessor.preprocess_frames` and the model's `get_video_features`, queries through the
processor's tokenizer and the model's `get_text_features`, so every weight that runs is the model's and follows
`device=` / `dtype=`. `pipe.save_pretrained(folder)` writes the model and the processor; `pipeline("video-grounding",
model=folder)` loads them back.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import Pipeline
from transformers.utils import logging

from ssm_layers.video_io import open_video, sample_frame_array

from .modeling_hieramamba import HieraMambaForVideoGrounding, num_clips, release_free_heap
from .post_processing_hieramamba import distinct_moments
from .processing_hieramamba import HieraMambaProcessor, MissingProcessorConfigError


logger = logging.get_logger(__name__)

__all__ = ["VideoGroundingPipeline"]

_CONFIG_DEFAULT = object()  # a setting not given: the model config's value


class VideoGroundingPipeline(Pipeline):
    """Video temporal grounding pipeline (see the module docstring)."""

    _load_processor = None  # try AutoProcessor; a checkpoint without one still works on precomputed features
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def __init__(self, *args, processor=None, **kwargs):
        super().__init__(*args, processor=processor, **kwargs)
        if not isinstance(self.model, HieraMambaForVideoGrounding):
            raise TypeError(
                f"the video-grounding pipeline needs a grounding model (HieraMambaForVideoGrounding, loaded with "
                f"AutoModelForVideoGrounding), got {type(self.model).__name__}."
            )
        if self.processor is None:
            origin = getattr(self.model, "name_or_path", None) or None
            try:
                self.processor = HieraMambaProcessor.from_pretrained(origin) if origin else None
            except MissingProcessorConfigError as error:  # a model-only folder; other load errors propagate
                logger.warning(f"{error}")
            if self.processor is None:
                self.processor = HieraMambaProcessor(_origin=origin)
        if not isinstance(self.processor, HieraMambaProcessor):
            raise TypeError(f"the video-grounding pipeline needs a HieraMambaProcessor, got {type(self.processor)}.")

    def __call__(self, video, query=None, **kwargs):
        """Ground `query` (str / token features / list of them) in `video`; or pass a dict {"video", "query"} or a
        list of such dicts (several videos). Returns, per query, a ranked list of {"start", "end", "score"}
        (a list of those lists when `query` is a list)."""
        if isinstance(video, dict):
            if query is not None:
                raise ValueError("give the query inside the dict {'video': ..., 'query': ...} or as query=, not both.")
            return super().__call__(self._pack(video), **kwargs)
        if isinstance(video, (list, tuple)) and video and all(isinstance(v, dict) for v in video):
            if query is not None:
                raise ValueError("with a list of {'video', 'query'} dicts, do not pass query= as well.")
            return super().__call__([self._pack(v) for v in video], **kwargs)
        return super().__call__(self._pack({"video": video, "query": query}), **kwargs)

    @staticmethod
    def _pack(item: dict) -> dict:
        if "video" not in item or item.get("query") is None:
            raise ValueError("each input needs a 'video' and a 'query' (a string or a list of strings).")
        return {"video": item["video"], "query": item["query"]}

    def _sanitize_parameters(
        self,
        top_k=None,
        video_fps=None,
        progress=None,
        backend=None,
        duration=None,
        query_batch_size=None,
        distinct_moment_iou=_CONFIG_DEFAULT,
        **kwargs,
    ):
        if kwargs:
            raise ValueError(f"unknown video-grounding arguments: {sorted(kwargs)}.")
        if duration is not None and not duration > 0:
            raise ValueError(f"duration must be > 0 seconds, got {duration}.")
        preprocess = {"video_fps": video_fps, "backend": backend, "duration": duration}
        forward = {"progress": progress}
        if query_batch_size is not None:
            if not isinstance(query_batch_size, int) or query_batch_size < 1:
                raise ValueError(f"query_batch_size must be a positive integer, got {query_batch_size!r}.")
            forward["query_batch_size"] = query_batch_size
        postprocess = {}
        if top_k is not None:
            if not isinstance(top_k, int) or top_k < 1:
                raise ValueError(f"top_k must be a positive integer, got {top_k!r}.")
            postprocess["top_k"] = top_k
        if distinct_moment_iou is not _CONFIG_DEFAULT:
            if distinct_moment_iou is not None and not 0 < distinct_moment_iou <= 1:
                raise ValueError(f"distinct_moment_iou must be in (0, 1] or None, got {distinct_moment_iou!r}.")
            postprocess["distinct_moment_iou"] = distinct_moment_iou
        return preprocess, forward, postprocess

    def preprocess(self, inputs, video_fps=None, backend=None, duration=None):
        """Queries first (fail fast on a bad query), then the video: a lazy stream of prepared frame chunks for a
        file or a frame array (consumed by `_forward`, so no more than a chunk of frames is ever held), or clip
        features as they are."""
        config, processor = self.model.config, self.processor
        queries, single = processor.check_queries(inputs["query"])
        if isinstance(queries[0], str):
            self.model.model.require_encoder("text_model")
        query_inputs = processor(text=queries)
        video = inputs["video"]
        out = {"queries": query_inputs, "single": single, "duration": duration}
        array = None
        if not (isinstance(video, str) or hasattr(video, "__fspath__")):
            array = video.numpy() if isinstance(video, torch.Tensor) else np.asarray(video)
        if array is not None and array.ndim == 2:  # precomputed clip features
            out.update(processor(videos=array))
            self._check_length(array.shape[0])
            if out["duration"] is None:
                step = int(config.clip_stride) * int(config.downsample_rate)
                out["duration"] = ((array.shape[0] - 1) * step + config.clip_size) / config.fps
            return out
        out["frames"] = self._video_frames(video if array is None else array, video_fps, backend)
        return out

    def _video_frames(self, video, video_fps=None, backend=None) -> dict:
        """A file path or a frame array on the model's clock, checked, as a lazy stream of uint8 frame chunks:
        `{"chunks", "num_frames", "duration"}` (a file's duration is exact once its chunks are consumed)."""
        config, chunk_size = self.model.config, self.processor.chunk_size
        self.model.model.require_encoder("vision_model")  # before decoding a whole file
        if isinstance(video, str) or hasattr(video, "__fspath__"):
            reader = open_video(video, backend=backend)
            self._check_domain(reader.metadata.height, reader.metadata.width)
            num_frames = reader.num_clock_frames(config.fps)
            self._check_length(num_clips(num_frames, config))  # header count: fail early
            chunks = reader.iter_clock_frames(config.fps, chunk_size)
            return {"chunks": chunks, "num_frames": num_frames, "duration": lambda: reader.metadata.duration}
        if video.ndim != 4:
            raise ValueError(
                "video must be a file path, a frame array (num_frames, height, width, 3) uint8 or clip features "
                f"(num_clips, channels); got an array of shape {video.shape}."
            )
        array = sample_frame_array(video, config.fps, video_fps)
        self._check_domain(*array.shape[1:3])
        self._check_length(num_clips(len(array), config))
        chunks = (array[lo : lo + chunk_size] for lo in range(0, len(array), chunk_size))
        return {"chunks": chunks, "num_frames": len(array), "duration": lambda: len(array) / config.fps}

    def _encode(self, frames: dict, progress=None, on_frames=None) -> torch.Tensor:
        """Clip features `(T, video_input_dim)` of a frame stream of `_video_frames`, streamed through the
        processor and the model's frame encoder. `progress`: None / bool (a tqdm bar) or a callable
        `(frames_done, frames_total)`; `on_frames`: called with each uint8 chunk."""
        processor, total = self.processor, frames["num_frames"]
        bar = tqdm(total=total, unit="frame", desc="encoding video", disable=not progress or callable(progress))

        def prepared():
            done = 0
            for chunk in frames["chunks"]:
                if on_frames is not None:
                    on_frames(chunk)
                done += len(chunk)
                bar.update(len(chunk))
                if callable(progress):
                    progress(done, total)
                yield processor.preprocess_frames(chunk)

        with bar:
            features = self.model.model.get_video_features(prepared(), total)
        self._check_length(features.shape[0])  # exact once decoded
        return features

    def encode_video(self, video, video_fps=None, backend=None, progress=None, on_frames=None):
        """Clip features `(T, video_input_dim)` and duration (seconds) of a video file or frame array: the pipeline's
        own decoding and encoding, for an application that keeps a video's features to ground more queries later
        (pass them back as the video, with `duration=`). `progress`: bool (a tqdm bar) or a callable
        `(frames_done, frames_total)`; `on_frames`: called with each decoded uint8 chunk (e.g. to keep thumbnails)."""
        frames = self._video_frames(video, video_fps, backend)
        with torch.inference_mode(), self.device_placement():
            features = self._encode(frames, progress, on_frames)
        return features, frames["duration"]()

    def _check_length(self, clips: int):
        """A video shorter than `config.min_video_clips` clips is refused (a moment needs a longer video)."""
        config = self.model.config
        if clips < config.min_video_clips:
            step = int(config.clip_stride) * int(config.downsample_rate)

            def seconds(n):
                return (max(n - 1, 0) * step + config.clip_size) / config.fps if n else 0.0

            raise ValueError(
                f"the video is too short for this model: {clips} clip(s) ({seconds(clips):.3g} s) where it needs at "
                f"least {config.min_video_clips} ({seconds(config.min_video_clips):.3g} s at {config.fps:g} fps)."
            )

    def _check_domain(self, height: int, width: int):
        """Warn once per pipeline when a model made for one frame size (`config.training_frame_size`, the
        synthetic demo model) grounds a video of another size: it was not made for it."""
        size = self.model.config.training_frame_size
        if size is None or [height, width] == list(size) or getattr(self, "_warned_domain", False):
            return
        self._warned_domain = True
        logger.warning(
            f"this model was trained only on {self.model.config.training_data or 'videos of another kind'} "
            f"({size[0]}x{size[1]} pixels); this video is {height}x{width}, so its answers are probably meaningless."
        )

    def _forward(self, inputs, progress=None, query_batch_size=None):
        """Encode the video (streamed) and the queries once, then one model forward for all queries of the video
        (the official evaluator's batching), or groups of `query_batch_size` queries: with early fusion the backbone
        runs once per query anyway, so groups only lower the peak memory of long videos."""
        model = self.model
        if "video_features" in inputs:
            video_features, duration = inputs["video_features"].to(model.dtype), inputs["duration"]
        else:
            video_features = self._encode(inputs["frames"], progress)[None]
            duration = inputs["duration"] if inputs["duration"] is not None else inputs["frames"]["duration"]()
        queries = inputs["queries"]
        if "input_ids" in queries:
            text_features, text_mask = model.model.get_text_features(queries["input_ids"], queries["attention_mask"])
        else:
            text_features, text_mask = queries["text_features"].to(model.dtype), queries["text_mask"]
        num_queries = text_features.shape[0]
        size = query_batch_size or num_queries
        parts = []
        for lo in range(0, num_queries, size):
            out = model(
                video_features=video_features,
                text_features=text_features[lo : lo + size],
                text_mask=text_mask[lo : lo + size],
                queries_per_video=torch.tensor([min(size, num_queries - lo)]),
            )
            parts.append({k: out[k] for k in ("logits", "offsets", "points_mask")})
            points = out["points"]
            del out
            release_free_heap()  # the activations of a long video are freed: return their pages
        outputs = {k: torch.cat([p[k] for p in parts]) for k in ("logits", "offsets", "points_mask")}
        outputs.update(points=points, queries_per_video=torch.tensor([num_queries]))
        return {"outputs": outputs, "duration": duration, "single": inputs["single"]}

    def postprocess(self, model_outputs, top_k=None, distinct_moment_iou=_CONFIG_DEFAULT):
        config = self.model.config
        top_k = top_k or config.max_num_segments
        if distinct_moment_iou is _CONFIG_DEFAULT:
            distinct_moment_iou = config.distinct_moment_iou
        # soft-NMS may select one moment several times: select more, then keep the distinct ones
        selections = top_k if distinct_moment_iou is None else 4 * top_k
        results = self.processor.post_process_video_grounding(
            model_outputs["outputs"], [model_outputs["duration"]], config, max_num_segments=selections
        )
        if distinct_moment_iou is not None:
            results = [distinct_moments(query, distinct_moment_iou, top_k) for query in results]
        ranked = [
            [{"start": r["segment"][0], "end": r["segment"][1], "score": r["score"]} for r in query]
            for query in results
        ]
        return ranked[0] if model_outputs["single"] else ranked

    def save_pretrained(self, save_directory: str, **kwargs):
        """Save the model (encoders included) and the processor, so `pipeline("video-grounding",
        model=save_directory)` loads the same pipeline."""
        self.model.save_pretrained(save_directory, **kwargs)
        self.processor.save_pretrained(save_directory)
