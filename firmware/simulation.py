"""What the simulated board needs from the firmware, and the console that drives it.

hal may not import firmware, so the simulated exchange cannot encode caller ID and the
simulated phones cannot decode it by themselves: the composition root injects the media
engine's caller-ID modem (`wire`). The console is the installer's rehearsal surface until the
web page exists: `switchbox run --console` reads one command per line on stdin —

    phone 1 lift | hangup | flash | dial 201 [pulse] | status
    line 1 ring +74951234567 | line 1 hangup | line 1 status
    relay 1 status | input 1 press | input 1 release
    board                      (every device and its state)

— and answers each on stdout. Unknown or malformed commands get one line saying what is
accepted; nothing a user types can stop the service.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from collections.abc import Callable, Sequence
from typing import IO

import numpy as np

from firmware.media.dsp.callerid import CallerId, CallerIdDecoder, encode_mdmf, fsk_audio
from firmware.media.dsp.fsk import FskStandard
from firmware.media.frame import Frame, samples_per_frame
from hal.board import Board
from hal.sim.board import SimBoard

log = logging.getLogger(__name__)


def encode_caller_id(number: str, standard: FskStandard = FskStandard.V23) -> list[Frame]:
    """The frames a simulated exchange sends for `number` (MDMF, ETSI V.23 by default)."""
    audio = fsk_audio(encode_mdmf(CallerId(number=number)), standard)
    n = samples_per_frame()
    padded = np.zeros(-(-audio.size // n) * n, dtype=np.int16)
    padded[: audio.size] = audio
    return [padded[i : i + n] for i in range(0, padded.size, n)]


def decode_caller_id(frames: Sequence[Frame]) -> str | None:
    """The number in caller-ID frames a simulated phone heard on hook, or None."""
    if not frames:
        return None
    for received in CallerIdDecoder().process(np.concatenate(list(frames))):
        number = getattr(received.message, "number", None)
        if number:
            return str(number)
    return None


def wire(board: Board) -> SimBoard | None:
    """If every device of `board` is simulated, give its exchange and phones the caller-ID
    modem and return it with the sim accessors; None for a real board."""
    if any(entry.driver != "sim" for entry in board.description.entries):
        return None
    sim = SimBoard.wrap(board)
    if sim.fxo_ports:
        sim.office.caller_id_encoder = encode_caller_id
    for port in sim.fxs_ports:
        port.phone.caller_id_decoder = decode_caller_id
    return sim


_USAGE = ("commands: phone N lift|hangup|flash|status|dial DIGITS [pulse]; "
          "line N ring NUMBER|hangup|status; relay N status; input N press|release; board")


class Console:
    """Executes console commands against a simulated board; `run` serves a stream."""

    def __init__(self, board: SimBoard) -> None:
        self._board = board

    async def execute(self, line: str) -> str:
        """One command → its answer (one line). Never raises for what a user typed."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            return f"error: {exc}"
        if not words:
            return ""
        try:
            return await self._dispatch(words)
        except (IndexError, ValueError, KeyError, RuntimeError) as exc:
            return f"error: {exc}; {_USAGE}"

    async def _dispatch(self, words: list[str]) -> str:
        board = self._board
        match words:
            case ["board"]:
                return "; ".join(
                    f"{d.name}: {'in service' if d.status.in_service else d.status.reason}"
                    for d in board.devices)
            case ["phone", n, "lift"]:
                board.phone(int(n)).lift()
                return f"phone {n} off hook"
            case ["phone", n, "hangup"]:
                board.phone(int(n)).hang_up()
                return f"phone {n} on hook"
            case ["phone", n, "flash"]:
                board.phone(int(n)).flash()
                return f"phone {n} flashed"
            case ["phone", n, "dial", digits, *rest] if rest in ([], ["pulse"]):
                board.phone(int(n)).dial(digits, pulse=bool(rest))
                return f"phone {n} dialled {digits}{' by pulses' if rest else ''}"
            case ["phone", n, "status"]:
                phone = board.phone(int(n))
                return (f"phone {n}: handset {'up' if phone.lifted else 'down'}, the box "
                        f"sees {'off' if phone.port.off_hook else 'on'} hook, "
                        f"{'ringing' if phone.is_ringing else 'not ringing'}, "
                        f"caller id {phone.caller_id or '-'}")
            case ["line", n, "ring", number]:
                await board.office.ring_line(int(n), cli=number)
                return f"line {n} rings from {number}"
            case ["line", n, "hangup"]:
                board.office.hang_up(int(n))
                return f"line {n}: the far end hung up"
            case ["line", n, "status"]:
                port = board.fxo(int(n))
                return f"line {n}: {port.status.reason or 'in service'}"
            case ["relay", n, "status"]:
                relay = board.relay(int(n))
                return f"relay {n}: {'on' if relay.is_on else 'off'}"
            case ["input", n, "press" | "release" as action]:
                contact = board.contact(int(n))
                if action == "press":
                    contact.press()
                else:
                    contact.release()
                return f"input {n} {action.removesuffix('e')}ed"
        raise ValueError(f"unknown command {' '.join(words)!r}")

    async def run(self, lines: asyncio.StreamReader, out: IO[str]) -> None:
        """Answer commands from `lines` until end of input."""
        while raw := await lines.readline():
            answer = await self.execute(raw.decode(errors="replace").strip())
            if answer:
                out.write(answer + "\n")
                out.flush()


ConsoleFactory = Callable[[SimBoard], Console]
