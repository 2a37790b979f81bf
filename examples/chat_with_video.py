# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Ask MambaMia a question about a video file; prints the answer and the timestamps of the frames it kept.

    # offline, no download: a tiny MambaMia with RANDOM weights built from configs (it says so; the answer is noise)
    python examples/chat_with_video.py --video clip.mp4 --question "What happens?"

    # the paper's parts from the Hub: SigLIP2 so400m + Qwen2-7B-Instruct, with a fresh (untrained) compressor
    python examples/chat_with_video.py --video clip.mp4 --question "What happens?" \
        --vision google/siglip2-so400m-patch16-384 --llm Qwen/Qwen2-7B-Instruct --dtype bfloat16

    # a saved (trained) MambaMia folder or Hub id: model + processor
    python examples/chat_with_video.py --video clip.mp4 --question "What happens?" --model out/instruct

No trained MambaMia weights are public yet (the authors' checkpoints are announced as "coming soon"): train one with
examples/train_mambamia.py. Frames are sampled by the paper's rule (n = min(ceil(duration * fps), max_frames)); above
`delta_sampling_min_frames` (180 for the 7B preset) delta sampling keeps the frames whose accumulated Delta_t crosses
the threshold, and those are the timestamps printed.
"""

import argparse
import os
import sys

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "synthetic_video_qa"))  # tiny parts

from tiny_models import CHATML_SPECIAL_TOKENS, TINY_COMPRESSOR, TINY_VISION, WORDS, tiny_text_config, tiny_tokenizer

from mambamia_hf import MambaMiaConfig, MambaMiaForConditionalGeneration, MambaMiaProcessor, MambaMiaVideoProcessor


def tiny_random_model_and_processor(fps: float, max_frames: int):
    """A tiny MambaMia with random weights (tiny SigLIP 32x32, tiny Qwen2, tiny compressor) and its processor."""
    tokenizer = tiny_tokenizer()
    config = MambaMiaConfig(
        vision_config=dict(TINY_VISION),
        text_config=tiny_text_config(len(CHATML_SPECIAL_TOKENS) + 1 + len(WORDS)),
        video_token_id=CHATML_SPECIAL_TOKENS.index("<video>"),
        **TINY_COMPRESSOR,
    )
    torch.manual_seed(0)
    model = MambaMiaForConditionalGeneration(config)
    size = config.frame_size
    video_processor = MambaMiaVideoProcessor(size={"height": size, "width": size}, fps=fps, max_frames=max_frames)
    return model, MambaMiaProcessor(video_processor, tokenizer, tokens_per_frame=config.tokens_per_frame)


def build(args):
    """(model, processor, what was built)."""
    dtype = getattr(torch, args.dtype)
    video_options = {"fps": args.fps, "max_frames": args.max_frames}
    if args.model:
        model = AutoModelForImageTextToText.from_pretrained(args.model, dtype=dtype)
        processor = AutoProcessor.from_pretrained(args.model)
        processor.video_processor.fps, processor.video_processor.max_frames = args.fps, args.max_frames
        return model, processor, f"MambaMia from {args.model}"
    if args.vision or args.llm:
        if not (args.vision and args.llm):
            raise SystemExit("--vision and --llm go together (a SigLIP / SigLIP2 id and a Qwen2 id).")
        model = MambaMiaForConditionalGeneration.from_components(args.vision, args.llm, dtype=dtype)
        processor = MambaMiaProcessor.from_components(
            args.vision, args.llm, tokens_per_frame=model.config.tokens_per_frame, **video_options
        )
        note = "a FRESH, UNTRAINED compressor and projector: the answer means nothing until trained"
        return model, processor, f"{args.vision} + {args.llm} with {note} (examples/train_mambamia.py)"
    model, processor = tiny_random_model_and_processor(**video_options)
    note = "a tiny MambaMia with RANDOM weights built from configs, nothing downloaded; its answer is noise"
    return model.to(dtype), processor, f"no --model / --vision --llm given: {note}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", required=True, help="a video file")
    parser.add_argument("--question", required=True)
    parser.add_argument("--model", help="a saved MambaMia folder or Hub id (model + processor)")
    parser.add_argument("--vision", help="SigLIP / SigLIP2 id, e.g. google/siglip2-so400m-patch16-384")
    parser.add_argument("--llm", help="Qwen2 id, e.g. Qwen/Qwen2-7B-Instruct")
    parser.add_argument("--fps", type=float, default=1.0, help="sampling-rate cap (frames per second)")
    parser.add_argument("--max-frames", type=int, default=384, help="frame budget (paper inference: 384)")
    parser.add_argument("--video-backend", choices=["pyav", "decord"], default=None)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.video):
        raise SystemExit(f"--video {args.video}: no such file.")

    model, processor, built = build(args)
    print(f"model: {built}")
    model = model.to(args.device).eval()
    messages = [
        {"role": "user", "content": [{"type": "video", "path": args.video}, {"type": "text", "text": args.question}]}
    ]
    inputs = processor.apply_chat_template(
        messages,
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        processor_kwargs={"video_backend": args.video_backend},
    ).to(args.device, dtype=model.dtype)
    output = model.generate(**inputs, max_new_tokens=args.max_new_tokens, return_dict_in_generate=True)
    answer = processor.decode(output.sequences[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    sampled = len(inputs["video_timestamps"][0])
    kept = output.video_outputs.kept_frame_timestamps[0].tolist()
    print(f"answer: {answer.strip()}")
    print(
        f"frames: {sampled} sampled, {len(kept)} kept (delta sampling above {model.config.delta_sampling_min_frames})"
    )
    print("kept frame timestamps (s): " + " ".join(f"{t:.2f}" for t in kept))
    return answer, kept


if __name__ == "__main__":
    main()
