"""Line (hybrid) echo canceller after ITU-T G.168, for many analog ports as one array operation.

The 2-wire/4-wire hybrid of an FXS or FXO port returns part of what we send (`far_end`) into what
the line sends us (`near_end`): 6–20 dB down (the echo return loss, ERL), after a bulk delay and
spread over a few milliseconds. We model that path as a FIR filter of `tail_ms` (32 ms = 256 taps
at 8 kHz) and subtract its estimate.

Design. libspeexdsp's MDF canceller (BSD, Debian libspeexdsp1) cancels as well, but is a C call
per port and frame through a binding we would have to write (the PyPI ones are unmaintained or
not freely licensed) and breaks the numpy-only rule for DSP; at 32 ports it costs about what this
does (bench/echo_bench.py --speex). This module:

- A frequency-domain NLMS filter (FLMS: overlap-save, gradient-constrained to `taps`) whose block
  is the 20 ms frame, so it adds no delay, and every port is one row of the same FFT calls. The
  far-end power per bin normalises the step, so coloured speech converges about as fast as noise.
- The step follows the residual-echo-to-error ratio (J.-M. Valin, "On adjusting the learning rate
  in frequency domain echo cancellation with double-talk", IEEE TASLP 15(3), 2007): the residual
  echo is the echo estimate times a leakage factor found by regressing the error spectrum on the
  echo-estimate spectrum. Near-end speech raises the error, not the residual, so the step falls
  during double talk; an echo path change raises the leakage, so the step rises again. A bin that
  has not learnt yet (call start, or only a tone so far) takes a fixed step instead.
- A Geigel detector freezes adaptation outright on loud double talk, with a hangover. Its
  threshold is 3 dB above G.168's classic 0.5 (which assumes ERL ≥ 6 dB), because the echo of a
  dispersive 6 dB hybrid can peak above half the far-end peak; quieter near-end speech is left to
  the variable step.
- Two filters: the background one adapts, the foreground one produces the output, and the
  background is copied over only when it cancels significantly better (and reset from the
  foreground when it goes astray), so undetected double talk never reaches the output filter.
- An optional non-linear processor (NLP) replaces the residual echo by comfort noise at the
  line's background level in far-end single talk.

Figures (tests/unit/media/echo; synthetic hybrid echo paths of 0–20 ms bulk delay and 6–20 dB
ERL, near end through G.711 µ-law (sox) like the SLIC codec, −65 dBm0 line noise, espeak-ng speech
in four languages at −18 dBm0, white and pink noise): linear ERLE 31–36 dB after convergence (the
µ-law noise alone caps it near 36 dB); 20 dB reached in 0.1 s on noise, 0.4–1.2 s on speech;
during 4 s of double talk ERLE stays 26–32 dB, near-end speech comes through 31–37 dB above the
distortion (NLP off; ≈ 22 dB with it), and ERLE afterwards is unchanged; an echo path change is
back to 20 dB in 1.8 s. CPU (bench/echo_bench.py, 2-core EPYC VM): ≈ 26 µs per channel-frame
at 32 channels (≈ 0.4 % of a Raspberry Pi 4 core per channel, taking the Pi as 3× slower), about
as much as libspeexdsp; a lone channel costs ≈ 0.3 ms per frame, numpy's per-call overhead.

Levels: a full-scale int16 sine is +3.17 dBm0 (G.711), so a 0 dBm0 sine peaks at
32767 · 10^(−3.17/20) ≈ 22776 and has a mean power of 22776²/2.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from firmware.media.frame import Frame, SampleRate, samples_per_frame

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]
BoolArray = npt.NDArray[np.bool_]

FULL_SCALE = 32768.0
"""int16 full scale; inside, samples are floats with full scale 1."""

DBM0_PEAK = 32767.0 * 10.0 ** (-3.17 / 20.0)
"""Peak int16 amplitude of a 0 dBm0 sine (≈ 22776; G.711 full scale is +3.17 dBm0)."""

GEIGEL_THRESHOLD = 0.71
"""Near-end peak / far-end peak (over the tail) above which a frame is double talk (−3 dB)."""

DOUBLE_TALK_HANGOVER_FRAMES = 2
"""Frames adaptation stays frozen after the Geigel detector last fired (40 ms)."""

FAR_ACTIVE_LEVEL_DBM0 = -45.0
"""Far-end frame level below which nothing is learnt: too little excitation."""

INITIAL_STEP = 0.5
"""Normalised step of a bin that has not learnt yet (the Geigel detector alone guards it)."""

NLP_MARGIN_DB = 15.0
"""The NLP suppresses a frame only when its residual is this far below the far-end level."""

ERLE_SMOOTHING = 0.9
"""Per-frame forgetting factor of the ERLE estimate (≈ 200 ms memory)."""

_POWER_SMOOTHING = 0.8  # far-end power per bin, per frame
_RELATIVE_REGULARISER = 0.05  # of the mean bin power: weak bins (tone sidelobes) learn slowly
_SPECTRUM_AVERAGE = 0.05  # running mean of the error and echo spectra (Valin's E-hat, Y-hat)
_LEAK_RATE = 0.2  # leakage regression smoothing, scaled by echo/error energy...
_LEAK_RATE_MAX = 0.05  # ...and capped, so double talk (large error) barely moves it
_ADAPTED_AFTER = 20.0  # initial steps a bin takes (≈ 0.8 s of excitation) before the variable one
_NOISE_FLOOR_START_DBM0 = -30.0  # unknown: falls to the line's level in the first quiet frames
_NOISE_FLOOR_RISE = 10.0 ** (0.1 / 10.0)  # +0.1 dB per frame = 5 dB/s
_TINY = 1e-20
_HISTORY_FRAMES = 16


def _power(spectrum: ComplexArray) -> FloatArray:
    """|spectrum|², as a contiguous array (a `.real` view would slow every later operation)."""
    power: FloatArray = np.square(spectrum.real)
    power += np.square(spectrum.imag)
    return power


def _level_to_power(level_dbm0: float) -> float:
    """Mean power of a sine at `level_dbm0`, full scale = 1."""
    return float((DBM0_PEAK / FULL_SCALE) ** 2 / 2.0 * 10.0 ** (level_dbm0 / 10.0))


class EchoCanceller:
    """Cancels hybrid echo on `channels` ports, one 20 ms frame at a time, all ports at once.

    `process(far_end, near_end)` takes the frame we are sending to each line and the frame that
    came back from it in the same 20 ms, both `(channels, samples)` int16 (or `(samples,)` when
    `channels == 1`), and returns `near_end` with the echo removed, same shape and dtype. Frames
    must be contiguous in time; the caller replaces a lost frame by silence on both sides. Pure:
    no I/O, no clock, deterministic (the comfort noise comes from a seeded generator).
    """

    def __init__(
        self,
        channels: int,
        tail_ms: int = 32,
        rate: SampleRate = SampleRate.NARROWBAND,
        *,
        nlp: bool = True,
    ) -> None:
        """Raises ValueError unless `channels` ≥ 1 and 1 ≤ `tail_ms` ≤ 128."""
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        if not 1 <= tail_ms <= 128:
            raise ValueError(f"tail_ms must be in 1..128, got {tail_ms}")
        self.channels = channels
        self.rate = rate
        self.tail_ms = tail_ms
        self._block = n = samples_per_frame(rate)
        self._taps = int(rate) * tail_ms // 1000
        # Overlap-save needs taps + block − 1 points; a power of two is the fastest FFT.
        self._fft_size = k = 1 << (self._taps + n - 2).bit_length()
        bins = k // 2 + 1
        # Block LMS over N new samples through a K-point spectrum: unit step is K / N here.
        self._step_scale = k / n

        # Far-end history: a window of `k` samples sliding along a longer buffer, so a frame
        # costs one copy of the history every `_HISTORY_FRAMES` frames instead of one per frame.
        self._far_history: FloatArray = np.zeros((channels, k + _HISTORY_FRAMES * n))
        self._history_start = 0
        # Geigel compares with the far-end peak over the tail plus the current frame.
        self._far_peaks: FloatArray = np.zeros((channels, -(-self._taps // n) + 1))
        # Foreground (0) and background (1) filters: time-domain taps and their spectra.
        self._weights: FloatArray = np.zeros((2, channels, k))  # zero beyond `taps`
        self._filters: ComplexArray = np.zeros((2, channels, bins), np.complex128)
        # Background error (0) and echo estimate (1), zero-padded to the FFT size.
        self._padded: FloatArray = np.zeros((2, channels, k))
        self._far_power: FloatArray = np.zeros((channels, bins))
        self._spectrum_means: FloatArray = np.zeros((2, channels, bins))
        self._leak_cov: FloatArray = np.zeros(channels)
        self._leak_var: FloatArray = np.zeros(channels)
        # Per bin, how much it has learnt: the initial steps taken, weighted by its excitation.
        self._learnt: FloatArray = np.zeros((channels, bins))
        self._gain_mean: FloatArray = np.zeros(channels)
        self._gain_var: FloatArray = np.zeros(channels)
        self._hangover = np.zeros(channels, np.int64)
        self._near_power: FloatArray = np.zeros(channels)
        self._error_power: FloatArray = np.zeros(channels)
        self._noise_floor: FloatArray = np.full(channels, _level_to_power(_NOISE_FLOOR_START_DBM0))
        self._nlp_gain: FloatArray = np.ones(channels)
        self._previous_far_power: FloatArray = np.zeros(channels)
        self._enabled: BoolArray = np.ones(channels, np.bool_)
        self._nlp_enabled: BoolArray = np.full(channels, nlp, np.bool_)

        # Regulariser: the far-end power per bin of −60 dBm0, so near-silence learns nothing.
        self._regulariser = _level_to_power(-60.0) * k
        self._far_active_energy = _level_to_power(FAR_ACTIVE_LEVEL_DBM0) * n
        self._nlp_margin = 10.0 ** (-NLP_MARGIN_DB / 10.0)
        self._ramp: FloatArray = (np.arange(1, n + 1) / n)[np.newaxis, :]
        rng = np.random.default_rng(0x5EC0)
        self._noise_table: FloatArray = rng.standard_normal(max(8192, 2 * channels * n))
        self._noise_offset = 0
        log.debug(
            "echo canceller: %d channels, %d taps (%d ms) at %d Hz, %d-point FFT",
            channels,
            self._taps,
            tail_ms,
            int(rate),
            k,
        )

    # -- per-channel control -------------------------------------------------------------------

    def reset(self, channel: int) -> None:
        """Forget `channel`'s echo path and history (a new call on that port)."""
        for state in (
            self._far_history,
            self._far_peaks,
            self._far_power,
            self._leak_cov,
            self._leak_var,
            self._learnt,
            self._gain_mean,
            self._gain_var,
            self._hangover,
            self._near_power,
            self._error_power,
            self._previous_far_power,
        ):
            state[channel] = 0
        for paired in (self._weights, self._filters, self._spectrum_means):
            paired[:, channel] = 0
        self._noise_floor[channel] = _level_to_power(_NOISE_FLOOR_START_DBM0)
        self._nlp_gain[channel] = 1.0

    def set_enabled(self, channel: int, enabled: bool) -> None:
        """Switch cancellation on `channel`; disabled, `near_end` passes bit-exact.

        G.165/G.168 tone disabling: the 2100 Hz answer tone with phase reversals (V.25, V.8) of a
        modem or fax takes the canceller out of the path; the caller detects the tone and flips
        this switch. The learnt path is kept, frozen, until `reset`.
        """
        self._enabled[channel] = enabled

    def set_nlp_enabled(self, channel: int, enabled: bool) -> None:
        """Switch the non-linear processor on `channel` (linear cancellation stays on)."""
        self._nlp_enabled[channel] = enabled

    def is_enabled(self, channel: int) -> bool:
        """Whether cancellation runs on `channel`."""
        return bool(self._enabled[channel])

    def erle_db(self) -> FloatArray:
        """Echo return loss enhancement of the linear filter per channel, dB, before the NLP.

        Near-end over error power, smoothed over recent far-end single-talk frames (≈ 200 ms);
        0 before the first such frame.
        """
        near = self._near_power
        ratio = (near + _TINY) / (self._error_power + _TINY)
        erle: FloatArray = np.where(near > 0, 10.0 * np.log10(ratio), 0.0)
        return erle

    def impulse_response(self, channel: int) -> FloatArray:
        """The echo path `channel` currently cancels: `taps` coefficients, full scale 1."""
        taps: FloatArray = self._weights[0, channel, : self._taps].copy()
        return taps

    # -- the signal path -----------------------------------------------------------------------

    def process(self, far_end: Frame, near_end: Frame) -> Frame:
        """Return `near_end` with the echo of `far_end` removed; see the class docstring.

        Raises ValueError when a frame does not hold `channels` × `samples_per_frame(rate)`.
        """
        n = self._block
        shape = (self.channels, n)
        if far_end.size != n * self.channels or near_end.size != n * self.channels:
            raise ValueError(
                f"expected frames of shape {shape}, got {far_end.shape} and {near_end.shape}"
            )
        far = far_end.reshape(shape) * (1.0 / FULL_SCALE)
        near = near_end.reshape(shape) * (1.0 / FULL_SCALE)

        k = self._fft_size
        start = self._history_start + n
        if start + k > self._far_history.shape[1]:
            self._far_history[:, : k - n] = self._far_history[:, start : start + k - n]
            start = 0
        self._history_start = start
        self._far_history[:, start + k - n : start + k] = far
        spectrum = np.fft.rfft(self._far_history[:, start : start + k])
        echo = np.fft.irfft(spectrum * self._filters, k)[:, :, -n:]
        errors = near - echo
        fg_energy, bg_energy = np.einsum("fcn,fcn->fc", errors, errors)
        far_energy = np.einsum("cn,cn->c", far, far)
        near_energy = np.einsum("cn,cn->c", near, near)

        # Geigel double-talk detector on frame peaks, with hangover.
        peaks = self._far_peaks
        peaks[:, :-1] = peaks[:, 1:]
        peaks[:, -1] = np.abs(far).max(axis=1)
        double_talk = np.abs(near).max(axis=1) > GEIGEL_THRESHOLD * peaks.max(axis=1)
        self._hangover = np.where(
            double_talk, DOUBLE_TALK_HANGOVER_FRAMES, np.maximum(self._hangover - 1, 0)
        )
        far_active = far_energy > self._far_active_energy
        adapt = far_active & (self._hangover == 0) & self._enabled

        fg_error, bg_error, fg_energy = self._choose_filter(errors, fg_energy, bg_energy, adapt)
        if adapt.any():
            self._adapt(adapt, spectrum, echo[1], bg_error, far_energy)

        a = ERLE_SMOOTHING
        self._near_power = np.where(
            adapt, a * self._near_power + (1 - a) * near_energy, self._near_power
        )
        self._error_power = np.where(
            adapt, a * self._error_power + (1 - a) * fg_energy, self._error_power
        )

        # The echo of the previous frame's far end still arrives in this one (the tail).
        far_power = far_energy / n
        recent_far_power = np.maximum(far_power, self._previous_far_power)
        self._previous_far_power = far_power
        out = self._nonlinear_processor(fg_error, fg_energy / n, recent_far_power, far_active)
        out *= FULL_SCALE
        np.rint(out, out=out)
        np.minimum(np.maximum(out, -32768.0, out=out), 32767.0, out=out)
        result = out.astype(np.int16)
        if not self._enabled.all():
            result = np.where(self._enabled[:, None], result, near_end.reshape(shape))
        return result.reshape(near_end.shape)

    def _choose_filter(
        self,
        errors: FloatArray,
        fg_energy: FloatArray,
        bg_energy: FloatArray,
        adapt: BoolArray,
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Copy the background filter over the foreground when it is significantly better.

        Significance test: the energy gain squared against the foreground error energy times the
        energy of the two filters' output difference (the gain's variance), in this frame or
        smoothed over frames. A background significantly worse is reset from the foreground.
        Returns the foreground error (cross-faded on a swap), the background error and the
        foreground error energy.
        """
        difference = errors[1] - errors[0]  # = foreground echo − background echo
        variance = fg_energy * (np.einsum("cn,cn->c", difference, difference) + _TINY)
        gain = fg_energy - bg_energy
        self._gain_mean = 0.6 * self._gain_mean + 0.4 * gain
        self._gain_var = 0.36 * self._gain_var + 0.16 * variance
        mean = self._gain_mean
        promote = adapt & (
            (gain * np.abs(gain) > variance) | ((mean > 0) & (mean * mean > 0.5 * self._gain_var))
        )
        backtrack = adapt & ~promote & (-gain * np.abs(gain) > 4.0 * variance)
        fg_error, bg_error = errors[0], errors[1]
        if promote.any():
            self._weights[0, promote] = self._weights[1, promote]
            self._filters[0, promote] = self._filters[1, promote]
            # Cross-fade to the new filter's output over the frame: no click at the swap.
            fade = np.where(promote[:, None], self._ramp, 0.0)
            fg_error = fg_error + fade * (bg_error - fg_error)
            fg_energy = np.einsum("cn,cn->c", fg_error, fg_error)
            self._gain_mean[promote] = 0.0
            self._gain_var[promote] = 0.0
        if backtrack.any():
            self._weights[1, backtrack] = self._weights[0, backtrack]
            self._filters[1, backtrack] = self._filters[0, backtrack]
            bg_error = np.where(backtrack[:, None], fg_error, bg_error)
            self._gain_mean[backtrack] = 0.0
            self._gain_var[backtrack] = 0.0
        return fg_error, bg_error, fg_energy

    def _adapt(
        self,
        adapt: BoolArray,
        spectrum: ComplexArray,
        echo: FloatArray,
        error: FloatArray,
        far_energy: FloatArray,
    ) -> None:
        """One constrained FLMS step of the background filter on the channels in `adapt`."""
        everyone = bool(adapt.all())
        padded = self._padded
        padded[0, :, -self._block :] = error
        padded[1, :, -self._block :] = echo
        spectra = np.fft.rfft(padded)
        powers = _power(spectra)
        error_bins, echo_bins = powers
        far_bins = _power(spectrum)

        # Far-end power per bin; never below this frame's own, so onsets take no giant step.
        far_power = self._far_power * _POWER_SMOOTHING
        far_power += (1.0 - _POWER_SMOOTHING) * far_bins
        np.maximum(far_power, far_bins, out=far_power)
        if not everyone:
            far_power = np.where(adapt[:, None], far_power, self._far_power)
        self._far_power = far_power

        # Leakage: regression of the error spectrum on the echo-estimate spectrum (Valin §III).
        deviations = powers - self._spectrum_means
        cov = np.einsum("cb,cb->c", deviations[0], deviations[1])
        var = np.einsum("cb,cb->c", deviations[1], deviations[1])
        if everyone:
            self._spectrum_means += _SPECTRUM_AVERAGE * deviations
        else:
            self._spectrum_means += (_SPECTRUM_AVERAGE * adapt)[:, None] * deviations
        error_energy, echo_energy = powers.sum(axis=2)
        error_energy += _TINY
        rate = np.minimum(_LEAK_RATE * echo_energy / error_energy, _LEAK_RATE_MAX) * adapt
        self._leak_cov += rate * (cov - self._leak_cov)
        self._leak_var += rate * (var - self._leak_var)
        leak = np.minimum(np.maximum(self._leak_cov / (self._leak_var + _TINY), 0.0), 1.0)

        # Step = residual echo / error, per bin (capped at 0.5) and overall (Valin eq. 20–25).
        overall = np.minimum(3.0 * leak * echo_energy / error_energy, 0.5)
        step = np.minimum(echo_bins / (error_bins + _TINY) * (0.7 * leak)[:, None], 0.35)
        step += (0.3 * overall)[:, None]
        # A bin that has not learnt yet (a new call, or only a tone so far) takes a fixed step,
        # guarded by the Geigel detector alone: the variable step needs an echo estimate there.
        mean_power = far_power.sum(axis=1, keepdims=True) * (1.0 / far_power.shape[1])
        floor = self._regulariser + _RELATIVE_REGULARISER * mean_power
        normaliser = 1.0 / (far_power + floor)
        learning = self._learnt < _ADAPTED_AFTER
        if learning.any():
            error_time = np.einsum("cn,cn->c", error, error) + _TINY
            initial = (INITIAL_STEP * np.minimum(far_energy, error_time) / error_time)[:, None]
            step = np.where(learning, initial, step)
            self._learnt += (initial * adapt[:, None]) * (far_bins * normaliser)
        if not everyone:
            step *= adapt[:, None]
        step *= self._step_scale * normaliser
        gradient = np.fft.irfft(spectra[0] * step * spectrum.conj(), self._fft_size)
        # Gradient constraint: the filter keeps `taps` coefficients, no circular wrap-around.
        weights = self._weights[1]
        weights[:, : self._taps] += gradient[:, : self._taps]
        self._filters[1] = np.fft.rfft(weights)

    def _nonlinear_processor(
        self,
        error: FloatArray,
        error_power: FloatArray,
        far_power: FloatArray,
        far_active: BoolArray,
    ) -> FloatArray:
        """G.168 NLP: comfort noise instead of residual echo in far-end single talk.

        Returns a new array (the caller scales it in place).
        """
        # Line background level (minimum statistics) from frames without far-end speech:
        # halves its distance to a lower frame at once, rises 5 dB/s through near-end speech.
        quiet = ~far_active
        floor = self._noise_floor
        floor = np.where(
            quiet,
            np.where(error_power < floor, 0.5 * (floor + error_power), floor * _NOISE_FLOOR_RISE),
            floor,
        )
        self._noise_floor = floor

        suppress = (
            self._nlp_enabled
            & far_active
            & (self._hangover == 0)
            & (error_power < far_power * self._nlp_margin)
        )
        before = self._nlp_gain
        if not suppress.any() and bool((before == 1.0).all()):
            return error.copy()
        after = np.where(suppress, 0.0, 1.0)
        self._nlp_gain = after
        gain = before[:, None] + (after - before)[:, None] * self._ramp
        count = error.size
        if self._noise_offset + count > self._noise_table.size:
            self._noise_offset = 0
        noise = self._noise_table[self._noise_offset : self._noise_offset + count]
        self._noise_offset += 997
        level = np.sqrt(np.minimum(floor, error_power))[:, None]
        comfort = noise.reshape(error.shape) * level
        return comfort + gain * (error - comfort)
