"""fairseq's exponential moving average of the model weights (``--store-ema``), for this model.

The adversarial game oscillates: the last weights of a run can be far more separable by modality
than an average of recent ones (docs/ablations.md, section 1), so models are judged on averaged
weights. fairseq's trainer keeps the EMA and saves it in ``checkpoint["extra_state"]["ema"]``;
the tools read it with ``--ema`` (``--weights ema`` in salign-analyze) through
:func:`use_ema_weights`.

fairseq's ``EMA`` decays each tensor once per *name*, and this model ties one matrix under four
names (embeddings, output projection, CTC head): that matrix would average over a window four
times shorter than every other weight. :func:`install` makes the EMA step see each tensor once.
(``S2TSAlignModel.upgrade_state_dict_named`` fixes the other problem: the EMA copy lost the
decoder's final LayerNorm.)
"""
from collections import OrderedDict

import torch

EMA_KEY = "ema"
EMA_ENTRIES = (EMA_KEY, "ema_fp32_params")  # what fairseq's trainer adds to extra_state
HINT = ("train with --store-ema --ema-decay D (e.g. 0.999) to have fairseq's trainer save EMA "
        "weights, or use the checkpoint's model weights (no --ema / --weights ema)")


class _OneNamePerTensor:
    """A model seen through a state dict that names each tensor once (its first name)."""

    def __init__(self, model):
        self.model = model

    def state_dict(self):
        seen, unique = set(), OrderedDict()
        for key, value in self.model.state_dict().items():
            if torch.is_tensor(value):
                where = (value.untyped_storage().data_ptr(), value.storage_offset())
                if where in seen:
                    continue
                seen.add(where)
            unique[key] = value
        return unique


def install() -> None:
    """Make fairseq's EMA step update tied tensors once (idempotent)."""
    from fairseq.models.ema.ema import EMA

    original = EMA._step_internal
    if getattr(original, "_salign_tied_once", False):
        return

    def _step_internal(self, new_model, updates=None):
        return original(self, _OneNamePerTensor(new_model), updates)

    _step_internal._salign_tied_once = True
    EMA._step_internal = _step_internal


def ema_weights(state: dict, path) -> "OrderedDict":
    """The EMA weights saved in a loaded checkpoint ``state``, checked against its model's."""
    ema = (state.get("extra_state") or {}).get(EMA_KEY)
    if not ema:
        raise ValueError(f"{path} holds no EMA weights (extra_state['ema']): {HINT}")
    model = state["model"]
    missing = [k for k in model if k not in ema]
    extra = [k for k in ema if k not in model]
    if missing or extra:
        raise ValueError(
            f"{path}: its EMA weights do not match its model ({len(missing)} tensors missing, "
            f"e.g. {missing[:3]}; {len(extra)} extra, e.g. {extra[:3]}). An earlier "
            "fairseq-salign saved EMA weights without the decoder's final LayerNorm: train again"
        )
    return OrderedDict((k, ema[k]) for k in model)


def use_ema_weights(state: dict, path) -> dict:
    """A shallow copy of ``state`` whose model weights are its EMA weights, without the EMA
    entries (a later reader must not mistake them for anything but the model)."""
    return {**state, "model": ema_weights(state, path), "extra_state": without_ema(state)}


def without_ema(state: dict) -> dict:
    """``state``'s extra_state without the EMA entries of ``--store-ema``."""
    return {k: v for k, v in (state.get("extra_state") or {}).items() if k not in EMA_ENTRIES}
