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


def rss_mb() -> float:
    """This process's resident memory now, in MB (0 where /proc is not there)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree_rss_mb(pid: int | None = None) -> tuple[float, float]:
    """(resident MB of the process, of it and all its descendants together): the session's
    recogniser runs in a child process, and a user's machine holds both."""
    import psutil

    try:
        proc = psutil.Process(pid)
        own = proc.memory_info().rss
        total = own
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # exited between listing and reading
                total += child.memory_info().rss
    except psutil.Error:
        return 0.0, 0.0
    return own / 2**20, total / 2**20


def peak_rss_mb(pid: int) -> float:
    """The process's own peak resident memory (VmHWM), in MB; 0 where /proc is not there.
    Not ru_maxrss from wait4: that also takes the peak of every child it reaped."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree_cpu_s(pid: int) -> tuple[float, float]:
    """(CPU seconds of the process itself, of it and its live descendants together)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        times = proc.cpu_times()
        own = times.user + times.system
        total = own
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
    except psutil.Error:
        return 0.0, 0.0
    return own, total
