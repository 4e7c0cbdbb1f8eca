"""Hardware abstraction: small device interfaces, board descriptions and the driver loader.

Firmware talks to `hal` interfaces only; `hal.loader` is the one place that turns a board
description's driver names into code (chip drivers in `drivers/`, the simulation in `hal.sim`).

    device.py     Device: async context manager, idempotent close, DeviceStatus
    eventqueue.py EventQueue / EventDevice: `events()` async iterators, bounded, drop-oldest
    events.py     the events (frozen dataclasses, pure)
    fxs.py fxo.py dect.py relay.py contact.py paging.py panel.py watchdog.py   the interfaces
    audio.py      PcmBus (one exchange of (slots, 160) int16 per 20 ms tick), AudioPort, Frame
    linesignal.py HookDecoder, RingDetector, HookTiming, RingCadence (pure, shared by drivers
                  and sim)         debounce.py Debouncer (pure)      tones.py DTMF, tones (pure)
    clock.py      Clock protocol (now, sleep, call_at), MonotonicClock
    board.py loader.py   board/*.toml → devices
"""
