"""fairseq-salign: S-Align end-to-end speech translation as a fairseq ``--user-dir`` plugin.

Importing the package registers the task ``speech_to_text_salign``, the model ``s2t_salign``
(archs ``s2t_salign_xs|s|m``), the criterion ``salign`` and the optimizer ``salign_adam``
(fairseq's ``--user-dir`` imports only ``tasks/`` and ``models/`` by itself). It also makes fairseq load checkpoints with torch's
weights-only unpickler, makes ``--help`` list the plugin's options, and lets fairseq's default
DDP backend run on CPU processes (gloo) as well as on GPUs, and makes fairseq's EMA
(``--store-ema``) decay this model's tied embedding matrix once per update: the patches of
``patches/``, installed here.
"""
try:
    import fairseq  # noqa: F401
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "fairseq-salign needs fairseq. On Python 3.11 install the fixed 0.12 line without its "
        "torchaudio dependency: pip install --no-deps --no-build-isolation fairseq-fixed==0.12.3.1 "
        "(or run `make install`, which does it from requirements/fairseq.txt)"
    ) from err

from . import patches

patches.install()  # every change to stock fairseq, listed in patches/__init__.py

from . import criterions, models, optim, tasks  # noqa: E402,F401

__version__ = "0.1.0"
