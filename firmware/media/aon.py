"""Russian AON (АОН, «автоматическое определение номера»): the caller's category and number,
sent by the exchange in "two out of six" MF after the called side answers and asks with 500 Hz.

Still met on analog lines from older Russian exchanges; the box's FXO ports ask for it and
the simulated exchange answers with it. This module is the protocol only (no samples): the
frame codec and `AonRequester`, the sans-I/O state machine of the asking side. The tones are in
`firmware/media/dsp/mf.py` (`MfReceiver`, `mf_sequence`, `request_tone`).

What the sources say, and what this module does:

* Signals: MF "2 из 6" at 700–1700 Hz, 40 ± 2 ms each, sent without pauses ("безынтервальный
  пакет"); digits as in R1; «Начало» (start, 1100+1700 Hz, R1 KP) marks the beginning and end
  of a frame; «Повтор» (repeat, 1300+1700 Hz, R1 ST'') replaces a signal equal to the one
  before it, because two equal signals without a pause cannot be told apart. [1]
* Request: 500 Hz, 495–505 Hz, about 100 ms, sent 250–275 ms after answer [2]; modems sent
  100–200 ms of it 200–250 ms after answer and listened for the packet [3]. A toll exchange
  receives the packet while still sending its 500 Hz and needs at least 10 combinations of it
  (start, category, seven digits, start) [4]. Hence `RequestToneDetector`/`MfReceiver` ignore
  500 Hz, and `decode_packet` needs a frame closed by the next start.
* Frame: start, the category (1–10; 10 is sent as the 0 signal), then the seven digits of the
  number, last digit first. The scheme cannot carry more than seven digits [5].
  The digit order is the one hobbyist AON decoders use; none of the sources retrieved here
  states it explicitly, so it is one constant (`DIGITS_LAST_FIRST`) if a line proves it wrong.
* The exchange repeats the frame while the request lasts; `encode_packet` sends it
  `repetitions` times (2 by default) and closes with a start.

[1] «Библия хакера», «Выдача номера и категории телефона вызывающего абонента»
    (msd.com.ua/bibliya-xakera/vydacha-nomera-i-kategorii-telefona-vyzyvayushhego-abonenta).
[2] cxem.net, as summarised in ya.ru/neurum (…/kak_rabotaet_tehnologiya_raspoznavaniya_nomerov).
[3] Advanced Call Center help, "Russian Caller ID (RCID)" (RUSSCID.TXT, TAP/YIPL archive).
[4] Правила применения оборудования … Часть VIII (междугородные станции с ОКС № 7),
    таблица 11 (docs.cntd.ru/document/902121298).
[5] MGTS notice quoted on qipu.ru: Russian AON "в принципе не может предоставить более 7 цифр".
Categories: the table "Расшифровка категории абонента" (m.tululu.org/bread_16489_13.xhtml).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

log = logging.getLogger(__name__)

START: Final = "KP"
"""«Начало»: 1100+1700 Hz, the MF signal `MfSignal.KP`."""
REPEAT: Final = "ST2P"
"""«Повтор»: 1300+1700 Hz, the MF signal `MfSignal.ST2P`."""
NUMBER_DIGITS: Final = 7
DIGITS_LAST_FIRST: Final = True
"""The number's digits are sent from the last to the first (see the module docstring)."""
SIGNAL_MS: Final = 40
"""Duration of each signal; no pauses between them."""
REQUEST_HZ: Final = 500
REQUEST_DELAY_S: Final = 0.25
"""From answer to the request: 250–275 ms [2], 200–250 ms [3]."""
REQUEST_S: Final = 0.1
LISTEN_S: Final = 1.2
"""How long after the request starts the asking side listens (two frames take 0.76 s)."""

_DIGITS: Final = frozenset("0123456789")


class AonCategory(IntEnum):
    """Caller categories 1–10 (category 10 travels as the 0 signal)."""

    ORDINARY = 1
    """Flats and offices with long-distance access."""
    HOTEL = 2
    """Immediate payment of long-distance calls."""
    LOCAL_ONLY = 3
    """No long-distance access."""
    PRIORITY = 4
    """Priority long-distance access (state institutions)."""
    FREE = 5
    """Long-distance calls recorded but not charged."""
    TOLL_PAYPHONE = 6
    """Long-distance payphone."""
    PRIORITY_ENQUIRIES = 7
    """Priority access to the long-distance enquiry service."""
    PRIORITY_BOTH = 8
    """The rights of categories 4 and 7."""
    LOCAL_PAYPHONE = 9
    """City payphone."""
    GOVERNMENT = 10
    """Holders of the highest state offices."""


