"""The line wizard against simulated exchanges of each kind: an installer's rehearsal.

Each test sets up the simulated exchange (caller-ID method and timing, disconnect signal, tone
plan, ring cadence, line impedance) and checks that the wizard learns what was set up. Expected
values come from the exchange's configuration and from the simulated hybrid's own impulse
response, never from a previous run of the wizard. Everything runs on a ManualClock (a two-call
run is ~70 s of line time and well under a second of wall time).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from firmware.config.schema import CallerIdMethod, DisconnectMethod
from firmware.linewizard.learner import DBM0_PEAK
from firmware.linewizard.profile import (
    LineProfile,
    load_profile,
    write_profile,
)
from firmware.linewizard.rehearsal import (
    DEFAULT_NUMBER,
    EXCHANGES,
    SimulatedExchange,
    SimulatedInstaller,
    build_rehearsal,
    caller_id_encoder,
    drive,
    hybrid_echo_path,
    rehearse,
)
from firmware.linewizard.terminations import TERMINATIONS, Network
from firmware.linewizard.wizard import (
    Instruction,
    LineWizardError,
    WizardFailure,
    WizardOptions,
    learn_line,
)
from firmware.media.dsp.callerid import CallerId, CallTime, CidTiming, encode_mdmf
from hal.fxs import CallerIdTiming
from hal.linesignal import RING_CADENCES, RingValidation
from hal.sim.audio import LineModel, SimPcmBus
from hal.sim.clock import ManualClock
from hal.sim.fxo import DisconnectSignal, LineSettings, SimFxoPort
from hal.tones import TONE_PLANS

ONE_CALL = WizardOptions(calls=1)


def erl_of(line: str | Network, termination: str) -> float:
    """The simulated hybrid's echo return loss, the mean of |H(f)|² over 300–3400 Hz (G.122):
    the truth the wizard measures, from the simulator's own impulse response."""
    network = TERMINATIONS[line] if isinstance(line, str) else line
    h = hybrid_echo_path(network, TERMINATIONS[termination])
    freqs = np.fft.rfftfreq(4096, 1 / 8000)
    band = (freqs >= 300) & (freqs <= 3400)
    return -10.0 * math.log10(float(np.mean(np.abs(np.fft.rfft(h, 4096)[band]) ** 2)))


@dataclasses.dataclass(frozen=True)
class Expected:
    cadence_ms: tuple[int, ...]
    caller_id: CallerIdMethod
    timing: CidTiming | None
    disconnect: DisconnectMethod
    busy_hz: tuple[float, ...]
    busy_ms: tuple[int, int]
    termination: str


EXPECTED = {
    "ru-aon": Expected((1000, 4000), CallerIdMethod.AON, None, DisconnectMethod.BUSY_TONE,
                       (425.0,), (350, 350), "r600"),
    "etsi-fsk-reversal": Expected((1000, 4000), CallerIdMethod.V23, CidTiming.BEFORE_RING_DT_AS,
                                  DisconnectMethod.POLARITY_REVERSAL, (425.0,), (500, 500),
                                  "ctr21"),
    "bell-after-ring": Expected((2000, 4000), CallerIdMethod.BELL_202,
                                CidTiming.AFTER_FIRST_RING, DisconnectMethod.LOOP_CURRENT_DROP,
                                (480.0, 620.0), (500, 500), "r900_c2160"),
    "dtmf-clip": Expected((400, 200, 400, 2000), CallerIdMethod.DTMF,
                          CidTiming.BEFORE_RING_REVERSAL, DisconnectMethod.LOOP_CURRENT_DROP,
                          (400.0,), (750, 750), "nz_india"),
    "busy-tone-only": Expected((1500, 3500), CallerIdMethod.NONE, None,
                               DisconnectMethod.BUSY_TONE, (425.0,), (500, 500), "r600"),
}


