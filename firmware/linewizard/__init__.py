"""The line wizard: `switchbox line learn PORT` learns what the exchange behind an FXO port does.

- `learner`: the pure part — ring cadence, caller-ID method, AON, disconnect signal, busy tone
  and echo return loss classified from the events and audio of test calls (no I/O, no clock);
- `wizard`: the driver that runs the test calls on a `hal.fxo.FxoPort` and its PCM bus;
- `profile`: the result (`LineProfile`, with `FxoLineSettings`, the configuration section it
  fills) and its YAML file `lines/<port>.yaml` in the data directory;
- `terminations`: the AC terminations the wizard tries, as data;
- `rehearsal`: simulated exchanges and a simulated installer on the sim board (`--simulate`);
- `command`: the `switchbox line learn` command.
"""
