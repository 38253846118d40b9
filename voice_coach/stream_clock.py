"""Stream time of a running sample count, for pairing what we played with what the mic heard.

A device's own timestamps wobble by up to a block and jump when the stream stalls (PulseAudio
starting up, an underrun, a reopened device). Counting samples from an anchor is smooth; the
anchor moves only when the timestamp and the count disagree by more than any wobble.
"""

from __future__ import annotations

REANCHOR_S = 0.06  # larger than the timestamps' wobble, smaller than a real stall


class SampleClock:
    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.anchor: tuple[float, int] | None = None  # (stream time, sample number)

    def place(self, measured_s: float, sample: int) -> bool:
        """Note that `sample` was stamped `measured_s`; True if that moved the anchor."""
        if self.anchor is not None and abs(measured_s - self.time_of(sample)) < REANCHOR_S:
            return False
        self.anchor = (measured_s, sample)
        return True

    def time_of(self, sample: int) -> float:
        assert self.anchor is not None, "place() a sample first"
        return self.anchor[0] + (sample - self.anchor[1]) / self.rate