@pytest.fixture(scope="module")
def learnt() -> dict[str, LineProfile]:
    """One single-call run per exchange kind, shared by the assertions below."""

    async def run_all() -> dict[str, LineProfile]:
        return {kind: await rehearse(build_rehearsal(kind), ONE_CALL) for kind in EXPECTED}

    return asyncio.run(run_all())


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_wizard_learns_ring_cadence_caller_id_and_disconnect(
        kind: str, learnt: dict[str, LineProfile]) -> None:
    want, profile = EXPECTED[kind], learnt[kind]
    s = profile.settings
    assert s.ring_cadence_ms == want.cadence_ms
    assert s.caller_id is want.caller_id
    assert s.caller_id_timing == want.timing
    assert s.disconnect is want.disconnect
    assert s.busy_tone_hz == want.busy_hz
    assert s.busy_tone_cadence_ms == want.busy_ms
    assert profile.answered_calls == 1


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_wizard_picks_the_termination_matching_the_line(
        kind: str, learnt: dict[str, LineProfile]) -> None:
    want, profile = EXPECTED[kind], learnt[kind]
    line = EXCHANGES[kind].line_impedance
    assert profile.settings.ac_termination == want.termination == line
    assert profile.echo is not None and profile.echo.adjustable
    measured = dict(profile.echo.by_termination)
    assert set(measured) == set(TERMINATIONS)
    for name, erl in measured.items():
        assert erl == pytest.approx(erl_of(line, name), abs=0.3), name
    assert profile.settings.tx_gain_db == 0.0  # even the worst line here has ERL ≥ 6 dB


def test_caller_id_number_and_aon_number_are_the_callers(learnt: dict[str, LineProfile]) -> None:
    digits = "".join(ch for ch in DEFAULT_NUMBER if ch.isdigit())
    for kind in ("etsi-fsk-reversal", "bell-after-ring", "dtmf-clip"):
        assert learnt[kind].caller_id.numbers == (digits,), kind
        assert learnt[kind].caller_id.decoded_calls == 1
    aon = learnt["ru-aon"].caller_id
    assert aon.numbers == (digits[-7:],) and aon.aon_calls == 1 and aon.decoded_calls == 0


def test_line_without_caller_id_is_reported_as_such(learnt: dict[str, LineProfile]) -> None:
    profile = learnt["busy-tone-only"]
    assert profile.settings.caller_id is CallerIdMethod.NONE
    assert profile.caller_id.numbers == () and profile.caller_id.aon_calls == 0
    assert any("no caller ID" in note for note in profile.notes)


def test_busy_tone_is_measured_and_checked_with_the_progress_detector(
        learnt: dict[str, LineProfile]) -> None:
    ru = learnt["ru-aon"].disconnect
    assert ru.busy_tone is not None and ru.busy_tone.level_dbm0 == pytest.approx(-10.0, abs=0.5)
    # The progress detector confirms after two full cycles (progress.py); 20 ms blocks.
    assert ru.busy_detect_ms is not None and 1400 <= ru.busy_detect_ms <= 1400 + 80
    assert ru.detect_ms == ru.busy_detect_ms  # busy tone is this line's only signal
    assert set(ru.plans_matching) == {"ru", "ua"}
    assert learnt["dtmf-clip"].disconnect.plans_matching == ()  # 400 Hz 750/750: no shipped plan
    quiet = learnt["busy-tone-only"].disconnect.busy_tone
    assert quiet is not None and quiet.level_dbm0 == pytest.approx(-13.0, abs=0.5)  # 3 dB loss


def test_electrical_disconnect_is_certain_at_once(learnt: dict[str, LineProfile]) -> None:
    assert learnt["etsi-fsk-reversal"].disconnect.detect_ms == 0
    us = learnt["bell-after-ring"]
    assert us.disconnect.detect_ms == 0
    assert us.disconnect.loop_drop_ms == 600  # LineSettings.loop_current_drop_ms
    assert us.settings.loop_drop_min_ms == 300


def test_dial_tone_is_measured(learnt: dict[str, LineProfile]) -> None:
    us = learnt["bell-after-ring"].dial_tone
    assert us is not None and us.frequencies_hz == pytest.approx((350.0, 440.0), abs=1.0)
    assert us.level_dbm0 == pytest.approx(-10.0, abs=0.5)


@pytest.mark.parametrize(("signalling", "timing", "dt_as", "want"), [
    (CallerIdMethod.V23, CallerIdTiming.AFTER_FIRST_RING, False, CidTiming.AFTER_FIRST_RING),
    (CallerIdMethod.BELL_202, CallerIdTiming.BEFORE_FIRST_RING, False,
     CidTiming.BEFORE_RING_REVERSAL),
    (CallerIdMethod.DTMF, CallerIdTiming.AFTER_FIRST_RING, False, CidTiming.AFTER_FIRST_RING),
])
async def test_other_caller_id_combinations_are_learnt(
        signalling: CallerIdMethod, timing: CallerIdTiming, dt_as: bool,
        want: CidTiming) -> None:
    exchange = dataclasses.replace(EXCHANGES["etsi-fsk-reversal"], name="custom",
                                   caller_id=signalling, caller_id_timing=timing, dt_as=dt_as)
    rehearsal = build_rehearsal(exchange)
    profile = await rehearse(rehearsal, dataclasses.replace(ONE_CALL, terminations=("r600",)))
    assert (profile.settings.caller_id, profile.settings.caller_id_timing) == (signalling, want)


