# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""MambaMia training data: LLaVA-Video-178K style records and a collator for the Trainer.

A record is `{"id", "video", "conversations": [{"from": "human", "value": "<video>\\n..."}, {"from": "gpt", "value":
...}, ...]}` (multi-turn allowed; an optional leading `{"from": "system", ...}` replaces the default system prompt).
`load_video_records` reads JSON (a list) or JSON-lines files with `datasets`, resolves `video` against a root folder
and validates every record. [`MambaMiaDataCollator`] samples frames uniformly (paper training: <= 2 fps, 64 or 128
frames; delta sampling is inference only), applies the chat template, expands the placeholder to the video's token
count and masks everything but the assistant tokens in the labels.
"""

import os

import numpy as np
import torch


IGNORE_INDEX = -100
ROLES = {"human": "user", "gpt": "assistant", "system": "system"}


def _record_name(record, index=None) -> str:
    rid = record.get("id") if isinstance(record, dict) else None
    return f"Record {rid!r}" if rid is not None else f"Record #{index}"


def validate_record(record: dict, video_token: str = "<video>", index: int | None = None, check_video: bool = True):
    """Raise a ValueError naming the record when it cannot be trained on: missing/absent video file, no (or more
    than one) `video_token` placeholder, empty conversation, unknown roles, no assistant turn, empty turn text."""
    name = _record_name(record, index)
    if not isinstance(record, dict):
        raise ValueError(
            f"{name}: expected a dict with 'id', 'video' and 'conversations', got {type(record).__name__}"
        )
    conversations = record.get("conversations")
    if not conversations:
        raise ValueError(f"{name}: empty conversation (no 'conversations' turns).")
    for turn_index, turn in enumerate(conversations):
        if not isinstance(turn, dict) or turn.get("from") not in ROLES:
            raise ValueError(f"{name}: turn {turn_index} must be a dict with 'from' in {sorted(ROLES)}, got {turn!r}")
        if not isinstance(turn.get("value"), str) or not turn["value"].strip():
            raise ValueError(f"{name}: turn {turn_index} ({turn['from']}) has an empty 'value'.")
    if not any(turn["from"] == "gpt" for turn in conversations):
        raise ValueError(f"{name}: the conversation has no 'gpt' (assistant) turn, so there is nothing to learn.")
    placeholders = sum(turn["value"].count(video_token) for turn in conversations)
    if placeholders == 0:
        raise ValueError(f"{name}: no {video_token!r} placeholder in the conversation (put it in a human turn).")
    if placeholders > 1:
        raise ValueError(f"{name}: {placeholders} {video_token!r} placeholders for one video; use exactly one.")
    if any(video_token in turn["value"] for turn in conversations if turn["from"] != "human"):
        raise ValueError(f"{name}: the {video_token!r} placeholder must be in a human turn.")
    video = record.get("video")
    if not video:
        raise ValueError(f"{name}: missing 'video' (a path to the video file).")
    if not isinstance(video, str):
        raise ValueError(f"{name}: 'video' must be one path (one video per record), got {type(video).__name__}.")
    if check_video and not os.path.isfile(video):
        raise ValueError(f"{name}: video file not found: {video}")


def resolve_video_path(video: str, video_root: str | None) -> str:
    return video if video_root is None or os.path.isabs(video) else os.path.join(video_root, video)


def load_video_records(data_files, video_root: str | None = None, video_token: str = "<video>", check_videos=True):
    """Load LLaVA-Video-178K style records (`.json` list or `.jsonl` lines, one file or a list) as a
    `datasets.Dataset` with columns `id`, `video` (resolved against `video_root`, default: the folder of the first
    data file) and `conversations`. Every record is validated (see `validate_record`)."""
    import datasets

    files = [data_files] if isinstance(data_files, (str, os.PathLike)) else list(data_files)
    for path in files:
        if not os.path.isfile(path):
            raise ValueError(f"Data file not found: {path}")
    if video_root is None:
        video_root = os.path.dirname(os.path.abspath(files[0]))
    dataset = datasets.load_dataset("json", data_files=[str(f) for f in files], split="train")
    missing = [c for c in ("conversations",) if c not in dataset.column_names]
    if missing:
        raise ValueError(f"The records in {files} have no {missing} field (columns: {dataset.column_names}).")
    if "id" not in dataset.column_names:
        dataset = dataset.add_column("id", [str(i) for i in range(len(dataset))])
    if "video" not in dataset.column_names:
        dataset = dataset.add_column("video", [None] * len(dataset))

    def resolve(record):
        return {"video": resolve_video_path(record["video"], video_root) if record["video"] else record["video"]}

    dataset = dataset.map(resolve, desc="resolve video paths")
    for index, record in enumerate(dataset):
        validate_record(record, video_token=video_token, index=index, check_video=check_videos)
    return dataset.select_columns(["id", "video", "conversations"])


class MambaMiaDataCollator:
    r"""
    Turn records into a training batch for [`MambaMiaForConditionalGeneration`].

    Per record: frames sampled uniformly (n = min(ceil(duration * fps), max_frames), the processor's sampling),
    SigLIP pixels, the conversation rendered with the processor's chat template (`from` human/gpt/system ->
    user/assistant/system; `<video>` kept where the record puts it), the placeholder expanded to
    `frames x tokens_per_frame` video tokens, labels = the assistant replies (content and end-of-turn token) with
    everything else (system, user turns, role headers, video tokens, padding) set to -100. Rows are right-padded.

    Args:
        processor ([`MambaMiaProcessor`]): video processor + tokenizer + chat template.
        fps (`float`, defaults to 2.0): sampling rate cap (paper training: up to 2 fps).
        max_frames (`int`, defaults to 64): frame budget (paper: 64 for ablations, 128 final).
        video_root (`str`, *optional*): folder relative `video` paths are resolved against (records from
            `load_video_records` are already resolved).
        max_length (`int`, *optional*): cut text after this many tokens (never inside the video tokens: error).
        check_records (`bool`, defaults to True): validate each record (clear error naming it).
        cache_videos (`bool`, defaults to False): keep each video's processed frames in memory (small synthetic
            sets decoded every epoch); off for real data.
    """

    def __init__(
        self,
        processor,
        fps: float = 2.0,
        max_frames: int = 64,
        video_root: str | None = None,
        max_length: int | None = None,
        check_records: bool = True,
        cache_videos: bool = False,
    ):
        self.cache = {} if cache_videos else None
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.fps, self.max_frames = fps, max_frames
        self.video_root, self.max_length, self.check_records = video_root, max_length, check_records
        self.video_token = processor.video_token
        self.video_token_id = processor.video_token_id
        self.pad_token_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    # ------------------------------------------------------------------ text
    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    def tokenize_conversation(self, conversations: list[dict], num_video_tokens: int) -> tuple[list[int], list[int]]:
        """(input_ids, labels) of one conversation; the placeholder expands to `num_video_tokens` tokens."""
        messages = [{"role": ROLES[turn["from"]], "content": turn["value"]} for turn in conversations]
        template = self.processor.chat_template

        def render(msgs, add_generation_prompt=False):
            if not msgs and not add_generation_prompt:
                return ""
            return self.processor.apply_chat_template(
                msgs, tokenize=False, add_generation_prompt=add_generation_prompt, chat_template=template
            )

        input_ids, labels, rendered = [], [], ""
        for i, message in enumerate(messages):
            full = render(messages[: i + 1])
            if not full.startswith(rendered):
                raise ValueError("The chat template does not render conversations incrementally (prefix property).")
            segment = full[len(rendered) :]
            if message["role"] == "assistant":
                header = render(messages[:i], add_generation_prompt=True)[len(rendered) :]
                if not segment.startswith(header):
                    raise ValueError("The chat template's generation prompt is not the assistant header.")
                reply = segment[len(header) :]
                target = reply.rstrip("\n")
                pieces = [(header, False), (target, True), (reply[len(target) :], False)]
            else:
                pieces = [(segment, False)]
            for text, trained in pieces:
                text = text.replace(self.video_token, self.video_token * num_video_tokens)
                ids = self._encode(text)
                input_ids += ids
                labels += ids if trained else [IGNORE_INDEX] * len(ids)
            rendered = full
        return input_ids, labels

    # ------------------------------------------------------------------ batch
    def load_pixels(self, record: dict, index: int | None = None) -> np.ndarray:
        """Uniformly sampled, SigLIP-processed frames (n, 3, S, S) of the record's video (the processor's video
        processor, at this collator's `fps` and `max_frames`)."""
        key = (record["video"], self.fps, self.max_frames)
        if self.cache is not None and key in self.cache:
            return self.cache[key]
        try:
            processed = self.processor.video_processor(
                record["video"], fps=self.fps, max_frames=self.max_frames, return_tensors=None
            )
        except ValueError as error:
            raise ValueError(f"{_record_name(record, index)}: {error}") from error
        pixels = processed["pixel_values_videos"][0]
        if self.cache is not None:
            self.cache[key] = pixels
        return pixels

    def __call__(self, records: list[dict]) -> dict[str, torch.Tensor]:
        rows, pixel_values, num_frames = [], [], []
        for index, record in enumerate(records):
            record = dict(record)
            if isinstance(record.get("video"), str):
                record["video"] = resolve_video_path(record["video"], self.video_root)
            if self.check_records:
                validate_record(record, video_token=self.video_token, index=index)
            pixels = self.load_pixels(record, index)
            n_video = self.processor.num_video_tokens(len(pixels))
            input_ids, labels = self.tokenize_conversation(record["conversations"], n_video)
            if input_ids.count(self.video_token_id) != n_video:
                raise ValueError(
                    f"{_record_name(record, index)}: {input_ids.count(self.video_token_id)} video tokens after "
                    f"tokenisation for {n_video} needed (keep {self.video_token!r} out of the text itself)."
                )
            if self.max_length is not None and len(input_ids) > self.max_length:
                last_video = max(i for i, t in enumerate(input_ids) if t == self.video_token_id)
                if last_video >= self.max_length:
                    raise ValueError(
                        f"{_record_name(record, index)}: max_length={self.max_length} would cut the video tokens "
                        f"(the video alone needs {n_video}); raise max_length or lower max_frames."
                    )
                input_ids, labels = input_ids[: self.max_length], labels[: self.max_length]
            rows.append((input_ids, labels))
            pixel_values.append(pixels)
            num_frames.append(len(pixels))

        width = max(len(ids) for ids, _ in rows)
        batch_size = len(rows)
        input_ids = torch.full((batch_size, width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((batch_size, width), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((batch_size, width), dtype=torch.long)
        for b, (ids, labs) in enumerate(rows):  # right padding for training
            input_ids[b, : len(ids)] = torch.tensor(ids)
            labels[b, : len(labs)] = torch.tensor(labs)
            attention_mask[b, : len(ids)] = 1
        longest = max(num_frames)
        pixels = np.zeros((batch_size, longest, *pixel_values[0].shape[1:]), dtype=np.float32)
        frame_mask = torch.zeros((batch_size, longest), dtype=torch.long)
        for b, pv in enumerate(pixel_values):
            pixels[b, : len(pv)] = pv
            frame_mask[b, : len(pv)] = 1
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": labels,
            "pixel_values_videos": torch.from_numpy(pixels),
            "video_frame_mask": frame_mask,
        }


__all__ = ["IGNORE_INDEX", "MambaMiaDataCollator", "load_video_records", "validate_record"]
