"""The runner shared by the demo's sweeps (ablations.py, imbalance.py), kept here so that the
two do not each carry their own copy: the pre-trained demo pipeline they start from, a JSONL of
finished runs that a re-run resumes from, the seed loop, evaluation with hypotheses kept,
sacreBLEU's paired bootstrap test against a baseline run, and the parsed log.

A run is appended to its JSONL as one whole line (one write, flushed) the moment it finishes, so
an interrupted sweep keeps what it measured. Only the last line can be torn by an interruption: on
reading, it is moved to ``<name>.jsonl.torn``, counted and reported, and its run is done again;
a broken line before the last is not a torn write and stops the sweep with its line number.
"""
import itertools
import json
import os
import platform
import re
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# the sweeps score stage-3 runs on tst-COMMON: ST and MT BLEU / chrF, ASR WER
CONDITIONS = (("st", "tst-COMMON"), ("mt", "tst-COMMON"), ("asr", "tst-COMMON"))


class Sweep:
    """The finished runs of one sweep, recorded in ``path`` (JSONL, one run a line)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.records: List[Dict] = []
        self.torn = 0
        if self.path.is_file():
            self._load()

    def _load(self) -> None:
        data = self.path.read_bytes()
        start = 0
        lines = []  # (byte offset, line without its newline, ended by a newline)
        while start < len(data):
            end = data.find(b"\n", start)
            stop = len(data) if end < 0 else end
            lines.append((start, data[start:stop], end >= 0))
            start = stop + 1
        for number, (offset, line, ended) in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                self.records.append(json.loads(line))
            except ValueError as error:
                if number < len(lines):
                    raise SystemExit(f"{self.path}, line {number}: not a JSON record ({error}); only "
                                     "the last line can be torn by an interruption: fix or remove it")
                self._set_aside(offset, line)
                return
            if not ended:  # whole record, its newline lost: end the line before the next append
                with open(self.path, "ab") as f:
                    f.write(b"\n")

    def _set_aside(self, offset: int, line: bytes) -> None:
        torn_path = self.path.with_name(self.path.name + ".torn")
        with open(torn_path, "ab") as f:
            f.write(line + b"\n")
        os.truncate(self.path, offset)
        self.torn = 1
        print(f"{self.path}: {self.torn} torn line (an interrupted write, {len(line)} bytes) moved to "
              f"{torn_path}; its run is not recorded and will run again", file=sys.stderr, flush=True)

    def pending(self, seeds: Sequence[int], **axes: Sequence) -> Iterator[Tuple]:
        """(seed, *axis values) of every run not yet recorded: seeds outermost, then the axes in
        the order given; recorded runs are matched on the fields ``seed`` and the axes' names."""
        names = ("seed", *axes)
        done = {tuple(r.get(k) for k in names) for r in self.records}
        for key in itertools.product(seeds, *axes.values()):
            if key not in done:
                yield key

    def record(self, record: Dict) -> None:
        """Append one finished run as one line: serialised first, then one write, flushed."""
        line = (json.dumps(record) + "\n").encode("utf-8")
        with open(self.path, "ab") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.records.append(record)


def pretrained_pipeline(out: Path, features: Optional[str] = None, **options):
    """The demo's Pipeline on ``out`` with stages 1 and 2 done (built first if missing, as
    ``make demo`` does). ``options``: run_demo.py options by dest (None: left at the demo's
    default); ``features`` None: the demo's default features."""
    sys.path.insert(0, str(REPO / "examples" / "mustc"))  # build_mini_mustc, for the corpus
    import run_demo
    from pipeline import Pipeline

    argv = ["--out", str(out)]
    if features is not None:
        argv += ["--features", features]
    for dest, value in options.items():
        if value is not None:
            argv += [f"--{dest.replace('_', '-')}", str(value)]
    pipe = Pipeline(run_demo.build_parser().parse_args(argv), REPO)
    pipe.pretrain()
    return pipe


def references(pipe) -> List[str]:
    from scoring import read_manifest

    return [r["tgt_text"] for r in read_manifest(pipe.speech_data / "tst-COMMON_st.tsv")]


def evaluate(pipe, name: str) -> Tuple[Dict, List[str], List[str]]:
    """(scores, ST hypotheses, MT hypotheses) of the run ``name`` on :data:`CONDITIONS`."""
    scores = pipe.evaluate(name, CONDITIONS, keep_hypotheses=True)
    hyps, mt_hyps = scores.pop("st_hyps_tst-COMMON"), scores.pop("mt_hyps_tst-COMMON")
    scores.pop("asr_hyps_tst-COMMON", None)
    return scores, hyps, mt_hyps


def write_hyps(path: Path, hyps: List[str]) -> None:
    path.write_text("\n".join(hyps) + "\n", encoding="utf-8")


def paired_test(base_hyps: List[str], hyps: List[str], refs: List[str]) -> Dict:
    """sacreBLEU's paired bootstrap (1000 samples) of ``hyps`` against the baseline's."""
    from sacrebleu.metrics import BLEU
    from sacrebleu.significance import PairedTest

    test = PairedTest([("none", base_hyps), ("system", hyps)], {"BLEU": BLEU()}, references=[refs],
                      test_type="bs", n_samples=1000)
    _, scores = test()
    result = scores["BLEU"][1]
    return {"p_value": result.p_value, "mean": result.mean, "ci95": result.ci}


def paired_tests(baselines: Dict[str, Path], hyps: List[str], refs: List[str]) -> Dict[str, Dict]:
    """:func:`paired_test` against each baseline run's hypotheses file (key -> file) that exists:
    a baseline not run yet is left out."""
    return {key: paired_test(path.read_text(encoding="utf-8").splitlines(), hyps, refs)
            for key, path in baselines.items() if path.is_file()}


def train_log(pipe, name: str) -> str:
    return (pipe.logs / f"train_{name}{pipe.result_suffix}.log").read_text()


def train_curve(log_text: str):
    """(update, {metric: value}) of fairseq's train_inner lines of one training log."""
    curve = []
    for line in log_text.splitlines():
        if "train_inner" not in line and "| epoch" not in line:
            continue
        found = re.search(r"num_updates=(\d+)", line)
        if not found:
            continue
        values = dict(re.findall(r"(\w+)=([-\d.e]+)", line))
        curve.append((int(found.group(1)), {k: float(v) for k, v in values.items() if _number(v)}))
    return curve


def _number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}"
