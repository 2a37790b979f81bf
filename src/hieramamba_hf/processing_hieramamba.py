# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""HieraMamba processor: prepares decoded video frames and query text for `HieraMambaForVideoGrounding`, and turns
its outputs into ranked moments in seconds. The encoders themselves are sub-models of the grounding model
(`vision_model`, `text_model`); the processor holds only what prepares their inputs:

* `image_processor` (optional): the image processor of a transformers vision model (e.g. CLIP's), used with its
  PIL backend (no torchvision). Without one, frames are only rescaled to `[0, 1]`, which is what
  `SimpleFrameEncoderModel` takes (at any resolution).
* `tokenizer` (optional): the tokenizer of the text model.

A checkpoint folder holds `processor_config.json` plus the tokenizer's files and the image processor's
`preprocessor_config.json` next to the model's `config.json` and weights; `AutoProcessor.from_pretrained(folder)`
loads it. A checkpoint that takes precomputed features only (the official ones) needs no processor:
`HieraMambaProcessor()` collates features and post-processes.

The processor knows nothing of time: the feature clock (`fps`, `clip_size`, `clip_stride`, `downsample_rate`) and
the decoding settings are the model config's. Video files are decoded by `ssm_layers.video_io` (the grounding
pipeline streams them chunk by chunk through `preprocess_frames` and the model's `get_video_features`).
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch
from huggingface_hub import snapshot_download
from transformers import AutoImageProcessor, AutoTokenizer, BatchFeature
from transformers.processing_utils import ProcessorMixin

from ssm_layers.remote_code import write_auto_map_shims

from .configuration_hieramamba import AUTO_MAP
from .post_processing_hieramamba import post_process_model_outputs


__all__ = ["HieraMambaProcessor", "MissingProcessorConfigError"]

PROCESSOR_CONFIG_NAME = "processor_config.json"


class MissingProcessorConfigError(ValueError):
    """The checkpoint folder has no processor_config.json (a model-only checkpoint)."""


class HieraMambaProcessor(ProcessorMixin):
    r"""
    Prepares inputs of [`HieraMambaForVideoGrounding`] and post-processes its outputs (see the module docstring).

    Args:
        image_processor (*optional*): image processor of the model's vision model (PIL backend); None rescales
            frames to `[0, 1]` only (the input of `SimpleFrameEncoderModel`).
        tokenizer (*optional*): tokenizer of the model's text model; None means queries must be token features.
        chunk_size (`int`, defaults to 16): sampled frames decoded and encoded at a time by the grounding pipeline
            (bounds the memory of long videos).
    """

    def __init__(self, image_processor=None, tokenizer=None, chunk_size: int = 16, **kwargs):
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
        self.image_processor, self.tokenizer, self.chunk_size = image_processor, tokenizer, int(chunk_size)
        self.chat_template = None
        self._origin = kwargs.pop("_origin", None)  # where it was loaded from (for error messages)
        if kwargs:
            raise TypeError(f"HieraMambaProcessor got unexpected arguments {sorted(kwargs)}.")

    @classmethod
    def from_components(cls, vision_model: str | None = None, text_model: str | None = None, **kwargs):
        """The processor of a model built with `HieraMambaForVideoGrounding.from_components`: the image processor of
        the Hub id / folder `vision_model` (None or "simple": rescaling only) and the tokenizer of `text_model`."""
        image_processor = None
        if vision_model not in (None, "simple"):
            image_processor = AutoImageProcessor.from_pretrained(os.fspath(vision_model), backend="pil")
        tokenizer = AutoTokenizer.from_pretrained(os.fspath(text_model)) if text_model is not None else None
        return cls(image_processor, tokenizer, **kwargs)

    # ------------------------------------------------------------------ video
    def preprocess_frames(self, frames) -> torch.FloatTensor:
        """`pixel_values` `(N, 3, H, W)` float32 of decoded RGB frames `(N, H, W, 3)` uint8 (numpy or torch)."""
        frames = frames.numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(
                f"frames must be (num_frames, height, width, 3) uint8 RGB, got {frames.shape} {frames.dtype}."
            )
        if len(frames) == 0:
            raise ValueError("the video has zero frames.")
        if self.image_processor is None:
            return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
        return self.image_processor(list(frames), return_tensors="pt")["pixel_values"].float()

    # ------------------------------------------------------------------ text
    def tokenize(self, queries: list[str]) -> BatchFeature:
        """`input_ids` / `attention_mask` `(Q, L)` of the query strings (padded, never truncated: an over-long
        query is an error)."""
        if self.tokenizer is None:
            where = f"the checkpoint {self._origin!r}" if self._origin else "this processor"
            raise ValueError(
                f"{where} has no tokenizer, so it cannot read query strings: pass precomputed token features "
                "(L, text_input_dim) instead, or use a checkpoint with a text model."
            )
        tokens = self.tokenizer(queries, padding=True, return_tensors="pt")
        limit = self.tokenizer.model_max_length
        lengths = tokens["attention_mask"].sum(1).tolist()
        for i, length in enumerate(lengths):
            if limit is not None and limit < 1e9 and length > limit:
                raise ValueError(
                    f"query {i} has {length} tokens but the text model reads at most {limit}: shorten it."
                )
        return BatchFeature({"input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"]})

    @staticmethod
    def check_queries(text) -> tuple[list, bool]:
        """The queries as a list (strings, or token features `(L, C)`), and whether one query was given alone."""
        single = isinstance(text, str) or (isinstance(text, (np.ndarray, torch.Tensor)) and text.ndim == 2)
        queries = [text] if single else list(text)
        if not queries:
            raise ValueError("no query given: pass a query string or a non-empty list of queries.")
        strings = [isinstance(q, str) for q in queries]
        if any(strings) and not all(strings):
            raise ValueError("give all queries as strings or all as token features, not a mix.")
        for i, query in enumerate(queries):
            if isinstance(query, str):
                if not query.strip():
                    raise ValueError(f"query {i} is empty: a query must contain some text.")
            elif not isinstance(query, (np.ndarray, torch.Tensor)):
                raise ValueError(f"query {i} must be a string or token features, got {type(query).__name__}.")
        return queries, single

    @staticmethod
    def pad_token_features(queries) -> dict:
        """Token features `(L_i, C)` of Q queries -> `text_features` `(Q, max L, C)` float32 and `text_mask`."""
        features = []
        for i, query in enumerate(queries):
            tokens = torch.as_tensor(query)
            if tokens.ndim != 2 or tokens.shape[0] == 0 or not tokens.is_floating_point():
                raise ValueError(
                    f"precomputed query {i} must be float token features (L > 0, C), got {tuple(tokens.shape)}."
                )
            features.append(tokens.float())
        widths = {q.shape[1] for q in features}
        if len(widths) != 1:
            raise ValueError(f"all queries must have the same feature width, got {sorted(widths)}.")
        length = max(q.shape[0] for q in features)
        text = torch.zeros(len(features), length, widths.pop())
        mask = torch.zeros(len(features), length, dtype=torch.bool)
        for i, q in enumerate(features):
            text[i, : q.shape[0]], mask[i, : q.shape[0]] = q, True
        return {"text_features": text, "text_mask": mask}

    # ------------------------------------------------------------------ model inputs
    def __call__(self, videos=None, text=None, return_tensors="pt", **kwargs) -> BatchFeature:
        """Inputs of `HieraMambaForVideoGrounding` for ONE video and its queries.

        videos: decoded frames `(N, H, W, 3)` uint8 sampled on the model's clock (-> `pixel_values_videos`, for
            `model.model.get_video_features`), or precomputed clip features `(T, C)` float (-> `video_features`,
            `video_mask`). Decode a file with `ssm_layers.video_io` or use `pipeline("video-grounding")`.
        text: a query string or a list of them (-> `input_ids`, `attention_mask`), or token features `(L, C)` /
            a list of them (-> `text_features`, `text_mask`).
        Returns a `BatchFeature` with those keys and `queries_per_video` = [Q].
        """
        if kwargs:
            raise TypeError(f"HieraMambaProcessor got unexpected arguments {sorted(kwargs)}.")
        data = {}
        if videos is not None:
            if isinstance(videos, (str, os.PathLike)):
                raise ValueError(
                    "HieraMambaProcessor takes decoded frames or clip features, not a file: decode it with "
                    "ssm_layers.video_io.open_video, or ground it with pipeline('video-grounding')."
                )
            array = videos.numpy() if isinstance(videos, torch.Tensor) else np.asarray(videos)
            if array.ndim == 4:
                data["pixel_values_videos"] = self.preprocess_frames(array)
            elif array.ndim == 2 and np.issubdtype(array.dtype, np.floating) and array.shape[0] > 0:
                data["video_features"] = torch.as_tensor(array, dtype=torch.float32)[None]
                data["video_mask"] = torch.ones(1, array.shape[0], dtype=torch.bool)
            else:
                raise ValueError(
                    "videos must be decoded frames (num_frames, height, width, 3) uint8 or clip features "
                    f"(num_clips, channels) float; got an array of shape {array.shape} and dtype {array.dtype}."
                )
        if text is not None:
            queries, _ = self.check_queries(text)
            if isinstance(queries[0], str):
                data.update(self.tokenize(queries))
            else:
                data.update(self.pad_token_features(queries))
            data["queries_per_video"] = torch.tensor([len(queries)])
        if not data:
            raise ValueError("HieraMambaProcessor needs `videos` (one video) and/or `text` (one or more queries).")
        return BatchFeature(data=data, tensor_type=return_tensors)

    @property
    def model_input_names(self):
        return [
            "video_features",
            "video_mask",
            "text_features",
            "text_mask",
            "input_ids",
            "attention_mask",
            "queries_per_video",
        ]

    # ------------------------------------------------------------------ outputs
    def post_process_video_grounding(
        self, outputs, video_durations, config, queries_per_video=None, fps=None, **settings
    ) -> list[list[dict]]:
        """Ranked moments in seconds for every query of a `HieraMambaForVideoGrounding` output: decoding, Gaussian
        soft-NMS and segment voting with the settings of `config` (the model's; keyword `settings` override them).

        video_durations: (B,) seconds per video; queries_per_video: (B,) (default: the one in `outputs`); fps: (B,)
        per-video fps (default `config.fps`). Returns Q lists of {"segment": (start_s, end_s), "score": float}."""
        return post_process_model_outputs(outputs, video_durations, config, queries_per_video, fps, **settings)

    # ------------------------------------------------------------------ save / load
    def to_dict(self) -> dict:
        return {
            "processor_class": type(self).__name__,
            "chunk_size": self.chunk_size,
            # which sub-processors are saved next to this file (a flat "image_processor" key would be read by
            # AutoImageProcessor as the image processor's own config)
            "components": {
                "image_processor": self.image_processor is not None,
                "tokenizer": self.tokenizer is not None,
            },
            "auto_map": {"AutoProcessor": AUTO_MAP["AutoProcessor"]},
        }

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def __repr__(self):
        return f"{type(self).__name__}({self.to_json_string()})"

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs):
        """Write processor_config.json, the tokenizer and image processor files and the processor's auto_map shim."""
        if push_to_hub:
            raise ValueError("save the processor, then upload the folder (hub_hieramamba.push_to_hub).")
        os.makedirs(save_directory, exist_ok=True)
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(save_directory)
        if self.image_processor is not None:
            self.image_processor.save_pretrained(save_directory)
        path = os.path.join(save_directory, PROCESSOR_CONFIG_NAME)
        with open(path, "w") as f:
            f.write(self.to_json_string())
        write_auto_map_shims(str(save_directory), "hieramamba_hf", AUTO_MAP, ("processing_hieramamba.py",))
        return [path]

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path,
        cache_dir=None,
        force_download=False,
        local_files_only=False,
        token=None,
        revision=None,
        **kwargs,
    ) -> HieraMambaProcessor:
        """Load from a checkpoint folder or Hub id (cache and HF_HUB_OFFLINE honoured)."""
        origin = os.fspath(pretrained_model_name_or_path)
        hub_kwargs = {
            "cache_dir": cache_dir,
            "force_download": force_download,
            "token": token,
            "local_files_only": local_files_only,
            "revision": revision,
        }
        if os.path.isdir(origin):
            folder = origin
        else:
            try:
                folder = snapshot_download(
                    origin, allow_patterns=["*.json", "*.txt", "*.model", "*.jinja"], **hub_kwargs
                )
            except Exception as error:
                raise OSError(f"could not find a HieraMamba processor for {origin!r}: {error}") from error
        path = os.path.join(folder, PROCESSOR_CONFIG_NAME)
        if not os.path.isfile(path):
            raise MissingProcessorConfigError(
                f"the checkpoint {origin!r} has no {PROCESSOR_CONFIG_NAME}: it takes precomputed clip and token "
                "features only (save a HieraMambaProcessor next to the model to ground video files and query text)."
            )
        with open(path) as f:
            config = json.load(f)
        if config.get("processor_class") != cls.__name__:
            raise ValueError(f"{path} is a {config.get('processor_class')!r}, not a {cls.__name__}.")
        components = config.get("components", {})
        image_processor = (
            AutoImageProcessor.from_pretrained(folder, backend="pil") if components.get("image_processor") else None
        )
        tokenizer = AutoTokenizer.from_pretrained(folder) if components.get("tokenizer") else None
        return cls(image_processor, tokenizer, chunk_size=config.get("chunk_size", 16), _origin=origin)
