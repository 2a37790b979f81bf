# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""`auto_map` shims shared by both model packages.

transformers has no plugin entry points: `AutoModel.from_pretrained(folder, trust_remote_code=True)` finds a
third-party class only through the `auto_map` of the saved config and a module file next to it. The shims written
here are those module files, one line of imports each: the implementation stays in the installed package and
nothing is copied into the checkpoint."""

from __future__ import annotations

import os


__all__ = ["shim_sources", "write_auto_map_shims"]

_HEADER = "# auto_map shim: the implementation is the installed `{package}` package (pip install ssm-video-models).\n"


def shim_sources(package: str, auto_map: dict[str, str]) -> dict[str, str]:
    """{"<module>.py": source} for every module named in `auto_map` ("module.Class" values); each shim imports its
    classes from `package.module`."""
    classes: dict[str, list[str]] = {}
    for reference in auto_map.values():
        module, name = reference.rsplit(".", 1)
        if name not in classes.setdefault(module, []):
            classes[module].append(name)
    return {
        f"{module}.py": _HEADER.format(package=package)
        + f"from {package}.{module} import {', '.join(sorted(names))}  # noqa: F401\n"
        for module, names in classes.items()
    }


def write_auto_map_shims(
    save_directory: str, package: str, auto_map: dict[str, str], modules: tuple[str, ...] | None = None
) -> list[str]:
    """Write the shims of `auto_map` (or only the files named in `modules`) into `save_directory`."""
    os.makedirs(save_directory, exist_ok=True)
    paths = []
    for name, source in shim_sources(package, auto_map).items():
        if modules is None or name in modules:
            path = os.path.join(save_directory, name)
            with open(path, "w") as f:
                f.write(source)
            paths.append(path)
    return paths
