# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""Train MambaMia with the Trainer: the paper's stages ("align", "instruct"), optional PEFT LoRA, activation
checkpointing, bf16; single process or multi-GPU through `accelerate launch` (examples/accelerate_configs/).

CPU-scale check on the synthetic video QA set of examples/synthetic_video_qa/ (tiny random-init SigLIP + Qwen2,
no downloads):

    OMP_NUM_THREADS=1 python examples/train_mambamia.py --synthetic_dir /tmp/mm_qa --make_synthetic 600,150 \
        --stage instruct --learning_rate 1e-3 --warmup_steps 50 --max_steps 1800 --per_device_train_batch_size 8 \
        --cache_videos --use_cpu --save_strategy no --output_dir /tmp/mm_run
    (LoRA: --lora --learning_rate 5e-3 --lora_r 16 --lora_alpha 32
     --lora_modules_to_save multi_modal_projector,lm_head)

Real parts (paper): stage "align" from SigLIP2 + Qwen2 components, then stage "instruct" from the aligned folder:

    accelerate launch --config_file examples/accelerate_configs/deepspeed_zero3.yaml examples/train_mambamia.py \
        --vision_model google/siglip2-so400m-patch16-384 --text_model Qwen/Qwen2-7B-Instruct \
        --train_file llava_pretrain_video.json --video_root /data/videos --stage align --max_frames 64 \
        --bf16 --activation_checkpointing --output_dir out/align
    accelerate launch ... examples/train_mambamia.py --model_name_or_path out/align --stage instruct \
        --train_file llava_video_178k.jsonl --video_root /data/videos --max_frames 128 --bf16 \
        --activation_checkpointing --output_dir out/instruct

