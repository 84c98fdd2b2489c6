"""Synthetic inputs of MuST-C shape for the benchmarks: a minimal data directory and batches.

The same random "utterances" can be given as 80-dim fbank frames or as 16 kHz waveforms of the
same duration (160 samples per 10 ms frame), so front ends are compared at an equal batch of
audio with identical targets and transcripts.
"""
from __future__ import annotations

from pathlib import Path

VOCAB_SIZE = 8000  # the MuST-C recipe's spm_unigram8000
FEATURES = 80
SAMPLES_PER_FRAME = 160


def write_data_dir(root: Path) -> None:
    """The smallest directory fairseq's speech-to-text tasks accept: config + dictionary."""
    with open(root / "dict.txt", "w") as f:
        for i in range(VOCAB_SIZE - 4):  # fairseq adds <s> <pad> </s> <unk>
            f.write(f"tok{i} 1\n")
    (root / "config_st.yaml").write_text(
        f"input_feat_per_channel: {FEATURES}\ninput_channels: 1\nvocab_filename: dict.txt\n"
    )


def make_batches(n_batches: int, batch_size: int, seed: int) -> list:
    """Random fbank-like features of MuST-C length and random tokens, collated as fairseq's
    joint speech/text dataset does (targets end in </s>, prev_output_tokens start with it)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    pad, eos, first = 1, 2, 4
    batches = []

    def tokens(lengths):
        out = torch.full((len(lengths), max(lengths)), pad, dtype=torch.long)
        for i, n in enumerate(lengths):
            out[i, : n - 1] = torch.randint(first, VOCAB_SIZE, (n - 1,), generator=g)
            out[i, n - 1] = eos
        return out

    def lengths(lo, hi):
        return sorted((int(x) for x in torch.randint(lo, hi + 1, (batch_size,), generator=g)),
                      reverse=True)

    for b in range(n_batches):
        frames = lengths(480, 720)  # 4.8-7.2 s, MuST-C's typical segment
        feats = torch.zeros(batch_size, frames[0], FEATURES)
        for i, n in enumerate(frames):
            feats[i, :n] = torch.randn(n, FEATURES, generator=g)
        tgt_len = [n // 20 for n in frames]  # ~30 target pieces per 6 s
        src_len = [n // 24 for n in frames]  # ~25 transcript pieces
        target = tokens(tgt_len)
        prev = torch.full_like(target, pad)
        for i, n in enumerate(tgt_len):
            prev[i, 0] = eos
            prev[i, 1:n] = target[i, : n - 1]
        batches.append({
            "id": torch.arange(b * batch_size, (b + 1) * batch_size),
            "net_input": {
                "src_tokens": feats,
                "src_lengths": torch.tensor(frames),
                "prev_output_tokens": prev,
                "src_txt_tokens": tokens(src_len),
                "src_txt_lengths": torch.tensor(src_len),
            },
            "target": target,
            "target_lengths": torch.tensor(tgt_len),
            "ntokens": sum(tgt_len),
            "nsentences": batch_size,
        })
    return batches




def write_waveform_data_dir(root: Path) -> None:
    """The same, for waveform input (what ``--features waveform`` writes)."""
    root.mkdir(parents=True, exist_ok=True)
    write_data_dir(root)
    (root / "config_st.yaml").write_text(
        "input_feat_per_channel: 1\ninput_channels: 1\nvocab_filename: dict.txt\n"
        "use_audio_input: true\nuse_sample_rate: 16000\nstandardize_audio: false\n"
    )


def as_waveform_batches(batches: list, seed: int) -> list:
    """``batches`` with each utterance's frames replaced by random audio of the same duration."""
    import torch

    g = torch.Generator().manual_seed(seed)
    out = []
    for b in batches:
        frames = b["net_input"]["src_lengths"]
        samples = frames * SAMPLES_PER_FRAME
        wave = torch.zeros(len(samples), int(samples.max()))
        for i, n in enumerate(samples.tolist()):
            wave[i, :n] = 0.1 * torch.randn(n, generator=g)
        out.append({**b, "net_input": {**b["net_input"], "src_tokens": wave, "src_lengths": samples}})
    return out
