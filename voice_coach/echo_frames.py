"""Cutting blocks of any length into an echo engine's fixed frames, and the sample formats
they go through (float64 inside, the microphone's dtype outside)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def to_float(x: np.ndarray) -> np.ndarray:
    """int16 or float samples -> float64 in [-1, 1], with NaN/inf replaced by 0."""
    if x.dtype == np.int16:
        return x.astype(np.float64) / 32768.0
    return np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0, posinf=1.0, neginf=-1.0)


def like(y: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float64 samples back to the caller's dtype (int16 saturates instead of wrapping)."""
    if dtype == np.int16:
        return (np.clip(y, -1.0, 32767 / 32768) * 32768.0).astype(np.int16)
    return y.astype(dtype)


class Framer:
    """Cuts blocks of any length into an engine's fixed frames; returns as many samples as it
    is given (in the mic's dtype), one frame late."""

    def __init__(self, n: int, frame: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
        self.n = n
        self._frame = frame
        self._mic = np.zeros(0)
        self._ref = np.zeros(0)
        self._out = np.zeros(n)  # one frame of look-behind keeps output length = input length

    def process(self, mic: np.ndarray, reference: np.ndarray) -> np.ndarray:
        if len(mic) != len(reference):
            raise ValueError(f"mic and reference blocks differ in length "
                             f"({len(mic)} != {len(reference)})")
        self._mic = np.concatenate([self._mic, to_float(mic)])
        self._ref = np.concatenate([self._ref, to_float(reference)])
        n, done = self.n, []
        while len(self._mic) >= n:
            done.append(self._frame(self._mic[:n], self._ref[:n]))
            self._mic, self._ref = self._mic[n:], self._ref[n:]
        out = np.concatenate([self._out, *done])
        self._out = out[len(mic):]
        return like(out[: len(mic)], mic.dtype)
