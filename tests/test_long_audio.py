"""Whole talks: salign-translate cuts a several-minute recording with WebRTC's voice-activity
detector under MuST-C-like limits and writes one timed cue per segment (SRT read back with the
``srt`` parser, WebVTT with ``webvtt-py``); the segmenter's rules on hand-made frame flags."""
import datetime
import io

import numpy as np
import soundfile as sf
from conftest import run_cli
from mustc_synth import PAIRS, voice_sentence

from fairseq_salign.segmentation import VADS, SegmentLimits, segments_from_frames
from fairseq_salign.subtitles import Cue, to_srt, to_vtt

SR = 16_000
# (silence before, sentences, pause between them); the 4th piece is one 11 s stretch of
# speech with short pauses, longer than --max-segment-seconds 8: it must be cut in two
PIECES = [(3.0, 3, 0.1), (20.0, 2, 0.1), (35.0, 4, 0.15), (12.0, 15, 0.3), (40.0, 3, 0.1),
          (25.0, 1, 0.1), (30.0, 2, 0.1)]
TAIL_S = 15.0


def _talk(rng):
    """A recording of several minutes: pieces of tone speech between long, faintly noisy
    silences; returns the audio and each piece's (start, end) in seconds."""
    parts, spans, t, k = [], [], 0.0, 0
    for silence, n_sentences, pause in PIECES:
        parts.append(np.zeros(int(silence * SR), np.float32))
        t += silence
        piece = []
        for _ in range(n_sentences):
            piece += [voice_sentence(PAIRS[k % len(PAIRS)][0], rng), np.zeros(int(pause * SR), np.float32)]
            k += 1
        piece = np.concatenate(piece[:-1])
        parts.append(piece)
        spans.append((t, t + len(piece) / SR))
        t += len(piece) / SR
    parts.append(np.zeros(int(TAIL_S * SR), np.float32))
    audio = np.concatenate(parts)
    return audio + 0.002 * rng.standard_normal(len(audio)).astype(np.float32), spans


def test_talk_becomes_timed_cues_inside_their_speech(st_checkpoint, corpus, tmp_path):
    import srt

    audio, spans = _talk(np.random.default_rng(3))
    assert len(audio) / SR > 180  # several minutes
    talk = tmp_path / "talk.wav"
    sf.write(talk, audio, SR, subtype="PCM_16")
    out = run_cli("salign-translate", [
        "--checkpoint", st_checkpoint, "--data-dir", corpus, "--beam", "2", "--max-len-b", "8",
        "--max-segment-seconds", "8", "--output-dir", tmp_path / "subs", talk])
    assert out.stdout.startswith(f"{talk}\t")
    cues = list(srt.parse((tmp_path / "subs" / "talk.srt").read_text(encoding="utf-8")))
    assert len(cues) == len(PIECES) + 1  # the long piece is cut once
    owners = []
    for cue in cues:
        start, end = cue.start.total_seconds(), cue.end.total_seconds()
        # within two 30 ms VAD frames of the piece
        inside = [i for i, (s, e) in enumerate(spans) if s - 0.06 <= start < end <= e + 0.06]
        assert len(inside) == 1, (start, end, spans)
        owners.append(inside[0])
    assert owners == [0, 1, 2, 3, 3, 4, 5, 6]
    long_piece = [c for c, o in zip(cues, owners) if o == 3]
    assert all((c.end - c.start).total_seconds() <= 8 for c in long_piece)
    lines = (tmp_path / "subs" / "talk.txt").read_text(encoding="utf-8").splitlines()
    assert lines == [" ".join(c.content.split()) for c in cues]
    assert "8 segments" in out.stderr and "1 stretches over the length limit cut" in out.stderr


def test_silent_recording_is_named_and_counted(st_checkpoint, corpus, tmp_path):
    quiet, speech = tmp_path / "quiet.wav", tmp_path / "speech.wav"
    sf.write(quiet, 0.001 * np.random.default_rng(0).standard_normal(40 * SR), SR)
    sf.write(speech, voice_sentence(PAIRS[0][0], np.random.default_rng(1)), SR)
    out = run_cli("salign-translate", ["--checkpoint", st_checkpoint, "--data-dir", corpus,
                                       "--max-seconds", "20", quiet, speech], check=False)
    assert out.returncode == 1
    assert f"{quiet}: no speech found by the webrtc voice-activity detector in 40.0 s" in out.stderr
    assert "1 of 2 files failed" in out.stderr
    assert out.stdout.startswith(f"{speech}\t")


def test_segmenter_bridges_pauses_drops_blips_and_cuts_long_stretches():
    frame = 0.03
    flags = np.zeros(1000, bool)  # 30 s
    flags[100:120] = flags[125:160] = True  # a 0.15 s pause: bridged into one segment
    flags[300:303] = True  # a 90 ms blip: dropped and counted
    flags[400:900] = True  # 15 s of speech with pauses: cut at the longest one
    flags[600:603] = False
    flags[650:662] = False  # the longest pause
    limits = SegmentLimits(max_segment_s=10.0, min_silence_s=0.5, min_speech_s=0.25, pad_s=0.2)
    segments, report = segments_from_frames(flags, frame, 30.0, limits)
    speech = [(round(s.speech_start, 2), round(s.speech_end, 2)) for s in segments]
    assert speech == [(3.0, 4.8), (12.0, 19.5), (19.86, 27.0)]
    assert report.dropped == [(9.0, 9.09)] and report.n_cut == 1
    assert [round(s.start, 2) for s in segments] == [2.8, 11.8, 19.68]  # padding stops mid-pause
    assert all(s.duration <= 10.0 for s in segments)
    assert "3 segments" in report.summary() and "1 voiced blips" in report.summary()


def test_webrtc_vad_hears_tone_speech_not_silence():
    rng = np.random.default_rng(0)
    speech = voice_sentence(PAIRS[2][0], rng)
    audio = np.concatenate([np.zeros(SR, np.float32), speech, np.zeros(SR, np.float32)])
    flags = VADS.build("webrtc").voiced_frames(audio + 0.002 * rng.standard_normal(len(audio)))
    assert len(flags) == len(audio) // 480
    voiced = np.flatnonzero(flags) * 0.03
    voiced = voiced[voiced >= 0.1]  # WebRTC flags its first frames while its noise model adapts
    assert voiced.min() >= 0.97 and voiced.max() <= 1.0 + len(speech) / SR
    assert flags.sum() * 0.03 > 0.5 * len(speech) / SR


def test_subtitle_text_survives_both_formats():
    import srt
    import webvtt

    cues = [Cue(1.5, 3.25, "Hallo <Welt> & {alle}"), Cue(3723.456, 3725.0, "zwei --> drei")]
    parsed = list(srt.parse(to_srt(cues)))
    assert [c.content for c in parsed] == [c.text for c in cues]
    assert parsed[1].start == datetime.timedelta(seconds=3723.456)
    vtt = webvtt.from_buffer(io.StringIO(to_vtt(cues)))
    assert [(c.start, c.end) for c in vtt] == [("00:00:01.500", "00:00:03.250"),
                                               ("01:02:03.456", "01:02:05.000")]
    assert vtt[0].text == "Hallo &lt;Welt&gt; &amp; {alle}"
