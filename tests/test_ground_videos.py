# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""`hieramamba-ground` (`hieramamba_hf.ground_videos`): one JSON line per (video, query) equal to the pipeline's
answer, error lines for corrupt files, resuming after a rerun or a crash, 2 processes merging into the output of
one, query mappings, and one-line errors (exit status 2) for bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_mp4
from test_video_grounding_pipeline import make_checkpoint, moving_square_frames
from transformers import pipeline

from hieramamba_hf import ground_videos
from hieramamba_hf.ground_videos import main, merge_outputs


ROOT = Path(__file__).resolve().parent.parent
QUERIES = ["a red square moves right", "nothing happens"]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("library")
    videos = root / "videos"
    videos.mkdir()
    for i, length in enumerate((24, 30, 36, 28)):
        write_mp4(videos / f"clip{i}.mp4", moving_square_frames(length, seed=i), fps=2)
    (videos / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not a video" * 50)  # a cut download
    (videos / "notes.txt").write_text("not a video")
    queries = root / "queries.txt"
    queries.write_text("\n".join(QUERIES) + "\n\n")
    ckpt, _, _ = make_checkpoint(root / "ckpt")
    return {"root": root, "videos": str(videos), "queries": str(queries), "ckpt": ckpt}


def run_cli(library, output, *extra):
    return main([*cli_args(library, output), *extra])


def assert_same_moments(actual, expected):
    assert [sorted(m) for m in actual] == [sorted(m) for m in expected]
    for got, want in zip(actual, expected):
        assert [got[k] for k in sorted(got)] == pytest.approx([want[k] for k in sorted(want)], rel=1e-4, abs=1e-5)


def read(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.fixture
def count_grounded(monkeypatch):
    """The videos the CLI grounds (in this process)."""
    seen = []
    ground = ground_videos.ground_video

    def counting(grounder, video, *args):
        seen.append(os.path.basename(video))
        return ground(grounder, video, *args)

    monkeypatch.setattr(ground_videos, "ground_video", counting)
    return seen


def test_one_line_per_video_and_query_equal_to_the_pipeline(library, tmp_path, count_grounded, capsys):
    output = tmp_path / "moments.jsonl"
    assert run_cli(library, output) == 0
    lines = read(output)
    names = ["broken.mp4"] + [f"clip{i}.mp4" for i in range(4)]  # the folder's videos, sorted; notes.txt skipped
    assert [(os.path.basename(r["video"]), r["query"]) for r in lines] == [(n, q) for n in names for q in QUERIES]
    assert count_grounded == names
    broken, good = lines[:2], lines[2:]
    assert all(r["error"].startswith("ValueError: Cannot decode") and "moments" not in r for r in broken)
    assert "broken.mp4" in capsys.readouterr().err  # reported as it happens; the run went on
    grounder = pipeline("video-grounding", model=library["ckpt"])
    for i in range(4):
        video = os.path.join(library["videos"], f"clip{i}.mp4")
        expected = grounder(video, query=QUERIES, top_k=3)
        for record, moments in zip(good[2 * i : 2 * i + 2], expected):
            assert record["video"] == video and record["model"] == library["ckpt"]
            assert record["duration"] == pytest.approx([12.0, 15.0, 18.0, 14.0][i], abs=0.01)
            assert len(record["moments"]) <= 3
            assert_same_moments(record["moments"], moments)
            assert [m["score"] for m in record["moments"]] == sorted(
                (m["score"] for m in record["moments"]), reverse=True
            )


def test_rerun_skips_what_is_done_and_a_crash_loses_at_most_the_video_in_flight(
    library, tmp_path, count_grounded, monkeypatch
):
    output = tmp_path / "moments.jsonl"
    ground = ground_videos.ground_video

    def crash_on_the_third(grounder, video, *args):
        if len(count_grounded) == 3:
            raise KeyboardInterrupt  # the process dies while grounding clip2.mp4
        return ground(grounder, video, *args)

    monkeypatch.setattr(ground_videos, "ground_video", crash_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        run_cli(library, output)
    written = read(output)  # the videos before the crash are on disk, the one in flight is not
    assert [os.path.basename(r["video"]) for r in written] == ["broken.mp4"] * 2 + ["clip0.mp4"] * 2 + [
        "clip1.mp4"
    ] * 2
    with open(output, "a") as f:  # the crash also cut a line in half
        f.write('{"video": "' + written[-1]["video"])

    monkeypatch.setattr(ground_videos, "ground_video", ground)
    count_grounded.clear()
    assert run_cli(library, output) == 0
    assert count_grounded == ["clip2.mp4", "clip3.mp4"]  # done videos and the recorded error are skipped
    lines = read(output)  # the cut line is gone, every pair once, in order
    assert len(lines) == 10 and len({(r["video"], r["query"]) for r in lines}) == 10
    assert [r for r in lines if "error" in r] == written[:2]

    count_grounded.clear()
    assert run_cli(library, output) == 0 and count_grounded == []  # nothing left to do
    assert run_cli(library, output, "--retry-errors") == 0 and count_grounded == ["broken.mp4"]
    assert len(read(output)) == 10


def cli_args(library, output):
    args = ["--model", library["ckpt"], "--videos", library["videos"], "--queries", library["queries"]]
    return [*args, "--output", str(output), "--top-k", "3", "--no-progress"]


def test_two_processes_split_the_videos_and_merge_without_duplicates(library, tmp_path):
    """`torchrun -m hieramamba_hf.ground_videos` (so `python -m` works too) with 2 CPU processes: the merged output
    is one process's, a pair done before the run is kept as it was, the part files are gone."""
    single = tmp_path / "single.jsonl"
    assert run_cli(library, single) == 0
    output = tmp_path / "moments.jsonl"
    first = read(single)[2]  # already done before the run: kept as it is, not grounded again
    done = {**first, "moments": [{"start": 1.0, "end": 2.0, "score": 0.5}]}
    output.write_text(json.dumps(done) + "\n")
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    result = subprocess.run(
        [*torchrun, "-m", "hieramamba_hf.ground_videos", *cli_args(library, output)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1"),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "hieramamba-ground: 4 videos grounded, 1 failed, in " in result.stderr and "by 2 processes" in result.stderr
    lines = read(output)
    assert lines[2] == done
    expected = read(single)
    expected[2] = done
    assert [(r["video"], r["query"]) for r in lines] == [(r["video"], r["query"]) for r in expected]
    for got, want in zip(lines, expected):
        assert got.keys() == want.keys()
        if "error" in want:
            assert got == want
        else:
            assert_same_moments(got["moments"], want["moments"])
            assert got["duration"] == want["duration"]
    assert sorted(os.listdir(tmp_path)) == ["moments.jsonl", "single.jsonl"]  # the part files are merged away


def test_merge_prefers_results_to_errors_and_keeps_one_line_per_pair(tmp_path):
    output = tmp_path / "out.jsonl"
    result = {"video": "a.mp4", "query": "q", "moments": [], "duration": 1.0, "model": "m"}
    error = {"video": "a.mp4", "query": "q", "error": "ValueError: x", "model": "m"}
    other = {"video": "b.mp4", "query": "q", "error": "ValueError: y", "model": "m"}
    output.write_text(json.dumps(result) + "\n")
    (tmp_path / "out.jsonl.rank1.part").write_text(json.dumps(error) + "\n" + json.dumps(other) + "\n")
    assert merge_outputs(str(output), [("b.mp4", ["q"]), ("a.mp4", ["q"])]) == (2, 1)
    assert read(output) == [other, result] and not (tmp_path / "out.jsonl.rank1.part").exists()


def test_query_mappings_by_path_file_name_or_stem(library, tmp_path):
    videos = Path(library["videos"])
    mapping = tmp_path / "queries.json"
    mapping.write_text(json.dumps({"clip0": ["q zero"], "clip1.mp4": "q one", str(videos / "clip2.mp4"): ["q two"]}))
    output = tmp_path / "out.jsonl"
    assert (
        main(
            [
                "--model",
                library["ckpt"],
                "--videos",
                str(videos),
                "--queries",
                str(mapping),
                "--output",
                str(output),
                "--no-progress",
            ]
        )
        == 0
    )
    assert [(os.path.basename(r["video"]), r["query"]) for r in read(output)] == [
        ("clip0.mp4", "q zero"),
        ("clip1.mp4", "q one"),
        ("clip2.mp4", "q two"),
    ]
    # JSON lines, and no --videos: the mapping's paths (relative to its folder) are the list
    lines = tmp_path / "queries.jsonl"
    relative = os.path.relpath(videos / "clip3.mp4", tmp_path)
    lines.write_text(
        json.dumps({"video": relative, "query": "q"}) + "\n" + json.dumps({"video": relative, "queries": ["r"]}) + "\n"
    )
    output = tmp_path / "out2.jsonl"
    assert main(["--model", library["ckpt"], "--queries", str(lines), "--output", str(output), "--no-progress"]) == 0
    assert [r["query"] for r in read(output)] == ["q", "r"] and all("moments" in r for r in read(output))
    # a text file of paths (relative to its folder), a glob
    listing = tmp_path / "videos.txt"
    listing.write_text(f"# my videos\n{os.path.relpath(videos / 'clip1.mp4', tmp_path)}\n\n")
    assert ground_videos.find_videos(str(listing)) == [str(tmp_path / os.path.relpath(videos / "clip1.mp4", tmp_path))]
    assert [os.path.basename(v) for v in ground_videos.find_videos(str(videos / "clip[12].mp4"))] == [
        "clip1.mp4",
        "clip2.mp4",
    ]


@pytest.mark.parametrize(
    "case, message",
    [
        ("empty_folder", "no video files in the folder"),
        ("no_match", "no file matches the pattern"),
        ("missing_videos", "no such file or folder"),
        ("empty_list", "names no video"),
        ("empty_queries", "has no queries (one per line)"),
        ("empty_mapping", "has no queries"),
        ("mapping_names_no_video", "no video of the list has queries"),
        ("missing_output_folder", "the folder of --output"),
        ("output_of_something_else", "exists and line 1 is not a line of hieramamba-ground"),
        ("missing_model", "no such folder"),
        ("no_frame_encoder", "cannot ground video files: it has no frame encoder (config.vision_config is None)"),
        ("no_text_encoder", "cannot ground video files: it has no query encoder (config.text_config is None)"),
        ("top_k", "--top-k must be >= 1"),
        ("missing_argument", "the following arguments are required: --queries"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_status_2(library, tmp_path, case, message, capsys):
    args = {"--model": library["ckpt"], "--videos": library["videos"], "--queries": library["queries"]}
    args["--output"] = str(tmp_path / "out.jsonl")
    if case == "empty_folder":
        (tmp_path / "empty").mkdir()
        args["--videos"] = str(tmp_path / "empty")
    elif case == "no_match":
        args["--videos"] = str(tmp_path / "*.mp4")
    elif case == "missing_videos":
        args["--videos"] = str(tmp_path / "nowhere")
    elif case == "empty_list":
        (tmp_path / "list.txt").write_text("# nothing\n\n")
        args["--videos"] = str(tmp_path / "list.txt")
    elif case == "empty_queries":
        (tmp_path / "q.txt").write_text("\n  \n")
        args["--queries"] = str(tmp_path / "q.txt")
    elif case == "empty_mapping":
        (tmp_path / "q.json").write_text(json.dumps({"clip0.mp4": []}))
        args["--queries"] = str(tmp_path / "q.json")
    elif case == "mapping_names_no_video":
        (tmp_path / "q.json").write_text(json.dumps({"other.mp4": ["q"]}))
        args["--queries"] = str(tmp_path / "q.json")
    elif case == "missing_output_folder":
        args["--output"] = str(tmp_path / "missing" / "out.jsonl")
    elif case == "output_of_something_else":
        args["--output"] = str(tmp_path / "notes.txt")
        (tmp_path / "notes.txt").write_text("my notes\nmore notes\n")
    elif case == "missing_model":
        args["--model"] = str(tmp_path / "no-model")
    elif case in ("no_frame_encoder", "no_text_encoder"):
        frame, text = (None, "bert") if case == "no_frame_encoder" else ("simple", None)
        args["--model"] = make_checkpoint(tmp_path / "ckpt", frame=frame, text=text)[0]
    elif case == "top_k":
        args["--top-k"] = "0"
    elif case == "missing_argument":
        del args["--queries"]
    capsys.readouterr()
    assert main([item for pair in args.items() for item in pair]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hieramamba-ground: error: ") and message in err and "\n" not in err, err
    assert not (tmp_path / "out.jsonl").exists()


def test_console_script():
    pyproject = (ROOT / "pyproject.toml").read_text()  # (tomllib is Python >= 3.11)
    scripts = pyproject.split("[project.scripts]\n", 1)[1].split("\n[", 1)[0]
    assert 'hieramamba-ground = "hieramamba_hf.ground_videos:main"' in scripts.splitlines()
    assert callable(ground_videos.main)
