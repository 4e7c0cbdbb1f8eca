"""A pyVoIP 1.6.8 phone as a separate process, so its threads can never outlive a test.

pyVoIP runs non-daemon `threading.Timer`s (registration refresh, receive loop, call callbacks);
one stuck in the test process would keep pytest from exiting. Here the phone lives in its own
interpreter, reports on stdout one word per line (`registered`, `incoming`, `answered`, `ended`,
`failed <reason>`), answers the first call, and leaves with `os._exit` within `--max-s`.

    python pyvoip_phone.py --server 127.0.0.1 --port 5070 --user 202 --password … \
        --sip-port 40000 --rtp-low 41000 --rtp-high 41019 [--max-s 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

from pyVoIP.VoIP import CallState, InvalidStateError, PhoneStatus, VoIPCall, VoIPPhone

# One PCMU frame of silence (0xFF is μ-law zero), sent while the call is up.
SILENCE_20MS = b"\xff" * 160


def say(*words: object) -> None:
    sys.stdout.write(" ".join(str(word) for word in words) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--sip-port", type=int, required=True)
    parser.add_argument("--rtp-low", type=int, required=True)
    parser.add_argument("--rtp-high", type=int, required=True)
    parser.add_argument("--max-s", type=float, default=20.0)
    args = parser.parse_args()

    done = threading.Event()

    def on_call(call: VoIPCall) -> None:
        say("incoming")
        try:
            call.answer()
            say("answered")
            deadline = time.monotonic() + args.max_s
            # pyVoIP has no end-of-call event: its state is the only signal.
            while call.state == CallState.ANSWERED and time.monotonic() < deadline:
                call.write_audio(SILENCE_20MS)
                time.sleep(0.02)
            say("ended" if call.state == CallState.ENDED else f"failed state={call.state}")
        except InvalidStateError as exc:
            say("failed", repr(exc))
        finally:
            done.set()

    phone = VoIPPhone(
        args.server,
        args.port,
        args.user,
        args.password,
        myIP="127.0.0.1",
        callCallback=on_call,
        sipPort=args.sip_port,
        rtpPortLow=args.rtp_low,
        rtpPortHigh=args.rtp_high,
    )
    # Registration and de-registration wait this long for an answer (pyVoIP default: 30 s).
    phone.sip.register_timeout = 3
    watchdog = threading.Timer(args.max_s, lambda: (say("failed timeout"), os._exit(3)))
    watchdog.daemon = True
    watchdog.start()
    try:
        phone.start()
    except Exception as exc:  # noqa: BLE001 - pyVoIP raises bare Exceptions; report any
        say("failed register", repr(exc))
        os._exit(2)
    if phone.get_status() != PhoneStatus.REGISTERED:
        say("failed status", phone.get_status())
        os._exit(2)
    say("registered")
    done.wait(timeout=args.max_s)
    try:
        phone.stop()
    finally:
        os._exit(0)


if __name__ == "__main__":
    main()
