from .salign import SAlignCriterion  # noqa: F401 (registers the "salign" criterion)
