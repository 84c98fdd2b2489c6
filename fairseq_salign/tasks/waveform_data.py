"""Waveform input for the SSL front ends, read with soundfile.

fairseq's S2T datasets load ``use_audio_input`` data through ``audio_utils.get_waveform``, which
imports ``torchaudio`` on every call (and torchaudio does not install beside CPU torch). The
datasets fairseq's creators build are switched to subclasses that read the stored waveform with
``data.stored_audio.load_stored_waveform`` instead; everything else (batching, transcripts,
targets, ``standardize_audio``) stays fairseq's.
"""
from typing import Union

import numpy as np
import torch
from fairseq.data import ConcatDataset
from fairseq.data.audio.speech_to_text_dataset import SpeechToTextDataset
from fairseq.data.audio.speech_to_text_joint_dataset import SpeechToTextJointDataset

from ..audio import standardize, standardize_audio


def _load_wave(dataset, i: int) -> np.ndarray:
    from ..data.stored_audio import load_stored_waveform

    wave = load_stored_waveform(dataset.audio_paths[i])
    if dataset.waveform_transforms is not None:
        wave, _ = dataset.waveform_transforms(wave, dataset.cfg.use_sample_rate)
    return wave


def soundfile_source_audio(self, index: Union[int, list]) -> torch.Tensor:
    """``_get_source_audio`` for ``use_audio_input`` configs, without torchaudio."""
    if isinstance(index, (int, np.integer)):
        wave = _load_wave(self, int(index))
    else:  # fairseq's ConcatAugment passes several indices
        wave = np.concatenate([_load_wave(self, int(i)) for i in index])
    if standardize_audio(self.cfg):
        wave = standardize(wave)
    return torch.from_numpy(np.ascontiguousarray(wave)).float()


# Direct subclasses (a mixin class first in the bases would change the object layout and
# forbid the __class__ switch below).
class SoundfileSpeechToTextDataset(SpeechToTextDataset):
    _get_source_audio = soundfile_source_audio


class SoundfileSpeechToTextJointDataset(SpeechToTextJointDataset):
    _get_source_audio = soundfile_source_audio


_SWAP = {
    SpeechToTextDataset: SoundfileSpeechToTextDataset,
    SpeechToTextJointDataset: SoundfileSpeechToTextJointDataset,
}


def read_waveforms_with_soundfile(dataset):
    """Switch the dataset(s) fairseq's creators built (a ``ConcatDataset`` for several
    subsets) to the soundfile readers, in place; returns ``dataset``."""
    if isinstance(dataset, ConcatDataset):
        for part in dataset.datasets:
            read_waveforms_with_soundfile(part)
        return dataset
    if type(dataset) in _SWAP.values():
        return dataset
    if type(dataset) not in _SWAP:
        raise TypeError(f"cannot read waveforms for a {type(dataset).__name__}")
    dataset.__class__ = _SWAP[type(dataset)]
    return dataset
