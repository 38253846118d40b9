"""Stream time of a running sample count, for pairing what we played with what the mic heard.

A device's own timestamps wobble by up to a block and jump when the stream stalls (PulseAudio
starting up, an underrun, a reopened device). Counting samples from an anchor is smooth; the
anchor moves only when the timestamp and the count disagree by more than any wobble.
"""

from __future__ import annotations

REANCHOR_S = 0.06  # larger than the timestamps' wobble, smaller than a real stall


class SampleClock:
    def __init__(self, rate: int, reanchor_s: float = REANCHOR_S, persist_s: float = 0.0) -> None:
        """Move the anchor when a timestamp and the count disagree by `reanchor_s`, for at
        least `persist_s` (for timestamps that can be far off now and then)."""
        self.rate = rate
        self._reanchor_s = reanchor_s
        self.anchor: tuple[float, int] | None = None  # (stream time, sample number)
        self._persist_s = persist_s
        self._off_since: float | None = None  # when the current disagreement began
        self._least_off = 0.0  # its smallest offset so far: the others are wobble on top

    def place(self, measured_s: float, sample: int) -> bool:
        """Note that `sample` was stamped `measured_s`; True if that moved the anchor."""
        if self.anchor is not None:
            off = measured_s - self.time_of(sample)
            if abs(off) < self._reanchor_s:
                self._off_since = None
                return False
            if self._off_since is None or off * self._least_off < 0:
                self._off_since, self._least_off = measured_s, off
            elif abs(off) < abs(self._least_off):
                self._least_off = off
            if measured_s - self._off_since < self._persist_s:
                return False
            measured_s = self.time_of(sample) + self._least_off
        self.anchor = (measured_s, sample)
        self._off_since = None
        return True

    def time_of(self, sample: int) -> float:
        assert self.anchor is not None, "place() a sample first"
        return self.anchor[0] + (sample - self.anchor[1]) / self.rate
