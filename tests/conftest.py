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
