"""In-memory implementations of the hal interfaces: the simulated board (`hal.sim.board`)."""
