# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
import importlib
import os
import sys

import pytest
import torch


# tests never reach the Hub (CI has no network): set before huggingface_hub reads its constants
os.environ.setdefault("HF_HUB_OFFLINE", "1")


# Tests use tiny tensors: one thread avoids thread start-up/synchronisation costs that dominate small ops
# (and oversubscription when several test processes share the 2 cores).
torch.set_num_threads(1)


def _cuda_kernels():
    if not torch.cuda.is_available():
        return False
    try:
        import mamba_ssm  # noqa: F401
    except Exception:
        return False
    return True


requires_cuda_kernels = pytest.mark.skipif(not _cuda_kernels(), reason="needs CUDA and mamba_ssm")


def write_mp4(path, frames, fps, crf=12):
    """Encode frames (N, H, W, 3) uint8 as H.264 at `fps` with PyAV; returns the path as str. N = 0 writes a
    container with a video stream but no frame."""
    from fractions import Fraction

    import av

    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
    stream.height, stream.width = frames.shape[1:3] if len(frames) else (32, 32)
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": str(crf)}
    if not len(frames):
        container.start_encoding()  # header written, no frame ever encoded
    for frame in frames:
        for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            container.mux(packet)
    if len(frames):
        for packet in stream.encode():
            container.mux(packet)
    container.close()
    return str(path)


EXAMPLES = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples"))


def load_example(name):
    """A module of examples/ (its functions called in-process: a subprocess would mostly import torch).

    Args:
        name: its path under examples/ without ".py": `"ground_video"`, `"synthetic_grounding/synthetic"`.

    Returns:
        The module, imported once by its file name with its folder put first on `sys.path` (as when the script
        runs), so its imports of sibling modules resolve and every example module exists once: the module names of
        examples/ are distinct across its folders.
    """
    folder, _, module = name.rpartition("/")
    path = os.path.join(EXAMPLES, folder) if folder else EXAMPLES
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module(module)
