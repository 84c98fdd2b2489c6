"""The demo's results table, as Markdown (printed and saved) and JSON."""
import json
import os
from pathlib import Path
from typing import Dict

NAMES = {"none": "multi-task baseline", "hard": "H-Align (contrastive)", "soft": "S-Align (adversarial)"}

NOTES = """\
What this corpus can and cannot show: its speech is synthetic (espeak-ng and flite voices reading
~1,800 short dictionary sentences), training sees 40 minutes of it, and every number above comes
from minutes of CPU training. BLEU here is far below MuST-C figures (En-De ~22-28); differences
between systems smaller than the bootstrap intervals (±) are noise at this size; the modality-gap
columns show whether the alignment objective moved the two spaces together. tst-HE is read by
voices of engines never heard in training (the hardest condition). Real conclusions need MuST-C."""


def _bleu(result: Dict) -> str:
    return f"{result['score']:.2f} ± {result['ci95']:.2f}"


def _row(mode: str, system: Dict, gap: Dict) -> str:
    cells = [
        NAMES.get(mode, mode),
        _bleu(system["st_bleu_tst-COMMON"]),
        f"{system['st_chrf_tst-COMMON']['score']:.1f}",
        f"{system['st_bleu_tst-HE']['score']:.2f}",
        _bleu(system["mt_bleu_tst-COMMON"]),
        f"{system['asr_wer_tst-COMMON']['score']:.1f}",
        f"{gap['probe_accuracy']:.3f}",
        f"{gap['retrieval_top1']:.3f}",
        f"{gap['mmd2_rbf']:.4f}",
    ]
    return "| " + " | ".join(cells) + " |"


def write_report(results: Dict, out: Path, suffix: str = "") -> str:
    """``OUT/results{suffix}.md`` and ``.json`` (suffix: ``_{front end}``)."""
    header = (
        "| system | ST BLEU tst-COMMON (± 95 % CI) | ST chrF tst-COMMON | ST BLEU tst-HE | "
        "MT BLEU tst-COMMON (± 95 % CI) | ASR WER % | speech/text probe acc (0.5 = no gap) | "
        "speech->text R@1 | MMD^2 |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    rows = [_row(m, s, results["modality_gap"][m]) for m, s in results["systems"].items()]
    first = next(iter(results["systems"].values()))
    settings = results["settings"]
    table = "\n".join([header, *rows])
    text = "\n".join([
        "# fairseq-salign demo results",
        "",
        table,
        "",
        f"sacreBLEU: `{first['st_bleu_tst-COMMON']['signature']}`, chrF: "
        f"`{first['st_chrf_tst-COMMON']['signature']}` (detokenized, against the manifests' "
        f"references; ± is the half-width of sacreBLEU's {first['st_bleu_tst-COMMON']['n_bootstrap']}-sample "
        "bootstrap 95 % interval); WER on lower-cased transcripts without punctuation.",
        f"Settings: {json.dumps(settings)}; wall time {results['wall_minutes']} min. "
        f"Retrieval chance level: {1 / next(iter(results['modality_gap'].values()))['n_sentences']:.4f}.",
        "",
        NOTES,
        "",
        f"![modality gap](modality_gap{suffix}.png)",
        "",
    ])
    for name, content in ((f"results{suffix}.md", text),
                          (f"results{suffix}.json", json.dumps(results, indent=2))):
        tmp = out / f".{name}.partial"
        tmp.write_text(content, encoding="utf-8")
        os.replace(tmp, out / name)
    return table
