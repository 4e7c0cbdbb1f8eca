"""The DECT base module on a UART: framing (`frames`), message layouts (`messages`), the
request/confirm link (`protocol`), the `hal.dect.DectBase` driver (`base`) and an emulator of
the module with handsets (`emulator`). The wire protocol is described in docs/dect-uart.md."""
