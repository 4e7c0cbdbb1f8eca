"""Audio through ALSA (pyalsaaudio): the PCM/TDM bus of the analog chips, and paging.

    alsa.py    AlsaPcm protocol (the injected stream), PcmParams, open_alsaaudio, wait_ready
    bus.py     AlsaPcmBus (hal.audio.PcmBus): channel map, period sizing, xruns
    paging.py  AlsaPagingOutput (hal.paging.PagingOutput): stream + amplifier relay
    board.py   the "alsa" driver factory: create_devices, make_create_devices

pyalsaaudio is imported only when a stream is opened, so this package imports anywhere.
"""
