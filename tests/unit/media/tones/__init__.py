"""Tones, caller ID, call-progress and fax tone tests."""
