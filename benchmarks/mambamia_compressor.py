# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""MambaMia compressor cost at the paper's widths: time, peak memory, tokens in vs tokens out.

Setup (MambaMiaConfig.from_preset("mambamia-7b")): SigLIP2 so400m patch16 384 features (576 patches x 1152 per
frame) -> input_proj -> 3 bidirectional Mamba2 blocks with GPA at width 3072 over the whole video as one sequence of
frames x (576 + 24) tokens -> the 24 anchors per frame -> Temporal Axis Aggregator (Delta_t) -> delta sampling
(Algorithm 1, M_thresh 180, delta_thresh 0.6) -> mlp2x_gelu projector + frame separator -> LLM tokens.
The vision tower and the LLM are not run: the input is random vision features.

Tokens: "sequence" = frames x 600 compressor tokens (paper: 384 x 600 = 230,400); "anchors" = frames x 24 after
Stage 1; "LLM tokens" = kept frames x (24 + 1 separator). Delta sampling only applies above 180 frames, so the timed
CPU rows keep every frame; a separate "token accounting" line runs the TAA + Algorithm 1 alone on 384 frames of
random anchors. Random weights give a Delta_t unlike a trained TAA's, so by default (`--delta-mean 0.3`) the TAA's
dt_bias is set (bisection) so that the mean Delta_t is 0.3 -- two frames per 0.6 threshold, i.e. about every second
frame kept, as the paper reports for trained models (384 -> ~192 frames, ~4.7K tokens). `--delta-mean 0` keeps the
random-init values. This line is an illustration of the accounting, not a measurement of a trained model.

Time: wall-clock of one forward (after a warm-up on GPU); "process CPU" is the CPU time of the process, which on
a shared machine shows how much of the wall time was waiting for cores.
Peak memory: CUDA max_memory_allocated on GPU; on CPU the rise of the process's peak RSS during the forward and
the process's peak RSS itself (model, input features and forward; each setting runs in its own subprocess).

Streaming: on CPU Stage 1 runs by default with `compressor_streaming_segment_length` (`--segment-length`, 4096
tokens; 0 = the normal forward, the GPU default): blocks update one residual buffer in place and each mixer runs
segment by segment, so 384 frames need ~2 x 2.8 GB of activations instead of ~90 GB (the normal forward holds
several (230,400 x 14,432) float32 tensors). It computes in_proj and out_proj once per direction (the normal forward
shares them), so it costs ~1.5x the FLOPs. `--check` also runs the normal forward for each frame count and prints
the largest anchor difference between the two. Default frames: 384 on a GPU; 8 on CPU (384 frames streamed: 9.7 GB
peak RSS and ~1 h on this 2-core machine; pass --frames 384 to run it).

Run: python benchmarks/mambamia_compressor.py [--frames 8 32] [--device cpu|cuda] [--dtype float32|bfloat16]
     [--segment-length 4096] [--check] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import torch


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import machine_line, markdown_table  # noqa: E402

from mambamia_hf import MambaMiaConfig  # noqa: E402
from mambamia_hf.modeling_mambamia import (  # noqa: E402
    MambaMiaCompressor,
    MambaMiaMultiModalProjector,
    MambaMiaPreTrainedModel,
    delta_sampling,
)


def build(config: MambaMiaConfig, device: str, dtype: torch.dtype, delta_mean: float = 0.0):
    compressor = MambaMiaCompressor(config)
    projector = MambaMiaMultiModalProjector(config)
    init_model = MambaMiaPreTrainedModel.__new__(MambaMiaPreTrainedModel)  # reuse _init_weights without an LLM
    init_model.config = config
    for module in (compressor, projector):
        module.apply(init_model._init_weights)
    return compressor.to(device, dtype).eval(), projector.to(device, dtype).eval()


