"""The Python API, in fairseq's hub-interface style::

    from fairseq_salign.api import SAlignHub

    hub = SAlignHub.from_pretrained("exported-model/")          # a salign-export directory
    hub = SAlignHub.from_checkpoint("avg.pt", "ROOT/en-de")     # or a checkpoint + data dir
    hub = SAlignHub.from_checkpoint("last.pt", "ROOT/en-de", ema=True)  # its --store-ema weights
    hub.translate("talk.wav")                                   # speech -> translation
    hub.translate([wave_44k], sample_rate=44100, beam=8)        # arrays at any rate, batched
    hub.transcribe(["a.flac", "b.wav"])                         # speech -> transcript (CTC)
    hub.transcribe_and_translate("a.wav")                       # both, one encoder pass
    hub.translate_text("where is the station")                  # text -> translation

One input gives one string, a list gives a list (as fairseq's ``translate``). Speech is
featurised exactly as the recipe prepared the training data, by the feature kind the data config
records (fbank, waveform, Whisper or SSL states; ``feature_weights=``: where the Whisper model /
SSL checkpoint of those features is on this machine, checked against the recorded checksum); search options are
fairseq-generate's (``beam``, ``max_len_a``, ``max_len_b``, ``min_len``, ``lenpen``, ...).
The hub is an ``nn.Module``: ``hub.to("cuda")`` moves the model.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence, Union

import numpy as np
import torch

from ..data.text import normalize_source
from .decoding import Decoder, GenerationOptions
from .features import Featurizer, Speech, to_wave16k
from .loading import ModelError, load_salign
from .model_dir import CHECKPOINT, open_model_dir


def _device(device) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class Transcribed(NamedTuple):
    """One input's CTC transcript and translation (``transcribe_and_translate``)."""

    transcript: str
    translation: str


