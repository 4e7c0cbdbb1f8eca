"""Switchbox firmware: the switching core, SIP, media, configuration and service of the PBX."""
