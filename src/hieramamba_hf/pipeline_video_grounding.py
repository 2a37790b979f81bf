"""`pipeline("video-grounding")`: where in a video does each query happen?

    import hieramamba_hf                                   # registers the task
    from transformers import pipeline
    grounder = pipeline("video-grounding", model="checkpoints/hieramamba-synthetic")
    grounder("video.mp4", query="a red ball slides to the right", top_k=3)
    # -> [{"start": 12.0, "end": 17.5, "score": 0.81}, ...]        (seconds, best first)
    grounder("video.mp4", query=["q1", "q2"])              # -> one ranked list per query; the video is decoded once
    grounder([{"video": "a.mp4", "query": "q"}, {"video": "b.mp4", "query": ["q1", "q2"]}])  # several videos

Inputs: `video` is a file path (decoded with decord, PyAV fallback, on the checkpoint's feature clock), a decoded
frame array `(N, H, W, 3)` uint8 (taken at `video_fps`, default: already on the clock), or precomputed clip features
`(T, video_input_dim)` float. `query` is a string, precomputed token features `(L, text_input_dim)`, or a list of
them. Parameters: `top_k` (segments per query, default `config.max_num_segments`), `video_fps`, `progress` (tqdm
bar while decoding), `backend` ("decord" / "pyav"), `duration` (seconds, for clip-feature input when the video's
real duration is known), `query_batch_size` (queries per model forward; default all; 1 lowers the peak memory of
long videos with many queries).

The model and processor come from one checkpoint (`HieraMambaProcessor` carries / names the encoders); a checkpoint
without encoders still grounds precomputed features and gives a clear error for videos or query strings.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import Pipeline
from transformers.utils import logging

from .processing_hieramamba import HieraMambaProcessor, MissingProcessorConfigError, release_free_heap


logger = logging.get_logger(__name__)

__all__ = ["VideoGroundingPipeline"]


class VideoGroundingPipeline(Pipeline):
    """Video temporal grounding pipeline (see the module docstring)."""

    _load_processor = None  # try AutoProcessor; a checkpoint without one still works on precomputed features
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def __init__(self, *args, processor=None, **kwargs):
        super().__init__(*args, processor=processor, **kwargs)
        if not hasattr(self.model, "post_process_video_grounding"):
            raise TypeError(
                f"the video-grounding pipeline needs a grounding model (e.g. HieraMambaForVideoGrounding, loaded with "
                f"AutoModelForVideoGrounding), got {type(self.model).__name__}."
            )
        if self.processor is None:
            origin = getattr(self.model, "name_or_path", None) or None
            try:
                self.processor = HieraMambaProcessor.from_pretrained(origin) if origin else None
            except MissingProcessorConfigError as error:  # a model-only folder; other load errors propagate
                logger.warning(f"{error} Only precomputed clip and token features can be grounded.")
            if self.processor is None:
                self.processor = HieraMambaProcessor.from_model_config(self.model.config, _origin=origin)
        if not isinstance(self.processor, HieraMambaProcessor):
            raise TypeError(f"the video-grounding pipeline needs a HieraMambaProcessor, got {type(self.processor)}.")
        config = self.model.config
        self.processor.check_clock(config)
        for name, encoder, width in (
            ("frame encoder", self.processor.frame_encoder, config.video_input_dim),
            ("text encoder", self.processor.text_encoder, config.text_input_dim),
        ):
            if encoder is not None and encoder.output_dim != width:
                raise ValueError(f"the {name} gives {encoder.output_dim}-d features but the model expects {width}.")

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

    def _sanitize_parameters(self, top_k=None, video_fps=None, progress=None, backend=None, duration=None,
                             query_batch_size=None, **kwargs):  # fmt: skip
        if kwargs:
            raise ValueError(f"unknown video-grounding arguments: {sorted(kwargs)}.")
        preprocess = {"video_fps": video_fps, "progress": progress, "backend": backend, "duration": duration}
        forward = {}
        if query_batch_size is not None:
            if not isinstance(query_batch_size, int) or query_batch_size < 1:
                raise ValueError(f"query_batch_size must be a positive integer, got {query_batch_size!r}.")
            forward["query_batch_size"] = query_batch_size
        postprocess = {}
        if top_k is not None:
            if not isinstance(top_k, int) or top_k < 1:
                raise ValueError(f"top_k must be a positive integer, got {top_k!r}.")
            postprocess["top_k"] = top_k
        return preprocess, forward, postprocess

    def preprocess(self, inputs, video_fps=None, progress=None, backend=None, duration=None):
        query = inputs["query"]
        single = isinstance(query, str) or (isinstance(query, (np.ndarray, torch.Tensor)) and query.ndim == 2)
        queries = [query] if single else list(query)
        query_features = self.processor.encode_queries(queries)  # before decoding: fail fast on a bad query
        video_features, video_duration = self.processor.encode_video(
            inputs["video"], video_fps=video_fps, progress=progress, backend=backend
        )
        if duration is not None:
            if not duration > 0:
                raise ValueError(f"duration must be > 0 seconds, got {duration}.")
            video_duration = float(duration)
        model_inputs = self.processor.collate(video_features, query_features)
        model_inputs["video_features"] = model_inputs["video_features"].to(self.dtype or torch.float32)
        model_inputs["text_features"] = model_inputs["text_features"].to(self.dtype or torch.float32)
        return {"model_inputs": model_inputs, "duration": video_duration, "single": single}

    def _forward(self, inputs, query_batch_size=None):
        """One forward for all queries of the video (the official evaluator's batching), or groups of
        `query_batch_size` queries: with early fusion the backbone runs once per query anyway, so groups only lower
        the peak memory of long videos (results equal up to the official batch-wide mask quirk, see the config's
        exact_block_masking)."""
        model_inputs = inputs["model_inputs"]
        num_queries = model_inputs["text_features"].shape[0]
        size = query_batch_size or num_queries
        parts = []
        for lo in range(0, num_queries, size):
            group = dict(model_inputs, text_features=model_inputs["text_features"][lo : lo + size],
                         text_mask=model_inputs["text_mask"][lo : lo + size],
                         queries_per_video=torch.tensor([min(size, num_queries - lo)]))  # fmt: skip
            out = self.model(**group)
            parts.append({k: out[k] for k in ("logits", "offsets", "points_mask")})
            points = out["points"]
            del out
            release_free_heap()  # the activations of a long video are freed: return their pages
        kept = {k: torch.cat([p[k] for p in parts]) for k in ("logits", "offsets", "points_mask")}
        kept.update(points=points, queries_per_video=torch.tensor([num_queries]))
        return {"outputs": kept, "duration": inputs["duration"], "single": inputs["single"]}

    def postprocess(self, model_outputs, top_k=None):
        config = self.model.config
        settings = {}
        if top_k is not None:
            settings["max_num_segments"] = top_k
        outputs = model_outputs["outputs"]
        results = self.model.post_process_video_grounding(
            _Outputs(outputs), [model_outputs["duration"]], outputs["queries_per_video"], fps=[config.fps], **settings
        )
        ranked = [
            [{"start": seg["segment"][0], "end": seg["segment"][1], "score": seg["score"]} for seg in query][:top_k]
            for query in results
        ]
        return ranked[0] if model_outputs["single"] else ranked


class _Outputs(dict):
    """The kept model outputs with attribute access, as `post_process_video_grounding` expects."""

    __getattr__ = dict.__getitem__