class SAlignHub(torch.nn.Module):
    """One loaded S-Align model with its vocabulary and feature settings."""

    def __init__(self, model, task, cfg, metadata: Optional[dict] = None,
                 feature_weights: Optional[str] = None):
        super().__init__()
        self.model, self.task, self.cfg = model, task, cfg
        self.metadata = metadata or {}
        self._decoder = None
        self.featurizer, self.featurizer_error = None, None
        try:
            self.featurizer = Featurizer(task.data_cfg, model.encoder.max_positions(), feature_weights)
        except ModelError as e:  # e.g. Whisper states without its package: text translation works
            self.featurizer_error = e

    # ------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, model_dir, checkpoint_file: str = CHECKPOINT, device=None,
                        feature_weights: Optional[str] = None) -> "SAlignHub":
        """Load a directory written by ``salign-export`` (wherever it now is)."""
        layout = open_model_dir(model_dir)
        path = Path(model_dir) / checkpoint_file
        model, cfg, task = load_salign(str(path), str(layout.root), {"infer_mode": "st"})
        return cls(model, task, cfg, layout.metadata, feature_weights).to(_device(device))

    @classmethod
    def from_checkpoint(cls, checkpoint, data_dir, device=None, ema: bool = False,
                        feature_weights: Optional[str] = None) -> "SAlignHub":
        """Load a training checkpoint with the prepared data directory it was trained on;
        ``ema``: its EMA weights (saved with ``--store-ema``) instead of the model's."""
        model, cfg, task = load_salign(str(checkpoint), str(data_dir), {"infer_mode": "st"}, ema)
        return cls(model, task, cfg, None, feature_weights).to(_device(device))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def decoder(self) -> Decoder:
        if self._decoder is None or self._decoder.device != self.device:
            self._decoder = Decoder(self.model, self.task, self.device)
        return self._decoder

    # ------------------------------------------------------------ inputs
    def _speech_featurizer(self) -> Featurizer:
        if self.featurizer is None:
            raise self.featurizer_error
        return self.featurizer

    @property
    def max_seconds(self) -> float:
        """The longest audio one input may hold (the model's source positions); a
        ``ModelError`` saying why when this model cannot featurize audio here."""
        return self._speech_featurizer().max_seconds

    @property
    def features(self) -> str:
        """What the model reads, as one line (the recorded feature kind and its settings)."""
        return self._speech_featurizer().name

    def featurize(self, speech: Speech, sample_rate: Optional[int] = None,
                  name: Optional[str] = None) -> np.ndarray:
        """What the model reads for one input: a file, or an array at ``sample_rate``."""
        featurizer = self._speech_featurizer()
        name = name or (str(speech) if isinstance(speech, (str, Path)) else "array")
        return featurizer(to_wave16k(speech, sample_rate, name), name)

    def decode(self, features: Sequence, mode: str = "st", batch_size: int = 16,
               progress=None, **generation) -> List:
        """Hypotheses for inputs already featurized (``featurize``), batched by length, in input
        order: strings for ``st`` / ``asr``, ``Transcribed`` pairs for ``both`` (one encoder
        pass). ``progress``: wraps the batch list (e.g. a tqdm)."""
        options = GenerationOptions(**generation)
        if mode == "both":
            return [Transcribed(*pair) for pair in
                    self.decoder.decode_both(features, options, batch_size, progress=progress)]
        return self.decoder.decode(features, mode, options if mode != "asr" else None,
                                   batch_size, progress=progress)

    def _speech_inputs(self, speech, sample_rate) -> tuple:
        single = isinstance(speech, (str, Path)) or (
            hasattr(speech, "ndim") and speech.ndim in (1, 2) and not isinstance(speech, list))
        items = [speech] if single else list(speech)
        names = [str(s) if isinstance(s, (str, Path)) else f"input {i}" for i, s in enumerate(items)]
        return single, [self.featurize(s, sample_rate, n) for s, n in zip(items, names)]

    # ------------------------------------------------------------ the three tasks
    def translate(self, speech: Union[Speech, Sequence[Speech]], sample_rate: Optional[int] = None,
                  batch_size: int = 16, **generation) -> Union[str, List[str]]:
        """Speech -> translation by beam search (``generation``: fairseq-generate's options)."""
        single, inputs = self._speech_inputs(speech, sample_rate)
        out = self.decoder.decode(inputs, "st", GenerationOptions(**generation), batch_size)
        return out[0] if single else out

    def transcribe(self, speech: Union[Speech, Sequence[Speech]], sample_rate: Optional[int] = None,
                   batch_size: int = 16) -> Union[str, List[str]]:
        """Speech -> transcript by CTC best-path decoding of the acoustic encoder."""
        single, inputs = self._speech_inputs(speech, sample_rate)
        out = self.decoder.decode(inputs, "asr", None, batch_size)
        return out[0] if single else out

    def transcribe_and_translate(
            self, speech: Union[Speech, Sequence[Speech]], sample_rate: Optional[int] = None,
            batch_size: int = 16, **generation) -> Union[Transcribed, List[Transcribed]]:
        """Speech -> CTC transcript and translation from one acoustic-encoder pass; each equals
        what ``transcribe`` and ``translate`` return separately."""
        single, inputs = self._speech_inputs(speech, sample_rate)
        out = self.decode(inputs, "both", batch_size, **generation)
        return out[0] if single else out

    def translate_text(self, text: Union[str, Sequence[str]], normalize: bool = True,
                       batch_size: int = 16, **generation) -> Union[str, List[str]]:
        """Text -> translation through the same textual encoder and decoder. ``normalize``:
        lower-case and strip punctuation first, as the recipe prepared the transcripts."""
        single = isinstance(text, str)
        texts = [text] if single else list(text)
        tokens = [self.decoder.encode_text(normalize_source(t) if normalize else t) for t in texts]
        limit = self.task.cfg.max_source_positions
        for i, t in enumerate(tokens):
            if len(t) > limit:
                raise ValueError(f"text {i}: {len(t)} tokens, beyond the model's {limit} "
                                 "source positions; split it into sentences")
        out = self.decoder.decode(tokens, "mt", GenerationOptions(**generation), batch_size)
        return out[0] if single else out
