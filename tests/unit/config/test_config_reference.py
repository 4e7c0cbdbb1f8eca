"""docs/CONFIGURATION.md is generated from the schema and must not drift from it."""

from __future__ import annotations

from pathlib import Path

from firmware.config.reference import render_reference

DOC = Path(__file__).resolve().parents[3] / "docs" / "CONFIGURATION.md"


def test_committed_reference_equals_the_generated_one() -> None:
    assert DOC.read_text(encoding="utf-8") == render_reference(), (
        "docs/CONFIGURATION.md is stale: run "
        "`python -m firmware.config.reference > docs/CONFIGURATION.md`"
    )


def test_reference_names_every_section_and_setting() -> None:
    text = render_reference()
    for heading in ("## `office`", "## `sip`", "## `sip.rtp_ports`", "## `sip.registration`",
                    "## `users[]`", "## `devices[]`"):
        assert heading in text
    assert "| `min_expires_s` | integer | `60` | 10–3600; unit: s |" in text
