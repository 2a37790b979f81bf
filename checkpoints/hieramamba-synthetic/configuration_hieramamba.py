# auto_map shim: the implementation is the installed `hieramamba_hf` package (pip install ssm-video-models).
from hieramamba_hf.configuration_hieramamba import HieraMambaConfig  # noqa: F401
