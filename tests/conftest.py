import pytest
import torch

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
    stream.height, stream.width = (frames.shape[1:3] if len(frames) else (32, 32))
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


def load_example(name):
    """A script of examples/ as a module (its functions called in-process: a subprocess would mostly import torch)."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(__file__), os.pardir, "examples", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
