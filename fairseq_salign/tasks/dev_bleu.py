"""Dev-set BLEU during validation (``--eval-bleu``), so that fairseq's own checkpoint selection
(``--best-checkpoint-metric bleu --maximize-best-checkpoint-metric``, ``--keep-best-checkpoints
N``) can pick checkpoints by BLEU, as the S-Align authors do. fairseq's speech-to-text task has
no such option (its translation task has one, for text input only).

Each validation batch is decoded with fairseq's SequenceGenerator; hypotheses and references
are detokenized with the data config's SentencePiece model, exactly as fairseq-generate does, and
sacreBLEU's sufficient statistics are summed over batches and workers: the logged ``bleu`` is
the corpus BLEU of the whole dev set, not a mean of batch scores.
"""
import json
from argparse import Namespace
from typing import Dict, List

from fairseq import metrics

ORDER = 4


def parse_generation_args(text: str) -> Namespace:
    """``--eval-bleu-args`` JSON (e.g. '{"beam": 5, "max_len_b": 200}') -> generator args."""
    try:
        options = json.loads(text or "{}")
    except json.JSONDecodeError as e:
        raise ValueError(f"--eval-bleu-args is not valid JSON ({e}): {text!r}") from None
    if not isinstance(options, dict):
        raise ValueError(f"--eval-bleu-args must be a JSON object, got {text!r}")
    return Namespace(**options)


def decode(dictionary, bpe, tokens, escape_unk: bool = False) -> str:
    text = dictionary.string(tokens.int().cpu(), unk_string="UNKNOWNTOKENINREF" if escape_unk else None)
    return bpe.decode(text) if bpe is not None else text


def sufficient_statistics(hyps: List[str], refs: List[str]) -> Dict[str, int]:
    """sacreBLEU's sufficient statistics of detokenized sentences, as summable logging entries."""
    import sacrebleu

    score = sacrebleu.corpus_bleu(hyps, [refs], tokenize="13a")
    log = {"_bleu_sys_len": score.sys_len, "_bleu_ref_len": score.ref_len}
    for n in range(ORDER):
        log[f"_bleu_counts_{n}"] = score.counts[n]
        log[f"_bleu_totals_{n}"] = score.totals[n]
    return log


def bleu_statistics(task, generator, model, sample, bpe) -> Dict[str, int]:
    """Decode one validation batch and return its BLEU statistics."""
    hypotheses = task.inference_step(generator, [model], sample)
    dictionary = task.target_dictionary
    hyps: List[str] = []
    refs: List[str] = []
    for i, hypos in enumerate(hypotheses):
        hyps.append(decode(dictionary, bpe, hypos[0]["tokens"]))
        target = sample["target"][i]
        refs.append(decode(dictionary, bpe, target[target.ne(dictionary.pad())], escape_unk=True))
    return sufficient_statistics(hyps, refs)


def reduce_bleu(logging_outputs) -> None:
    """Corpus BLEU from the summed statistics, logged as ``bleu``."""
    if not any("_bleu_sys_len" in log for log in logging_outputs):
        return

    def total(key):
        return sum(int(log.get(key, 0)) for log in logging_outputs)

    for key in ["_bleu_sys_len", "_bleu_ref_len"] + [f"_bleu_{k}_{n}" for k in ("counts", "totals") for n in range(ORDER)]:
        metrics.log_scalar_sum(key, total(key))

    def compute(meters):
        from sacrebleu.metrics import BLEU

        counts = [int(meters[f"_bleu_counts_{n}"].sum) for n in range(ORDER)]
        totals = [int(meters[f"_bleu_totals_{n}"].sum) for n in range(ORDER)]
        if min(totals) == 0:
            return 0.0
        score = BLEU.compute_bleu(
            correct=counts, total=totals, sys_len=int(meters["_bleu_sys_len"].sum),
            ref_len=int(meters["_bleu_ref_len"].sum), smooth_method="exp",
        )
        return round(score.score, 2)

    metrics.log_derived("bleu", compute)
