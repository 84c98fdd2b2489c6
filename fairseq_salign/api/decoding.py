"""Batched decoding of model inputs with the task's generators, detokenised as fairseq-generate
prints them (``D-`` lines): beam search for ST and MT, CTC best path for ASR, and both from one
encoder pass (``decode_both``)."""
from __future__ import annotations

from argparse import Namespace
from dataclasses import asdict, dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..modules.ctc_generator import CTCGreedyGenerator
from .loading import ModelError
from .one_pass import OnePassModel

MODES = ("st", "mt", "asr")


@dataclass(frozen=True)
class GenerationOptions:
    """fairseq-generate's search options, with its defaults (``--beam``, ``--max-len-a`` ...).
    ASR (CTC best path) uses none of them."""

    beam: int = 5  # beam size
    max_len_a: float = 0.0  # max output tokens = a * padded source length + b
    max_len_b: int = 200
    min_len: int = 1  # min output tokens
    lenpen: float = 1.0  # length penalty (>1 favours longer outputs)
    unkpen: float = 0.0  # unknown-word penalty
    no_repeat_ngram_size: int = 0  # forbid repeating n-grams of this size (0: off)

    def __post_init__(self) -> None:
        if self.beam < 1 or self.max_len_b < 1 or self.min_len < 0 or self.max_len_a < 0:
            raise ValueError(f"generation options must be positive: {self}")