def run_one(
    frames: int,
    device: str,
    dtype_name: str,
    delta_mean: float,
    repeats: int,
    segment_length: int = 0,
    anchors_out: str | None = None,
) -> dict:
    torch.manual_seed(0)
    dtype = getattr(torch, dtype_name)
    config = MambaMiaConfig.from_preset("mambamia-7b", compressor_streaming_segment_length=segment_length or None)
    compressor, projector = build(config, device, dtype)
    n_params = sum(p.numel() for p in compressor.parameters())
    features = torch.randn(
        1, frames, config.num_patches_per_frame, config.vision_config.hidden_size, device=device, dtype=dtype
    )
    frame_mask = torch.ones(1, frames, dtype=torch.bool, device=device)

    def forward():
        anchors, deltas = compressor(features, frame_mask)
        keep = torch.ones(frames, dtype=torch.bool)
        if frames > config.delta_sampling_min_frames:
            keep = delta_sampling(deltas[0].float().cpu(), config.delta_sampling_threshold)
        tokens = projector(anchors[0][keep.to(anchors.device)])
        if device == "cuda":
            torch.cuda.synchronize()
        return anchors, keep, tokens

    with torch.inference_mode():
        if device == "cuda":
            forward()  # warm-up (kernel compilation)
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        else:
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        times, cpu_times = [], []
        for _ in range(repeats):
            start, cpu_start = time.perf_counter(), time.process_time()
            anchors, keep, tokens = forward()
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
        if device == "cuda":
            peak = torch.cuda.max_memory_allocated() - base
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    if anchors_out:
        torch.save(anchors.float().cpu(), anchors_out)
    kept = int(keep.sum())
    return {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "dtype": dtype_name,
        "frames": frames,
        "vision_tokens": frames * config.num_patches_per_frame,
        "sequence": frames * (config.num_patches_per_frame + config.queries_per_frame),
        "anchors": int(anchors.shape[1] * anchors.shape[2]),
        "kept_frames": kept,
        "llm_tokens": kept * config.tokens_per_frame,
        "seconds": min(times),
        "cpu_seconds": min(cpu_times),
        "peak_gb": peak / 1e9,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9 if device == "cpu" else None,
        "segment_length": segment_length,
        "compressor_params": n_params,
    }


