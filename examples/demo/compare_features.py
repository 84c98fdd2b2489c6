#!/usr/bin/env python3
"""The demo's speech features side by side (whisper states, fbank80), with sacreBLEU's paired
bootstrap test.

After ``run_demo.py --out demo --features fbank80`` and ``run_demo.py --out demo`` (whisper), reads
the hypotheses both left in ``demo/logs`` (the ``fairseq-generate`` outputs) and tests, per system,
whisper against fbank80 on tst-COMMON ST and MT BLEU (1,000 paired bootstrap samples), next to
each run's ASR WER and its minutes of speech-side training (ASR + ST stages, from the logs).

    python examples/demo/compare_features.py --out demo
"""
import argparse
import json
import re
import sys
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sweep import paired_test  # noqa: E402
from scoring import hypotheses, read_manifest  # noqa: E402

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \|", re.M)


def minutes(log: Path) -> float:
    stamps = STAMP.findall(log.read_text())
    t = [datetime.strptime(s, "%Y-%m-%d %H:%M:%S") for s in (stamps[0], stamps[-1])]
    return (t[1] - t[0]).total_seconds() / 60


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("demo"))
    p.add_argument("--systems", nargs="+", default=["none", "hard", "soft"])
    args = p.parse_args(argv)
    logs = args.out / "logs"
    data = args.out / "mini" / "en-de"
    refs = [r["tgt_text"] for r in read_manifest(data / "tst-COMMON_st.tsv")]
    results = json.loads((args.out / "results_fbank80.json").read_text())["systems"]
    whisper = json.loads((args.out / "results_whisper.json").read_text())["systems"]
    rows = []
    for system in args.systems:
        row = {"system": system}
        for infer in ("st", "mt"):
            pair = []
            for suffix in ("", "_whisper"):
                text = (logs / f"generate_{system}_{infer}_tst-COMMON{suffix}.log").read_text()
                pair.append(hypotheses(text, len(refs), f"{system} {infer}{suffix}"))
            test = paired_test(pair[0], pair[1], refs)
            row[infer] = {"fbank80": results[system][f"{infer}_bleu_tst-COMMON"]["score"],
                          "whisper": whisper[system][f"{infer}_bleu_tst-COMMON"]["score"],
                          "p_value": test["p_value"]}
        row["wer"] = {"fbank80": results[system]["asr_wer_tst-COMMON"]["score"],
                      "whisper": whisper[system]["asr_wer_tst-COMMON"]["score"]}
        row["train_minutes"] = {"fbank80": minutes(logs / f"train_{system}.log"),
                                "whisper": minutes(logs / f"train_{system}_whisper.log")}
        rows.append(row)
    asr = {"fbank80": minutes(logs / "train_asr.log"), "whisper": minutes(logs / "train_asr_whisper.log")}
    print("| system | ST BLEU fbank80 | ST BLEU whisper | p (paired bs) | MT BLEU fbank80 | MT BLEU whisper "
          "| p | ASR WER % fbank80 | ASR WER % whisper | stage-3 min fbank80 | stage-3 min whisper |")
    print("| --- " * 11 + "|")
    for r in rows:
        print(f"| {r['system']} | {r['st']['fbank80']:.2f} | {r['st']['whisper']:.2f} | {r['st']['p_value']:.3f} "
              f"| {r['mt']['fbank80']:.2f} | {r['mt']['whisper']:.2f} | {r['mt']['p_value']:.3f} "
              f"| {r['wer']['fbank80']:.1f} | {r['wer']['whisper']:.1f} "
              f"| {r['train_minutes']['fbank80']:.1f} | {r['train_minutes']['whisper']:.1f} |")
    print(f"\nASR (CTC) stage 2 minutes: fbank80 {asr['fbank80']:.1f}, whisper {asr['whisper']:.1f}")
    (args.out / "features.json").write_text(json.dumps({"systems": rows, "asr_minutes": asr}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
