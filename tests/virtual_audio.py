"""The tests' handle on the virtual devices; the code lives in the package (the demo uses it)."""

from voice_coach.virtual_audio import *  # noqa: F403
from voice_coach.virtual_audio import environment, start, start_error, stop  # noqa: F401


def wait_for(predicate, timeout_s: float, poll_s: float = 0.05) -> bool:
    """Poll `predicate` until it holds or `timeout_s` passes (bounded waits for device tests)."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll_s)
    return bool(predicate())
