# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""`hieramamba-ground`: ground queries in a whole library of videos, resumably, on one or many processes.

    hieramamba-ground --model checkpoints/hieramamba-synthetic --videos videos/ --queries queries.txt \\
        --output moments.jsonl --top-k 5
    torchrun --nproc_per_node 4 -m hieramamba_hf.ground_videos --model M --videos "videos/**/*.mp4" \\
        --queries per_video.json --output moments.jsonl        # the videos split over 4 processes (GPUs, nodes)
    python -m hieramamba_hf.ground_videos ...                  # the same as hieramamba-ground

Inputs:

* `--videos`: a folder (its video files, recursively, sorted), a glob pattern (quote it), a video file, or a text
  file of video paths, one per line (relative paths are relative to the text file's folder; `#` starts a comment).
* `--queries`: a text file of queries, one per line, asked of every video; or a JSON / JSONL file mapping videos to
  their own queries: `{"video": ["query", ...], ...}`, `[{"video": ..., "queries": [...]}, ...]`, or JSONL lines
  `{"video": ..., "query": "..."}` / `{"video": ..., "queries": [...]}`. A mapping's video names a video of the
  list by its path as listed, its file name or its file name without extension; without `--videos` the mapping's
  videos are the list (paths relative to the queries file's folder).

Output: JSON lines, one per (video, query): `{"video", "query", "moments": [{"start", "end", "score"}, ...]
(seconds, best first), "duration" (seconds), "model"}`; a video that cannot be read or grounded gives one line per
query with `"error"` instead of `"moments"`, and the run goes on.

Resuming: the (video, query) pairs already in `--output` (or in part files a crashed multi-process run left) are
skipped, errors included unless `--retry-errors`. The lines of a video are written and flushed to disk as soon as
it is grounded, so a crash loses at most the video in flight.

Several processes (`torchrun`, `accelerate launch`): video `i` of the list goes to process `i % world_size`; each
process writes `OUTPUT.rank<r>.part`, and when all are done process 0 merges them into `OUTPUT` (one line per
pair, a result preferred over an error) and removes the parts. Processes meet through `torch.distributed` (gloo),
so the output folder must be shared by all of them; each process takes the GPU of its `LOCAL_RANK` when there is
one. With one process the lines go straight to `OUTPUT` and the file is rewritten, sorted, at the end.

Bad input (no video found, a queries file without queries, an output folder that does not exist, a model that
cannot read video files or query text) stops before any work with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import re
import sys
import time
from collections.abc import Iterable

import torch
from tqdm.auto import tqdm
from transformers import pipeline
from transformers.utils import logging as transformers_logging

from ssm_layers.distributed import launched_rank, launched_world_size
from ssm_layers.video_io import open_video

from .modeling_hieramamba import MissingEncoderError


__all__ = [
    "VIDEO_EXTENSIONS",
    "UsageError",
    "check_model",
    "find_videos",
    "load_done",
    "main",
    "merge_outputs",
    "read_queries",
]

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".ts")
PROG = "hieramamba-ground"
HUB_ID = re.compile(r"[\w.-]+(/[\w.-]+)?")  # what is not a folder must look like a Hub id to be tried there
PART_SUFFIX = ".part"


class UsageError(Exception):
    """Bad input of the command line: reported as one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints the usage too; one line is what the CLI promises
        raise UsageError(message)


# ------------------------------------------------------------------------------------------------ inputs
def find_videos(spec: str) -> list[str]:
    """The video paths `--videos` names: a folder, a glob pattern, a video file, or a text file of paths.

    Args:
        spec: the `--videos` value.

    Returns:
        The paths, without duplicates, sorted for a folder or a glob, in file order for a list.

    Raises:
        UsageError: nothing found, or a path that does not exist.
    """
    if os.path.isdir(spec):
        videos = sorted(
            os.path.join(folder, name)
            for folder, _, names in os.walk(spec)
            for name in names
            if name.lower().endswith(VIDEO_EXTENSIONS)
        )
        if not videos:
            raise UsageError(f"no video files in the folder {spec} (looked for {', '.join(VIDEO_EXTENSIONS)})")
        return videos
    if os.path.isfile(spec):
        if spec.lower().endswith(VIDEO_EXTENSIONS):
            return [spec]
        videos = _read_list(spec)
        if not videos:
            raise UsageError(f"the video list {spec} names no video (one path per line)")
        return videos
    if glob.has_magic(spec):
        videos = sorted(path for path in glob.glob(spec, recursive=True) if os.path.isfile(path))
        if not videos:
            raise UsageError(f"no file matches the pattern {spec}")
        return videos
    raise UsageError(f"--videos {spec}: no such file or folder")


def _read_list(path: str) -> list[str]:
    folder = os.path.dirname(path)
    with open(path, encoding="utf-8") as f:
        lines = [line.split("#", 1)[0].strip() for line in f]
    return list(dict.fromkeys(os.path.join(folder, line) for line in lines if line))


def _read_json_records(path: str) -> list:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:  # JSON lines
        data = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    data.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise UsageError(f"{path} line {number} is not JSON: {error.msg}") from None
    if isinstance(data, dict):
        if {"video"} <= data.keys():  # a single JSONL line
            return [data]
        return [{"video": video, "queries": queries} for video, queries in data.items()]
    if not isinstance(data, list):
        raise UsageError(f"{path} must map videos to queries (a JSON object, a list of records or JSON lines)")
    return data


def read_queries(path: str) -> list[str] | dict[str, list[str]]:
    """The queries of `--queries`: a list (a text file: every video gets them all) or a mapping video -> queries
    (a `.json` / `.jsonl` file, formats in the module docstring).

    Args:
        path: the `--queries` file.

    Raises:
        UsageError: a missing file, a malformed mapping, or no query at all.
    """
    if not os.path.isfile(path):
        raise UsageError(f"--queries {path}: no such file")
    if not path.lower().endswith((".json", ".jsonl")):
        with open(path, encoding="utf-8") as f:
            queries = list(dict.fromkeys(line.strip() for line in f if line.strip()))
        if not queries:
            raise UsageError(f"the queries file {path} has no queries (one per line)")
        return queries
    mapping: dict[str, list[str]] = {}
    for number, record in enumerate(_read_json_records(path), 1):
        if not isinstance(record, dict) or "video" not in record or not ({"query", "queries"} & record.keys()):
            raise UsageError(f"{path} record {number} needs a 'video' and a 'query' or 'queries'")
        queries = record.get("queries", record.get("query"))
        queries = [queries] if isinstance(queries, str) else queries
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            raise UsageError(f"{path} record {number}: the queries of {record['video']!r} must be strings")
        mapping.setdefault(str(record["video"]), []).extend(q.strip() for q in queries if q.strip())
    mapping = {video: list(dict.fromkeys(queries)) for video, queries in mapping.items() if queries}
    if not mapping:
        raise UsageError(f"the queries file {path} has no queries")
    return mapping


def assign_queries(videos: list[str], queries) -> list[tuple[str, list[str]]]:
    """(video, its queries) for every video that has queries; a mapping's key names a video by its path as listed,
    its file name, or its file name without extension (an ambiguous name is an error)."""
    if isinstance(queries, list):
        return [(video, queries) for video in videos]
    by_name: dict[str, list[str]] = {}
    for video in videos:
        base = os.path.basename(video)
        for name in {video, os.path.normpath(video), base, os.path.splitext(base)[0]}:
            by_name.setdefault(name, []).append(video)
    pairs: dict[str, list[str]] = {}
    unknown = []
    for key, video_queries in queries.items():
        matches = by_name.get(key) or by_name.get(os.path.normpath(key), [])
        if len(set(matches)) > 1:
            raise UsageError(f"the queries file names {key!r}, which matches several videos: {sorted(set(matches))}")
        if not matches:
            unknown.append(key)
            continue
        pairs.setdefault(matches[0], []).extend(video_queries)
    if not pairs:
        raise UsageError(f"no video of the list has queries in the queries file (it names e.g. {unknown[:3]})")
    if unknown:
        print(
            f"{PROG}: {len(unknown)} videos of the queries file are not in the list, e.g. {unknown[:3]}",
            file=sys.stderr,
        )
    return [(video, list(dict.fromkeys(pairs[video]))) for video in videos if video in pairs]


def check_output(path: str):
    """`UsageError` unless `path` can take this tool's JSON lines: its folder exists, and the file, when it exists,
    holds such lines (the merge rewrites it: any other file would lose its content); a last line cut by a crash is
    fine."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"--output {path} is a folder: give a file name (JSON lines)")
    if not os.path.isdir(folder):
        raise UsageError(f"the folder of --output {path} does not exist: {folder}")
    if os.path.isfile(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        for number, line in enumerate(lines[:-1], 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            if not isinstance(record, dict) or not {"video", "query"} <= record.keys():
                raise UsageError(
                    f"--output {path} exists and line {number} is not a line of {PROG} (it would be rewritten): "
                    "give another file"
                )


def check_model(grounder) -> None:
    """Raise `UsageError` naming what a loaded grounding pipeline lacks to ground query text in video files: a
    frame encoder, a query encoder, a tokenizer."""
    name = grounder.model.name_or_path or "the model"
    for encoder, what in (("vision_model", "frame encoder"), ("text_model", "query encoder")):
        try:
            grounder.model.model.require_encoder(encoder)
        except MissingEncoderError:
            raise UsageError(
                f"{name} cannot ground video files: it has no {what} (config.{encoder[:-6]}_config is None), so "
                "it takes precomputed features only; give a checkpoint that holds its encoders"
            ) from None
    if getattr(grounder.processor, "tokenizer", None) is None:
        raise UsageError(f"{name} cannot ground video files: it has no tokenizer for the query text")


def load_model(model: str, device: str | None, dtype: str | None):
    """The video-grounding pipeline of `--model` on `device` (default: the GPU of `LOCAL_RANK`, else the CPU), after
    `check_model`; `UsageError` for a missing folder or a model that does not load."""
    local = os.path.expanduser(model)
    if os.path.exists(local) and not os.path.isdir(local):
        raise UsageError(f"--model {model} is a file: give the checkpoint's folder")
    if not os.path.exists(local) and not HUB_ID.fullmatch(model):
        raise UsageError(f"--model {model}: no such folder")
    if device is None:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    try:
        grounder = pipeline("video-grounding", model=local, device=device, dtype=getattr(torch, dtype or "float32"))
    except (OSError, ValueError, TypeError) as error:
        raise UsageError(f"cannot load the grounding model {model}: {str(error).splitlines()[0]}") from None
    check_model(grounder)
    return grounder


# ------------------------------------------------------------------------------------------------ output files
def read_lines(path: str) -> Iterable[dict]:
    """The JSON lines of an output or part file; a line cut by a crash (not JSON) is skipped."""
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "video" in record and "query" in record:
                yield record


def part_files(output: str) -> list[str]:
    return sorted(glob.glob(glob.escape(output) + ".rank*" + PART_SUFFIX))


def load_done(output: str, retry_errors: bool = False) -> set[tuple[str, str]]:
    """The (video, query) pairs the output file and its part files hold (error lines too, unless `retry_errors`)."""
    done = set()
    for path in [output, *part_files(output)]:
        for record in read_lines(path):
            if "error" not in record or not retry_errors:
                done.add((record["video"], record["query"]))
    return done


def merge_outputs(output: str, order: list[tuple[str, list[str]]]) -> int:
    """Rewrite `output` with the lines of itself and its part files, one per (video, query) (a result preferred
    over an error, else the later line), sorted as `order` (pairs it does not hold last, as read); then remove the
    part files. Returns the numbers of lines and of error lines written."""
    parts = part_files(output)
    merged: dict[tuple[str, str], dict] = {}
    for path in [output, *parts]:
        for record in read_lines(path):
            key = (record["video"], record["query"])
            if "error" in record and key in merged and "error" not in merged[key]:
                continue
            merged[key] = record
    rank = {(video, query): i for i, (video, query) in enumerate((v, q) for v, qs in order for q in qs)}
    lines = sorted(merged.items(), key=lambda item: rank.get(item[0], len(rank)))
    temporary = output + ".merging"
    with open(temporary, "w", encoding="utf-8") as f:
        for _, record in lines:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, output)
    for path in parts:
        os.remove(path)
    return len(lines), sum("error" in record for _, record in lines)


class _LineWriter:
    """Appends JSON lines to a file; every `write_video` is flushed to disk before it returns."""

    def __init__(self, path: str):
        self.file = open(path, "a+", encoding="utf-8")
        self.file.seek(0, os.SEEK_END)
        if self.file.tell():  # a line cut by a crash must not swallow the next one
            self.file.seek(self.file.tell() - 1)
            if self.file.read(1) != "\n":
                self.file.write("\n")

    def write_video(self, records: list[dict]):
        self.file.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self):
        self.file.close()


# ------------------------------------------------------------------------------------------------ grounding
def ground_video(grounder, video: str, queries: list[str], top_k: int | None, backend, query_batch_size):
    """Ranked moments of every query in one video file and the video's duration (seconds)."""
    options = {"top_k": top_k, "query_batch_size": query_batch_size}
    encode = getattr(grounder, "encode_video", None)
    if encode is not None:  # decode and encode once, with the exact duration of the decoded file
        features, duration = encode(video, backend=backend)
        moments = grounder(features, query=queries, duration=duration, **options)
    else:
        moments = grounder(video, query=queries, backend=backend, **options)
        duration = open_video(video, backend=backend).metadata.duration
    return moments, float(duration)


def _error_text(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def run(args, rank: int, world: int) -> tuple[list[tuple[str, list[str]]], int, int, float]:
    """Ground this process's share of the pending (video, query) pairs.

    Returns:
        The whole run's (video, queries) list (the merge sorts by it), this process's videos grounded and failed,
        and the `time.perf_counter()` at which all processes started grounding (models loaded).
    """
    videos = find_videos(args.videos) if args.videos else None
    queries = read_queries(args.queries)
    if videos is None:
        if isinstance(queries, list):
            raise UsageError("--videos is needed when --queries is a plain list of queries")
        folder = os.path.dirname(args.queries)
        videos = [os.path.join(folder, video) for video in queries]
        queries = {os.path.join(folder, video): qs for video, qs in queries.items()}
    check_output(args.output)
    work = assign_queries(videos, queries)
    done = load_done(args.output, args.retry_errors)
    grounder = load_model(args.model, args.device, args.dtype)

    mine = [(video, [q for q in qs if (video, q) not in done]) for video, qs in work[rank::world]]
    pending = [(video, qs) for video, qs in mine if qs]
    if done and rank == 0:
        print(f"{PROG}: resuming: {len(done)} (video, query) pairs already done in {args.output}", file=sys.stderr)
    path = args.output if world == 1 else f"{args.output}.rank{rank}{PART_SUFFIX}"
    writer = _LineWriter(path)
    failed = 0
    if torch.distributed.is_initialized():
        torch.distributed.barrier()  # every model loaded: the timing of the grounding starts together
    start = time.perf_counter()
    bar = tqdm(
        pending,
        unit="video",
        desc=f"rank {rank}" if world > 1 else "grounding",
        position=rank if world > 1 else None,
        disable=True if args.no_progress else None,
    )
    try:
        for video, video_queries in bar:
            try:
                moments, duration = ground_video(
                    grounder, video, video_queries, args.top_k, args.backend, args.query_batch_size
                )
                records = [
                    {"video": video, "query": q, "moments": m, "duration": duration, "model": args.model}
                    for q, m in zip(video_queries, moments)
                ]
            except Exception as error:  # a corrupt or unreadable file, a video too short: recorded, the run goes on
                failed += 1
                text = _error_text(error)
                bar.write(f"{PROG}: {video}: {text}", file=sys.stderr)
                records = [{"video": video, "query": q, "error": text, "model": args.model} for q in video_queries]
            writer.write_video(records)
    finally:
        writer.close()
        bar.close()
    return work, len(pending) - failed, failed, start


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=__doc__.split("\n")[0].split(": ", 1)[1])
    parser.add_argument("--model", required=True, help="grounding checkpoint: a folder or a Hub id")
    parser.add_argument("--videos", help="a folder, a glob pattern (quoted), a video file or a text file of paths")
    parser.add_argument(
        "--queries",
        required=True,
        help="a text file (one query per line, for every video) or a JSON / JSONL mapping video -> queries",
    )
    parser.add_argument("--output", required=True, help="JSON lines file (resumed when it exists)")
    parser.add_argument("--top-k", type=int, default=5, help="moments per query (default %(default)s)")
    parser.add_argument(
        "--query-batch-size",
        type=int,
        default=None,
        help="queries per model forward (default all; lower it for many queries on long videos)",
    )
    parser.add_argument("--backend", choices=("pyav", "decord"), default=None, help="video decoder (default PyAV)")
    parser.add_argument("--device", default=None, help="default: the GPU of LOCAL_RANK when there is one, else cpu")
    parser.add_argument(
        "--dtype", choices=("float32", "bfloat16", "float16"), default=None, help="model dtype (default float32)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads of each process")
    parser.add_argument("--retry-errors", action="store_true", help="ground again the pairs that have an error line")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _check_numbers(args):
    for name in ("top_k", "query_batch_size", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {value}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `hieramamba-ground` and `python -m hieramamba_hf.ground_videos`; returns the exit status."""
    rank, world = launched_rank(), launched_world_size()
    bars = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()  # no weight-loading bars: the CLI's own bar is over videos
    group = False
    try:
        args = build_parser().parse_args(argv)
        _check_numbers(args)
        if args.threads:
            torch.set_num_threads(args.threads)
        if world > 1:
            if "MASTER_ADDR" not in os.environ:
                raise UsageError("several processes need torchrun or accelerate launch (MASTER_ADDR is not set)")
            # the processes only meet at the end (merge): a generous timeout, for shares of unequal length
            torch.distributed.init_process_group("gloo", timeout=datetime.timedelta(days=7))
            group = True
        work, grounded, failed, start = run(args, rank, world)
        if group:  # waits for every process
            totals = torch.tensor([grounded, failed], dtype=torch.int64)
            torch.distributed.all_reduce(totals)
            grounded, failed = totals.tolist()
        seconds = time.perf_counter() - start
        if rank == 0:
            lines, errors = merge_outputs(args.output, work)
            rate = f" ({(grounded + failed) * 3600 / seconds:.0f} videos / hour)" if grounded + failed else ""
            errors = f", {errors} of them errors (--retry-errors grounds those again)" if errors else ""
            print(
                f"{PROG}: {grounded} videos grounded, {failed} failed, in {seconds:.1f} s{rate} by {world} "
                f"process{'es' if world > 1 else ''}; {lines} lines in {args.output}{errors}",
                file=sys.stderr,
            )
        if group:
            torch.distributed.barrier()  # nobody leaves before the merge is written
        return 0
    except UsageError as error:
        if rank == 0:
            print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    finally:
        if group:
            torch.distributed.destroy_process_group()
        if bars:
            transformers_logging.enable_progress_bar()


if __name__ == "__main__":
    sys.exit(main())
