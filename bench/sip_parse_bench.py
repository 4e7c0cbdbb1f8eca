"""Parse time of typical SIP messages (firmware.sip.message.parse_message).

Run: .venv/bin/python bench/sip_parse_bench.py   (min of 150 runs × 1000 parses each)
"""

from __future__ import annotations

import timeit
from pathlib import Path

from firmware.sip.message import parse_message

DATA = Path(__file__).parents[1] / "tests" / "data" / "sip" / "messages"
CASES = {
    "INVITE, 14 headers + Authorization, SDP (yealink_invite_auth)": "yealink_invite_auth.sip",
    "200 OK, 12 headers (yealink_200_ok)": "yealink_200_ok.sip",
    "REGISTER with Authorization (polycom_register)": "polycom_register.sip",
    "180 with 2 Via + 2 Record-Route in lists (multi_via_record_route)":
        "multi_via_record_route.sip",
}


def main() -> None:
    for label, name in CASES.items():
        data = (DATA / name).read_bytes()
        best = min(timeit.repeat(lambda d=data: parse_message(d), number=1000, repeat=150))
        print(f"{best / 1000 * 1e6:6.2f} µs  {len(data):5d} B  {label}")


if __name__ == "__main__":
    main()
