"""Data preparation for fairseq-salign: audio features and the MuST-C recipe.

Nothing here imports fairseq, so featurization can be reused by light-weight tools.
"""
from ..audio import (  # noqa: F401
    TARGET_SAMPLE_RATE,
    AudioError,
    AudioInfo,
    audio_info,
    compute_fbank,
    load_audio,
    n_fbank_frames,
    read_audio,
    resample,
    to_mono,
)
