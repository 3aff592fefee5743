"""clip-interp: mechanistic interpretability for CLIP-style vision-language models."""
__version__ = "0.1.0"

from .errors import InterpError, ModelSpecError, SiteError, StimulusError  # noqa: E402
from .models import LoadedModel, load_model  # noqa: E402

__all__ = ["load_model", "LoadedModel", "InterpError", "ModelSpecError", "SiteError", "StimulusError", "__version__"]
