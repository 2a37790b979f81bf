"""HieraMamba processor: raw video + query text -> the model's clip / token features, with the encoders travelling
inside the checkpoint folder.

How the encoders travel with a checkpoint (one `from_pretrained` brings everything)::

    checkpoint/
      config.json, model.safetensors        HieraMambaConfig (incl. the feature clock) + grounding weights
      processor_config.json                 HieraMambaProcessor: the clock and one entry per encoder
      frame_encoder/                        the frame encoder: SimpleFrameEncoder's preprocessor_config.json, or an
                                            HF image model (config.json + model.safetensors) + its image processor
      text_encoder/                         an HF text model (config.json + model.safetensors) + its tokenizer
      *_hieramamba.py                       auto_map shims (see `hub_hieramamba`)

`processor_config.json` names each encoder::

    "frame_encoder": {"type": "simple" | "hf_image" | null, "subfolder": "frame_encoder" | null,
                      "name_or_path": hub id it came from, "python_package": pip package shipping it, "embedding": ...}
    "text_encoder":  {"type": "hf_text" | null, ...same keys...}

An encoder is either *contained* (`subfolder` set: loaded from that subfolder of the checkpoint) or *named*
(`subfolder` null: loaded from the folder of the installed `python_package` when importable, else from
`name_or_path`, a Hub id or path, through the usual cache / offline rules). Naming keeps checkpoints small when the
encoder is a public model (e.g. MiniLM, 90 MB). Type null means "no encoder": that input must be given as
precomputed features. `name_or_path` of every encoder becomes a `base_model` of the model card.

Feature clock (must equal the model config's `fps`, `clip_size`, `clip_stride`, `downsample_rate`): frames are
sampled at `fps` (see `video_io`); clip i covers sampled frames [i * s, i * s + clip_size) with
s = clip_stride * downsample_rate, and its feature is the mean of its frames' embeddings (an HF image model's
`image_embeds` / `pooler_output`, or the SimpleFrameEncoder feature). Query token features are an HF text model's
`last_hidden_state` over all tokens, special tokens included (what the synthetic set and SnAG-style text features use).
Decoding and encoding stream in chunks of `chunk_size` sampled frames; only the clip features are kept.
"""

from __future__ import annotations

import inspect
import json
import os

import numpy as np
import torch
from transformers import BatchFeature
from transformers.processing_utils import ProcessorMixin

from .frame_encoder import SimpleFrameEncoder
from .video_io import SampledVideo, sample_frame_array


__all__ = [
    "ClipPooler",
    "release_free_heap",
    "HFImageFrameEncoder",
    "HFTextQueryEncoder",
    "HieraMambaProcessor",
    "MissingEncoderError",
    "MissingProcessorConfigError",
]

PROCESSOR_CONFIG_NAME = "processor_config.json"
_CLOCK = ("fps", "clip_size", "clip_stride", "downsample_rate")


class MissingEncoderError(ValueError):
    """The checkpoint has no encoder for this kind of input (pass precomputed features, or add the encoder)."""


class MissingProcessorConfigError(MissingEncoderError):
    """The checkpoint folder has no processor_config.json at all (a model-only checkpoint)."""


def release_free_heap():
    """Give freed heap pages back to the OS (glibc `malloc_trim`; no-op elsewhere). Decoders and encoders allocate
    large short-lived buffers between small long-lived ones; without this, glibc keeps the holes and RSS creeps up
    with the video's length although nothing is retained (benchmarks/pipeline_memory.py: 60 min of 224 px video at
    2 fps, decord, peak 903 MB without, 817 MB trimming every 32 chunks, 725 MB every 8). Called every 8 chunks;
    the re-faulting of the freed pages costs a few percent of the encoding time."""
    global _MALLOC_TRIM
    if _MALLOC_TRIM is None:
        try:
            import ctypes  # noqa: PLC0415

            _MALLOC_TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _MALLOC_TRIM = False
    if _MALLOC_TRIM:
        _MALLOC_TRIM(0)


_MALLOC_TRIM = None