async def test_two_calls_agree_and_the_number_is_checked() -> None:
    rehearsal = build_rehearsal("bell-after-ring")
    options = WizardOptions(calls=2, caller_number="8 916 123-45-67", terminations=("r600",))
    profile = await rehearse(rehearsal, options)
    assert profile.calls == profile.answered_calls == 2
    assert profile.ring.calls_agreeing == 2
    assert profile.caller_id.decoded_calls == 2 and profile.caller_id.number_matches is True
    assert profile.disconnect.first_signals == (DisconnectMethod.LOOP_CURRENT_DROP,) * 2
    assert rehearsal.port.terminations_set == ["r600", "r600"]  # tried, then put back
    assert profile.notes == ()


async def test_a_number_that_does_not_match_is_noted() -> None:
    options = WizardOptions(calls=1, caller_number="+1 555 000 1111", terminations=("r600",))
    profile = await rehearse(build_rehearsal("dtmf-clip"), options)
    assert profile.caller_id.number_matches is False
    assert any("do not end like" in note for note in profile.notes)


async def test_no_ring_within_the_time_limit_is_a_clear_error_and_the_port_is_left_idle() -> None:
    rehearsal = build_rehearsal("nobody-calls")
    port = rehearsal.port
    before = RingValidation(expected=RING_CADENCES["ru"])
    port.set_ring_validation(before)
    options = WizardOptions(calls=2, ring_timeout_s=10.0)
    with pytest.raises(LineWizardError) as caught:
        await rehearse(rehearsal, options)
    assert caught.value.failure is WizardFailure.NO_RING
    assert str(caught.value) == ("no call reached fxo1 within 10 s: check that the line is "
                                 "plugged into fxo1 and that the number called is this line's")
    assert not port.seized and not port.on_hook_monitor
    assert port.ring_validation == before
    assert [i for i, _ in rehearsal.installer.heard] == [Instruction.CALL]


async def test_a_caller_who_gives_up_before_the_answer_is_not_a_failure() -> None:
    rehearsal = build_rehearsal("etsi-fsk-reversal")
    clock, port = rehearsal.clock, rehearsal.port
    gave_up = False

    async def give_up_once() -> None:
        # The first call is abandoned 2 s into ringing (before the cadence shows).
        nonlocal gave_up
        while not port.line.ring_voltage:
            await clock.sleep(0.02)
        await clock.sleep(2.0)
        port.line.far_end_hangs_up()
        gave_up = True

    options = WizardOptions(calls=2, terminations=("ctr21",))
    async with port, rehearsal.bus:
        async with asyncio.TaskGroup() as group:
            group.create_task(give_up_once())
            task = group.create_task(learn_line(port, rehearsal.bus, clock,
                                                rehearsal.installer, options))
            profile = await drive(clock, task)
    assert gave_up
    assert profile.calls == 2 and profile.answered_calls == 1
    assert profile.settings.caller_id is CallerIdMethod.V23  # the abandoned call decoded too
    assert profile.caller_id.decoded_calls == 2
    assert profile.settings.ring_cadence_ms == (1000, 4000)
    assert profile.ring.calls_agreeing == 1


