"""The Python API of a trained S-Align model (``SAlignHub``) and its exported directory format.

    from fairseq_salign.api import SAlignHub
    hub = SAlignHub.from_pretrained("exported-model/")
"""
from .hub import SAlignHub, Transcribed
from .loading import ModelError, load_salign
from .model_dir import export_model_dir, open_model_dir

from_pretrained = SAlignHub.from_pretrained

__all__ = ["SAlignHub", "Transcribed", "ModelError", "load_salign", "export_model_dir", "open_model_dir",
           "from_pretrained"]