# ----------------------------------------------------------------------------------------------------------------
# clip pooling on the feature clock
# ----------------------------------------------------------------------------------------------------------------
class ClipPooler:
    """Streaming clip features: push per-frame features chunk by chunk, get the clips completed so far.
    Clip i = mean of frames [i * step, i * step + clip_size). Only the frames of unfinished clips are kept."""

    def __init__(self, clip_size: int, step: int):
        if clip_size < 1 or step < 1:
            raise ValueError(f"clip_size and clip step must be >= 1, got {clip_size} and {step}.")
        self.clip_size, self.step = int(clip_size), int(step)
        self.buffer = None  # frame features from global frame index `self.offset`
        self.offset = 0
        self.next_clip = 0

    def push(self, frame_features: torch.Tensor) -> torch.Tensor:
        buffer = frame_features if self.buffer is None else torch.cat((self.buffer, frame_features))
        end = self.offset + buffer.shape[0]
        count = max(0, (end - self.clip_size - self.next_clip * self.step) // self.step + 1)
        start = self.next_clip * self.step - self.offset
        if count:
            window = buffer[start : start + (count - 1) * self.step + self.clip_size]
            clips = window.unfold(0, self.clip_size, self.step).mean(-1)  # (count, C): mean over each clip
        else:
            clips = buffer.new_zeros((0, buffer.shape[1]))
        self.next_clip += count
        keep_from = min(self.next_clip * self.step, end) - self.offset
        self.buffer, self.offset = buffer[keep_from:].clone(), self.offset + keep_from
        return clips


# ----------------------------------------------------------------------------------------------------------------
# encoders
# ----------------------------------------------------------------------------------------------------------------
_VISION_CLASSES = {"clip": "CLIPVisionModelWithProjection", "clip_vision_model": "CLIPVisionModelWithProjection",
                   "siglip": "SiglipVisionModel", "siglip_vision_model": "SiglipVisionModel"}
_TEXT_CLASSES = {"clip": "CLIPTextModel", "clip_text_model": "CLIPTextModel", "siglip": "SiglipTextModel",
                 "siglip_text_model": "SiglipTextModel"}


def _load_hf_model(name_or_path: str, class_name: str | None = None, dtype=torch.float32):
    """Load `class_name` (a transformers class name, e.g. CLIPVisionModelWithProjection, which keeps the
    projection AutoModel would drop) from a folder or Hub id; default: the config's `architectures[0]`, else
    AutoModel. A tower loaded from a full CLIP checkpoint gets the CLIP config's projection width."""
    import transformers  # noqa: PLC0415

    config = transformers.AutoConfig.from_pretrained(name_or_path)
    class_name = class_name or (config.architectures or [None])[0]
    model_class = getattr(transformers, class_name, None) if class_name else None
    if model_class is None:
        model_class = transformers.AutoModel
    extra = {}
    if config.model_type == "clip" and model_class.__name__ != "CLIPModel":
        extra["projection_dim"] = config.projection_dim  # the sub-configs of a CLIP checkpoint may lack it
    return model_class.from_pretrained(name_or_path, dtype=dtype, **extra).eval()


class HFImageFrameEncoder:
    """Per-frame embeddings from any HF image model: `image_embeds` (CLIP/SigLIP `...WithProjection`, e.g. MAD's
    CLIP-B/32 512-d features), else `pooler_output`. Frames go through the image processor's PIL/numpy path.

    embedding: "image_embeds", "pooler_output", "cls" (last_hidden_state[:, 0]) or "auto"."""

    def __init__(self, model, image_processor, embedding: str = "auto", batch_size: int = 32):
        if embedding == "auto":
            embedding = "image_embeds" if type(model).__name__.endswith("WithProjection") else "pooler_output"
        if embedding not in ("image_embeds", "pooler_output", "cls"):
            raise ValueError(f"embedding must be 'image_embeds', 'pooler_output', 'cls' or 'auto', got {embedding!r}.")
        self.model, self.image_processor = model.eval(), image_processor
        self.embedding, self.batch_size = embedding, int(batch_size)
        config = model.config
        self.output_dim = int(config.projection_dim if embedding == "image_embeds" else config.hidden_size)

    @torch.no_grad()
    def encode_frames(self, frames) -> torch.Tensor:
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be (N, H, W, 3) uint8, got {frames.shape} {frames.dtype}.")
        outputs = []
        for lo in range(0, len(frames), self.batch_size):
            batch = self.image_processor(list(frames[lo : lo + self.batch_size]), return_tensors="pt")
            pixel_values = batch["pixel_values"].to(self.model.device, self.model.dtype)
            out = self.model(pixel_values=pixel_values)
            if self.embedding == "cls":
                emb = out.last_hidden_state[:, 0]
            else:
                emb = getattr(out, self.embedding)
            outputs.append(emb.float().cpu())
        return torch.cat(outputs)

    def save_pretrained(self, folder):
        self.model.save_pretrained(folder)
        self.image_processor.save_pretrained(folder)

    @classmethod
    def from_pretrained(cls, name_or_path, embedding="auto", batch_size=32, class_name=None):
        """From a folder or Hub id: the image processor (PIL backend) and `class_name` (default: by model type,
        CLIP -> CLIPVisionModelWithProjection, SigLIP -> SiglipVisionModel, else the config's architecture)."""
        from transformers import AutoConfig, AutoImageProcessor  # noqa: PLC0415

        if class_name is None:
            class_name = _VISION_CLASSES.get(AutoConfig.from_pretrained(name_or_path).model_type)
        image_processor = AutoImageProcessor.from_pretrained(name_or_path, backend="pil")  # no torchvision
        return cls(_load_hf_model(name_or_path, class_name), image_processor, embedding, batch_size)


class HFTextQueryEncoder:
    """Query token features from an HF text model (BERT/MiniLM, CLIP text, ...): `last_hidden_state` of every token
    (special tokens included), one query at a time (features do not depend on batch padding);
    embedding="text_embeds" gives the projected pooled embedding of a `...WithProjection` model as one token."""

    def __init__(self, model, tokenizer, embedding: str = "last_hidden_state", max_length: int | None = None):
        if embedding not in ("last_hidden_state", "text_embeds"):
            raise ValueError(f"embedding must be 'last_hidden_state' or 'text_embeds', got {embedding!r}.")
        self.model, self.tokenizer, self.embedding = model.eval(), tokenizer, embedding
        self.max_length = max_length
        self._accepted = set(inspect.signature(model.forward).parameters)  # e.g. CLIP text takes no token_type_ids
        config = model.config
        self.output_dim = int(config.projection_dim if embedding == "text_embeds" else config.hidden_size)

    @torch.no_grad()
    def encode(self, queries: list[str]) -> list[torch.Tensor]:
        features = []
        for query in queries:
            kwargs = {"truncation": True, "max_length": self.max_length} if self.max_length else {}
            inputs = self.tokenizer(query, return_tensors="pt", **kwargs).to(self.model.device)
            out = self.model(**{k: v for k, v in inputs.items() if k in self._accepted})
            emb = out.text_embeds if self.embedding == "text_embeds" else out.last_hidden_state[0]
            features.append(emb.reshape(-1, emb.shape[-1]).float().cpu())
        return features

    def save_pretrained(self, folder):
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)

    @classmethod
    def from_pretrained(cls, name_or_path, embedding="last_hidden_state", max_length=None, class_name=None):
        """From a folder or Hub id: the tokenizer and `class_name` (default: by model type, CLIP -> CLIPTextModel,
        SigLIP -> SiglipTextModel, else the config's architecture)."""
        from transformers import AutoConfig, AutoTokenizer  # noqa: PLC0415

        if class_name is None:
            class_name = _TEXT_CLASSES.get(AutoConfig.from_pretrained(name_or_path).model_type)
        model = _load_hf_model(name_or_path, class_name)
        return cls(model, AutoTokenizer.from_pretrained(name_or_path), embedding, max_length)


