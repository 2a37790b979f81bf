import os

import pytest
import torch

# Tests run on 2 cores next to each other: keep the thread count fixed so timings do not thrash.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def _cuda_kernels():
    if not torch.cuda.is_available():
        return False
    try:
        import mamba_ssm  # noqa: F401
    except Exception:
        return False
    return True


requires_cuda_kernels = pytest.mark.skipif(not _cuda_kernels(), reason="needs CUDA and mamba_ssm")
