"""GPIO devices of a Switchbox board through gpiozero, and the SoC watchdog.

    lines.py     GpioLines / OutputLine / InputLine protocols; GpiozeroLines (injected pin
                 factory: LGPIOFactory in the box, MockFactory in tests)
    owner.py     LineOwner: claim at open, out of service + back-off retry on failure
    relay.py     GpioRelay (hal.relay.Relay)       contact.py  GpioContactInput (hal.contact)
    panel.py     GpioPanel (hal.panel.Panel: LEDs and keys, no display)
    board.py     the "gpio" driver factory: create_devices, make_create_devices
    watchdog.py  LinuxWatchdog (hal.watchdog, /dev/watchdog) and the "watchdog" driver factory
    retry.py     Backoff, RetryTimer (shared with drivers/pcm)

Nothing here imports gpiozero at module level: the library is imported when lines are first
claimed, so the board loader and `switchbox board check` import this package anywhere.
"""