async def test_plain_sim_port_without_termination_control_measures_the_line_echo() -> None:
    """The unmodified sim FXO port: fixed 12 dB hybrid echo, Russian defaults, Bell 202 after
    the first ring (LineSettings' default timing), open-loop disconnect (its default)."""
    clock = ManualClock()
    settings = LineSettings(model=LineModel(echo_return_loss_db=12.0, echo_delay_samples=40,
                                            noise_dbm0=-60.0))
    port = SimFxoPort("fxo1", 0, clock, 0, settings=settings)
    port.line.caller_id_encoder = caller_id_encoder(EXCHANGES["bell-after-ring"])
    bus = SimPcmBus("pcm1", 1, [port], clock)
    installer = SimulatedInstaller(port, clock)
    async with port, bus:
        task = asyncio.get_running_loop().create_task(
            learn_line(port, bus, clock, installer, ONE_CALL))
        profile = await drive(clock, task)
    assert profile.echo is not None and not profile.echo.adjustable
    ((name, erl),) = profile.echo.by_termination
    assert name == "current" and erl == pytest.approx(12.0, abs=0.3)
    assert profile.echo.delay_ms == pytest.approx(40 / 8, abs=0.2)
    assert profile.settings.ac_termination is None
    assert profile.settings.caller_id is CallerIdMethod.BELL_202
    assert profile.settings.caller_id_timing == CidTiming.AFTER_FIRST_RING
    assert profile.settings.disconnect is DisconnectMethod.LOOP_CURRENT_DROP
    assert profile.settings.ring_cadence_ms == (1000, 4000)


async def test_poor_hybrid_lowers_the_transmit_gain() -> None:
    line = Network(150.0)  # far from anything the port can synthesise
    exchange = dataclasses.replace(EXCHANGES["busy-tone-only"], name="bad hybrid",
                                   line_impedance=line)
    profile = await rehearse(build_rehearsal(exchange),
                             dataclasses.replace(ONE_CALL, terminations=("r900", "r600")))
    assert profile.echo is not None
    erl = erl_of(line, "r600")
    assert erl < 6.0  # the premise: this pairing is a poor match
    assert profile.echo.erl_db == pytest.approx(erl, abs=0.5)
    assert profile.settings.tx_gain_db == pytest.approx(erl - 6.0, abs=0.5)
    assert profile.settings.ac_termination == "r600"  # the lesser evil
    assert dict(profile.echo.by_termination)["r900"] == pytest.approx(erl_of(line, "r900"),
                                                                      abs=0.5)


def minimodem_tx(flags: list[str], data: bytes, wav: Path) -> npt.NDArray[np.int16]:
    subprocess.run(["minimodem", "--tx", "1200", *flags, "-R", "8000", "-f", str(wav)],
                   input=data, check=True, timeout=20, capture_output=True)
    with wave.open(str(wav)) as w:
        assert w.getframerate() == 8000
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


@pytest.mark.skipif(shutil.which("minimodem") is None, reason="needs minimodem")
@pytest.mark.parametrize(("flags", "want"), [([], CallerIdMethod.BELL_202),
                                             (["-M", "1300", "-S", "2100"], CallerIdMethod.V23)])
async def test_method_is_learnt_from_an_independent_modems_fsk(
        tmp_path: Path, flags: list[str], want: CallerIdMethod) -> None:
    """The exchange's FSK comes from minimodem (Debian), not from our modulator."""
    cid = CallerId(number="74951234567", time=CallTime(6, 15, 9, 30))
    audio = await asyncio.to_thread(minimodem_tx, flags, b"\x55" * 30 + encode_mdmf(cid),
                                    tmp_path / "cid.wav")
    # minimodem sends near full scale; an exchange sends −13.5 dBm0.
    scale = DBM0_PEAK * 10 ** (-13.5 / 20) / float(np.abs(audio).max())
    audio = np.rint(audio * scale).astype(np.int16)
    frames = list(np.concatenate((audio, np.zeros(-audio.size % 160, np.int16))).reshape(-1, 160))
    exchange = SimulatedExchange("minimodem", "", RING_CADENCES["ru"], TONE_PLANS["ru"],
                                 CallerIdMethod.NONE,
                                 disconnect=DisconnectSignal.POLARITY_REVERSAL)
    rehearsal = build_rehearsal(exchange)
    rehearsal.port.line.caller_id_encoder = lambda cli: frames
    profile = await rehearse(rehearsal, dataclasses.replace(ONE_CALL, terminations=("r600",)))
    assert profile.settings.caller_id is want
    assert profile.caller_id.numbers == ("74951234567",)


async def test_profile_file_round_trips(tmp_path: Path, learnt: dict[str, LineProfile]) -> None:
    profile = learnt["etsi-fsk-reversal"]
    path = write_profile(tmp_path / "data", profile)
    assert path == tmp_path / "data" / "lines" / "fxo1.yaml"
    assert path.stat().st_mode & 0o777 == 0o644
    assert load_profile(path) == profile
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp")]
