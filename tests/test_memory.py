"""A long session's memory stays flat while speech buffers come and go."""

import os
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


def test_a_process_peak_memory_and_cpu_are_its_own_and_its_childrens() -> None:
    """The live bench's figures: a child that touched 100 MB and let it go still shows the
    peak; its CPU counts for the tree, not for the parent itself."""
    import subprocess

    from voice_coach.memory import peak_rss_mb, tree_cpu_s, tree_rss_mb

    code = ("import time\nx = bytearray(100 * 2**20)\nx[::4096] = b'1' * len(x[::4096])\n"
            "del x\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\n"
            "print('ready', flush=True)\ntime.sleep(30)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        assert peak_rss_mb(child.pid) > 100 > tree_rss_mb(child.pid)[0]
        own, with_children = tree_cpu_s(os.getpid())
        assert with_children - own >= 0.4
    finally:
        child.kill()
        child.wait()
