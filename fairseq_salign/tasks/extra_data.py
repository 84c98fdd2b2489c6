"""Extra corpora for training: ASR-only speech (audio + transcript) and MT-only text pairs.

Both are manifests under the data directory, listed like fairseq's subsets
(``--asr-extra-subsets train_asr``, ``--mt-extra-subsets mt_extra``), read with fairseq's own
manifest reader and datasets. An ASR-only manifest needs no translation column: its transcript
is also its target, so ``ntokens`` counts transcript tokens (the scale of its CTC loss).
"""
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Dict, List, Optional

from fairseq.data.audio.speech_to_text_joint_dataset import SpeechToTextJointDatasetCreator

from ..data.manifest_check import check_rows, read_manifest
from .data_kinds import KindSampledDataset, frames_per_token, sampling_shares
from .text_pairs import text_pair_dataset, transcripts_as_targets
from .waveform_data import read_waveforms_with_soundfile

logger = logging.getLogger(__name__)

ASR_COLUMNS = ("id", "audio", "n_frames", "src_text")


def subset_names(option: Optional[str]) -> List[str]:
    return [name.strip() for name in (option or "").split(",") if name.strip()]


def load_rows(task, name: str, option: str, columns, speech: bool) -> List[Dict[str, str]]:
    """The rows of an extra (training) manifest, checked like the main splits (manifest_check):
    the ``columns`` it needs present and non-empty in every row, audio references inside their
    files when ``speech``; invalid rows raise, or are dropped and counted with --skip-invalid-rows."""
    path = Path(task.cfg.data) / f"{name}.tsv"
    if not path.is_file():
        raise FileNotFoundError(
            f"{option} {name}: manifest {path} not found (subsets are manifest names under the "
            "data directory, without .tsv; prepare them with examples/mustc/prep_mustc_data.py)"
        )
    rows, lines = read_manifest(path)
    missing = [c for c in columns if c not in rows[0]]
    if missing:
        kind = "an ASR-only manifest" if speech else "an MT-only manifest"
        writer = "prep_mustc_data.py --asr-only-splits writes one" if speech else "one sentence pair per row"
        raise ValueError(f"{path}: no {', '.join(missing)} column(s); {kind} needs "
                         f"{', '.join(columns)} ({writer})")
    texts = [c for c in columns if c.endswith("_text")]
    return check_rows(path, rows, lines, audio_root=task.data_cfg.audio_root if speech else None,
                      texts=texts, is_train=True, skip_invalid=task.cfg.skip_invalid_rows)


def asr_only_dataset(task, name: str, pre, bpe, is_train: bool):
    """An ASR-only manifest as a joint dataset whose target is the transcript."""
    rows = load_rows(task, name, "--asr-extra-subsets", ASR_COLUMNS, speech=True)
    manifest = str(Path(task.cfg.data) / f"{name}.tsv")
    rows = transcripts_as_targets(rows, manifest)
    dataset = SpeechToTextJointDatasetCreator._from_list(
        name, is_train, rows, task.data_cfg, task.tgt_dict, task.tgt_dict,
        pre, bpe, pre, bpe, True, 0,
    )
    if task.waveform_input:
        read_waveforms_with_soundfile(dataset)
    logger.info(f"{name}: {len(dataset)} ASR-only utterances")
    return dataset


def mt_only_dataset(task, name: str, encode: Callable[[str], str], shuffle: bool):
    rows = load_rows(task, name, "--mt-extra-subsets", ("src_text", "tgt_text"), speech=False)
    dataset = text_pair_dataset(rows, str(Path(task.cfg.data) / f"{name}.tsv"), encode, task.tgt_dict, shuffle)
    logger.info(f"{name}: {len(dataset)} MT-only text pairs")
    return dataset


def concat(datasets: list):
    from fairseq.data import ConcatDataset

    return datasets[0] if len(datasets) == 1 else ConcatDataset(datasets)


def measured_frames_per_token(st_dataset, limit: int = 5000) -> float:
    """Frames per transcript token over (up to ``limit``) ST utterances."""
    parts = getattr(st_dataset, "datasets", [st_dataset])
    frames, tokens = [], []
    for part in parts:
        for i in range(min(len(part), limit)):
            frames.append(part.n_frames[i])
            tokens.append(len(part.get_tokenized_src_text(i).split()) + 1)  # + EOS
    return frames_per_token(frames, tokens)


def with_extra_kinds(task, split: str, st_dataset, pre, bpe, encode, epoch: int):
    """``st_dataset`` alone, or sampled with the ASR-only / MT-only subsets into single-kind
    batches (see data_kinds)."""
    cfg = task.cfg
    extras = OrderedDict()
    asr_names, mt_names = subset_names(cfg.asr_extra_subsets), subset_names(cfg.mt_extra_subsets)
    if asr_names:
        extras["asr"] = concat([asr_only_dataset(task, n, pre, bpe, True) for n in asr_names])
    if mt_names:
        extras["mt"] = concat([mt_only_dataset(task, n, encode, True) for n in mt_names])
    if not extras:
        return st_dataset
    datasets = OrderedDict([("st", st_dataset), *extras.items()])
    weights = {"st": cfg.st_sampling_weight, "asr": cfg.asr_sampling_weight, "mt": cfg.mt_sampling_weight}
    try:
        shares = sampling_shares(
            {k: len(d) for k, d in datasets.items()}, {k: weights[k] for k in datasets},
            cfg.data_sampling_temperature,
        )
    except ValueError as e:
        raise ValueError(f"--st/asr/mt-sampling-weight: {e} (give one for every kind in use: "
                         f"{', '.join(datasets)}, or none and --data-sampling-temperature)") from None
    scale = {"st": 1.0, "asr": 1.0}
    if "mt" in datasets:
        scale["mt"] = cfg.text_frames_per_token or measured_frames_per_token(st_dataset)
        logger.info(f"{split}: an MT-only text token counts {scale['mt']:.2f} frames for --max-tokens"
                    + ("" if cfg.text_frames_per_token else " (measured on the ST data)"))
    # an epoch is one pass over the ST triples at their share (the whole draw when ST's is 0)
    epoch_size = round(len(st_dataset) / shares["st"]) if shares["st"] > 0 else None
    dataset = KindSampledDataset(datasets, shares, scale, seed=cfg.seed, epoch_size=epoch_size)
    dataset.set_epoch(epoch)
    return dataset