def token_accounting(frames: int, delta_mean: float) -> str:
    """Tokens in vs out at `frames` without Stage 1: the TAA + Algorithm 1 on random anchors (cheap on CPU)."""
    torch.manual_seed(0)
    config = MambaMiaConfig.from_preset("mambamia-7b")
    compressor, _ = build(config, "cpu", torch.float32, 0.0)
    taa = compressor.temporal_aggregator
    anchors = torch.randn(1, frames, config.queries_per_frame, config.compressor_hidden_size)
    mask = torch.ones(1, frames, dtype=torch.bool)
    with torch.inference_mode():
        _, deltas = taa(anchors, mask)
        if delta_mean > 0:  # bisection on a shared dt_bias so that the mean Delta_t on these anchors is delta_mean
            low, high = -12.0, 6.0
            for _ in range(30):
                taa.mixer.dt_bias.fill_((low + high) / 2)
                _, deltas = taa(anchors, mask)
                low, high = ((low + high) / 2, high) if float(deltas.mean()) < delta_mean else (low, (low + high) / 2)
    kept = int(delta_sampling(deltas[0], config.delta_sampling_threshold).sum()) if frames > 180 else frames
    sequence = frames * (config.num_patches_per_frame + config.queries_per_frame)
    return (
        f"token accounting at {frames} frames (TAA + Algorithm 1 on random anchors, mean Delta_t "
        f"{float(deltas.mean()):.3f}): sequence {sequence:,} -> anchors {frames * config.queries_per_frame:,} -> "
        f"kept frames {kept} -> LLM tokens {kept * config.tokens_per_frame:,} "
        f"({kept * config.queries_per_frame:,} anchors + {kept} separators)"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, nargs="+", default=None)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default=None, help="float32 (CPU default) or bfloat16 (GPU default)")
    ap.add_argument("--delta-mean", type=float, default=0.3)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument(
        "--accounting-frames",
        type=int,
        default=384,
        help="also print the token accounting at this many frames (TAA + delta sampling only); 0 = off",
    )
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--segment-length",
        type=int,
        default=None,
        help="streaming Stage 1 with this many tokens per segment (CPU default 4096); 0 = normal forward "
        "(GPU default)",
    )
    ap.add_argument(
        "--check", action="store_true", help="also run the normal forward for each frame count and compare the anchors"
    )
    ap.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--anchors-out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    frames = args.frames or ([384] if args.device == "cuda" else [8])
    dtype = args.dtype or ("bfloat16" if args.device == "cuda" else "float32")
    segment = args.segment_length if args.segment_length is not None else (4096 if args.device == "cpu" else 0)

    if args.single:
        print(
            json.dumps(
                run_one(frames[0], args.device, dtype, args.delta_mean, args.repeats, segment, args.anchors_out)
            )
        )
        return
    rows, checks = [], []
    settings = [(n, s) for n in frames for s in ([segment, 0] if args.check and segment else [segment])]
    with tempfile.TemporaryDirectory() as tmp:
        for n, seg in settings:  # one subprocess per setting so that peak RSS is per setting
            cmd = [
                sys.executable,
                os.path.abspath(__file__),
                "--single",
                "--frames",
                str(n),
                "--device",
                args.device,
                "--dtype",
                dtype,
                "--delta-mean",
                str(args.delta_mean),
                "--repeats",
                str(args.repeats),
                "--segment-length",
                str(seg),
                "--anchors-out",
                os.path.join(tmp, f"{n}_{seg}.pt"),
            ]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode != 0:
                print(out.stderr[-2000:], file=sys.stderr)
                raise SystemExit(f"frames={n} segment_length={seg} failed")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rss = f"{r['peak_rss_gb']:.2f}" if r["peak_rss_gb"] is not None else "-"
            rows.append(
                [
                    r["device"],
                    r["dtype"],
                    f"streaming {seg}" if seg else "normal",
                    r["frames"],
                    f"{r['vision_tokens']:,}",
                    f"{r['sequence']:,}",
                    f"{r['anchors']:,}",
                    r["kept_frames"],
                    f"{r['llm_tokens']:,}",
                    f"{r['sequence'] / r['llm_tokens']:.1f}x",
                    f"{r['seconds']:.2f}",
                    f"{r['cpu_seconds']:.2f}",
                    f"{r['peak_gb']:.2f}",
                    rss,
                    f"{r['sequence'] / r['seconds']:,.0f}",
                ]
            )
            params = r["compressor_params"]
            if seg == 0 and (n, segment) in settings and segment:
                streamed, normal = (torch.load(os.path.join(tmp, f"{n}_{s}.pt")) for s in (segment, 0))
                checks.append(
                    f"{n} frames: max |anchors streaming - normal| = {float((streamed - normal).abs().max()):.2e}"
                    f" (max |anchors| {float(normal.abs().max()):.2f})"
                )
    print(machine_line(), f"| load average {os.getloadavg()[0]:.1f}")
    print(f"compressor parameters (Stage 1 + TAA): {params:,}; delta mean {args.delta_mean or 'random init'}")
    print(
        markdown_table(
            [
                "device",
                "dtype",
                "Stage 1",
                "frames",
                "vision tokens",
                "sequence in",
                "anchors (Stage 1)",
                "kept frames",
                "LLM tokens out",
                "reduction",
                "time (s)",
                "process CPU (s)",
                "peak mem rise (GB)",
                "peak RSS (GB)",
                "tokens/s",
            ],
            rows,
        )
    )
    for line in checks:
        print(line)
    if args.accounting_frames:
        print(token_accounting(args.accounting_frames, args.delta_mean))


if __name__ == "__main__":
    main()