def _resolve_named_encoder(entry: dict, kind: str, **hub_kwargs) -> str:
    """Folder of a named (not contained) encoder: the installed python package's model folder, else the
    `name_or_path` (local folder, or Hub id through the cache / offline rules)."""
    package = entry.get("python_package")
    if package:
        try:
            module = __import__(package)
        except ImportError:
            module = None
        if module is not None:
            if hasattr(module, "get_model_path"):
                return str(module.get_model_path())
            return os.path.dirname(module.__file__)
    name = entry.get("name_or_path")
    if not name:
        raise MissingEncoderError(
            f"the {kind} is named but neither its python_package ({package!r}) is installed nor a name_or_path given."
        )
    if os.path.isdir(name):
        return name
    from huggingface_hub import snapshot_download  # noqa: PLC0415

    try:
        return snapshot_download(name, **hub_kwargs)
    except Exception as error:  # noqa: BLE001
        hint = f" (pip install {package.replace('_', '-')})" if package else ""
        raise MissingEncoderError(f"could not load the {kind} {name!r}{hint}: {error}") from error


# ----------------------------------------------------------------------------------------------------------------
# processor
# ----------------------------------------------------------------------------------------------------------------
class HieraMambaProcessor(ProcessorMixin):
    r"""Turns a video (file path, decoded frame array, or precomputed clip features) and queries (strings or
    precomputed token features) into `HieraMambaForVideoGrounding` inputs, on the checkpoint's feature clock.

    Args:
        frame_encoder: `SimpleFrameEncoder`, `HFImageFrameEncoder`, or None (videos must then be clip features).
        text_encoder: `HFTextQueryEncoder`, or None (queries must then be token features).
        fps, clip_size, clip_stride, downsample_rate: the feature clock (copy of the model config's).
        chunk_size: sampled frames decoded and encoded at a time (bounds memory for long videos).
        frame_encoder_source / text_encoder_source: provenance, dicts with `name_or_path` (Hub id, model card
            `base_model`), `python_package` (pip package shipping it) and `contained` (bool: save the encoder inside
            the checkpoint; False saves only the name, which needs `name_or_path` or `python_package`).
    """

    def __init__(
        self,
        frame_encoder=None,
        text_encoder=None,
        fps: float = 30.0,
        clip_size: int = 32,
        clip_stride: int = 8,
        downsample_rate: int = 1,
        chunk_size: int = 16,
        frame_encoder_source: dict | None = None,
        text_encoder_source: dict | None = None,
        **kwargs,
    ):
        super().__init__()
        if not fps > 0 or clip_size < 1 or clip_stride < 1 or downsample_rate < 1 or chunk_size < 1:
            raise ValueError(
                "need fps > 0 and clip_size, clip_stride, downsample_rate, chunk_size >= 1; got "
                f"{fps}, {clip_size}, {clip_stride}, {downsample_rate}, {chunk_size}."
            )
        if clip_size != int(clip_size) or clip_stride != int(clip_stride):
            raise ValueError(f"clip_size and clip_stride must be whole frame counts, got {clip_size}, {clip_stride}.")
        self.frame_encoder, self.text_encoder = frame_encoder, text_encoder
        self.fps, self.clip_size, self.clip_stride = float(fps), int(clip_size), int(clip_stride)
        self.downsample_rate, self.chunk_size = int(downsample_rate), int(chunk_size)
        self.frame_encoder_source = dict(frame_encoder_source or {})
        self.text_encoder_source = dict(text_encoder_source or {})
        if isinstance(frame_encoder, SimpleFrameEncoder):
            if frame_encoder.frame_rate is not None and abs(frame_encoder.frame_rate - self.fps) > 1e-6 * self.fps:
                raise ValueError(f"the SimpleFrameEncoder expects {frame_encoder.frame_rate} fps, the clock is {fps}.")
        elif frame_encoder is not None and not isinstance(frame_encoder, HFImageFrameEncoder):
            raise TypeError(
                f"frame_encoder must be a SimpleFrameEncoder or HFImageFrameEncoder, got {type(frame_encoder)}."
            )
        if text_encoder is not None and not isinstance(text_encoder, HFTextQueryEncoder):
            raise TypeError(f"text_encoder must be an HFTextQueryEncoder or None, got {type(text_encoder)}.")
        self.auto_map = kwargs.pop("auto_map", None)
        self._origin = kwargs.pop("_origin", None)  # where it was loaded from (for error messages)
        if kwargs:
            raise TypeError(f"HieraMambaProcessor got unexpected arguments {sorted(kwargs)}.")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_model_config(cls, config, frame_encoder=None, text_encoder=None, **kwargs) -> "HieraMambaProcessor":
        """A processor on the clock of a `HieraMambaConfig`."""
        clock = {k: getattr(config, k) for k in _CLOCK}
        clock["clip_size"], clock["clip_stride"] = int(clock["clip_size"]), int(clock["clip_stride"])
        return cls(frame_encoder, text_encoder, **clock, **kwargs)

    @classmethod
    def from_encoders(cls, config, frame_encoder=None, text_encoder=None, contained: bool = True,
                      frame_embedding: str = "auto", text_embedding: str = "last_hidden_state",
                      **kwargs) -> "HieraMambaProcessor":  # fmt: skip
        """A processor for `config`'s clock with encoders given by name, e.g. MAD's CLIP-B/32 setup:
        `from_encoders(config, "openai/clip-vit-base-patch32", "openai/clip-vit-base-patch32")`.

        frame_encoder: "simple" (SimpleFrameEncoder on the clock, width `config.video_input_dim`), a
        SimpleFrameEncoder / HFImageFrameEncoder, or a Hub id / folder of an image model (a CLIP checkpoint gives
        CLIPVisionModelWithProjection -> `image_embeds`, SigLIP gives SiglipVisionModel -> `pooler_output`, others
        AutoModel). text_encoder: an HFTextQueryEncoder, or a Hub id / folder of a text model (CLIP -> CLIPTextModel,
        SigLIP -> SiglipTextModel, others AutoModel) with its tokenizer. contained: save the HF encoders inside the
        checkpoint (False: save their names only)."""
        sources = {}
        if isinstance(frame_encoder, str) and frame_encoder == "simple":
            frame_encoder = SimpleFrameEncoder(feature_dim=config.video_input_dim, clip_size=int(config.clip_size),
                                               clip_stride=int(config.clip_stride), frame_rate=config.fps)  # fmt: skip
        elif isinstance(frame_encoder, (str, os.PathLike)):
            name = os.fspath(frame_encoder)
            frame_encoder = HFImageFrameEncoder.from_pretrained(name, embedding=frame_embedding)
            sources["frame_encoder_source"] = {"name_or_path": name, "contained": contained}
        if isinstance(text_encoder, (str, os.PathLike)):
            name = os.fspath(text_encoder)
            text_encoder = HFTextQueryEncoder.from_pretrained(name, embedding=text_embedding)
            sources["text_encoder_source"] = {"name_or_path": name, "contained": contained}
        return cls.from_model_config(config, frame_encoder, text_encoder, **sources, **kwargs)

    @property
    def clip_step(self) -> int:
        """Sampled frames between consecutive clips of the model's input grid."""
        return self.clip_stride * self.downsample_rate

    def check_clock(self, config):
        """ValueError unless the processor's clock equals the model config's."""
        for key in _CLOCK:
            if abs(float(getattr(self, key)) - float(getattr(config, key))) > 1e-6:
                raise ValueError(
                    f"processor and model disagree on the feature clock: processor {key}={getattr(self, key)}, "
                    f"model config {key}={getattr(config, key)}."
                )

    # ------------------------------------------------------------------ video
    @torch.no_grad()
    def encode_video(self, video, video_fps: float | None = None, progress: bool | None = None,
                     backend: str | None = None) -> tuple[torch.Tensor, float]:  # fmt: skip
        """Clip features `(T, C)` float32 and the duration in seconds of `video`: a file path, a decoded frame array
        `(N, H, W, 3)` uint8 taken at `video_fps` (None: already on the clock), or clip features `(T, C)` float
        (returned as they are; duration from the clock). Decoding + encoding stream in chunks of `chunk_size`."""
        if isinstance(video, (str, os.PathLike)):
            sampled = SampledVideo(video, self.fps, backend=backend)
            self._require_frame_encoder()
            features = self._encode_frame_chunks(sampled.chunks(self.chunk_size), sampled.num_sampled_frames, progress)
            return self._check_clips(features, video), sampled.info.duration
        array = video.numpy() if isinstance(video, torch.Tensor) else np.asarray(video)
        if array.ndim == 2:  # precomputed clip features
            if not np.issubdtype(array.dtype, np.floating):
                raise ValueError(f"clip features must be a float array (T, C), got dtype {array.dtype}.")
            if array.shape[0] == 0:
                raise ValueError("the clip features have zero clips.")
            features = torch.as_tensor(array, dtype=torch.float32)
            return features, ((features.shape[0] - 1) * self.clip_step + self.clip_size) / self.fps
        if array.ndim == 4:
            frames = sample_frame_array(array, self.fps, video_fps)
            self._require_frame_encoder()
            chunks = (frames[lo : lo + self.chunk_size] for lo in range(0, len(frames), self.chunk_size))
            features = self._encode_frame_chunks(chunks, len(frames), progress)
            return self._check_clips(features, "the frame array"), len(frames) / self.fps
        raise ValueError(
            "video must be a file path, a frame array (num_frames, height, width, 3) uint8 or clip features "
            f"(num_clips, channels); got an array of shape {array.shape}."
        )

    def _encode_frame_chunks(self, chunks, total, progress):
        from tqdm.auto import tqdm  # noqa: PLC0415

        pooler = ClipPooler(self.clip_size, self.clip_step)
        # The clip features go into ONE preallocated tensor (sized from the expected frame count, doubled if the
        # container under-reported it): keeping a small tensor per chunk between the encoder's large temporaries
        # fragments glibc's heap, and RSS then grew with the video's length (benchmarks/pipeline_memory.py).
        capacity = max(1, (total - self.clip_size) // self.clip_step + 1) if total >= self.clip_size else 1
        features, count, chunks_done = None, 0, 0
        disable = None if progress is None else not progress
        with tqdm(total=total, unit="frame", desc="encoding video", disable=disable) as bar:
            for chunk in chunks:
                clips = pooler.push(self.frame_encoder.encode_frames(chunk))
                if features is None:
                    features = clips.new_empty((capacity, clips.shape[1]))
                if count + len(clips) > len(features):
                    grown = features.new_empty((max(2 * len(features), count + len(clips)), features.shape[1]))
                    grown[:count] = features[:count]
                    features = grown
                features[count : count + len(clips)] = clips
                count += len(clips)
                bar.update(len(chunk))
                chunks_done += 1
                if chunks_done % 8 == 0:
                    release_free_heap()
        release_free_heap()  # the encoder's temporaries are gone: hand their pages back before the model runs
        if features is None:
            return torch.zeros(0, 0)
        return features if count == len(features) else features[:count].clone()

    def _check_clips(self, features, source):
        if features.shape[0] == 0:
            raise ValueError(
                f"{source} is too short for one clip: a clip needs {self.clip_size} frames at {self.fps} fps "
                f"({self.clip_size / self.fps:.3g} s)."
            )
        return features

    def _require_frame_encoder(self):
        if self.frame_encoder is None:
            raise MissingEncoderError(
                f"{self._where()} has no frame encoder, so it cannot read video frames: save one with the checkpoint "
                "(HieraMambaProcessor(frame_encoder=...).save_pretrained(checkpoint)) or pass precomputed clip "
                "features (num_clips, video_input_dim) instead of a video."
            )

    def _where(self):
        return f"the checkpoint {self._origin!r}" if self._origin else "this processor"

    # ------------------------------------------------------------------ text
    @torch.no_grad()
    def encode_queries(self, queries) -> list[torch.Tensor]:
        """Token features `(L_i, C)` for each query: strings through the text encoder, arrays `(L, C)` as given."""
        if isinstance(queries, (str, np.ndarray, torch.Tensor)):
            queries = [queries]
        queries = list(queries)
        if not queries:
            raise ValueError("no query given: pass a query string or a non-empty list of queries.")
        features = [None] * len(queries)
        texts = []
        for i, query in enumerate(queries):
            if isinstance(query, str):
                if not query.strip():
                    raise ValueError(f"query {i} is empty: a query must contain some text.")
                texts.append((i, query))
            elif isinstance(query, (np.ndarray, torch.Tensor)):
                tokens = torch.as_tensor(np.asarray(query) if isinstance(query, np.ndarray) else query)
                if tokens.ndim != 2 or tokens.shape[0] == 0 or not tokens.is_floating_point():
                    raise ValueError(
                        f"precomputed query {i} must be float token features (L > 0, C), got {tuple(tokens.shape)}."
                    )
                features[i] = tokens.float()
            else:
                raise ValueError(f"query {i} must be a string or token features, got {type(query).__name__}.")
        if texts:
            if self.text_encoder is None:
                raise MissingEncoderError(
                    f"{self._where()} has no text encoder, so it cannot encode query strings: save one with the "
                    "checkpoint (HieraMambaProcessor(text_encoder=...)) or pass precomputed token features (L, C)."
                )
            for (i, _), tokens in zip(texts, self.text_encoder.encode([t for _, t in texts])):
                features[i] = tokens
        return features

    # ------------------------------------------------------------------ model inputs
    def __call__(self, videos=None, text=None, video_fps=None, progress=None, return_tensors="pt", **kwargs):
        """Inputs of `HieraMambaForVideoGrounding` for ONE video and its queries, plus `duration` (seconds)."""
        if videos is None or text is None:
            raise ValueError("HieraMambaProcessor needs `videos` (one video) and `text` (one or more queries).")
        features, duration = self.encode_video(videos, video_fps=video_fps, progress=progress)
        inputs = self.collate(features, self.encode_queries(text))
        inputs["duration"] = torch.tensor([duration], dtype=torch.float64)
        return BatchFeature(data=inputs, tensor_type=return_tensors)

    @staticmethod
    def collate(video_features: torch.Tensor, query_features: list[torch.Tensor]) -> dict:
        """One video `(T, C)` and Q token features -> padded model inputs (queries_per_video = [Q])."""
        widths = {q.shape[1] for q in query_features}
        if len(widths) != 1:
            raise ValueError(f"all queries must have the same feature width, got {sorted(widths)}.")
        length = max(q.shape[0] for q in query_features)
        text = torch.zeros(len(query_features), length, widths.pop())
        mask = torch.zeros(len(query_features), length, dtype=torch.bool)
        for i, q in enumerate(query_features):
            text[i, : q.shape[0]], mask[i, : q.shape[0]] = q, True
        return {
            "video_features": video_features[None].float(),
            "video_mask": torch.ones(1, video_features.shape[0], dtype=torch.bool),
            "text_features": text,
            "text_mask": mask,
            "queries_per_video": torch.tensor([len(query_features)]),
        }

    @property
    def model_input_names(self):
        return ["video_features", "video_mask", "text_features", "text_mask", "queries_per_video"]

    # ------------------------------------------------------------------ save / load
    def to_dict(self) -> dict:
        out = {"processor_class": type(self).__name__}
        out.update({k: getattr(self, k) for k in _CLOCK})
        out["chunk_size"] = self.chunk_size
        out["frame_encoder"] = self._encoder_entry(self.frame_encoder, self.frame_encoder_source, "frame_encoder")
        out["text_encoder"] = self._encoder_entry(self.text_encoder, self.text_encoder_source, "text_encoder")
        if self.auto_map:
            out["auto_map"] = self.auto_map
        return out

    @staticmethod
    def _encoder_entry(encoder, source, subfolder):
        if encoder is None:
            return {"type": None}
        entry = {
            "type": "simple" if isinstance(encoder, SimpleFrameEncoder)
            else "hf_image" if isinstance(encoder, HFImageFrameEncoder) else "hf_text",
            "subfolder": subfolder if source.get("contained", True) or isinstance(encoder, SimpleFrameEncoder)
            else None,
            "name_or_path": source.get("name_or_path"),
            "python_package": source.get("python_package"),
        }  # fmt: skip
        if not isinstance(encoder, SimpleFrameEncoder):
            entry["embedding"] = encoder.embedding
            entry["model_class"] = type(encoder.model).__name__
        if entry["subfolder"] is None and not (entry["name_or_path"] or entry["python_package"]):
            raise ValueError(f"the {subfolder} is not contained, so it needs a name_or_path or python_package.")
        return entry

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs):
        """Write processor_config.json, the contained encoders' subfolders and the processor's auto_map shim."""
        if push_to_hub:
            raise ValueError("use processor.push_to_hub(repo_id) or hub_hieramamba.push_to_hub(model, processor, ...).")
        from .hub_hieramamba import AUTO_MAP, write_shims  # noqa: PLC0415

        os.makedirs(save_directory, exist_ok=True)
        self.auto_map = {"AutoProcessor": AUTO_MAP["AutoProcessor"]}
        config = self.to_dict()
        for name, encoder in (("frame_encoder", self.frame_encoder), ("text_encoder", self.text_encoder)):
            if config[name].get("subfolder"):
                encoder.save_pretrained(os.path.join(save_directory, config[name]["subfolder"]))
        path = os.path.join(save_directory, PROCESSOR_CONFIG_NAME)
        with open(path, "w") as f:
            f.write(self.to_json_string())
        write_shims(str(save_directory), ("processing_hieramamba.py",))
        return [path]

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, cache_dir=None, force_download=False,
                        local_files_only=False, token=None, revision=None,
                        **kwargs) -> "HieraMambaProcessor":  # fmt: skip
        """Load from a checkpoint folder or Hub id (cache / HF_HUB_OFFLINE honoured): the clock and the encoders
        (contained in subfolders, or named; see the module docstring)."""
        origin = os.fspath(pretrained_model_name_or_path)
        hub_kwargs = {"cache_dir": cache_dir, "force_download": force_download, "token": token,
                      "local_files_only": local_files_only, "revision": revision}  # fmt: skip
        if os.path.isdir(origin):
            folder = origin
        else:
            from huggingface_hub import snapshot_download  # noqa: PLC0415

            try:
                folder = snapshot_download(origin, allow_patterns=[PROCESSOR_CONFIG_NAME, "frame_encoder/*",
                                                                   "text_encoder/*"], **hub_kwargs)  # fmt: skip
            except Exception as error:  # noqa: BLE001
                raise OSError(f"could not find a HieraMamba processor for {origin!r}: {error}") from error
        path = os.path.join(folder, PROCESSOR_CONFIG_NAME)
        if not os.path.isfile(path):
            raise MissingProcessorConfigError(
                f"the checkpoint {origin!r} has no {PROCESSOR_CONFIG_NAME}, so it names no frame encoder and no text "
                "encoder. Save a HieraMambaProcessor next to the model (hub_hieramamba.save_checkpoint), or pass "
                "processor=... / precomputed features."
            )
        with open(path) as f:
            config = json.load(f)
        if config.get("processor_class") != cls.__name__:
            raise ValueError(f"{path} is a {config.get('processor_class')!r}, not a {cls.__name__}.")
        encoders, sources = {}, {}
        for name in ("frame_encoder", "text_encoder"):
            entry = config.get(name) or {"type": None}
            sources[name + "_source"] = {
                "name_or_path": entry.get("name_or_path"), "python_package": entry.get("python_package"),
                "contained": bool(entry.get("subfolder")),
            }  # fmt: skip
            kind = entry.get("type")
            if kind is None:
                encoders[name] = None
                continue
            if entry.get("subfolder"):
                sub = os.path.join(folder, entry["subfolder"])
                if not os.path.isdir(sub):
                    raise MissingEncoderError(f"the checkpoint {origin!r} names a contained {name} in "
                                              f"{entry['subfolder']}/ but that folder is missing.")  # fmt: skip
            else:
                sub = _resolve_named_encoder(entry, name, **{k: v for k, v in hub_kwargs.items() if k != "revision"})
            if kind == "simple":
                encoders[name] = SimpleFrameEncoder.from_pretrained(sub)
            elif kind == "hf_image":
                encoders[name] = HFImageFrameEncoder.from_pretrained(
                    sub, embedding=entry.get("embedding", "auto"), class_name=entry.get("model_class"))
            elif kind == "hf_text":
                encoders[name] = HFTextQueryEncoder.from_pretrained(
                    sub, embedding=entry.get("embedding", "last_hidden_state"), class_name=entry.get("model_class"))
            else:
                raise ValueError(f"unknown {name} type {kind!r} in {path}.")
        clock = {k: config[k] for k in _CLOCK}
        return cls(encoders["frame_encoder"], encoders["text_encoder"], **clock,
                   chunk_size=config.get("chunk_size", 16), **sources, auto_map=config.get("auto_map"),
                   _origin=origin)  # fmt: skip
