# auto_map shim: the implementation is the installed `hieramamba_hf` package (pip install ssm-video-models).
from hieramamba_hf.modeling_hieramamba import HieraMambaForVideoGrounding, HieraMambaModel  # noqa: F401
