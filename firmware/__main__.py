"""`python -m firmware` is the `switchbox` command."""

from __future__ import annotations

from firmware.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
