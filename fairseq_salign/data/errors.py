"""The data layer's error: input the recipe (or a feature kind) refuses. Defined below both the
MuST-C reader and the feature kinds, which raise it."""


class PrepError(RuntimeError):
    """Input the recipe refuses; the message says what, where, and what to do."""
