"""Optimizers of the plugin (``--optimizer salign_adam``), registered on import."""
from .param_groups import MODAL_GROUP, modal_group_of, tag_parameters  # noqa: F401
from .salign_adam import SAlignAdam, SAlignAdamConfig  # noqa: F401
