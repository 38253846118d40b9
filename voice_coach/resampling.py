"""Sample-rate conversion for every edge (speech to the mixer, microphone and echo reference to
the recogniser), with libsoxr: band-limited, streaming without seams, and light to load
(scipy.signal alone costs ~80 MB of memory in a live session)."""

from __future__ import annotations

import numpy as np
import soxr


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """A whole signal (mono, or frames x channels) at another rate, float32."""
    if rate_in == rate_out or len(x) == 0:
        return x.astype(np.float32, copy=False)
    return soxr.resample(x.astype(np.float32, copy=False), rate_in, rate_out, quality="HQ")


class StreamResampler:
    """Block-by-block mono resampling; the blocks join up exactly as if the whole stream had
    been resampled at once (after a few ms of start-up delay)."""

    def __init__(self, rate_in: int, rate_out: int) -> None:
        self._same = rate_in == rate_out
        self._stream = None if self._same else soxr.ResampleStream(
            rate_in, rate_out, 1, dtype="float32", quality="HQ")

    def __call__(self, block: np.ndarray) -> np.ndarray:
        x = block.astype(np.float32, copy=False)
        if self._stream is None:
            return x
        return self._stream.resample_chunk(x)
