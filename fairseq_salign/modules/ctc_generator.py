"""ASR inference for fairseq-generate: best-path decoding of the acoustic encoder's CTC head."""
from typing import Dict, List

import torch
import torch.nn.functional as F

from .ctc import best_path_emissions


class CTCGreedyGenerator:
    """Quacks like fairseq's SequenceGenerator for ``task.inference_step``.

    Several models (an ensemble) are combined by averaging their CTC log-probabilities. A
    hypothesis' ``score`` is the best path's mean log-probability per frame; each token's
    positional score is the log-probability of the frame that emitted it.
    """

    def __init__(self, dictionary):
        self.blank = dictionary.bos()
        self.eos = dictionary.eos()
        self.symbols_to_strip_from_output = {self.eos}

    @torch.no_grad()
    def generate(self, models, sample, **unused) -> List[List[Dict[str, torch.Tensor]]]:
        net_input = sample["net_input"]
        return self.from_encoder_outs(
            [model.encoder(net_input["src_tokens"], net_input["src_lengths"]) for model in models])

    @torch.no_grad()
    def from_encoder_outs(self, encoder_outs: List[Dict]) -> List[List[Dict[str, torch.Tensor]]]:
        """Hypotheses from encoder outputs already computed (one per model): the transcript half
        of a one-pass transcript + translation run."""
        lprobs, padding_mask = None, None
        for out in encoder_outs:
            if "ctc_logits" not in out:
                raise ValueError("--infer-mode asr needs speech input (B x T x F features)")
            lp = F.log_softmax(out["ctc_logits"][0].float(), dim=-1)
            lprobs = lp if lprobs is None else lprobs + lp
            padding_mask = out["ctc_padding_mask"][0]
        lprobs = lprobs / len(encoder_outs)  # T x B x V
        best_lp, best = lprobs.max(dim=-1)
        lengths = (~padding_mask).sum(dim=1)
        results = []
        for b in range(best.size(1)):
            length = int(lengths[b])
            path, path_lp = best[:length, b], best_lp[:length, b]
            emits = best_path_emissions(path, self.blank)
            tokens = path[emits]
            eos = tokens.new_full((1,), self.eos)
            results.append(
                [
                    {
                        "tokens": torch.cat([tokens, eos]),
                        "score": path_lp.sum() / max(length, 1),
                        "positional_scores": torch.cat([path_lp[emits], path_lp.new_zeros(1)]),
                        "alignment": None,
                    }
                ]
            )
        return results
