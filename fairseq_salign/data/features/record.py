"""The feature kind a preparation used, recorded in its ``config_st.yaml`` and rebuilt for
inference, so the recipe's kinds are the one definition of "audio -> what the model reads".

The recipe writes ``salign_features: {kind, options, fingerprint[, weights_sha1]}``
(:meth:`FeatureKind.record`); ``salign-export`` copies it into the model directory; the Python
API and ``salign-translate`` rebuild the kind with :func:`kind_from_config` and featurize raw
audio with it. A kind that runs a pretrained model (Whisper, HuBERT / wav2vec 2.0) is checked
against the recorded checksum of its weights: other weights give other features, which the
model was not trained on. Configs written before the record existed are read as what their
feature entries say (80-dim frames: ``fbank80``; ``use_audio_input``: ``waveform``); stored
states without a record are refused with the way to add one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..errors import PrepError
from .base import FeatureKind, file_sha1
from .registry import KINDS

RECORD_KEY = "salign_features"


class FeatureRecordError(PrepError):
    """The recorded kind cannot run here (a missing package or weights file, other weights)."""


def recorded_kind(config: dict, where: str = "config_st.yaml") -> dict:
    """The record of ``config`` (a data config's dict), or the one its legacy entries imply."""
    record = config.get(RECORD_KEY)
    if record:
        if not isinstance(record, dict) or "kind" not in record:
            raise FeatureRecordError(f"{where}: {RECORD_KEY} is not a feature record "
                                     f"({record!r}); prepare the data again")
        return record
    if config.get("use_audio_input"):
        return {"kind": "waveform", "options": {}}
    if config.get("input_feat_per_channel", 80) == 80 and config.get("input_channels", 1) == 1:
        return {"kind": "fbank80", "options": {}}
    raise FeatureRecordError(
        f"{where} describes {config.get('input_feat_per_channel')}-dim stored features (e.g. "
        f"--features whisper or ssl) but records no feature kind ({RECORD_KEY}: prepared before "
        "fairseq-salign recorded it), so inference cannot compute them from audio: run the "
        "recipe's prep again with the same options (it reuses the stored features and rewrites "
        "config_st.yaml), then export the model again; or translate prepared data with "
        "fairseq-generate")


def kind_from_record(record: dict, weights: Optional[str] = None,
                     where: str = "config_st.yaml") -> FeatureKind:
    """The kind ``record`` describes, runnable here: its package importable, its weights found
    (``weights`` overrides the recorded path) and equal to those recorded (sha1)."""
    name = record["kind"]
    if name not in KINDS:
        raise FeatureRecordError(f"{where}: feature kind {name!r} is unknown to this version of "
                                 f"fairseq-salign (it knows {', '.join(KINDS)}); upgrade it")
    cls = KINDS.get(name)
    options = dict(record.get("options") or {})
    if weights is not None:
        if cls.weights_field is None:
            raise FeatureRecordError(f"--feature-weights {weights}: {name} features run no "
                                     "pretrained model; leave the option out")
        options[cls.weights_field] = str(weights)
    elif cls.weights_field and options.get(cls.weights_field) \
            and not Path(options[cls.weights_field]).exists():
        raise FeatureRecordError(
            f"{where}: the model reads {name} features of {options[cls.weights_field]}, which "
            "is not on this machine; copy it here and point to it with --feature-weights PATH "
            "(Python: feature_weights=PATH)")
    kind = KINDS.build(name, **options)
    want = record.get("weights_sha1")
    if want:  # before loading: other weights may not even load, and the sum says why
        path = kind.weights_file()
        if not path.is_file():
            raise FeatureRecordError(f"{path}: not found; the model reads {name} features of "
                                     "it: point --feature-weights at a copy")
        have = file_sha1(path)
        if have != want:
            raise FeatureRecordError(
                f"{path}: weights sha1 {have}, but the model was trained on {name} features of "
                f"weights with sha1 {want} ({where}); other weights give other features: point "
                "--feature-weights at the model it was trained with")
    try:
        kind.check()  # a missing package names itself and its install command
    except PrepError as e:
        raise FeatureRecordError(f"{where}: the model reads {name} features: {e}") from None
    return kind