class AonError(ValueError):
    """A symbol sequence that carries no usable AON frame; `reason` is stable text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AonCallerId:
    """What an AON packet says: `number` is the seven digits in dialling order."""

    category: AonCategory
    number: str
    frames: int = 1
    """How many complete frames agreed."""


def _category_signal(category: AonCategory | int) -> str:
    value = int(category)
    if not 1 <= value <= 10:
        raise AonError("category must be 1 to 10")
    return "0" if value == 10 else str(value)


def encode_packet(category: AonCategory | int, number: str, repetitions: int = 2) -> list[str]:
    """The MF signals an exchange sends for `category` and the seven-digit `number`.

    `repetitions` frames, each opened by `START`, and a closing `START`; every signal equal to
    the one just sent becomes `REPEAT` (three equal digits go as digit, repeat, digit).
    Raises `AonError` for a number that is not seven digits, a category outside 1–10 or
    fewer than one repetition.
    """
    if len(number) != NUMBER_DIGITS or not set(number) <= _DIGITS:
        raise AonError("number must be seven digits")
    if repetitions < 1:
        raise AonError("at least one frame")
    digits = number[::-1] if DIGITS_LAST_FIRST else number
    frame = [START, _category_signal(category), *digits]
    plain = frame * repetitions + [START]
    out: list[str] = []
    for sig in plain:
        # Compare with what went on the line: 4 4 4 goes as 4, repeat, 4.
        out.append(REPEAT if out and sig == out[-1] else sig)
    return out


def _expand(symbols: Iterable[str]) -> list[str]:
    """Replace each `REPEAT` by the signal it repeats. A repeat with nothing (or a start)
    before it cannot be resolved and becomes '?', which spoils only its own frame."""
    out: list[str] = []
    for sig in symbols:
        if sig == REPEAT:
            out.append(out[-1] if out and out[-1] not in (START, "?") else "?")
        else:
            out.append(sig)
    return out


def decode_packet(symbols: Iterable[str]) -> AonCallerId:
    """The caller's category and number from MF signals in the order received.

    Reception may begin anywhere in the packet: only frames closed by the next start count.
    When frames differ (a corrupted signal), the value held by the most frames wins if no
    other value has as many. Raises `AonError` if there is no complete frame or no majority.
    """
    seq = _expand(symbols)
    starts = [i for i, sig in enumerate(seq) if sig == START]
    frames: list[tuple[str, ...]] = []
    for a, b in zip(starts, starts[1:], strict=False):
        body = seq[a + 1 : b]
        if len(body) == 1 + NUMBER_DIGITS and set(body) <= _DIGITS:
            frames.append(tuple(body))
    if not frames:
        raise AonError("no complete frame")
    ranked = Counter(frames).most_common()
    best, votes = ranked[0]
    if len(ranked) > 1 and ranked[1][1] == votes:
        raise AonError("frames disagree")
    category = AonCategory(10 if best[0] == "0" else int(best[0]))
    digits = "".join(best[1:])
    number = digits[::-1] if DIGITS_LAST_FIRST else digits
    return AonCallerId(category, number, votes)


@dataclass(frozen=True, slots=True)
class PlayRequestTone:
    """Command: send 500 Hz on the line for `duration_ms`, now."""

    duration_ms: int


@dataclass(frozen=True, slots=True)
class AonReceived:
    """The exchange sent the caller's identity."""

    caller: AonCallerId
    at: float


@dataclass(frozen=True, slots=True)
class AonFailed:
    """No usable packet before the listening time ran out; `reason` is stable text."""

    reason: str
    at: float


AonEvent = PlayRequestTone | AonReceived | AonFailed


class AonRequester:
    """The asking side of AON on one answered FXO line. Pure: the caller supplies `now`.

    Created at answer; at `now + request_delay_s` it asks for the request tone, then collects
    the MF signals the receiver reports (`signal_received`) until two frames agree (answer at
    once) or `listen_s` after the request, when it decodes what it has. One result event, then
    nothing more. While it runs the line should stay muted towards the caller.
    """

    def __init__(
        self,
        now: float,
        request_delay_s: float = REQUEST_DELAY_S,
        request_s: float = REQUEST_S,
        listen_s: float = LISTEN_S,
    ) -> None:
        self._request_at = now + request_delay_s
        self._request_ms = round(request_s * 1000)
        self._give_up_at = self._request_at + listen_s
        self._requested = False
        self._done = False
        self._symbols: list[str] = []
        self._events: list[AonEvent] = []

    @property
    def done(self) -> bool:
        """A result event has been produced."""
        return self._done

    def next_deadline(self) -> float | None:
        """When `handle_timers` must next run, or None once done."""
        if self._done:
            return None
        return self._give_up_at if self._requested else self._request_at

    def handle_timers(self, now: float) -> None:
        """Ask for the request tone, or give up, when due."""
        if self._done:
            return
        if not self._requested and now >= self._request_at:
            self._requested = True
            self._events.append(PlayRequestTone(self._request_ms))
        if self._requested and now >= self._give_up_at:
            self._finish(now, final=True)

    def signal_received(self, signal: str, now: float) -> None:
        """An MF signal (`MfDetected.signal`) was confirmed on the line."""
        if self._done or not self._requested:
            return
        self._symbols.append(str(signal))
        if signal == START:
            self._finish(now, final=False)

    def next_event(self) -> AonEvent | None:
        """The next command or result, oldest first."""
        return self._events.pop(0) if self._events else None

    def _finish(self, now: float, final: bool) -> None:
        try:
            caller = decode_packet(self._symbols)
        except AonError as exc:
            if final:
                self._done = True
                self._events.append(AonFailed(exc.reason, now))
            return
        if caller.frames >= 2 or final:
            self._done = True
            log.debug("AON category %d number %r", caller.category, caller.number)
            self._events.append(AonReceived(caller, now))
