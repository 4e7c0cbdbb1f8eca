"""G.722 wideband (7 kHz) for SIP phones and DECT CAT-iq handsets, through libg722.

ITU-T G.722 (09/2012) sub-band ADPCM at 64 kbit/s (mode 1), the only mode RTP uses
(RFC 3551 §4.5.2: payload type 9, advertised as `G722/8000` although it samples at 16 kHz, so the
RTP timestamp advances 160 per 20 ms frame of 320 samples). The arithmetic is not written here:
it is the PyPI package `G722` (libg722 by Sippy Software, Steve Underwood's spandsp code, public
domain / BSD-2), a C extension with wheels for x86_64 and aarch64.

Numbers met (tests/unit/media/codecs/test_g722.py): the encoder is bit-exact with spandsp's
`g722_encode` (whose own tests run the ITU-T G.722 Appendix II sequences) at 16 and 8 kHz, frame by
frame; the decoder is bit-exact wherever the output is in range, and where spandsp 0.0.6 lets an
overloaded sample wrap around, libg722 saturates it to the int16 limit. A 0 dBm0 1 kHz tone comes
back at 1 kHz, 0 dB gain, SNR ≈ 48 dB (> 20 required); a 7 kHz tone survives at 0 dB, SNR ≈ 21
dB, where the G.711 path leaves nothing. Cost ≈15 µs per 20 ms frame each way (x86_64).
Levels: a full-scale int16 sine is +3.17 dBm0 (G.711 convention); 0 dBm0 peaks at ≈22 776.

`G722Codec(SampleRate.NARROWBAND)` uses libg722's 8 kHz mode (lower sub-band only, no QMF): the
payload stays valid G.722 for the wideband end, and the narrowband side needs no resampler.
"""

from __future__ import annotations

import importlib
from array import array
from collections.abc import Callable
from typing import Protocol, cast

import numpy as np
import numpy.typing as npt

from firmware.media.codecs.codec import Encoding
from firmware.media.frame import Frame, SampleRate

PAYLOAD_TYPE = 9
CLOCK_RATE_HZ = 8000
"""RFC 3551 §4.5.2: the RTP clock of G.722 is 8000 Hz for historical reasons."""
BIT_RATE_BPS = 64000
"""G.722 mode 1, the only rate carried over RTP."""


class _LibG722(Protocol):
    """The part of `G722.G722` (one encoder and one decoder state) this module calls."""

    def encode(self, samples: npt.NDArray[np.int16], /) -> bytes: ...

    def decode(self, payload: bytes, /) -> array[int] | npt.NDArray[np.int16]:
        """`array('h')`, or an ndarray when the optional `G722-numpy` add-on is installed."""
        ...


def _load_library() -> Callable[[int, int], _LibG722]:
    # The package ships no type information; import it once, typed through `_LibG722`.
    module = importlib.import_module("G722")
    return cast(Callable[[int, int], _LibG722], module.G722)


_NEW_STATE = _load_library()


class G722Codec:
    """G.722 at 64 kbit/s for one channel: an encoder state for what we send and a decoder
    state for what we receive. Feed each direction its frames in order; give each call leg its
    own codec. `reset_decoder` when the far end's stream restarts (new SSRC).

    At `SampleRate.WIDEBAND` (default) a 20 ms frame is 320 samples → 160 octets; at
    `SampleRate.NARROWBAND` it is 160 samples → 160 octets (lower sub-band only).
    """

    __slots__ = ("_decoder", "_encoder", "_sample_rate")

    def __init__(self, sample_rate: SampleRate = SampleRate.WIDEBAND) -> None:
        self._sample_rate = sample_rate
        self._encoder = _NEW_STATE(int(sample_rate), BIT_RATE_BPS)
        self._decoder = _NEW_STATE(int(sample_rate), BIT_RATE_BPS)

    @property
    def name(self) -> Encoding:
        return Encoding.G722

    @property
    def payload_type(self) -> int:
        return PAYLOAD_TYPE

    @property
    def clock_rate_hz(self) -> int:
        return CLOCK_RATE_HZ

    @property
    def sample_rate(self) -> SampleRate:
        return self._sample_rate

    def encode(self, frame: Frame) -> bytes:
        """Octets for `frame` (int16, `(samples,)`), one per two samples at 16 kHz, one per
        sample at 8 kHz. Raises ValueError on another dtype, a 2-D frame (one state per
        channel: encode each channel with its own codec) or an odd length at 16 kHz."""
        if frame.dtype != np.int16 or frame.ndim != 1:
            raise ValueError(f"G.722 encodes one channel of int16, got {frame.dtype} {frame.shape}")
        if self._sample_rate is SampleRate.WIDEBAND and frame.shape[0] % 2:
            raise ValueError(f"G.722 at 16 kHz codes sample pairs, got {frame.shape[0]} samples")
        # libg722 reads a contiguous buffer directly; anything else would go element by element.
        return self._encoder.encode(np.ascontiguousarray(frame))

    def decode(self, payload: bytes) -> Frame:
        """A new int16 frame: two samples per octet at 16 kHz, one at 8 kHz."""
        # A view over the library's fresh buffer, which nothing else holds: no copy needed.
        return np.frombuffer(self._decoder.decode(payload), dtype=np.int16)

    def reset_decoder(self) -> None:
        """Start the receive direction from the initial (reset) state."""
        self._decoder = _NEW_STATE(int(self._sample_rate), BIT_RATE_BPS)

    def reset_encoder(self) -> None:
        """Start the send direction from the initial state."""
        self._encoder = _NEW_STATE(int(self._sample_rate), BIT_RATE_BPS)
