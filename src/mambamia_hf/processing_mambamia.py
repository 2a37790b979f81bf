# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""MambaMia processor: [`MambaMiaVideoProcessor`] + a Qwen2 tokenizer, in the shape of transformers'
`LlavaOnevisionProcessor`: the generic `ProcessorMixin.__call__` processes the videos and expands each video
placeholder to exactly the number of LLM tokens the model produces for it (`replace_video_token`), and
`apply_chat_template(..., tokenize=True, return_dict=True)` takes `{"type": "video", "path": ...}` (or
`"video": frames`) content items, as for LLaVA-OneVision or Qwen2-VL. No torchvision anywhere: the video processor
needs none (see `video_processing_mambamia`), and `check_argument_for_proper_class`, the one step of `ProcessorMixin`
that does for a processor with a `video_processor`, is overridden here.
"""

from transformers import AutoTokenizer, BatchFeature
from transformers.image_processing_base import ImageProcessingMixin
from transformers.processing_utils import ProcessingKwargs, ProcessorMixin, TextKwargs
from transformers.video_processing_utils import VideoProcessorMixin

from .remote_code import AUTO_MAP, write_shims
from .video_processing_mambamia import MambaMiaVideoProcessor, flatten_videos


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

# keyword arguments of the processor itself (not of the tokenizer or the video processor)
_PROCESSOR_KEYS = {"text_kwargs", "videos_kwargs", "common_kwargs"} | (
    set(ProcessingKwargs.__annotations__) - {"images_kwargs", "audio_kwargs"}
)


class MambaMiaProcessor(ProcessorMixin):
    r"""
    Processor of [`MambaMiaForConditionalGeneration`]: [`MambaMiaVideoProcessor`] (decoding, the paper's frame
    sampling, SigLIP pixels) and a Qwen2 tokenizer.

    Args:
        video_processor ([`MambaMiaVideoProcessor`]): its `size` must be the vision tower's frame size.
        tokenizer: Qwen2 tokenizer holding `video_token` as a special token.
        chat_template (`str`, *optional*): Jinja chat template; defaults to Qwen2 ChatML with `<video>\n` per video
            content item.
        video_token (`str`, defaults to `"<video>"`): the placeholder; each one takes exactly one video.
        tokens_per_frame (`int`, defaults to 25): LLM tokens per kept frame (`config.tokens_per_frame`: k anchors +
            the frame separator). Must match the model's config.

    Calling it: `processor(text=..., videos=...)` with one placeholder per video, in order. Keyword arguments go to
    the tokenizer (`padding`, `truncation`, ...) or to the video processor (`fps`, `max_frames`, `video_backend`,
    `video_metadata`, `size`, ...); any other raises a `ValueError` naming it. By default the rows are left-padded
    (generation) and tensors are returned. Returns `input_ids`, `attention_mask` and, with videos,
    `pixel_values_videos`, `video_frame_mask` and `video_timestamps` (each kept frame's time in seconds).
    """

    text_kwargs = {"padding": True, "padding_side": "left", "return_tensors": "pt"}
    videos_kwargs = {"return_tensors": "pt"}
    skip_tensor_conversion = ["video_metadata", "text_replacement_offsets", "video_timestamps"]

    def __init__(
        self,
        video_processor=None,
        tokenizer=None,
        chat_template=None,
        video_token: str = "<video>",
        tokens_per_frame: int = 25,
        **kwargs,
    ):
        self.video_token = video_token
        self.tokens_per_frame = tokens_per_frame
        super().__init__(video_processor, tokenizer, chat_template=chat_template or CHAT_TEMPLATE)
        self.video_token_id = tokenizer.convert_tokens_to_ids(video_token)
        if self.video_token_id is None or self.video_token_id == tokenizer.unk_token_id:
            raise ValueError(f"The tokenizer has no token {video_token!r}: add it as a special token.")

    def check_argument_for_proper_class(self, argument_name, argument):
        """`ProcessorMixin`'s class check, without torchvision: it looks the video processor's base class up by name
        on the `transformers` module and in `transformers.VIDEO_PROCESSOR_MAPPING`, both placeholders that raise
        when torchvision is missing; the class itself is checked here."""
        if argument_name == "video_processor":
            if not isinstance(argument, VideoProcessorMixin):
                raise TypeError(
                    f"Received a {type(argument).__name__} for argument video_processor, but a video "
                    "processor (VideoProcessorMixin) was expected."
                )
            return VideoProcessorMixin
        return super().check_argument_for_proper_class(argument_name, argument)

    @classmethod
    def from_components(cls, vision_id_or_path: str, text_id_or_path: str, tokens_per_frame: int, **kwargs):
        """Build from a SigLIP / SigLIP2 checkpoint's preprocessing settings and a Qwen2 tokenizer; adds
        `video_token` to the tokenizer when missing (then resize the model's embeddings to
        `len(processor.tokenizer)`; [`MambaMiaForConditionalGeneration.from_components`] does).

        Args:
            vision_id_or_path (`str`): the SigLIP checkpoint; its `preprocessor_config.json` gives the frame size,
                the resampling filter, mean and std.
            text_id_or_path (`str`): the Qwen2 checkpoint (tokenizer).
            tokens_per_frame (`int`): `model.config.tokens_per_frame`.
            **kwargs: `video_token`, `chat_template`, or [`MambaMiaVideoProcessor`] settings (`fps`, `max_frames`,
                `video_backend`, `size`, ...).
        """
        video_keys = set(MambaMiaVideoProcessor.valid_kwargs.__annotations__)
        unknown = sorted(set(kwargs) - video_keys - {"video_token", "chat_template"})
        if unknown:
            raise ValueError(f"MambaMiaProcessor.from_components got unknown keyword argument(s) {unknown}.")
        siglip, _ = ImageProcessingMixin.get_image_processor_dict(vision_id_or_path)
        settings = {k: siglip[k] for k in ("resample", "image_mean", "image_std", "rescale_factor") if k in siglip}
        if isinstance(siglip.get("size"), dict) and {"height", "width"} <= set(siglip["size"]):
            settings["size"] = {"height": siglip["size"]["height"], "width": siglip["size"]["width"]}
        settings.update({k: v for k, v in kwargs.items() if k in video_keys})
        video_processor = MambaMiaVideoProcessor(**settings)
        tokenizer = AutoTokenizer.from_pretrained(text_id_or_path)
        video_token = kwargs.get("video_token", "<video>")
        if video_token not in tokenizer.get_vocab():
            tokenizer.add_special_tokens({"additional_special_tokens": [video_token]})
        return cls(
            video_processor,
            tokenizer,
            chat_template=kwargs.get("chat_template"),
            video_token=video_token,
            tokens_per_frame=tokens_per_frame,
        )

    # ------------------------------------------------------------------ tokens
    def num_video_tokens(self, num_frames: int) -> int:
        """LLM tokens of a video with `num_frames` frames (before delta sampling)."""
        return num_frames * self.tokens_per_frame

    def replace_video_token(self, video_inputs: dict, video_idx: int, **kwargs) -> str:
        """The placeholder of video `video_idx` expanded to one token per LLM token of its frames."""
        num_frames = int(video_inputs["video_frame_mask"][video_idx].sum())
        return self.video_token * self.num_video_tokens(num_frames)

    # ------------------------------------------------------------------ call
    def __call__(self, text=None, videos=None, **kwargs) -> BatchFeature:
        """Tokenise `text` (one `video_token` per video, in order) and process `videos` (see the class docstring).

        Args:
            text (`str` or `list[str]`): the prompt(s), e.g. from `apply_chat_template(..., tokenize=False)`.
            videos: a video (a path, a `(T, H, W, 3)` uint8 array, a list of frames) or a list of videos, in
                placeholder order across the prompts.
            **kwargs: tokenizer and video processor options.
        """
        images, audio = kwargs.pop("images", None), kwargs.pop("audio", None)
        if images is not None or audio is not None:
            raise ValueError("MambaMiaProcessor takes text and videos only (got images or audio).")
        if text is None:
            raise ValueError("MambaMiaProcessor needs `text` (a prompt with one video placeholder per video).")
        self._check_keyword_arguments(kwargs)
        texts = [text] if isinstance(text, str) else list(text)
        if videos is not None:
            rgb = kwargs.get("do_convert_rgb", (kwargs.get("videos_kwargs") or {}).get("do_convert_rgb"))
            videos = flatten_videos(videos, self.video_processor.do_convert_rgb if rgb is None else rgb)
        self._check_placeholders(texts, videos)
        return super().__call__(text=texts, videos=videos, **kwargs)

    def _check_keyword_arguments(self, kwargs: dict):
        """Every keyword must be a tokenizer, video processor or processor option: a clear error names the others."""
        text_keys = set(TextKwargs.__annotations__)
        video_keys = set(self.video_processor.valid_kwargs.__annotations__)
        unknown = [key for key in kwargs if key not in text_keys | video_keys | _PROCESSOR_KEYS]
        for group, valid in (("text_kwargs", text_keys), ("videos_kwargs", video_keys)):
            unknown += [f"{group}[{key!r}]" for key in kwargs.get(group) or {} if key not in valid]
        if unknown:
            hint = (
                " (the video decoder is chosen with video_backend='pyav' or 'decord')" if "backend" in kwargs else ""
            )
            raise ValueError(
                f"MambaMiaProcessor does not know the keyword argument(s) {unknown}{hint}. It takes the tokenizer's "
                "options (padding, truncation, max_length, ...) and MambaMiaVideoProcessor's (fps, max_frames, "
                "video_backend, video_metadata, size, ...)."
            )

    def _check_placeholders(self, texts: list[str], videos: list | None):
        num_videos = 0 if videos is None else len(videos)
        placeholders = sum(t.count(self.video_token) for t in texts)
        if placeholders == num_videos:
            return
        if placeholders == 0:
            raise ValueError(
                f"Got {num_videos} video(s) but the text has no {self.video_token!r} placeholder; put one placeholder "
                "where each video goes (apply_chat_template does this for a 'video' content item)."
            )
        if num_videos > placeholders:
            raise ValueError(
                f"Got {num_videos} videos for {placeholders} {self.video_token!r} placeholder(s): each placeholder "
                "takes exactly one video (more than one video per placeholder)."
            )
        raise ValueError(
            f"The text has {placeholders} {self.video_token!r} placeholder(s) but {num_videos} video(s) were given."
        )

    # ------------------------------------------------------------------ chat
    def _multimodal_inputs_from_conversations(self, conversations, audio_loading_params, load_audio_from_video=False):
        """`apply_chat_template(..., tokenize=True)`: every conversation needs a user turn, and every video content
        item a video (`path` / `url`: a video file, `video`: decoded frames)."""
        for c, conversation in enumerate(conversations):
            if not any(message.get("role") == "user" for message in conversation):
                roles = [message.get("role") for message in conversation]
                raise ValueError(f"Conversation {c} has no user turn (roles {roles}); MambaMia answers a user turn.")
            for m, message in enumerate(conversation):
                content = message.get("content")
                for item in content if isinstance(content, (list, tuple)) else []:
                    if item.get("type") == "video" and not any(
                        item.get(k) is not None for k in ("path", "url", "video")
                    ):
                        raise ValueError(
                            f"Conversation {c}, message {m}: a video content item needs 'path' (a video file), 'url' "
                            f"or 'video' (decoded frames) to be tokenised; got keys {sorted(item)}."
                        )
        return super()._multimodal_inputs_from_conversations(
            conversations, audio_loading_params, load_audio_from_video
        )

    # ------------------------------------------------------------------ saving
    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs):
        """Save the processor (`processor_config.json`, the tokenizer, the chat template) and the video processor's
        own `video_preprocessor_config.json`, with `auto_map` entries and the shim files that import the installed
        package (`trust_remote_code=True` works without importing it)."""
        self.auto_map = {"AutoProcessor": AUTO_MAP["AutoProcessor"]}
        write_shims(str(save_directory), ("processing_mambamia.py",))
        self.video_processor.save_pretrained(save_directory)
        return super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)


__all__ = ["MambaMiaProcessor"]
