"""Fresh SIP identifiers: Via branches, From/To tags and Call-IDs (RFC 3261 §8.1.1.4, §8.1.1.7,
§19.3).

Pure. Each value carries at least 64 bits from the OS CSPRNG (`os.urandom`): a branch must be
unique across space and time (§8.1.1.7), a tag and a Call-ID must be globally unique and not
guessable (§19.3; a guessable tag lets a third party inject BYE into a call). `os.urandom(n).hex()`
costs about 0.3 µs, so these are cheap enough to call per message.
"""

from __future__ import annotations

import os

from firmware.sip.headers import BRANCH_MAGIC

BRANCH_RANDOM_BYTES = 10
"""80 random bits after the magic cookie (§8.1.1.7 asks for uniqueness, we give ≥ 64 bits)."""
TAG_RANDOM_BYTES = 8
"""64 random bits (§19.3: at least 32 bits of randomness)."""
CALL_ID_RANDOM_BYTES = 16
"""128 random bits, so that the Call-ID alone is unique even without the host part."""


def new_branch() -> str:
    """A fresh Via branch: `z9hG4bK` followed by 20 hex digits (80 random bits)."""
    return BRANCH_MAGIC + os.urandom(BRANCH_RANDOM_BYTES).hex()


def new_tag() -> str:
    """A fresh From/To tag: 16 hex digits (64 random bits)."""
    return os.urandom(TAG_RANDOM_BYTES).hex()


def new_call_id(host: str) -> str:
    """A fresh Call-ID `<32 hex digits>@host` (§8.1.1.4); `host` is ours, e.g. the box's IP."""
    return f"{os.urandom(CALL_ID_RANDOM_BYTES).hex()}@{host}"


__all__ = ["new_branch", "new_call_id", "new_tag"]
