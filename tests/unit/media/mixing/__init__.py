"""Conference mixer, music on hold, prompts and call recording."""
