"""Pairing what we played with what the microphone heard survives a stalled stream."""

from types import SimpleNamespace

import numpy as np

from voice_coach.audio_in import RATE, Microphone
from voice_coach.stream_clock import REANCHOR_S, SampleClock


def test_wobble_keeps_the_anchor_and_a_stall_moves_it() -> None:
    clock = SampleClock(16_000)
    assert clock.place(10.0, 0)
    assert not clock.place(10.0 + 1.0 + 0.02, 16_000)  # a block's wobble: counting wins
    assert clock.time_of(16_000) == 11.0
    assert clock.place(11.0 + 0.35, 16_000)  # the stream stalled 350 ms: follow the device
    assert abs(clock.time_of(32_000) - 12.35) < 1e-9
    assert not clock.place(12.35 + REANCHOR_S / 2, 32_000)


def test_microphone_block_times_follow_a_stall_of_the_device_clock() -> None:
    mic = Microphone()  # never opened: its callback is driven by hand, as PortAudio would
    block = np.zeros((1024, 1), np.float32)
    adc = [5.0, 5.0 + 1024 / RATE + 0.01, 5.0 + 2 * 1024 / RATE + 0.35]  # wobble, then stall
    for t in adc:
        mic._callback(block, 1024, SimpleNamespace(inputBufferAdcTime=t), None)
    times = []
    for _ in adc:
        assert mic.read(timeout_s=0.1) is not None
        times.append(mic.block_time)
    assert times[0] == 5.0
    assert abs(times[1] - (5.0 + 1024 / RATE)) < 1e-9  # counted, not the wobbling stamp
    assert times[2] == adc[2]  # re-anchored on the stall


def test_a_clock_that_must_persist_ignores_a_burst_and_follows_a_stall() -> None:
    clock = SampleClock(48_000, persist_s=0.3)
    assert clock.place(10.0, 0)
    # One estimate 70 ms early (the callback sent a burst): counting wins.
    assert not clock.place(10.1 - 0.07, 4_800)
    assert not clock.place(10.2, 9_600)
    assert clock.time_of(48_000) == 11.0
    # A stall: every estimate 100 ms late (wobbling up to 30 ms more) for over 0.3 s.
    moved = [clock.place(11.0 + 0.1 + wobble + i * 0.1, 48_000 + i * 4_800)
             for i, wobble in enumerate((0.02, 0.0, 0.03, 0.01, 0.0))]
    assert moved == [False, False, False, False, True]
    assert abs(clock.time_of(96_000) - 12.1) < 1e-9  # by the least-wobbled estimate
