"""Takes the steady part of the background (music pads, fan, hum) out of a short stretch of audio
before it is judged, using what the background sounded like just before the utterance.

pocketsphinx's features have no defence against additive sound: a music bed 10 dB under the
voice shifts every cepstral frame. A Wiener-style gain per frequency bin, with the background's
spectrum read from the second before the command (a median per bin, so a word or a note in
there does not count as background), removes much of it while leaving the voice.
"""

from __future__ import annotations

import numpy as np

N_FFT = 512  # 32 ms at 16 kHz
HOP = 128
OVER_SUBTRACT = 1.5  # remove a bit more than the estimate: the bed fluctuates around it
FLOOR = 0.1  # never cut a bin by more than 20 dB (deeper cuts leave "musical noise")


def _frames(x: np.ndarray) -> np.ndarray:
    n = 1 + max(0, len(x) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    return np.fft.rfft(x[idx] * np.hanning(N_FFT), axis=1)


def background_spectrum(background: np.ndarray) -> np.ndarray | None:
    """Power per bin of the background (int16 audio), or None if there is too little of it."""
    if len(background) < N_FFT * 4:
        return None
    power = np.abs(_frames(background.astype(np.float64))) ** 2
    # The median, scaled to the mean a steady sound would have (a bin's power is spread like
    # chi-squared with 2 degrees of freedom, median = ln 2 x mean): a word or a note in the
    # background stretch barely moves it.
    return np.median(power, axis=0) / np.log(2.0)


def clean(audio: np.ndarray, noise_power: np.ndarray | None) -> np.ndarray:
    """int16 audio with the background's steady spectrum taken out (same length)."""
    if noise_power is None or len(audio) < N_FFT:
        return audio
    x = audio.astype(np.float64)
    pad = (-(len(x) - N_FFT)) % HOP
    x = np.concatenate([x, np.zeros(pad)])
    spec = _frames(x)
    power = np.abs(spec) ** 2
    gain = np.maximum(1.0 - OVER_SUBTRACT * noise_power / (power + 1e-9), FLOOR ** 2)
    frames = np.fft.irfft(spec * np.sqrt(gain), n=N_FFT, axis=1) * np.hanning(N_FFT)
    out = np.zeros(len(x))
    norm = np.zeros(len(x))
    w2 = np.hanning(N_FFT) ** 2
    for i, f in enumerate(frames):
        out[i * HOP:i * HOP + N_FFT] += f
        norm[i * HOP:i * HOP + N_FFT] += w2
    out = out / np.maximum(norm, 1e-3)
    # The ends see fewer overlapping frames; keep the original there rather than a fade.
    edge = norm < 0.5 * norm.max()
    out[edge] = x[edge]
    return np.clip(out[:len(audio)], -32768, 32767).astype(np.int16)
