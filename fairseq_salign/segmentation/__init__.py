"""Splitting long recordings (whole talks) into segments a model can translate.

A voice-activity detector, chosen by name from :data:`VADS`, marks which 10-30 ms frames hold
speech (``VoiceActivityDetector.voiced_frames``); :func:`limits.segments_from_frames` turns those
frames into segments under MuST-C-like length limits (:class:`limits.SegmentLimits`). To add a
detector, subclass :class:`base.VoiceActivityDetector` in its own file and add it here.
"""
from __future__ import annotations

from typing import Dict, Type

from .base import Segment, VoiceActivityDetector, VADError
from .limits import SegmentLimits, SegmentationReport, segment_speech, segments_from_frames
from .webrtc import WebRTCVad

VADS: Dict[str, Type[VoiceActivityDetector]] = {v.name: v for v in (WebRTCVad,)}


def make_vad(name: str, **options) -> VoiceActivityDetector:
    """The detector called ``name`` with its options (``make_vad("webrtc", aggressiveness=3)``)."""
    if name not in VADS:
        raise VADError(f"unknown voice-activity detector {name!r}: choose one of {', '.join(VADS)}")
    return VADS[name](**options)


__all__ = ["VADS", "make_vad", "Segment", "SegmentLimits", "SegmentationReport",
           "VoiceActivityDetector", "VADError", "segment_speech", "segments_from_frames"]
