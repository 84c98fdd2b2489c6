"""A self-contained model directory: everything inference needs, nothing training-only.

    model.pt            the (averaged) checkpoint without optimizer state or training-only paths
    config_st.yaml      the data config, its files named relative to the directory
    spm_*.model/.txt    the joint SentencePiece model and fairseq dictionary
    [global CMVN .npz]  when the config normalises with global statistics
    salign_model.json   metadata: architecture, parameters, input features and the feature kind
                        that computes them from audio (also in config_st.yaml), weights (model
                        or the EMA of --store-ema), training data, scores
    README.md           the same, for people, with how to call the model

fairseq resolves the SentencePiece path (``bpe_tokenizer.sentencepiece_model``) against the
yaml's directory when it is relative, so ``fairseq-generate`` and the Python API both load the
directory wherever it is moved. Written by :func:`export_model_dir` (``salign-export``), read
back with :func:`open_model_dir`, which names any missing file.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from ..data.features.record import recorded_kind
from ..data.errors import PrepError
from .loading import ModelError, read_salign_state, read_weights

CHECKPOINT = "model.pt"
CONFIG = "config_st.yaml"
METADATA = "salign_model.json"
README = "README.md"
FORMAT = 1
# model options that name files used only when training starts (an SSL model rebuilds from the
# config it stores, ssl_args)
TRAINING_ONLY_PATHS = ("load_pretrained_mt_from", "load_pretrained_acoustic_from", "ssl_checkpoint")


@dataclass(frozen=True)
class ModelDir:
    root: Path
    checkpoint: Path
    config: Path
    metadata: dict


def _config_files(config: dict) -> Dict[str, str]:
    """``{what: file name}`` of the files a data config refers to (besides itself)."""
    files = {"vocabulary (vocab_filename)": config.get("vocab_filename", "dict.txt")}
    spm = (config.get("bpe_tokenizer") or {}).get("sentencepiece_model")
    if spm:
        files["SentencePiece model (bpe_tokenizer.sentencepiece_model)"] = spm
    cmvn = (config.get("global_cmvn") or {}).get("stats_npz_path")
    if cmvn:
        files["global CMVN statistics (global_cmvn.stats_npz_path)"] = cmvn
    return files


def open_model_dir(path) -> ModelDir:
    """Check that ``path`` is a complete model directory; a missing file is a ``ModelError``
    naming it."""
    import yaml

    root = Path(path)
    if not root.is_dir():
        raise ModelError(f"model directory {root} not found")
    missing: List[str] = [f"{name}" for name in (CHECKPOINT, CONFIG, METADATA)
                          if not (root / name).is_file()]
    if CONFIG not in missing:
        config = yaml.safe_load((root / CONFIG).read_text(encoding="utf-8")) or {}
        missing += [f"{name} ({what}, named in {CONFIG})"
                    for what, name in _config_files(config).items() if not (root / name).is_file()]
    if missing:
        raise ModelError(f"model directory {root} is incomplete: missing {', '.join(missing)}; "
                         "copy the whole directory that salign-export wrote, or export it again")
    try:
        metadata = json.loads((root / METADATA).read_text(encoding="utf-8"))
    except ValueError as e:
        raise ModelError(f"{root / METADATA}: not valid JSON ({e})") from None
    if metadata.get("format") != FORMAT:
        raise ModelError(f"{root / METADATA}: format {metadata.get('format')!r}, this version "
                         f"reads format {FORMAT}; export the model again")
    return ModelDir(root, root / CHECKPOINT, root / CONFIG, metadata)


def _slim_state(state: dict) -> dict:
    """The checkpoint state without what only training uses."""
    from omegaconf import OmegaConf

    state = dict(state)
    state.pop("last_optimizer_state", None)
    state.pop("criterion", None)  # the modal network: a training objective, not the model
    if OmegaConf.is_config(state.get("cfg")):
        state["cfg"] = OmegaConf.to_container(state["cfg"], resolve=True, enum_to_str=True)
    cfg = state["cfg"]
    cfg["task"]["data"] = "."  # replaced by wherever the directory is when it is loaded
    cfg["task"]["config_yaml"] = CONFIG
    for key in TRAINING_ONLY_PATHS:
        if key == "ssl_checkpoint" and not cfg["model"].get("ssl_args"):
            continue  # an SSL model without its stored config still needs the file
        if cfg["model"].get(key) is not None:
            cfg["model"][key] = None
    extra = state.get("extra_state") or {}
    state["extra_state"] = {k: v for k, v in extra.items() if k in ("epoch", "train_iterator")}
    return state


def _portable_config(source: Path, out: Path) -> dict:
    """The data config ``source`` with its files copied into ``out`` and named by file name."""
    import yaml

    data_dir = source.parent
    config = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    for what, name in _config_files(config).items():
        src = Path(name) if Path(name).is_absolute() else data_dir / name
        if not src.is_file():
            raise ModelError(f"{source}: {what} {src} not found")
        shutil.copyfile(src, out / src.name)
    spm = Path(config["bpe_tokenizer"]["sentencepiece_model"]).name
    config["bpe_tokenizer"] = {**config["bpe_tokenizer"], "sentencepiece_model": spm}
    if "src_bpe_tokenizer" in config:  # the joint vocabulary: the same file
        config["src_bpe_tokenizer"] = {**config["src_bpe_tokenizer"], "sentencepiece_model": spm}
    if (config.get("global_cmvn") or {}).get("stats_npz_path"):
        cmvn = config["global_cmvn"]
        config["global_cmvn"] = {**cmvn, "stats_npz_path": Path(cmvn["stats_npz_path"]).name}
    config.pop("audio_root", None)  # manifests are not part of a model
    return config


def _describe(state: dict, config: dict, n_params: int, info: dict) -> dict:
    model_cfg = state["cfg"]["model"]
    keys = ("encoder_embed_dim", "encoder_ffn_embed_dim", "conv_layers", "acoustic_encoder_layers",
            "textual_encoder_layers", "decoder_layers", "decoder_ffn_embed_dim",
            "speech_encoder", "adapter", "untie_ctc_projection")
    if config.get("use_audio_input"):
        features = "16 kHz waveform"
    else:
        features = f"{config.get('input_feat_per_channel', 80)}-dim feature frames"
    try:  # the kind that computes them from audio (data.features.record)
        record = recorded_kind(config, CONFIG)
        features = f"{record['kind']} ({features})"
    except PrepError:  # stored states prepared before the record: fairseq-generate only
        record = None
    return {
        "format": FORMAT,
        "architecture": {"arch": model_cfg.get("_name") or model_cfg.get("arch"),
                         **{k: model_cfg.get(k) for k in keys if model_cfg.get(k) is not None}},
        "parameters": n_params,
        "alignment": (state["cfg"].get("criterion") or {}).get("alignment"),
        "input_features": features,
        "feature_kind": record,
        "updates": (state.get("optimizer_history") or [{}])[-1].get("num_updates"),
        **info,
    }


def _readme(meta: dict) -> str:
    lines = [f"# {meta.get('name') or 'S-Align speech translation model'}", "",
             "An `s2t_salign` model exported by `salign-export` (fairseq-salign): speech "
             "translation, speech recognition (CTC) and text translation with one model.", "",
             "| field | value |", "| --- | --- |"]
    arch = ", ".join(f"{k}={v}" for k, v in meta["architecture"].items())
    rows = [("architecture", arch), ("parameters", f"{meta['parameters']:,}"),
            ("alignment", meta.get("alignment")), ("input", meta["input_features"]),
            ("updates", meta.get("updates")), ("weights", meta.get("weights")),
            ("training data", meta.get("training_data")),
            ("sacreBLEU signature", meta.get("sacrebleu_signature"))]
    rows += [(f"score: {k}", v) for k, v in (meta.get("scores") or {}).items()]
    cell = lambda v: str(v).replace("|", "\\|")  # noqa: E731  (a signature is |-separated)
    lines += [f"| {k} | {cell(v)} |" for k, v in rows if v not in (None, "")]
    lines += ["", "```python", "from fairseq_salign.api import SAlignHub", "",
              "hub = SAlignHub.from_pretrained('path/to/this/directory')",
              "hub.translate('utterance.wav')   # speech -> translation",
              "hub.transcribe('utterance.wav')  # speech -> transcript (CTC)",
              "hub.translate_text('hello')      # text -> translation",
              "hub.transcribe_and_translate('utterance.wav')  # both, one encoder pass", "```", "",
              "`salign-translate --model-dir path/to/this/directory --mode both --output-dir "
              "subs/ talk.wav` segments a whole talk and writes bilingual subtitles (SRT; "
              "`--subtitles vtt`: WebVTT) and its segments as JSON lines.", ""]
    return "\n".join(lines)


def _replace_dir(tmp: Path, out: Path, force: bool) -> None:
    if out.exists():
        if not force:
            raise ModelError(f"{out} exists; pass --force to replace it")
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out)


def export_model_dir(checkpoint, data_dir, out, info: Optional[dict] = None,
                     force: bool = False, ema: bool = False) -> ModelDir:
    """Write the model directory ``out`` from a checkpoint and the data directory it was trained
    on. ``info``: extra metadata (``name``, ``training_data``, ``sacrebleu_signature``,
    ``scores``). ``ema``: export the checkpoint's EMA weights (``--store-ema``), recorded as
    ``"weights": "ema"``. Written under a temporary name and renamed, so an interrupted export
    never leaves a directory that looks complete."""
    import torch
    import yaml

    data_dir, out = Path(data_dir), Path(out)
    if out.exists() and not force:
        raise ModelError(f"{out} exists; pass --force to replace it")
    state = read_weights(read_salign_state(str(checkpoint)), checkpoint, ema)
    source = data_dir / (state["cfg"]["task"].get("config_yaml") or CONFIG)
    if not source.is_file():
        raise ModelError(f"data directory {data_dir}: no {source.name} (the prepared directory "
                         "the model was trained on)")
    state = _slim_state(state)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        config = _portable_config(source, tmp)
        (tmp / CONFIG).write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        torch.save(state, tmp / CHECKPOINT)
        n_params = sum(v.numel() for k, v in state["model"].items()
                       if v.is_floating_point() and not k.endswith("_float_tensor"))
        meta = _describe(state, config, n_params, {"weights": "ema" if ema else "model", **(info or {})})
        (tmp / METADATA).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        (tmp / README).write_text(_readme(meta), encoding="utf-8")
        _replace_dir(tmp, out, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return open_model_dir(out)
