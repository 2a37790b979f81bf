# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""MambaMia processor: video file or frames -> sampled frames -> SigLIP pixels; Qwen2 chat prompt with the video
placeholder expanded to exactly the number of video tokens the model produces.

No torchvision anywhere: video files are decoded by `ssm_layers.video_io` (PyAV or decord, streaming: only the
sampled frames are ever held) and each frame goes through SigLIP's PIL image processor (resize to the tower's size,
rescale 1/255, normalise with mean = std = 0.5).
"""

import os

import numpy as np
from transformers import BatchFeature
from transformers.processing_utils import ProcessorMixin

from ssm_layers.video_io import evenly_spaced_frames, open_video

from .remote_code import AUTO_MAP, write_shims


# Qwen2 ChatML (sister repo's `qwen_2` conversation): a video content item renders as "<video>\n" before the text.
CHAT_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'video' %}<video>\n{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _to_numpy(videos):
    """Torch tensors (a video or a list of videos / frames) -> numpy; everything else unchanged."""
    if hasattr(videos, "detach") and hasattr(videos, "numpy"):
        return videos.detach().cpu().numpy()
    if isinstance(videos, (list, tuple)):
        return [_to_numpy(v) for v in videos]
    return videos


class MambaMiaProcessor(ProcessorMixin):
    r"""
    Processor for [`MambaMiaForConditionalGeneration`]: a SigLIP image processor (PIL backend) applied per frame and
    a Qwen2 tokenizer.

    Args:
        image_processor: SigLIP image processor (`SiglipImageProcessorPil`); its size must be the tower's image size.
        tokenizer: Qwen2 tokenizer holding `video_token` as a special token.
        chat_template (`str`, *optional*): Jinja chat template; defaults to Qwen2 ChatML with `<video>\n` for videos.
        video_token (`str`, defaults to `"<video>"`): the placeholder; each one takes exactly one video.
        tokens_per_frame (`int`, defaults to 25): LLM tokens per kept frame (`config.tokens_per_frame`: k anchors +
            the frame separator). Must match the model's config.
        fps (`float`, defaults to 1.0): sampling rate cap for video files (paper: up to 2 fps in training).
        max_frames (`int`, defaults to 384): frame budget (paper inference: 384; training 64 / 128).
    """

    def __init__(
        self,
        image_processor=None,
        tokenizer=None,
        chat_template=None,
        video_token: str = "<video>",
        tokens_per_frame: int = 25,
        fps: float = 1.0,
        max_frames: int = 384,
        **kwargs,
    ):
        self.video_token = video_token
        self.tokens_per_frame = tokens_per_frame
        self.fps = fps
        self.max_frames = max_frames
        super().__init__(image_processor, tokenizer, chat_template=chat_template or CHAT_TEMPLATE)
        self.video_token_id = tokenizer.convert_tokens_to_ids(video_token)
        if self.video_token_id is None or self.video_token_id == tokenizer.unk_token_id:
            raise ValueError(f"The tokenizer has no token {video_token!r}: add it as a special token.")

    @classmethod
    def from_components(cls, vision_id_or_path: str, text_id_or_path: str, tokens_per_frame: int, **kwargs):
        """Build from a SigLIP checkpoint's image processor and a Qwen2 tokenizer; adds `video_token` to the
        tokenizer when missing (then resize the model's embeddings to `len(processor.tokenizer)`)."""
        from transformers import AutoTokenizer, SiglipImageProcessorPil

        image_processor = SiglipImageProcessorPil.from_pretrained(vision_id_or_path)
        tokenizer = AutoTokenizer.from_pretrained(text_id_or_path)
        video_token = kwargs.get("video_token", "<video>")
        if video_token not in tokenizer.get_vocab():
            tokenizer.add_special_tokens({"additional_special_tokens": [video_token]})
        return cls(image_processor, tokenizer, tokens_per_frame=tokens_per_frame, **kwargs)

    # ------------------------------------------------------------------ videos
    def num_video_tokens(self, num_frames: int) -> int:
        """LLM tokens of a video with `num_frames` frames (no delta sampling)."""
        return num_frames * self.tokens_per_frame

    def load_video(
        self, video, fps: float | None = None, max_frames: int | None = None, backend: str | None = None
    ) -> np.ndarray:
        """Sampled uint8 frames (n, H, W, 3) of one video.

        Args:
            video: a path (decoded by `ssm_layers.video_io` with uniform sampling: n = min(ceil(duration * fps),
                max_frames, num_frames) frames nearest to evenly spaced instants), or frames (an array (T, H, W, 3)
                or a list of PIL images / arrays), of which at most `max_frames` evenly spaced ones are kept.
            fps (`float`, *optional*): sampling rate cap for files; defaults to `self.fps`.
            max_frames (`int`, *optional*): frame budget; defaults to `self.max_frames`.
            backend (`str`, *optional*): "pyav", "decord" or None (`ssm_layers.video_io.DEFAULT_BACKEND`) for files.

        Returns:
            `np.ndarray`: uint8 (n, H, W, 3).
        """
        fps = self.fps if fps is None else fps
        max_frames = self.max_frames if max_frames is None else max_frames
        if isinstance(video, (str, os.PathLike)):
            try:
                return open_video(video, backend=backend).read_uniform_frames(fps, max_frames)
            except FileNotFoundError as error:  # this processor has always raised ValueError for a missing file
                raise ValueError(f"Video file not found: {video}") from error
        if len(video) == 0:
            raise ValueError("The video is shorter than one frame (it has no frames).")
        video = evenly_spaced_frames(video, max_frames)
        frames = video if isinstance(video, np.ndarray) else np.stack([np.asarray(frame) for frame in video])
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"Frames must be (num_frames, height, width, 3) RGB, got shape {frames.shape}")
        return frames

    def preprocess_frames(self, frames: np.ndarray) -> np.ndarray:
        """SigLIP image processing per frame -> float32 (n, 3, S, S)."""
        out = self.image_processor(list(frames), return_tensors="np")["pixel_values"]
        return np.asarray(out, dtype=np.float32)

    # ------------------------------------------------------------------ call
    def __call__(
        self,
        text: str | list[str] | None = None,
        videos=None,
        return_tensors: str | None = "pt",
        padding: bool | str = True,
        fps: float | None = None,
        max_frames: int | None = None,
        backend: str | None = None,
        **kwargs,
    ) -> BatchFeature:
        """Tokenise `text` (one `<video>` per video, in order) and process `videos`.

        `fps`, `max_frames` and `backend` go to `load_video` (`backend`: "pyav", "decord" or None for video files);
        the other keyword arguments go to the tokenizer.

        Returns `input_ids`, `attention_mask` and, with videos, `pixel_values_videos` (num_videos, max_frames, 3, S,
        S) and `video_frame_mask` (num_videos, max_frames; 0 marks padding frames of shorter videos).
        """
        if text is None:
            raise ValueError("MambaMiaProcessor needs `text` (a prompt with one video placeholder per video).")
        texts = [text] if isinstance(text, str) else list(text)
        videos = _to_numpy(videos)
        if videos is None:
            video_list = []
        elif isinstance(videos, (str, os.PathLike, np.ndarray)):
            video_list = [videos]
        elif len(videos) > 0 and not isinstance(videos[0], (str, os.PathLike, np.ndarray, list, tuple)):
            video_list = [videos]  # one video given as a list of PIL frames
        elif len(videos) > 0 and isinstance(videos[0], np.ndarray) and videos[0].ndim == 3:
            video_list = [videos]  # one video given as a list of (H, W, 3) frames
        else:
            video_list = list(videos)

        placeholders = [t.count(self.video_token) for t in texts]
        if sum(placeholders) != len(video_list):
            if sum(placeholders) == 0:
                raise ValueError(
                    f"Got {len(video_list)} video(s) but the text has no {self.video_token!r} placeholder; put one "
                    "placeholder where each video goes (apply_chat_template does this for a 'video' content item)."
                )
            if len(video_list) > sum(placeholders):
                raise ValueError(
                    f"Got {len(video_list)} videos for {sum(placeholders)} {self.video_token!r} placeholder(s): each "
                    "placeholder takes exactly one video (more than one video per placeholder)."
                )
            raise ValueError(
                f"The text has {sum(placeholders)} {self.video_token!r} placeholder(s) but {len(video_list)} video(s)"
                " were given."
            )

        pixel_values, num_frames = [], []
        for video in video_list:
            frames = self.load_video(video, fps=fps, max_frames=max_frames, backend=backend)
            pixel_values.append(self.preprocess_frames(frames))
            num_frames.append(len(frames))

        # expand each placeholder to exactly its video's token count
        expanded, video_idx = [], 0
        for t in texts:
            parts = t.split(self.video_token)
            out = parts[0]
            for part in parts[1:]:
                out += self.video_token * self.num_video_tokens(num_frames[video_idx]) + part
                video_idx += 1
            expanded.append(out)

        text_inputs = self.tokenizer(expanded, padding=padding, return_tensors=return_tensors, **kwargs)
        self._check_video_token_counts(text_inputs["input_ids"], num_frames)
        data = dict(text_inputs)
        if video_list:
            longest = max(num_frames)
            batch = np.zeros((len(video_list), longest, *pixel_values[0].shape[1:]), dtype=np.float32)
            frame_mask = np.zeros((len(video_list), longest), dtype=np.int64)
            for i, pv in enumerate(pixel_values):
                batch[i, : len(pv)] = pv
                frame_mask[i, : len(pv)] = 1
            data["pixel_values_videos"] = batch
            data["video_frame_mask"] = frame_mask
        return BatchFeature(data=data, tensor_type=return_tensors)

    def _check_video_token_counts(self, input_ids, num_frames: list[int]):
        """Guarantee: the tokenised prompt holds, for every video in order, one run of exactly its token count."""
        expected = [self.num_video_tokens(n) for n in num_frames]
        runs = []
        for row in np.asarray(input_ids if not hasattr(input_ids, "tolist") else input_ids.tolist(), dtype=object):
            row = list(row)
            i = 0
            while i < len(row):
                if row[i] == self.video_token_id:
                    j = i
                    while j < len(row) and row[j] == self.video_token_id:
                        j += 1
                    runs.append(j - i)
                    i = j
                else:
                    i += 1
        if runs != expected:
            raise ValueError(
                f"Video placeholders and video tokens disagree after tokenisation: runs of {runs} placeholder tokens "
                f"for videos needing {expected} (two adjacent placeholders merge; put text between them, and keep "
                f"{self.video_token!r} out of the prompt text itself)."
            )

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs):
        """Save the processor with an `auto_map` and the shim file that imports the installed package."""
        self.auto_map = {"AutoProcessor": AUTO_MAP["AutoProcessor"]}
        write_shims(str(save_directory), ("processing_mambamia.py",))
        return super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)

    def batch_decode(self, *args, **kwargs):
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args, **kwargs):
        return self.tokenizer.decode(*args, **kwargs)

    @property
    def model_input_names(self):
        return ["input_ids", "attention_mask", "pixel_values_videos", "video_frame_mask"]


__all__ = ["MambaMiaProcessor"]
