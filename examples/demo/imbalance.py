#!/usr/bin/env python3
"""The unified model under data imbalance, and unpaired alignment, on the demo corpus (a script,
not CI).

Builds the demo corpus with 30 % of the train talks held out as ASR-only data (speech +
transcript, their translations gone), uses the Ding pairs not in the corpus as MT-only data,
pre-trains MT and ASR as the demo does (the ASR stage also on the ASR-only talks), then trains
stage 3 from those checkpoints with the same number of updates per run:
- ``st-only``: the ST triples alone (the demo's stage 3),
- ASR:MT:ST sampling weights 1:1:1, 10:1:1, 1:10:1, 1:1:10 (the seed's imbalance check),
for ``none`` and ``soft`` (paired game on ST triples), and ``soft-unpaired``
(``--alignment-data all``: ASR-only speech and MT-only text play the game too). Per run:
ST BLEU / chrF, MT BLEU, ASR WER on tst-COMMON, sacreBLEU's paired bootstrap against the
``none`` run of the same data and seed, the realised shares from fairseq's log, and the T-enc
space metrics of ``salign-analyze``. Every finished run is appended to OUT/imbalance.jsonl, so
an interrupted sweep keeps what it measured and a re-run skips it.

    python examples/demo/imbalance.py --out demo-imbalance --seeds 1
    python examples/demo/imbalance.py --out demo-imbalance --seeds 2 3 --data 1:1:1 --systems soft soft-unpaired

``st+libreoffice`` needs the LibreOffice pairs prepared into the demo's data directories first:
``libreoffice_pairs.py --download DEBS --data-root OUT/mini`` then ``prep_mustc_data.py`` on
OUT/mini with the demo's options plus ``--mt-only-splits libreoffice`` (docs/ablations.md).
"""
import argparse
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sweep  # noqa: E402

ASR_ONLY_FRACTION = 0.3
RATIOS = {"1:1:1": (1, 1, 1), "10:1:1": (10, 1, 1), "1:10:1": (1, 10, 1), "1:1:10": (1, 1, 10)}  # ASR:MT:ST
# MT-only data alone beside the ST triples, 1:1: the corpus-external Ding pairs (in domain, seen
# in stage 1) and the LibreOffice help pairs (another domain; examples/extra/libreoffice_pairs.py,
# prepared into the data directory as the text-only split ``libreoffice``)
MT_ONLY = {"st+ding": "mt_extra", "st+libreoffice": "libreoffice_mt"}
# 1:1:1 with text of the speech's own distribution as the MT-only data: the ST triples'
# transcript -> translation pairs (not the Ding sentences outside the corpus, which use rarer
# words): does the unpaired game still hurt when the two sides differ only by modality?
MATCHED = "1:1:1-matched"
DATA = ["st-only", *RATIOS, *MT_ONLY, MATCHED]
SYSTEMS = {"none": ("none", []), "soft": ("soft", []),
           "soft-unpaired": ("soft", ["--alignment-data", "all"])}


def data_args(data: str):
    if data == "st-only":
        return []
    if data == MATCHED:
        return ["--asr-extra-subsets", "train_asr_asr", "--mt-extra-subsets", "train_st",
                "--asr-sampling-weight", 1, "--mt-sampling-weight", 1, "--st-sampling-weight", 1]
    if data in MT_ONLY:
        return ["--mt-extra-subsets", MT_ONLY[data], "--mt-sampling-weight", 1, "--st-sampling-weight", 1]
    asr, mt, st = RATIOS[data]
    return ["--asr-extra-subsets", "train_asr_asr", "--mt-extra-subsets", "mt_extra",
            "--asr-sampling-weight", asr, "--mt-sampling-weight", mt, "--st-sampling-weight", st]


def realised_shares(log_text: str):
    """The last epoch summary's share_* values (fairseq's train log line)."""
    lines = [l for l in log_text.splitlines() if "| train | epoch" in l]
    return {k: float(v) for k, v in re.findall(r"share_(st|asr|mt) ([\d.]+)", lines[-1])} if lines else {}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("demo-imbalance"), help="work directory")
    p.add_argument("--systems", nargs="+", default=["none", "soft"], choices=sorted(SYSTEMS))
    p.add_argument("--data", nargs="+", default=DATA, choices=DATA)
    p.add_argument("--seeds", nargs="+", type=int, default=[1])
    p.add_argument("--updates", type=int, default=200,
                   help="stage-3 updates of every run (the demo's 4 ST epochs are ~195)")
    p.add_argument("--mt-epochs", type=int, default=12, help="stage-1 MT epochs (the demo's: 12)")
    args = p.parse_args(argv)
    pipe = sweep.pretrained_pipeline(args.out, asr_only_fraction=ASR_ONLY_FRACTION, mt_epochs=args.mt_epochs)
    runs = sweep.Sweep(pipe.out / "imbalance.jsonl")
    hyps_dir = pipe.out / "imbalance_hyps"
    gap_dir = pipe.out / "imbalance_gap"
    hyps_dir.mkdir(exist_ok=True)
    gap_dir.mkdir(exist_ok=True)
    refs = sweep.references(pipe)
    for seed, data, system in runs.pending(args.seeds, data=args.data, system=args.systems):
        if system == "soft-unpaired" and (data == "st-only" or data in MT_ONLY):
            continue  # nothing unpaired to play with
        mode, extra = SYSTEMS[system]
        tag = data.replace(":", "-")
        name = f"imb-{system}-{tag}-s{seed}"
        pipe.train_st(mode, name=name, extra_args=[*data_args(data), *extra], seed=seed,
                      updates=args.updates)
        scores, hyps, mt_hyps = sweep.evaluate(pipe, name)
        stem = f"{system}_{tag}_s{seed}"
        sweep.write_hyps(hyps_dir / f"{stem}.st.txt", hyps)
        sweep.write_hyps(hyps_dir / f"{stem}.mt.txt", mt_hyps)
        baselines = {f"st_vs_{other}": hyps_dir / f"{other}_{tag}_s{seed}.st.txt"
                     for other in ("none", "soft") if other != system}
        if data != "st-only":
            baselines["st_vs_st-only"] = hyps_dir / f"{system}_st-only_s{seed}.st.txt"
        gap_json = gap_dir / f"{stem}.json"
        gap = pipe.salign_analyze(f"analyze_{name}", [pipe.speech_ckpt / name / "average.pt"], [name], gap_json)
        log = sweep.train_log(pipe, name)
        record = {
            "system": system, "data": data, "seed": seed, "updates": args.updates,
            "extra_args": [str(a) for a in [*data_args(data), *extra]], "scores": scores,
            "paired_tests": sweep.paired_tests(baselines, hyps, refs),
            "realised_shares": realised_shares(log), "gap": gap[0],
            "train_curve": sweep.train_curve(log), "machine": sweep.machine(),
        }
        runs.record(record)
        pipe.say(f"{system} {data} seed {seed}: ST {scores['st_bleu_tst-COMMON']['score']} "
                 f"MT {scores['mt_bleu_tst-COMMON']['score']} WER {scores['asr_wer_tst-COMMON']['score']} "
                 f"shares {record['realised_shares']}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
