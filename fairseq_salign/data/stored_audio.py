"""Read a stored 16 kHz waveform back: what a manifest of ``--features waveform`` points at.

fairseq's own reader (``audio_utils.get_waveform``) imports torchaudio on every call, which does
not install beside CPU torch; this decodes the same bytes with soundfile. Paths resolve as
fairseq's S2T datasets resolve them (``audio_root / path``), and the ``zip:offset:length`` form is
parsed and read by fairseq's own ``parse_path`` / ``read_from_stored_zip``.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Optional, Union

import numpy as np
import soundfile as sf

from ..audio import TARGET_SAMPLE_RATE, AudioError


def load_stored_waveform(path: str, audio_root: Optional[Union[str, Path]] = None) -> np.ndarray:
    """Mono float32 samples in [-1, 1] of a manifest ``audio`` value.

    ``path`` is ``file.flac`` / ``file.wav`` or ``archive.zip:byte_offset:byte_length``;
    relative to ``audio_root`` (``None``: already resolved, as in a dataset's
    ``audio_paths``). Raises :class:`AudioError` naming the path for a missing file, bytes that
    do not decode, a sample rate other than 16000 or more than one channel.
    """
    from fairseq.data.audio.audio_utils import parse_path, read_from_stored_zip

    resolved = str(path) if audio_root is None else (Path(audio_root) / path).as_posix()
    where = resolved if resolved == str(path) else f"{path} (resolved: {resolved})"
    try:
        file_path, slice_ptr = parse_path(resolved)
    except FileNotFoundError:
        raise AudioError(f"{where}: file not found (check audio_root in config_st.yaml)") from None
    except (AssertionError, ValueError):
        raise AudioError(f"{where}: not an audio file path nor zip:byte_offset:byte_length") \
            from None
    if slice_ptr:
        offset, length = slice_ptr
        data = read_from_stored_zip(file_path, offset, length)
        if len(data) != length:
            raise AudioError(f"{where}: bytes {offset}-{offset + length} run past the end of "
                             f"{file_path} ({Path(file_path).stat().st_size} bytes); the "
                             f"manifest does not belong to this zip: prepare the data again")
    else:
        try:
            data = Path(file_path).read_bytes()
        except OSError as e:
            raise AudioError(f"{where}: cannot read ({e.strerror})") from None
    try:
        wave, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError / RuntimeError by version
        raise AudioError(f"{where}: stored bytes are not decodable audio ({e})") from None
    if rate != TARGET_SAMPLE_RATE:
        raise AudioError(f"{where}: sample rate {rate} Hz, expected {TARGET_SAMPLE_RATE}: "
                         f"prepare it with --features waveform (which resamples)")
    if wave.shape[1] != 1:
        raise AudioError(f"{where}: {wave.shape[1]} channels, expected mono: prepare it with "
                         f"--features waveform (which mixes down)")
    return wave[:, 0]
