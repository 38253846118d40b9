"""What the cleaner reports of each block (MicCleaner.block_energies), which the listener's
leftover check weighs a command against (echo_leftover)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from voice_coach.echo import Reference
from voice_coach.echo_link import MicCleaner

RATE = 16_000


def test_an_echo_estimate_that_overshoots_counts_no_more_than_was_heard() -> None:
    """Music that reaches the microphone by a path that is not ducked (the demo's command
    track carries a copy of it) while what plays is ducked and then restored: the filter's
    estimate overshoots what the microphone heard by up to the duck's 14 dB. Counted whole,
    a person's command said then lay "under the echo" and was dropped as our own sound."""
    rng = np.random.default_rng(3)
    seconds, block = 16, 1_024
    n = seconds * RATE
    music = np.convolve(rng.standard_normal(n + RATE), np.ones(6) / 6, "same") * 0.05
    ducked = np.ones(n + RATE)
    ducked[6 * RATE:10 * RATE] = 10 ** (-14 / 20)  # the coach talks: what plays is ducked
    played = music * ducked
    heard = 0.5 * np.concatenate([np.zeros(800), music])[:n]  # the copy: never ducked
    reference = Reference(RATE)
    cleaner = MicCleaner(reference)
    mic = SimpleNamespace(block_time=0.0)
    ahead = 8
    for w in range(ahead):
        reference.write(played[w * block:(w + 1) * block], w * block / RATE)
    over = []
    for k in range(n // block):
        w = k + ahead
        reference.write(played[w * block:(w + 1) * block], w * block / RATE)
        mic.block_time = k * block / RATE - 0.06  # the reference paired with it
        samples = (heard[k * block:(k + 1) * block] * 32768).astype(np.int16)
        cleaner(samples, mic)
        assert cleaner.block_energies is not None
        heard_energy = float(np.sum((samples / 32768.0) ** 2))
        over.append(cleaner.block_energies[1] / heard_energy)
    assert max(over) <= 1.0 + 1e-6, max(over)  # (uncapped: 16.5 times, 12 dB over)
