"""Splitting long recordings (whole talks) into segments a model can translate.

A voice-activity detector, built by name from the registry :data:`VADS`, marks which 10-30 ms frames hold
speech (``VoiceActivityDetector.voiced_frames``); :func:`limits.segments_from_frames` turns those
frames into segments under MuST-C-like length limits (:class:`limits.SegmentLimits`). To add a
detector, subclass :class:`base.VoiceActivityDetector` in its own file and register it here.
"""
from __future__ import annotations

from ..registry import Registry
from .base import Segment, VoiceActivityDetector, VADError
from .limits import SegmentLimits, SegmentationReport, segment_speech, segments_from_frames
from .webrtc import WebRTCVad

# ``VADS.build("webrtc", aggressiveness=3)``
VADS: Registry[VoiceActivityDetector] = Registry("voice-activity detector", "--vad", VADError)
VADS.register(WebRTCVad.name, WebRTCVad)

__all__ = ["VADS", "Segment", "SegmentLimits", "SegmentationReport",
           "VoiceActivityDetector", "VADError", "segment_speech", "segments_from_frames"]
