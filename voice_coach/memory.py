"""Keeps a long session's memory flat.

A session allocates and frees many large audio buffers (a step's speech is ~10 MB at the mixer
rate). glibc raises its mmap threshold each time such a buffer is freed, so later ones come from
the heap, where freed holes rarely go back to the system: measured here, RSS crept up ~12 MB per
pass over the same 32 MB of speech. A fixed threshold keeps every large buffer in its own
mapping, returned to the system when freed.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys
from collections.abc import Callable
from typing import Any

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
LARGE_BUFFER_BYTES = 128 * 1024  # glibc's own starting value, now kept fixed


def keep_large_buffers_out_of_the_heap() -> bool:
    """True if set (glibc on Linux); elsewhere nothing to do."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, LARGE_BUFFER_BYTES))
    except (OSError, AttributeError):  # musl and others have no mallopt: their own policy
        return False


def _status_mb(field: str, pid: int | str = "self") -> float:
    """A memory line of /proc/PID/status ("VmRSS", "VmHWM") in MB; 0 where /proc is not there."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    return _status_mb("VmRSS")


def peak_rss_mb(pid: int) -> float:
    """The process's own peak resident memory (VmHWM), in MB. Not ru_maxrss from wait4: that
    also takes the peak of every child it reaped."""
    return _status_mb("VmHWM", pid)


def _tree(pid: int | None, measure: Callable[[Any], float]) -> tuple[float, float]:
    """(measure of the process, of it and all its live descendants together); 0s if gone."""
    import psutil

    try:
        proc = psutil.Process(pid)
        own = measure(proc)
        total = own
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # exited between listing and reading
                total += measure(child)
    except psutil.Error:
        return 0.0, 0.0
    return own, total


def tree_rss_mb(pid: int | None = None) -> tuple[float, float]:
    """(resident MB of the process, of it and all its descendants together): the session's
    recogniser runs in a child process, and a user's machine holds both."""
    return _tree(pid, lambda proc: proc.memory_info().rss / 2**20)


def tree_cpu_s(pid: int) -> tuple[float, float]:
    """(CPU seconds of the process itself, of it and its live descendants together)."""
    return _tree(pid, lambda proc: sum(proc.cpu_times()[:2]))  # user + system
