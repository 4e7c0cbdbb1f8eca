"""Interop tests: real SIP peers (SIPp, baresip, pyVoIP) against the PBX on loopback."""