Under `torchrun --nproc_per_node N` on a machine without GPUs the script trains data-parallel over gloo
(docs/scale-out.md); a launch that would train independent copies stops with an error.
"""

import json
import os
import sys
import time
from dataclasses import dataclass, field

import torch
from transformers import HfArgumentParser, Trainer, TrainingArguments, set_seed


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "synthetic_video_qa"))  # synthetic QA

from mambamia_hf import MambaMiaForConditionalGeneration, MambaMiaProcessor
from mambamia_hf.data_mambamia import MambaMiaDataCollator, load_video_records
from mambamia_hf.training_mambamia import (
    apply_lora,
    apply_stage,
    enable_activation_checkpointing,
    get_stage,
    score_closed_set,
)
from ssm_layers.distributed import check_distributed_training_arguments, distributed_cpu_defaults


@dataclass
class ScriptArguments:
    stage: str = field(default="instruct", metadata={"help": "'align' (compressor+projector) or 'instruct' (+LLM)"})
    train_file: str | None = field(default=None, metadata={"help": "LLaVA-Video style .json / .jsonl records"})
    eval_file: str | None = field(default=None, metadata={"help": "held-out records (closed-set scoring)"})
    video_root: str | None = field(default=None, metadata={"help": "folder the records' video paths are relative to"})
    synthetic_dir: str | None = field(default=None, metadata={"help": "synthetic QA folder (train.jsonl, test.json)"})
    make_synthetic: str | None = field(default=None, metadata={"help": "'NTRAIN,NTEST': generate the synthetic set"})
    model_name_or_path: str | None = field(default=None, metadata={"help": "a saved MambaMia model (+processor)"})
    vision_model: str | None = field(default=None, metadata={"help": "SigLIP/SigLIP2 id (fresh compressor)"})
    text_model: str | None = field(default=None, metadata={"help": "Qwen2 id (fresh compressor)"})
    fps: float = field(default=2.0, metadata={"help": "training frame-rate cap (paper: 2)"})
    max_frames: int = field(default=64, metadata={"help": "training frame budget (paper: 64 ablation, 128 final)"})
    lora: bool = field(default=False, metadata={"help": "PEFT LoRA on LLM attention + compressor in_proj"})
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_modules_to_save: str = field(
        default="multi_modal_projector", metadata={"help": "comma-separated modules trained in full next to LoRA"}
    )
    merge_lora: bool = field(default=True, metadata={"help": "also save the merged model under output_dir/merged"})
    cache_videos: bool = field(default=False, metadata={"help": "keep processed frames in memory (small sets)"})
    model_seed: int = field(default=0, metadata={"help": "seed of the tiny synthetic model's random init"})


def build_model_and_processor(args: ScriptArguments):
    if args.model_name_or_path:
        model = MambaMiaForConditionalGeneration.from_pretrained(args.model_name_or_path, dtype=torch.float32)
        processor = MambaMiaProcessor.from_pretrained(args.model_name_or_path)
    elif args.vision_model and args.text_model:
        model = MambaMiaForConditionalGeneration.from_components(args.vision_model, args.text_model)
        processor = MambaMiaProcessor.from_components(
            args.vision_model, args.text_model, tokens_per_frame=model.config.tokens_per_frame
        )
    else:  # tiny random-init model sized for the synthetic QA vocabulary
        from synthetic_qa import synthetic_qa_config, synthetic_qa_processor

        torch.manual_seed(args.model_seed)
        config = synthetic_qa_config()
        model = MambaMiaForConditionalGeneration(config)
        processor = synthetic_qa_processor(config)
    processor.video_processor.fps, processor.video_processor.max_frames = args.fps, args.max_frames
    return model, processor


def main(argv=None):
    parser = HfArgumentParser((ScriptArguments, TrainingArguments))
    parser.set_defaults(**distributed_cpu_defaults())  # torchrun on CPU: DDP over gloo
    argv = sys.argv[1:] if argv is None else argv
    args, training_args = parser.parse_args_into_dataclasses(args=argv)
    check_distributed_training_arguments(training_args)  # never independent copies writing one output_dir
    stage = get_stage(args.stage)
    if "--learning_rate" not in argv:
        training_args.learning_rate = stage.learning_rate  # paper: align 1e-4, instruct 2e-5
    if not any(a.startswith("--seed") for a in argv):
        training_args.seed = 2025  # paper
    training_args.remove_unused_columns = False
    training_args.label_names = ["labels"]
    set_seed(training_args.seed)

    if args.synthetic_dir:
        from synthetic_qa import generate_synthetic_video_qa

        with training_args.main_process_first(desc="synthetic video QA"):  # rank 0 renders, the others reuse
            if args.make_synthetic and not os.path.exists(os.path.join(args.synthetic_dir, "test.json")):
                num_train, num_test = (int(v) for v in args.make_synthetic.split(","))
                generate_synthetic_video_qa(args.synthetic_dir, num_train=num_train, num_test=num_test)
        args.train_file = args.train_file or os.path.join(args.synthetic_dir, "train.jsonl")
        args.eval_file = args.eval_file or os.path.join(args.synthetic_dir, "test.json")
    if not args.train_file:
        raise ValueError("Give --train_file (LLaVA-Video style records) or --synthetic_dir.")

    model, processor = build_model_and_processor(args)
    counts = apply_stage(model, args.stage)
    if args.lora:
        model = apply_lora(
            model,
            r=args.lora_r,
            lora_alpha=args.lora_alpha,
            lora_dropout=args.lora_dropout,
            modules_to_save=args.lora_modules_to_save.split(","),
        )
        counts = {"trainable": sum(p.numel() for p in model.parameters() if p.requires_grad)}
    if training_args.activation_checkpointing or training_args.gradient_checkpointing:
        enable_activation_checkpointing(model)
    print(f"stage={args.stage} lr={training_args.learning_rate} lora={args.lora} params={counts}", flush=True)

    train_dataset = load_video_records(args.train_file, video_root=args.video_root)
    collator = MambaMiaDataCollator(
        processor, fps=args.fps, max_frames=args.max_frames, cache_videos=args.cache_videos
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        data_collator=collator,
        processing_class=processor,
    )
    start = time.time()
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    train_seconds = time.time() - start
    trainer.save_model(training_args.output_dir)
    if trainer.is_world_process_zero():
        processor.save_pretrained(training_args.output_dir)

    metrics = {"train_seconds": round(train_seconds, 1), "stage": args.stage, "lora": args.lora}
    metrics["log_history"] = [h for h in trainer.state.log_history if "loss" in h]
    model = trainer.model
    if args.lora and args.merge_lora and trainer.is_world_process_zero():
        model = model.merge_and_unload()
        model.save_pretrained(os.path.join(training_args.output_dir, "merged"))
        processor.save_pretrained(os.path.join(training_args.output_dir, "merged"))
    if args.eval_file and trainer.is_world_process_zero():
        from synthetic_qa import answer_choices

        eval_records = list(load_video_records(args.eval_file, video_root=args.video_root))
        start = time.time()
        result = score_closed_set(model, collator, eval_records, answer_choices)
        metrics["eval"] = result
        metrics["eval_seconds"] = round(time.time() - start, 1)
        print(
            f"held-out accuracy {result['accuracy']:.3f} ({result['correct']}/{result['total']}), chance "
            f"{result['chance']:.3f}; per question: {json.dumps(result['per_question'])}",
            flush=True,
        )
    if trainer.is_world_process_zero():
        with open(os.path.join(training_args.output_dir, "metrics_mambamia.json"), "w") as f:
            json.dump(metrics, f, indent=1)
    return metrics


if __name__ == "__main__":
    main()
