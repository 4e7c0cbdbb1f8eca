"""Hardware abstraction: small device interfaces, board descriptions and the driver loader.

Firmware talks to `hal` interfaces only; `hal.loader` is the one place that turns a board
description's driver names into code (chip drivers in `drivers/`, the simulation in `hal.sim`).
"""
