"""In-memory implementations of the hal interfaces: the simulated board (`hal.sim.board`) with
phones on the FXS ports (`fxs.py`), an exchange behind the FXO ports (`fxo.py`), relays,
contacts, paging, panel, watchdog and the PCM bus, all on an injected clock (`clock.py`:
`ManualClock` for tests)."""
