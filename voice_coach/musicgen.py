"""Makes the bundled relaxation track: slow pad chords, a soft bell arpeggio and a warm room.

Everything is written into a circular buffer (notes wrap around the end, the reverb is a circular
FFT convolution), so the track loops without a seam. Run: `python -m voice_coach.musicgen [OUT]`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

RATE = 48_000
CHORD_S = 24.0  # one chord every 24 s: slow enough to feel still
# Chord voicings as MIDI notes, in D major: I, vi, IV, V, ii, IV, iii, V(sus).
PROGRESSION: tuple[tuple[int, ...], ...] = (
    (50, 57, 61, 64, 66),  # Dmaj9
    (47, 54, 57, 61, 62),  # Bm9
    (43, 50, 54, 57, 59),  # Gmaj9
    (45, 52, 59, 61, 66),  # A6/9
    (52, 59, 62, 66, 67),  # Em9
    (43, 55, 59, 62, 66),  # Gmaj7
    (42, 57, 61, 64, 69),  # F#m7
    (45, 57, 62, 64, 69),  # Asus4
)
PENTATONIC = (69, 71, 74, 76, 78, 81, 83)  # D major pentatonic: every note fits every chord
TABLE = 4096


def midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12)


def _pad_table(f0: float) -> np.ndarray:
    """One period of a soft, saw-like wave whose brightness is rolled off by pitch (no fizz)."""
    phase = np.arange(TABLE) / TABLE
    wave = np.zeros(TABLE)
    for k in range(1, 13):
        # 1/k like a saw, with a gentle low-pass around 1.4 kHz built in.
        wave += np.sin(2 * np.pi * k * phase) / k * np.exp(-((k * f0) / 1400.0) ** 2)
    return wave / np.max(np.abs(wave))


def _osc(table: np.ndarray, freq: float, n: int, phase0: float) -> np.ndarray:
    pos = (phase0 + freq * np.arange(n) / RATE) % 1.0 * TABLE
    i = pos.astype(np.int64)
    frac = pos - i
    return table[i] * (1 - frac) + table[(i + 1) % TABLE] * frac


def _envelope(n: int, attack_s: float, release_s: float) -> np.ndarray:
    """Raised-cosine attack and release: no edges anywhere, so no clicks."""
    env = np.ones(n)
    a, r = int(attack_s * RATE), int(release_s * RATE)
    env[:a] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, a))
    env[n - r:] *= 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, r))
    return env


def _add_wrapped(buf: np.ndarray, start: int, sound: np.ndarray) -> None:
    """Add a (n, 2) sound into the circular (N, 2) buffer at `start`."""
    idx = (start + np.arange(len(sound))) % len(buf)  # sounds are shorter than the loop: unique
    buf[idx] += sound


def _pad(buf: np.ndarray, rng: np.random.Generator,
         progression: tuple[tuple[int, ...], ...]) -> None:
    n_note = int((CHORD_S + 7.0) * RATE)  # overlaps the next chord while it fades in
    for c, chord in enumerate(progression):
        start = int(c * CHORD_S * RATE)
        env = _envelope(n_note, attack_s=5.0, release_s=7.0)
        for note in chord:
            f0 = midi_hz(note)
            table = _pad_table(f0)
            left = np.zeros(n_note)
            right = np.zeros(n_note)
            # Three slightly detuned voices per note, spread left/right: a slow natural chorus.
            for cents, pan in ((-5.0, 0.2), (0.0, 0.5), (5.0, 0.8)):
                v = _osc(table, f0 * 2 ** (cents / 1200), n_note, rng.random())
                left += v * np.cos(pan * np.pi / 2)
                right += v * np.sin(pan * np.pi / 2)
            weight = 0.5 if note < 48 else 1.0  # keep low voicings from booming
            _add_wrapped(buf, start, np.stack([left, right], axis=1) * (env * weight)[:, None])
        # A soft sine bass an octave under the root.
        bass = np.sin(2 * np.pi * midi_hz(chord[0] - 12) * np.arange(n_note) / RATE) * env
        _add_wrapped(buf, start, np.stack([bass, bass], axis=1) * 1.2)


def _bells(buf: np.ndarray, rng: np.random.Generator) -> None:
    """A sparse, quiet arpeggio of bell-like notes (sine + soft overtone, slow decay)."""
    slot_s = 1.6
    n_note = int(4.0 * RATE)
    t = np.arange(n_note) / RATE
    attack = np.minimum(1.0, t / 0.012)  # 12 ms attack: soft, no click
    decay = np.exp(-t / 1.1)
    for slot in range(int(len(buf) / RATE / slot_s)):
        if rng.random() > 0.45:
            continue
        note = PENTATONIC[rng.integers(len(PENTATONIC))]
        f = midi_hz(note)
        tone = (np.sin(2 * np.pi * f * t) + 0.18 * np.sin(2 * np.pi * 2.01 * f * t)
                * np.exp(-t / 0.4)) * attack * decay * rng.uniform(0.5, 1.0) * 0.35
        pan = rng.uniform(0.25, 0.75)
        sound = np.stack([tone * np.cos(pan * np.pi / 2), tone * np.sin(pan * np.pi / 2)], axis=1)
        _add_wrapped(buf, int(slot * slot_s * RATE), sound)


def _room(buf: np.ndarray, rng: np.random.Generator, wet: float = 0.35) -> np.ndarray:
    """Circular convolution with decaying noise (a soft hall) and a gentle high cut."""
    n = len(buf)
    ir_n = int(3.0 * RATE)
    decay = np.exp(-np.arange(ir_n) / (0.9 * RATE))
    spectrum = np.fft.rfft(buf, axis=0)
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    lowpass = 1.0 / np.sqrt(1.0 + (freqs / 3500.0) ** 4)  # 2nd-order-like roll-off
    out = np.empty_like(buf)
    for ch in range(2):
        ir = np.zeros(n)
        ir[:ir_n] = rng.standard_normal(ir_n) * decay
        ir /= np.sqrt(np.sum(ir**2))
        wet_sig = np.fft.irfft(spectrum[:, ch] * np.fft.rfft(ir) * lowpass, n)
        dry = np.fft.irfft(spectrum[:, ch] * lowpass, n)
        out[:, ch] = (1 - wet) * dry + wet * wet_sig
    return out


def generate(seed: int = 7, chords: int = len(PROGRESSION)) -> np.ndarray:
    """The loop as float32 stereo at RATE, RMS about -20 dBFS, peaks under -1 dBFS.
    `chords` shortens it to the first few chords of the progression (for quick tests)."""
    rng = np.random.default_rng(seed)
    progression = PROGRESSION[:chords]
    n = int(len(progression) * CHORD_S * RATE)
    buf = np.zeros((n, 2))
    _pad(buf, rng, progression)
    bells = np.zeros((n, 2))
    _bells(bells, rng)
    buf = buf / np.sqrt(np.mean(buf**2)) * 0.1 + bells * 0.06
    # Slow breathing swell; its period divides the loop so the seam stays invisible.
    t = np.arange(n) / RATE
    buf *= (1.0 + 0.1 * np.sin(2 * np.pi * t / 12.0))[:, None]
    out = _room(buf, rng)
    out *= 10 ** (-20 / 20) / np.sqrt(np.mean(out**2))
    peak = np.max(np.abs(out))
    if peak > 10 ** (-1 / 20):
        out *= 10 ** (-1 / 20) / peak
    return out.astype(np.float32)


def write(path: Path, audio: np.ndarray, quality: int = 1) -> Path:
    """Encode with ffmpeg through pydub (ogg/vorbis small enough to commit; wav/mp3 also work)."""
    from pydub import AudioSegment

    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    seg = AudioSegment(pcm.tobytes(), frame_rate=RATE, sample_width=2, channels=2)
    fmt = path.suffix.lstrip(".").lower() or "ogg"
    params: dict[str, Any] = {}
    if fmt == "ogg":  # vorbis at low quality: pads and bells stay clean, the file stays small
        params = {"codec": "libvorbis", "parameters": ["-q:a", str(quality)]}
    elif fmt == "mp3":
        params = {"bitrate": "96k"}
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.export(str(path), format=fmt, **params).close()
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parent.parent / "music" / "relaxation.ogg"
    parser.add_argument("out", nargs="?", type=Path, default=default)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    audio = generate(args.seed)
    write(args.out, audio)
    print(f"wrote {args.out} ({len(audio) / RATE:.0f} s, {args.out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
