"""Telephony DSP on linear frames: detectors, generators, echo cancellation (numpy only)."""
