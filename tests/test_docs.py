# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""The user documents (README.md and docs/) stay true.

Every command in a ```bash block is accounted for: a block that starts with `# long: <expected time>` is a long
recipe and is not run; every other command is run here (`RUN`), or is an install line whose extra must exist, or is
checked by the test named in `COVERED` (whose source must name the command's script). A command in neither list
fails the test, so a new command in the docs needs a decision. Python blocks must parse and their imports must
resolve. Relative links must point at files that exist; the README stays short; no document speaks of the project's
history (issue numbers, commit hashes).
"""

import ast
import importlib
import os
import re
import shlex
import subprocess
import sys

import pytest


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER_DOCS = ["README.md"] + sorted(
    os.path.relpath(os.path.join(d, f), ROOT)
    for d, _, files in os.walk(os.path.join(ROOT, "docs"))
    for f in files
    if f.endswith(".md")
)
TEST_COMMAND = 'pip install torch==2.13.0 -e ".[dev]" && python -m pytest -q'

# commands run here as written, from a scratch folder that links the repository's top-level folders (seconds each)
RUN = {
    "python examples/ground_video.py": 120,
    "python examples/synthetic_grounding/synthetic.py --output /tmp/synth --num-videos 8 --min-clips 48 "
    "--max-clips 64 --workers 1": 180,
}
# commands with placeholders, or that need a browser or the network: the test that checks each one
COVERED = {
    'python examples/ground_video.py --video FILE --query "TEXT" --model PATH_OR_ID': (
        "tests/test_video_grounding_pipeline.py::test_demo_script_runs_on_a_tiny_checkpoint"
    ),
    "python -m hieramamba_hf.convert_hieramamba_original_to_hf --experiment-dir EXPERIMENT --output OUT": (
        "tests/test_official_checkpoints.py::test_mad_conversion_reads_video_files_through_the_named_clip"
    ),
    "python app.py": "tests/test_app_browser.py::test_browser_grounds_sample_video_and_seeks_player",
    "python -m pytest -q": "the CI script .ci/run (tests/test_docs.py::test_ci_runs_the_readme_test_command)",
    "hieramamba-ground --model checkpoints/hieramamba-synthetic --videos videos/ --queries queries.txt "
    "--output moments.jsonl --top-k 5": (
        "tests/test_ground_videos.py::test_one_line_per_video_and_query_equal_to_the_pipeline"
    ),
    'torchrun --nproc_per_node 2 -m hieramamba_hf.ground_videos --model M --videos "library/**/*.mp4" '
    "--queries per_video.json --output moments.jsonl": (
        "tests/test_ground_videos.py::test_two_processes_split_the_videos_and_merge_without_duplicates"
    ),
}
LONG_MARKER = re.compile(r"^# long: .*\b(seconds?|minutes?|hours?|days?)\b")


def _fenced_blocks(path, language):
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def _commands(block):
    """Logical command lines of a bash block: continuation lines joined, comments dropped."""
    commands, current = [], ""
    for line in block.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip("\\").strip() + " " if line.endswith("\\") else line.strip()
        if not line.endswith("\\"):
            commands.append(re.sub(r"\s{2,}#.*$", "", current).strip())
            current = ""
    return commands


def _doc_commands():
    """(document, command, long) for every command of every bash block of the user documents."""
    found = []
    for path in USER_DOCS:
        for block in _fenced_blocks(path, "bash"):
            long = bool(LONG_MARKER.match(block))
            found += [(path, " ".join(command.split()), long) for command in _commands(block)]
    return found


def _documented():
    """Every documented command, with its install prefix removed (what RUN and COVERED name)."""
    return {_split_install(command)[1] for _, command, _ in _doc_commands()}


def _extras():
    """The optional-dependency groups of pyproject.toml (read by hand: tomllib is Python 3.11+)."""
    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        section = f.read().split("[project.optional-dependencies]")[1].split("\n[")[0]
    return set(re.findall(r"^(\w+) = ", section, flags=re.M))


def _split_install(command):
    """`pip install torch==2.13.0 -e ".[extra]" && rest` -> ("extra", "rest"); other commands -> (None, command)."""
    match = re.fullmatch(r'pip install torch==2\.13\.0 -e "\.\[(\w+)\]"(?: && (.*))?', command)
    return (match.group(1), match.group(2)) if match else (None, command)


def test_every_documented_command_is_run_covered_or_marked_long():
    extras, unaccounted = _extras(), []
    commands = _doc_commands()
    assert any(command == TEST_COMMAND for _, command, _ in commands), "README lost its test command"
    for path, command, long in commands:
        if long:
            continue
        extra, rest = _split_install(command)
        if extra is not None:
            assert extra in extras, f"{path}: `{command}` installs an extra that the package lacks: {extra}"
        if rest and rest not in RUN and rest not in COVERED:
            unaccounted.append(f"{path}: {rest}")
    assert not unaccounted, "commands neither run, covered nor marked `# long:`:\n" + "\n".join(unaccounted)


def test_long_blocks_state_their_time():
    for path in USER_DOCS:
        for block in _fenced_blocks(path, "bash"):
            if block.startswith("# long"):
                assert LONG_MARKER.match(block), f"{path}: a long block must say how long: {block.splitlines()[0]}"


@pytest.mark.parametrize("key", sorted(COVERED))
def test_covering_tests_exist_and_name_their_command(key):
    node = COVERED[key]
    if node.startswith("the CI script"):
        node = node[node.index("(") + 1 : -1]
    path, name = node.split("::")
    with open(os.path.join(ROOT, path)) as f:
        source = f.read()
    functions = {n.name for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef)}
    assert name in functions, f"{node} does not exist"
    script = _script_of(key)
    assert script in source, f"{path} does not mention {script}"
    assert key in _documented(), f"COVERED names a command no document has: {key}"


def _script_of(command):
    """The program a command runs: `python x/y.py` -> y, `python -m a.b` -> b, `tool --flag` -> tool."""
    tokens = shlex.split(command)
    if tokens[0] not in {"python", "torchrun", "accelerate"}:
        return tokens[0]
    for before, token in zip(tokens, tokens[1:]):
        if before == "-m":
            return token.split(".")[-1]
        if token.endswith(".py"):
            return os.path.basename(token).removesuffix(".py")
    raise AssertionError(f"no program in {command}")


def test_ci_runs_the_readme_test_command():
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        assert TEST_COMMAND in f.read().splitlines()


@pytest.mark.parametrize("command", sorted(RUN))
def test_short_documented_commands_run(command, tmp_path):
    assert command in _documented(), f"RUN names a command no document has: {command}"
    for name in ("examples", "checkpoints", "benchmarks", "src"):
        os.symlink(os.path.join(ROOT, name), tmp_path / name)
    argv = [sys.executable if token == "python" else token for token in shlex.split(command)]
    argv = [str(tmp_path / token[5:]) if token.startswith("/tmp/") else token for token in argv]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=RUN[command])
    assert done.returncode == 0, f"`{command}` failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


def _imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            yield node.module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            yield from ((alias.name, []) for alias in node.names)


@pytest.mark.parametrize("path", USER_DOCS)
def test_python_blocks_parse_and_their_imports_resolve(path):
    for block in _fenced_blocks(path, "python"):
        for module, names in _imports(ast.parse(block)):
            if module.split(".")[0] in {"synthetic_qa"}:  # an example module, run with its folder on sys.path
                continue
            imported = importlib.import_module(module)
            missing = [name for name in names if not hasattr(imported, name)]
            assert not missing, f"{path}: `from {module} import` names what it lacks: {missing}"


@pytest.mark.parametrize("path", USER_DOCS)
def test_relative_links_point_at_files(path):
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert os.path.exists(os.path.join(ROOT, os.path.dirname(path), target)), f"{path}: broken link {target}"


@pytest.mark.parametrize("path", USER_DOCS)
def test_documents_speak_of_the_library_not_its_history(path):
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    assert not re.search(r"\bissue[- ]?#?\d+", text, flags=re.I), f"{path} names a project issue"
    hashes = [h for h in re.findall(r"\b[0-9a-f]{7,40}\b", text) if re.search(r"[a-f]", h) and re.search(r"\d", h)]
    assert not hashes, f"{path} names commits: {hashes}"
    assert "this stop" not in text and "previous stop" not in text, f"{path} speaks of a work session"


def test_readme_is_short():
    with open(os.path.join(ROOT, "README.md")) as f:
        assert len(f.read().splitlines()) <= 200
