"""Talk-off: the DTMF receiver must report no digit on speech or music (Q.24's talk-off goal).

The corpus (conftest.py, corpus.py) is 7.8 minutes of espeak-ng speech in seven languages and
three voices each, and 5 minutes of sox music (chords, arpeggios and intervals in five timbres,
sweeps), each run at two levels. The last test shows the receiver is not simply deaf on that
material: digits laid over the same speech are all found.
"""

from __future__ import annotations

import numpy as np

from firmware.media.dsp.dtmf import DIGITS, DtmfReceiver, dtmf_sequence

from .conftest import digits, feed
from .corpus import Corpus

LOUDER_DB = 12.0  # -18 dBm0 speech becomes -6 dBm0 (music -15 → -3), clipping allowed


def _louder(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 10 ** (LOUDER_DB / 20)), -32768, 32767).astype(np.int16)


def _false_digits(items: dict[str, np.ndarray]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, x in items.items():
        for label, signal in (("", x), (" +12 dB", _louder(x))):
            events = feed(DtmfReceiver(), signal, frame=len(signal))  # one call: fast
            if events:
                found[name + label] = [f"{type(e).__name__} {e.digit}" for e in events]
    return found


def test_corpus_is_several_minutes_of_seven_languages(talkoff_corpus: Corpus) -> None:
    speech_s = talkoff_corpus.seconds(talkoff_corpus.speech)
    music_s = talkoff_corpus.seconds(talkoff_corpus.music)
    print(f"talk-off corpus: speech {speech_s / 60:.1f} min, music {music_s / 60:.1f} min")
    assert speech_s > 6 * 60 and music_s > 4 * 60
    languages = {name.split("-")[1].split("+")[0] for name in talkoff_corpus.speech}
    assert {"en", "ru", "de", "fr", "es", "cmn", "it"} <= languages


def test_no_false_digit_on_speech(talkoff_corpus: Corpus) -> None:
    assert _false_digits(talkoff_corpus.speech) == {}


def test_no_false_digit_on_music(talkoff_corpus: Corpus) -> None:
    assert _false_digits(talkoff_corpus.music) == {}


def test_digits_over_the_speech_are_still_found(talkoff_corpus: Corpus) -> None:
    speech = next(x for name, x in talkoff_corpus.speech.items() if name.startswith("speech-ru"))
    tones = dtmf_sequence(DIGITS * 2, on_ms=60, off_ms=100, level_dbm0=-8.0)
    bed = speech[: len(tones)].astype(np.float64) * 10 ** (-15 / 20)  # speech at -33 dBm0
    mixed = np.clip(np.rint(tones + bed), -32768, 32767).astype(np.int16)
    assert digits(feed(DtmfReceiver(), mixed)) == DIGITS * 2
