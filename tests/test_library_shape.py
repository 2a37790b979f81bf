# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""The shape of the installed packages: no import cycles (none hidden by a function-level import), a configuration
module that imports no pipeline, video-decoding or Hub code, library code only, and this project's headers."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest


SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGES = ("hieramamba_hf", "mambamia_hf", "ssm_layers")
HEADER = "# Copyright 2026 The ssm-video-models authors.\n# SPDX-License-Identifier: Apache-2.0\n"


def module_files():
    return sorted(path for package in PACKAGES for path in (SRC / package).glob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path):
    """(imported module of our packages, is_top_level) for every import statement of `path`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            # `from . import x` / `from pkg import x` may name submodules
            targets = [
                f"{base}.{alias.name}" if (SRC / (base.replace(".", "/") + f"/{alias.name}.py")).exists() else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in PACKAGES:
                yield target, id(node) in top_level


def test_no_function_level_imports_of_the_project_packages():
    nested = [
        f"{module_name(path)} -> {target}"
        for path in module_files()
        for target, top in imported_modules(path)
        if not top
    ]
    assert nested == []


def test_no_import_cycles():
    graph = {
        module_name(path): {t for t, _ in imported_modules(path)} - {module_name(path)} for path in module_files()
    }
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            # importing a submodule first runs its package's __init__: an edge to a package's __init__ from one
            # of its own submodules is how Python imports work, not a cycle written in the code
            if node.startswith(target + "."):
                continue
            if state.get(target) == "open":
                cycles.append(" -> ".join(stack[stack.index(target) :] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_configuration_module_imports_no_pipeline_video_or_hub_code():
    code = (
        "import sys, hieramamba_hf.configuration_hieramamba\n"
        "bad = ('hieramamba_hf.pipeline_video_grounding', 'hieramamba_hf.hub_hieramamba', 'ssm_layers.video_io',"
        " 'av', 'decord', 'matplotlib')\n"
        "print(sorted(m for m in bad if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ)
    assert out.stdout.strip() == "[]"


def test_import_registers_the_task_the_auto_classes_and_no_pipeline_class():
    code = (
        "import sys, hieramamba_hf\n"
        "from transformers import AutoConfig\n"
        "from transformers.pipelines import PIPELINE_REGISTRY\n"
        "task = PIPELINE_REGISTRY.supported_tasks['video-grounding']\n"
        "print(task['impl'], task['pt'][0].__name__, 'hieramamba_hf.pipeline_video_grounding' in sys.modules,"
        " AutoConfig.for_model('simple_frame_encoder').model_type)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ)
    assert out.stdout.split() == [
        "hieramamba_hf.pipeline_video_grounding.VideoGroundingPipeline",
        "AutoModelForVideoGrounding",
        "False",
        "simple_frame_encoder",
    ]


def test_packages_hold_library_code_only():
    names = {path.stem for path in module_files()}
    assert not names & {"synthetic", "synthetic_qa", "testing_utils"}
    for path in module_files():
        text = path.read_text()
        assert "examples" not in {t.split(".")[0] for t, _ in imported_modules(path)}
        assert "import conftest" not in text and "from conftest" not in text


@pytest.mark.parametrize("path", module_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_project_header(path):
    text = path.read_text()
    assert text.startswith(HEADER), f"{path} must start with the project's copyright header"
    assert "HuggingFace Team" not in text