class Decoder:
    """Model inputs (feature arrays, waveforms or token ids) -> detokenised hypotheses, batched
    by length and returned in input order."""

    def __init__(self, model, task, device: torch.device):
        if task.data_cfg.prepend_tgt_lang_tag:
            raise ModelError("multilingual configs (prepend_tgt_lang_tag) are not supported")
        self.model, self.task, self.device = model, task, device
        self.dictionary = task.target_dictionary
        self.bpe = task.build_bpe(None)
        self.tokenizer = task.build_tokenizer(None)
        self._generators: Dict = {}
        self._one_pass: Dict = {}

    # ------------------------------------------------------------ text <-> tokens
    def encode_text(self, text: str) -> torch.Tensor:
        """Source ids as the task's MT data encodes a transcript (pre-tokenizer, SentencePiece,
        the joint dictionary, EOS)."""
        if self.tokenizer is not None:
            text = self.tokenizer.encode(text)
        if self.bpe is not None:
            text = self.bpe.encode(text)
        return self.dictionary.encode_line(text, add_if_not_exist=False, append_eos=True).long()

    def _detokenize(self, tokens: torch.Tensor, strip: set) -> str:
        text = self.dictionary.string(tokens.int().cpu(), extra_symbols_to_ignore=strip)
        if self.bpe is not None:
            text = self.bpe.decode(text)
        if self.tokenizer is not None:
            text = self.tokenizer.decode(text)
        return text

    # ------------------------------------------------------------ generation
    def _generator(self, mode: str, options: GenerationOptions):
        key = (mode == "asr", options)
        if key not in self._generators:
            if mode == "asr":
                self._generators[key] = CTCGreedyGenerator(self.dictionary)
            else:
                args = Namespace(**asdict(options), prefix_size=0)
                self._generators[key] = self.task.build_generator([self.model], args)
        return self._generators[key]

    def _collate(self, items: List[torch.Tensor]) -> Dict:
        lengths = torch.tensor([len(x) for x in items])
        if items[0].is_floating_point():  # speech: zero padding, as fairseq's S2T collater
            batch = items[0].new_zeros((len(items), int(lengths.max()), *items[0].shape[1:]))
        else:  # tokens: right padding, as the task's MT data
            batch = items[0].new_full((len(items), int(lengths.max())), self.dictionary.pad())
        for i, x in enumerate(items):
            batch[i, : len(x)] = x
        return {
            "id": torch.arange(len(items)),
            "net_input": {"src_tokens": batch.to(self.device), "src_lengths": lengths.to(self.device)},
        }

    def _batches(self, tensors: List[torch.Tensor], batch_size: int,
                 max_tokens: Optional[int]) -> List[List[int]]:
        """Indices of ``tensors`` in batches of at most ``batch_size`` items and, if given,
        ``max_tokens`` padded frames / samples / tokens, longest first (as fairseq sorts)."""
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        order = sorted(range(len(tensors)), key=lambda i: -len(tensors[i]))
        batches, current = [], []
        for i in order:
            longest = len(tensors[current[0]]) if current else len(tensors[i])
            if current and (len(current) == batch_size
                            or (max_tokens and longest * (len(current) + 1) > max_tokens)):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    @staticmethod
    def _tensors(inputs: Sequence) -> List[torch.Tensor]:
        return [x if torch.is_tensor(x) else torch.from_numpy(np.ascontiguousarray(x)).float()
                for x in inputs]

    @torch.no_grad()
    def decode(
        self,
        inputs: Sequence,
        mode: str,
        options: Optional[GenerationOptions] = None,
        batch_size: int = 16,
        max_tokens: Optional[int] = None,
        progress: Optional[Callable[[Iterable], Iterable]] = None,
    ) -> List[str]:
        """Hypotheses for ``inputs`` (numpy feature/waveform arrays, or 1-D token-id tensors), in
        input order. Batches hold at most ``batch_size`` items and, if given, ``max_tokens``
        padded frames / samples / tokens; items are sorted by length first, as fairseq does."""
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: choose one of {', '.join(MODES)}")
        generator = self._generator(mode, options or GenerationOptions())
        strip = getattr(generator, "symbols_to_strip_from_output", {self.dictionary.eos()})
        tensors = self._tensors(inputs)
        out: List[Optional[str]] = [None] * len(tensors)
        for batch in (progress or (lambda b: b))(self._batches(tensors, batch_size, max_tokens)):
            sample = self._collate([tensors[i] for i in batch])
            hypos = self.task.inference_step(generator, [self.model], sample)
            for i, nbest in zip(batch, hypos):
                out[i] = self._detokenize(nbest[0]["tokens"], strip)
        return out

    @torch.no_grad()
    def decode_both(
        self,
        inputs: Sequence,
        options: Optional[GenerationOptions] = None,
        batch_size: int = 16,
        max_tokens: Optional[int] = None,
        progress: Optional[Callable[[Iterable], Iterable]] = None,
    ) -> List[Tuple[str, str]]:
        """``(transcript, translation)`` per speech input, in input order, from one encoder pass
        per batch: the CTC best path of the acoustic encoder's head and the beam search over the
        textual encoder's output, each equal to what ``decode`` gives in ``asr`` / ``st`` mode."""
        options = options or GenerationOptions()
        if options not in self._one_pass:
            model = OnePassModel(self.model)
            args = Namespace(**asdict(options), prefix_size=0)
            self._one_pass[options] = (model, self.task.build_generator([model], args))
        model, beam = self._one_pass[options]
        ctc = self._generator("asr", options)
        tensors = self._tensors(inputs)
        if tensors and not tensors[0].is_floating_point():
            raise ValueError("transcript and translation need speech inputs, not token ids")
        out: List[Optional[Tuple[str, str]]] = [None] * len(tensors)
        for batch in (progress or (lambda b: b))(self._batches(tensors, batch_size, max_tokens)):
            sample = self._collate([tensors[i] for i in batch])
            try:
                encoder_out = model.encode(sample["net_input"])
                transcripts = ctc.from_encoder_outs([encoder_out])
                translations = self.task.inference_step(beam, [model], sample)
            finally:
                model.release()
            for i, asr, st in zip(batch, transcripts, translations):
                out[i] = (self._detokenize(asr[0]["tokens"], ctc.symbols_to_strip_from_output),
                          self._detokenize(st[0]["tokens"], beam.symbols_to_strip_from_output))
        return out
