"""A long session's memory stays flat while speech buffers come and go."""

import sys

import numpy as np
import pytest

from voice_coach import memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_speech_buffers_go_back_to_the_system() -> None:
    assert memory.keep_large_buffers_out_of_the_heap()
    rng = np.random.default_rng(0)
    held: list[np.ndarray] = []
    after_first_pass = 0.0
    for n in range(3):  # steps of varying length, the last few kept, as the speech cache does
        for size in rng.integers(2_000_000, 3_000_000, 12):
            held.append(np.ones(int(size), np.float32))
            held = held[-3:]
        if n == 0:
            after_first_pass = memory.rss_mb()
    assert memory.rss_mb() - after_first_pass < 8.0
