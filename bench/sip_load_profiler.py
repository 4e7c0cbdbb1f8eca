"""Run Switchbox under cProfile for bench/sip_load, recording only while the load runs.

    python bench/sip_load_profiler.py OUT.pstats run --config … (the `switchbox` arguments)

Started in the checkout to profile (its working directory goes first on sys.path, as with
`python -m firmware`). SIGUSR1 starts recording, SIGUSR2 stops it and writes OUT.pstats, so the
profile holds the calls, not the start-up (configuration loading dwarfs a short load run).
The file is written again at exit if recording was still on.
"""

from __future__ import annotations

import cProfile
import os
import runpy
import signal
import sys
from types import FrameType


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    profiler = cProfile.Profile()
    recording = False

    def start(signum: int, frame: FrameType | None) -> None:
        nonlocal recording
        if not recording:
            recording = True
            profiler.enable()

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal recording
        if recording:
            recording = False
            profiler.disable()
            profiler.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    sys.path.insert(0, os.getcwd())
    sys.argv = ["firmware", *args]
    try:
        runpy.run_module("firmware", run_name="__main__", alter_sys=True)
    finally:
        stop(signal.SIGUSR2, None)


if __name__ == "__main__":
    main()
