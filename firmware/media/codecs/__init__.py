"""Codecs: G.711 and G.722 between RTP payloads and linear frames."""
