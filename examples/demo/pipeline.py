"""The demo's steps, each a real command of the project (recipe, fairseq-train, salign-average,
fairseq-generate, salign-analyze), each skipped when its output already exists. Their options
come from the recipe's config file for the demo (examples/mustc/conf/demo.yaml, through
conf_args.py), overridden by the demo's command line; the pipeline adds what is tied to a run
(directories, checkpoints to start from, the alignment of each system, the schedule scaled to
the number of updates)."""
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Mapping, Sequence

import conf_args
from scoring import bleu, chrf, hypotheses, read_manifest, wer

BIN = Path(sys.executable).parent
CONF = Path(__file__).resolve().parents[1] / "mustc" / "conf" / "demo.yaml"
# What the speech stages (2 and 3) can read: the recipe's --features kinds the demo prepares,
# with the options that change from the conf's (written for whisper) for each: fbank80 frames
# come at 100 Hz (the model's default two stride-2 convs) and twice as many per batch for the
# same seconds of audio (4000 frames, ~25 utterances of the mini corpus; on 2 CPU cores the
# number of updates, not the batch size, limits what the demo learns).
DEFAULT_FEATURES = "whisper"  # measured against fbank80 on this corpus: docs/demo-results.md
FEATURES: Dict[str, Dict[str, object]] = {
    "whisper": {},  # frozen Whisper tiny.en encoder states (384-d, 50 Hz): the conf as written
    "fbank80": {"conv-layers": False, "max-tokens": 4000},
}
SOFT_ONLY = ("adversarial-", "modal-")  # the st section's options of the soft system alone
# what the pipeline itself reads from the conf (the budget of each stage, batching, averaging)
REQUIRED = (("common", "arch"), ("common", "seed"), ("mt", "max-epoch"), ("asr", "max-epoch"),
            ("st", "max-epoch"), ("st", "max-tokens"), ("average", "num-epochs"))
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
        self.features = getattr(args, "features", None) or DEFAULT_FEATURES
        self.conf_path = Path(getattr(args, "conf", None) or CONF)
        try:
            self.conf = self._conf_with_overrides(conf_args.load(self.conf_path))
        except conf_args.ConfError as err:
            raise SystemExit(f"demo: {err}") from None
        missing = [f"{section}: {key}" for section, key in REQUIRED if self.setting(section, key) is None]
        if missing:
            raise SystemExit(f"demo: {self.conf_path} sets no {', '.join(missing)} (the demo reads "
                             f"them; {CONF} has each)")
        self.speech_data = self.data if self.features == "fbank80" else self.data / self.features
        # stage 1 (MT) is shared; the speech stages of other features get their own directory
        self.speech_ckpt = self.ckpt if self.features == "fbank80" else self.ckpt / self.features
        self.logs = self.out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.device_flags = [] if (torch.cuda.is_available() and not args.cpu) else ["--cpu"]
        self.t0 = time.time()
        # > 0: part of train is ASR-only data (train_asr), for stages 2 and 3
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

    # ---- the conf -----------------------------------------------------------------------------
    def _conf_with_overrides(self, sections: Dict) -> Dict:
        """The conf's sections with the demo's command line (options given) and --features
        applied: what every command below is expanded from."""
        conf = copy.deepcopy(sections)
        a = self.args
        for section, key, value in (
            ("common", "arch", getattr(a, "arch", None)), ("common", "seed", getattr(a, "seed", None)),
            ("prep", "vocab-size", getattr(a, "vocab_size", None)),
            ("mt", "max-epoch", getattr(a, "mt_epochs", None)),
            ("asr", "max-epoch", getattr(a, "asr_epochs", None)),
            ("st", "max-epoch", getattr(a, "st_epochs", None)),
            ("common", "keep-last-epochs", getattr(a, "average", None)),
            ("average", "num-epochs", getattr(a, "average", None)),
            ("st", "adversarial-weight", getattr(a, "adversarial_weight", None)),
        ):
            if value is not None:
                conf.setdefault(section, {})[key] = value
        for section in ("asr", "st"):
            conf.setdefault(section, {}).update(FEATURES[self.features])
        return conf

    def setting(self, section: str, key: str):
        """One option's value as the demo runs it (None: not set)."""
        return self.conf.get(section, {}).get(key)

    def options(self, names: Sequence[str], overrides: Mapping[str, object] = {}) -> List[str]:
        """The conf's options of sections ``names`` (merged in order), then ``overrides``
        (False leaves an option out), as command-line words."""
        conf = copy.deepcopy(self.conf)
        conf.setdefault(names[-1], {}).update(overrides)
        return conf_args.expand(self.conf_path, names, sections=conf)

    def settings(self) -> Dict:
        a, get = self.args, self.setting
        return {
            "corpus_size": a.size, "seed": get("common", "seed"), "vocab_size": get("prep", "vocab-size"),
            "arch": get("common", "arch"), "mt_epochs": get("mt", "max-epoch"),
            "asr_epochs": get("asr", "max-epoch"), "st_epochs": get("st", "max-epoch"),
            "average_last": get("average", "num-epochs"),
            "adversarial_weight": get("st", "adversarial-weight"), "features": self.features,
            "conf": os.path.relpath(self.conf_path, self.repo),
            "device": "cpu" if self.device_flags else "cuda",
        }

    def pretrain(self) -> None:
        """Everything before stage 3, each step skipped when done: corpus, recipe, external MT
        data, stage 1 (MT) and stage 2 (ASR)."""
        self.build_corpus()
        self.prepare()
        self.write_external_mt()
        self.train_mt()
        self.train_asr()

    # ---- data ---------------------------------------------------------------------------------
    def build_corpus(self) -> None:
        import build_mini_mustc

        argv = ["--out", str(self.corpus_root), "--size", str(self.args.size),
                "--seed", str(self.setting("common", "seed"))]
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
        """Stage 0: fbank80 always (stage 1 and the vocabulary), then --features if another."""
        prep = [sys.executable, "examples/mustc/prep_mustc_data.py", "--data-root",
                self.corpus_root, "--languages", "de", *self.options(["prep"]), *self.asr_only]
        show = re.compile(r"segments kept|vocabulary|done in")
        self.say("stage 0: preparing it with the MuST-C recipe (fbank, manifests, joint vocabulary)")
        self.run("prep", prep, show=show)
        if self.features != "fbank80":
            self.say(f"stage 0: preparing it again with --features {self.features} "
                     "(frozen pretrained encoder states)")
            self.run(f"prep_{self.features}", [*prep, "--features", self.features], show=show)

    def write_external_mt(self) -> None:
        """External MT data for stage 1: every Ding sentence pair that is not in the corpus
        (so no test sentence leaks in), source side normalized like the recipe's."""
        path = self.data / "mt_extra.tsv"
        if not path.is_file():
            self._write_ding_pairs(path)
        if self.speech_data != self.data:  # stage 3 reads MT-only data from its own directory
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
    def _train_args(self, section: str, training_stage: str, save_dir: Path, *extra,
                    overrides: Mapping[str, object] = {}, data=None) -> List:
        """fairseq-train with the conf's common + SECTION options (then ``overrides``), the
        run's directories, and ``extra`` last (so they win)."""
        return [
            BIN / "fairseq-train", data or self.data, "--user-dir", self.repo / "fairseq_salign",
            "--task", "speech_to_text_salign", "--training-stage", training_stage,
            *self.options(["common", section], overrides), "--save-dir", save_dir,
            *self.device_flags, *extra,
        ]

    def train_mt(self) -> None:
        e = self.setting("mt", "max-epoch")
        self.say(f"stage 1: MT pre-training of T-enc + decoder ({e} epochs)")
        self.run("train_mt", self._train_args("mt", "mt", self.ckpt / "mt"))

    def train_asr(self) -> None:
        """Stage 2, shared by every system: A-enc + CTC head on speech -> transcript (the
        authors start from a pre-trained speech encoder; this is the demo's own)."""
        e = self.setting("asr", "max-epoch")
        self.say(f"stage 2: ASR (CTC) pre-training of the acoustic encoder ({e} epochs)")
        self.run(f"train_asr{self.result_suffix}", self._train_args(
            "asr", "asr", self.speech_ckpt / "asr",
            "--load-pretrained-mt-from", self.ckpt / "mt" / "checkpoint_best.pt",
            *(["--asr-extra-subsets", "train_asr_asr"] if self.asr_only_fraction else []),
            data=self.speech_data,
        ))

    @property
    def result_suffix(self) -> str:
        """Log and checkpoint names of features other than fbank80 (fbank80's are unsuffixed,
        as before the speech input was an option)."""
        return "" if self.features == "fbank80" else f"_{self.features}"

    def train_st(self, mode: str, name: str = None, extra_args=(), seed=None, keep_epochs=None,
                 updates: int = None, average_ema: bool = False) -> None:
        """Stage 3 in one alignment mode into checkpoints/NAME (NAME defaults to the mode);
        ``extra_args`` come last on the command line, so they override the conf's. ``updates``:
        a budget in updates instead of --st-epochs (runs whose epochs differ in length, as with
        extra ASR/MT data at other ratios), checkpoints every quarter, the last N averaged.
        ``average_ema``: average the checkpoints' EMA weights (the run needs --store-ema)."""
        name = name or mode
        e = self.setting("st", "max-epoch")
        average = int(self.setting("average", "num-epochs"))
        by_updates = updates is not None
        updates = updates if by_updates else int(e) * self.st_updates_per_epoch()
        run: Dict[str, object] = {"alignment": mode, "warmup-updates": max(updates // 8, 1)}
        if mode == "soft":  # the authors' schedule (1k warm-up, decay 25k-45k of 50k), scaled
            run.update({"adversarial-warmup-updates": updates // 10,
                        "adversarial-decay-start": updates // 2,
                        "adversarial-decay-end": updates * 9 // 10 + 1})
        else:  # the game's options belong to the soft system
            run.update({k: False for k in self.conf.get("st", {}) if k.startswith(SOFT_ONLY)})
        if seed is not None:
            run["seed"] = seed
        if keep_epochs:
            run["keep-last-epochs"] = keep_epochs
        every = max(updates // 4, 1)
        if by_updates:
            run.update({"max-update": updates, "max-epoch": 10**6, "save-interval-updates": every,
                        "keep-interval-updates": average, "validate-interval-updates": every,
                        "no-epoch-checkpoints": True, "validate-interval": False})
        what = "ST + MT + CTC" + (" + alignment" if mode != "none" else "")
        self.say(f"stage 3 ({name}): {what}, " + (f"{updates} updates" if by_updates else f"{e} epochs = {updates} updates"))
        save_dir = self.speech_ckpt / name
        self.run(f"train_{name}{self.result_suffix}", self._train_args(
            "st", "multitask", save_dir,
            "--load-pretrained-mt-from", self.ckpt / "mt" / "checkpoint_best.pt",
            "--load-pretrained-acoustic-from", self.speech_ckpt / "asr" / "checkpoint_last.pt",
            *extra_args, overrides=run, data=self.speech_data,
        ))
        if by_updates:  # checkpoint_{epoch}_{update}.pt, the last --average of them
            last = sorted(save_dir.glob("checkpoint_*_*.pt"), key=lambda c: int(c.stem.split("_")[-1]))
            inputs = ["--inputs", *last[-average:]]
        else:
            inputs = ["--save-dir", save_dir, *self.options(["average"])]
        ema = ["--ema"] if average_ema else []  # the EMA weights of --store-ema, averaged
        self.run(f"average_{name}{self.result_suffix}", [BIN / "salign-average", *inputs, *ema,
                                     "--output", save_dir / "average.pt"], show=None)

    def st_updates_per_epoch(self) -> int:
        """Batches per epoch of the speech training set, as fairseq will build them."""
        from fairseq.data import data_utils

        rows = read_manifest(self.speech_data / "train_st.tsv")
        frames = [int(r["n_frames"]) for r in rows]
        order = sorted(range(len(frames)), key=frames.__getitem__)
        max_tokens = int(self.setting("st", "max-tokens"))  # the conf's, as stage 3 is given it
        batches = data_utils.batch_by_size(order, lambda i: frames[i], max_tokens=max_tokens)
        return len(batches)

    # ---- evaluation ---------------------------------------------------------------------------
    def _generate(self, mode: str, infer: str, split: str) -> str:
        """fairseq-generate with checkpoints/MODE/average.pt (MODE: a train_st name)."""
        return self.run(f"generate_{mode}_{infer}_{split}{self.result_suffix}", [
            BIN / "fairseq-generate", self.speech_data, "--user-dir", self.repo / "fairseq_salign",
            "--task", "speech_to_text_salign", "--infer-mode", infer,
            *self.options(["generate"], {"gen-subset": f"{split}_st"}),
            "--path", self.speech_ckpt / mode / "average.pt",
            "--scoring", "wer" if infer == "asr" else "sacrebleu", *self.device_flags,
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
            *self.options(["export"], {"name": f"fairseq-salign demo model ({mode} alignment, "
                                                f"{self.features} features)"}),
            "--training-data", f"the demo's offline mini MuST-C ({self.args.size} segments, TTS voices)",
            *score], show=None)
        self.run(f"subtitles{self.result_suffix}", [
            BIN / "salign-translate", "--model-dir", model_dir, "--mode", "both", "--segment",
            "--output-dir", subs, "--no-progress", *self.device_flags, talk,
        ], show=None)
        rel = lambda p: os.path.relpath(p, Path.cwd())  # noqa: E731
        return {"model_dir": rel(model_dir), "talk": rel(talk),
                "subtitles": [rel(subs / f"{talk.stem}.{ext}") for ext in ("srt", "txt", "jsonl")],
                "command": f"{rel(BIN / 'salign-translate')} --model-dir {rel(model_dir)} --mode both "
                           "--output-dir subtitles/ your_recording.wav"}

    def analyze(self, modes: List[str]) -> Dict:
        self.say("measuring the modality gap of the T-enc space (salign-analyze)")
        models = self.salign_analyze(
            f"analyze{self.result_suffix}", [self.speech_ckpt / m / "average.pt" for m in modes],
            modes, self.out / f"modality_gap_{self.features}.json",
            "--out-png", self.out / f"modality_gap_{self.features}.png")
        return {m["label"]: m for m in models}

    def salign_analyze(self, log_name: str, checkpoints: Sequence[Path], labels: Sequence[str],
                       out_json: Path, *extra) -> List[Dict]:
        """salign-analyze's T-enc space metrics on tst-COMMON, one dict per checkpoint."""
        self.run(log_name, [
            BIN / "salign-analyze", "--checkpoint", *checkpoints, "--label", *labels,
            "--data-dir", self.speech_data, "--split", "tst-COMMON_st", "--out-json", out_json,
            *extra, *self.device_flags,
        ], show=None)
        return json.loads(Path(out_json).read_text())["models"]
