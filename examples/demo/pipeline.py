"""The demo's steps, each a real command of the project (recipe, fairseq-train, salign-average,
fairseq-generate, salign-analyze), each skipped when its output already exists."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

from scoring import bleu, chrf, hypotheses, read_manifest, wer

BIN = Path(sys.executable).parent
# lines of fairseq's log worth showing while a stage runs
ST_MAX_TOKENS = 4000  # fbank frames per speech batch (~25 utterances of the mini corpus):
# on 2 CPU cores the number of updates, not the batch size, limits what the demo learns
# Speech front ends the demo can train on: the recipe's --features kind, the model options that
# go with it, and frames per speech batch for the same seconds of audio as ST_MAX_TOKENS.
DEFAULT_FRONT_END = "whisper"  # measured against fbank on this corpus: docs/demo-results.md
FRONT_ENDS = {
    "fbank": {"features": "fbank80", "model": [], "max_tokens": ST_MAX_TOKENS},
    # frozen Whisper tiny.en encoder states (384-d, 50 Hz): one stride-2 conv -> 25 Hz
    "whisper": {"features": "whisper", "model": ["--conv-layers", "1"], "max_tokens": ST_MAX_TOKENS // 2},
}
_PROGRESS = re.compile(r"\| (valid on|end of epoch)|done training|loaded \d+ tensors")


class Pipeline:
    def __init__(self, args, repo: Path):
        import torch

        self.args = args
        self.repo = repo
        self.out = args.out.resolve()
        self.corpus_root = self.out / "mini"
        self.data = self.corpus_root / "en-de"  # fbank80 data: stage 1 (text) and the vocabulary
        self.ckpt = self.out / "checkpoints"
        self.front_end = getattr(args, "front_end", DEFAULT_FRONT_END)
        fe = FRONT_ENDS[self.front_end]
        self.speech_data = self.data if fe["features"] == "fbank80" else self.data / fe["features"]
        self.speech_model_args = fe["model"]
        self.st_max_tokens = fe["max_tokens"]
        # stage 1 (MT) is shared; the speech stages of another front end get their own directory
        self.speech_ckpt = self.ckpt if self.front_end == "fbank" else self.ckpt / self.front_end
        self.logs = self.out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.device_flags = [] if (torch.cuda.is_available() and not args.cpu) else ["--cpu"]
        self.t0 = time.time()
        # > 0: part of train is ASR-only data (train_asr), for stage 1b and stage 2
        self.asr_only_fraction = getattr(args, "asr_only_fraction", 0.0)
        self.asr_only = ["--asr-only-splits", "train_asr"] if self.asr_only_fraction else []

    # ---- helpers ------------------------------------------------------------------------------
    def say(self, message: str) -> None:
        print(f"[demo {(time.time() - self.t0) / 60:5.1f} min] {message}", flush=True)

    def run(self, name: str, cmd: List, show=_PROGRESS) -> str:
        """Run a command, keep its whole output in logs/NAME.log, echo its progress lines."""
        cmd = [str(c) for c in cmd]
        log_path = self.logs / f"{name}.log"
        lines = []
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(log_path, "w") as log, subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=self.repo
        ) as proc:
            for line in proc.stdout:
                log.write(line)
                lines.append(line)
                if show is not None and show.search(line):
                    print(f"    {name}: {line.strip()[-150:]}", flush=True)
        if proc.returncode != 0:
            tail = "".join(lines[-25:])
            raise SystemExit(f"demo step '{name}' failed ({proc.returncode}); log: {log_path}\n{tail}")
        return "".join(lines)

    def settings(self) -> Dict:
        a = self.args
        return {
            "corpus_size": a.size, "seed": a.seed, "vocab_size": a.vocab_size, "arch": a.arch,
            "mt_epochs": a.mt_epochs, "asr_epochs": a.asr_epochs, "st_epochs": a.st_epochs,
            "average_last": a.average, "adversarial_weight": a.adversarial_weight,
            "front_end": self.front_end, "device": "cpu" if self.device_flags else "cuda",
        }

    def pretrain(self) -> None:
        """Everything before stage 2, each step skipped when done: corpus, recipe, external MT
        data, stage 1 (MT) and stage 1b (ASR)."""
        self.build_corpus()
        self.prepare()
        self.write_external_mt()
        self.train_mt()
        self.train_asr()

    # ---- data ---------------------------------------------------------------------------------
    def build_corpus(self) -> None:
        import build_mini_mustc

        argv = ["--out", str(self.corpus_root), "--size", str(self.args.size),
                "--seed", str(self.args.seed)]
        if getattr(self.args, "tst_common_size", None):
            argv += ["--tst-common-size", str(self.args.tst_common_size)]
        if getattr(self.args, "vocab_top_k", 2000) != 2000:
            argv += ["--vocab-top-k", str(self.args.vocab_top_k)]
        if self.asr_only_fraction:
            argv += ["--asr-only-fraction", str(self.asr_only_fraction)]
        marker = self.data / "data" / build_mini_mustc.MARKER
        wanted = build_mini_mustc.marker_text(build_mini_mustc.build_parser().parse_args(argv))
        built = self.data / "data" / "tst-HE" / "txt" / "tst-HE.yaml"
        if built.is_file() and marker.is_file() and marker.read_text() == wanted:
            self.say(f"mini MuST-C already built in {self.corpus_root}")
            return
        stale = [p for p in (self.data / "mt_extra.tsv", self.ckpt) if p.exists()]
        if stale:  # made from another corpus: fairseq-train would resume from those checkpoints
            self.say(f"corpus settings changed: removing {', '.join(map(str, stale))}")
            for p in stale:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        self.say("building the offline mini MuST-C (TTS voices, Ding dictionary)")
        self.run("build_corpus", [sys.executable, "examples/mustc/build_mini_mustc.py", *argv],
                 show=re.compile(r"segments|wrote"))

    def prepare(self) -> None:
        self.say("preparing it with the MuST-C recipe (fbank, manifests, joint vocabulary)")
        self.run("prep", [sys.executable, "examples/mustc/prep_mustc_data.py", "--data-root",
                          self.corpus_root, "--languages", "de", "--vocab-size",
                          self.args.vocab_size, "--specaugment-policy", "ss", "--no-progress",
                          *self.asr_only],
                 show=re.compile(r"segments kept|vocabulary|done in"))
        kind = FRONT_ENDS[self.front_end]["features"]
        if kind != "fbank80":
            self.say(f"preparing it again with --features {kind} (frozen pretrained encoder states)")
            self.run(f"prep_{kind}", [sys.executable, "examples/mustc/prep_mustc_data.py",
                                      "--data-root", self.corpus_root, "--languages", "de",
                                      "--vocab-size", self.args.vocab_size, "--features", kind,
                                      "--specaugment-policy", "ss", "--no-progress",
                                      *self.asr_only],
                     show=re.compile(r"segments kept|vocabulary|done in"))

    def write_external_mt(self) -> None:
        """External MT data for stage 1: every Ding sentence pair that is not in the corpus
        (so no test sentence leaks in), source side normalized like the recipe's."""
        path = self.data / "mt_extra.tsv"
        if not path.is_file():
            self._write_ding_pairs(path)
        if self.speech_data != self.data:  # stage 2 reads MT-only data from its own directory
            shutil.copyfile(path, self.speech_data / path.name)

    def _write_ding_pairs(self, path: Path) -> None:
        from ding_pairs import pairs_outside

        from fairseq_salign.data.text import clean_field, normalize_source

        pairs = pairs_outside(self.data / "data")  # every split's sentences, ASR-only ones included
        tmp = path.with_name(path.name + ".partial")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("id\tsrc_text\ttgt_text\n")
            for i, (en, de) in enumerate(pairs):
                f.write(f"ding{i}\t{normalize_source(clean_field(en))}\t{clean_field(de)}\n")
        os.replace(tmp, path)
        self.say(f"external MT data: {len(pairs)} Ding pairs not in the corpus -> {path.name}")

    # ---- training -----------------------------------------------------------------------------
    def _train_args(self, save_dir: Path, *extra, seed=None, data=None) -> List:
        return [
            BIN / "fairseq-train", data or self.data, "--user-dir", self.repo / "fairseq_salign",
            "--task", "speech_to_text_salign", "--train-subset", "train_st",
            "--valid-subset", "dev_st", "--arch", self.args.arch, "--criterion", "salign",
            "--untie-ctc-projection",  # the CTC head is pre-trained (stage 1b) on its own
            "--label-smoothing", "0.1", "--dropout", "0.1", "--optimizer", "salign_adam",
            "--adam-betas", "(0.9, 0.98)", "--clip-norm", "10", "--lr-scheduler", "inverse_sqrt",
            "--save-dir", save_dir, "--keep-last-epochs", self.args.average,
            "--no-progress-bar", "--log-interval", "25", "--num-workers", "0",
            "--seed", self.args.seed if seed is None else seed, *self.device_flags, *extra,
        ]

    def train_mt(self) -> None:
        e = self.args.mt_epochs
        self.say(f"stage 1: MT pre-training of T-enc + decoder ({e} epochs)")
        self.run("train_mt", self._train_args(
            self.ckpt / "mt", "--training-stage", "mt", "--mt-extra-subsets", "mt_extra",
            "--alignment", "none", "--lr", "5e-3", "--warmup-updates", "100",
            "--max-tokens", "4000", "--max-epoch", e, "--no-epoch-checkpoints",
        ))

    def train_asr(self) -> None:
        """Stage 1b, shared by every mode: A-enc + CTC head on speech -> transcript (the
        authors start from a pre-trained speech encoder; this is the demo's own)."""
        e = self.args.asr_epochs
        self.say(f"stage 1b: ASR (CTC) pre-training of the acoustic encoder ({e} epochs)")
        self.run(f"train_asr{self.result_suffix}", self._train_args(
            self.speech_ckpt / "asr", "--training-stage", "asr", "--alignment", "none",
            "--load-pretrained-mt-from", self.ckpt / "mt" / "checkpoint_best.pt",
            "--lr", "3e-3", "--warmup-updates", "150", "--max-tokens", self.st_max_tokens,
            "--max-epoch", e, "--no-epoch-checkpoints", "--validate-interval", "5",
            *(["--asr-extra-subsets", "train_asr_asr"] if self.asr_only_fraction else []),
            *self.speech_model_args, data=self.speech_data,
        ))

    @property
    def result_suffix(self) -> str:
        """Log and checkpoint names of a front end other than fbank (fbank's are unsuffixed,
        as before front ends were an option)."""
        return "" if self.front_end == "fbank" else f"_{self.front_end}"

    def train_st(self, mode: str, name: str = None, extra_args=(), seed=None, keep_epochs=None,
                 updates: int = None, average_ema: bool = False) -> None:
        """Stage 2 in one alignment mode into checkpoints/NAME (NAME defaults to the mode);
        ``extra_args`` come last on the command line, so they override the demo's. ``updates``:
        a budget in updates instead of --st-epochs (runs whose epochs differ in length, as with
        extra ASR/MT data at other ratios), checkpoints every quarter, the last N averaged.
        ``average_ema``: average the checkpoints' EMA weights (the run needs --store-ema)."""
        name = name or mode
        e = self.args.st_epochs
        by_updates = updates is not None
        updates = updates if by_updates else e * self.st_updates_per_epoch()
        extra = []
        if mode == "soft":  # the authors' schedule (1k warm-up, decay 25k-45k of 50k), scaled
            extra = ["--adversarial-weight", self.args.adversarial_weight,
                     "--adversarial-warmup-updates", updates // 10,
                     "--adversarial-decay-start", updates // 2,
                     "--adversarial-decay-end", updates * 9 // 10 + 1]
        if keep_epochs:
            extra += ["--keep-last-epochs", keep_epochs]
        what = "ST + MT + CTC" + (" + alignment" if mode != "none" else "")
        self.say(f"stage 2 ({name}): {what}, " + (f"{updates} updates" if by_updates else f"{e} epochs = {updates} updates"))
        save_dir = self.speech_ckpt / name
        every = max(updates // 4, 1)
        budget = (["--max-update", updates, "--max-epoch", 10**6, "--save-interval-updates", every,
                   "--keep-interval-updates", self.args.average, "--validate-interval-updates", every,
                   "--no-epoch-checkpoints"] if by_updates else ["--max-epoch", e, "--validate-interval", "2"])
        self.run(f"train_{name}{self.result_suffix}", self._train_args(
            save_dir, "--load-pretrained-mt-from", self.ckpt / "mt" / "checkpoint_best.pt",
            "--load-pretrained-acoustic-from", self.speech_ckpt / "asr" / "checkpoint_last.pt",
            "--alignment", mode, "--lr", "2e-3", "--warmup-updates", max(updates // 8, 1),
            "--max-tokens", self.st_max_tokens, *budget,
            *self.speech_model_args, *extra, *extra_args, seed=seed, data=self.speech_data,
        ))
        if by_updates:  # checkpoint_{epoch}_{update}.pt, the last --average of them
            last = sorted(save_dir.glob("checkpoint_*_*.pt"), key=lambda c: int(c.stem.split("_")[-1]))
            inputs = ["--inputs", *last[-self.args.average:]]
        else:
            inputs = ["--save-dir", save_dir, "--num-epochs", self.args.average]
        ema = ["--ema"] if average_ema else []  # the EMA weights of --store-ema, averaged
        self.run(f"average_{name}{self.result_suffix}", [BIN / "salign-average", *inputs, *ema,
                                     "--output", save_dir / "average.pt"], show=None)

    def st_updates_per_epoch(self) -> int:
        """Batches per epoch of the speech training set, as fairseq will build them."""
        from fairseq.data import data_utils

        rows = read_manifest(self.speech_data / "train_st.tsv")
        frames = [int(r["n_frames"]) for r in rows]
        order = sorted(range(len(frames)), key=frames.__getitem__)
        batches = data_utils.batch_by_size(order, lambda i: frames[i], max_tokens=self.st_max_tokens)
        return len(batches)

    # ---- evaluation ---------------------------------------------------------------------------
    def _generate(self, mode: str, infer: str, split: str) -> str:
        """fairseq-generate with checkpoints/MODE/average.pt (MODE: a train_st name)."""
        scoring = ["--scoring", "wer"] if infer == "asr" else ["--beam", "5", "--scoring", "sacrebleu"]
        return self.run(f"generate_{mode}_{infer}_{split}{self.result_suffix}", [
            BIN / "fairseq-generate", self.speech_data, "--user-dir", self.repo / "fairseq_salign",
            "--task", "speech_to_text_salign", "--infer-mode", infer, "--gen-subset", f"{split}_st",
            "--path", self.speech_ckpt / mode / "average.pt", "--max-tokens", "50000",
            "--max-len-b", "60", *scoring, *self.device_flags,
        ], show=None)

    def evaluate(self, mode: str, conditions=None, keep_hypotheses: bool = False) -> Dict:
        """Scores of checkpoints/MODE/average.pt; ``conditions``: (infer mode, split) pairs."""
        self.say(f"evaluating {mode}: ST, MT and ASR on tst-COMMON, ST on tst-HE")
        result = {}
        conditions = conditions or (("st", "tst-COMMON"), ("mt", "tst-COMMON"), ("asr", "tst-COMMON"), ("st", "tst-HE"))
        for infer, split in conditions:
            rows = read_manifest(self.speech_data / f"{split}_st.tsv")
            hyps = hypotheses(self._generate(mode, infer, split), len(rows), f"{mode} {infer} {split}")
            if keep_hypotheses:
                result[f"{infer}_hyps_{split}"] = hyps
            if infer == "asr":
                result[f"asr_wer_{split}"] = wer(hyps, [r["src_text"] for r in rows])
            else:
                refs = [r["tgt_text"] for r in rows]
                result[f"{infer}_bleu_{split}"] = bleu(hyps, refs)
                result[f"{infer}_chrf_{split}"] = chrf(hyps, refs)
        return result

    # ---- what the user takes away ---------------------------------------------------------------
    def hand_over(self, mode: str, scores: Dict) -> Dict:
        """Export checkpoints/MODE/average.pt to OUT/model (``salign-export``) and subtitle one
        whole unseen talk with it: the first tst-HE talk wav (voices never heard in training),
        segmented by the VAD, transcript and translation from one pass (``salign-translate
        --mode both``) into OUT/subtitles/. Returns the paths and the command for a user's file."""
        model_dir, subs = self.out / "model", self.out / "subtitles"
        talk = sorted((self.data / "data" / "tst-HE" / "wav").glob("*.wav"))[0]
        metric = {"bleu": "BLEU", "chrf": "chrF", "wer": "WER"}
        score = [f"--score=tst-COMMON {k.split('_')[0].upper()} {metric[k.split('_')[1]]}="
                 f"{v['score']:.2f}" for k, v in scores.items() if k.endswith("_tst-COMMON")]
        signature = scores.get("st_bleu_tst-COMMON", {}).get("signature")
        score += ["--sacrebleu-signature", signature] if signature else []
        self.say(f"exporting the {mode} model to {model_dir}; subtitling the unseen talk {talk.name}")
        self.run(f"export{self.result_suffix}", [
            BIN / "salign-export", "--checkpoint", self.speech_ckpt / mode / "average.pt",
            "--data-dir", self.speech_data, "--out", model_dir, "--force",
            "--name", f"fairseq-salign demo model ({mode} alignment, {self.front_end} front end)",
            "--training-data", f"the demo's offline mini MuST-C ({self.args.size} segments, TTS voices)",
            *score], show=None)
        self.run(f"subtitles{self.result_suffix}", [
            BIN / "salign-translate", "--model-dir", model_dir, "--mode", "both", "--segment",
            "--output-dir", subs, "--no-progress", *(["--cpu"] if self.device_flags else []), talk,
        ], show=None)
        rel = lambda p: os.path.relpath(p, Path.cwd())  # noqa: E731
        return {"model_dir": rel(model_dir), "talk": rel(talk),
                "subtitles": [rel(subs / f"{talk.stem}.{ext}") for ext in ("srt", "txt", "jsonl")],
                "command": f"{rel(BIN / 'salign-translate')} --model-dir {rel(model_dir)} --mode both "
                           "--output-dir subtitles/ your_recording.wav"}

    def analyze(self, modes: List[str]) -> Dict:
        self.say("measuring the modality gap of the T-enc space (salign-analyze)")
        out_json = self.out / f"modality_gap_{self.front_end}.json"
        self.run(f"analyze{self.result_suffix}", [
            BIN / "salign-analyze", "--checkpoint", *[self.speech_ckpt / m / "average.pt" for m in modes],
            "--label", *modes, "--data-dir", self.speech_data, "--split", "tst-COMMON_st",
            "--out-json", out_json, "--out-png", self.out / f"modality_gap_{self.front_end}.png",
            *(["--cpu"] if self.device_flags else []),
        ], show=None)
        with open(out_json) as f:
            return {m["label"]: m for m in json.load(f)["models"]}
