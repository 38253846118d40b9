"""Audio into the listener: WAV formats, resampling, chunking, the level meter, bad files."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from voice_coach import audio_in
from voice_coach.errors import UserError


def _write_wav(path: Path, x: np.ndarray, rate: int, width: int = 2) -> None:
    """x: float in [-1, 1], shape (n,) or (n, channels)."""
    x2 = x if x.ndim == 2 else x[:, None]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(x2.shape[1])
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 2:
            w.writeframes((x2 * 32767).astype("<i2").tobytes())
        else:  # 24-bit little endian
            i = (x2 * (2 ** 23 - 1)).astype(np.int32).reshape(-1)
            w.writeframes(b"".join(struct.pack("<i", v)[:3] for v in i))


def _peak_hz(x: np.ndarray, rate: int = 16_000) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return float(np.argmax(spec) * rate / len(x))


def test_44k1_stereo_is_resampled_to_16k_mono_without_aliasing(tmp_path: Path) -> None:
    rate = 44_100
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t)
    # 11 kHz is above 16 kHz's Nyquist: a naive decimation would fold it down to 5 kHz.
    alias = 0.5 * np.sin(2 * np.pi * 11_000 * t)
    _write_wav(tmp_path / "s.wav", np.stack([tone, alias], axis=1), rate)
    y = audio_in.read_wav(tmp_path / "s.wav")
    assert y.dtype == np.int16
    assert abs(len(y) - 16_000) <= 2
    assert abs(_peak_hz(y) - 1000) < 5
    spec = np.abs(np.fft.rfft(y.astype(np.float64) * np.hanning(len(y))))
    assert spec[5000] < spec[1000] / 100  # the 11 kHz tone did not come back as 5 kHz


def test_24_bit_and_extensible_wavs_read_like_16_bit(tmp_path: Path) -> None:
    t = np.arange(8000) / 8000
    x = 0.3 * np.sin(2 * np.pi * 440 * t)
    _write_wav(tmp_path / "a.wav", x, 8000, width=2)
    _write_wav(tmp_path / "b.wav", x, 8000, width=3)
    a, b = audio_in.read_wav(tmp_path / "a.wav"), audio_in.read_wav(tmp_path / "b.wav")
    assert len(a) == len(b) == 16_000
    assert np.max(np.abs(a.astype(int) - b.astype(int))) <= 2
    # WAVE_FORMAT_EXTENSIBLE: what sox writes for stereo/24-bit; the stdlib wave refuses it.
    raw = bytearray((tmp_path / "a.wav").read_bytes())
    fmt = raw.index(b"fmt ")
    ext = (raw[:fmt] + b"fmt " + struct.pack("<I", 40) + struct.pack("<H", 0xFFFE)
           + raw[fmt + 10:fmt + 24] + struct.pack("<HHI", 22, 16, 4) + struct.pack("<H", 1)
           + b"\x00" * 14 + raw[fmt + 24:])
    struct.pack_into("<I", ext, 4, len(ext) - 8)
    (tmp_path / "e.wav").write_bytes(bytes(ext))
    assert np.array_equal(audio_in.read_wav(tmp_path / "e.wav"), a)


def test_stream_resampler_matches_whole_file_resampling() -> None:
    rate = 48_000
    x = np.random.default_rng(1).standard_normal(rate * 2).astype(np.float32) * 0.1
    whole = audio_in.resample(x, rate)
    r = audio_in.StreamResampler(rate)
    pieces = np.concatenate([r(x[i:i + 1000]) for i in range(0, len(x), 1000)])
    n = len(pieces) - 100
    assert n > 30_000
    assert np.max(np.abs(pieces[:n] - whole[:n])) < 1e-4


def test_chunks_cover_everything_in_100ms_pieces() -> None:
    x = np.arange(16_000 * 3 + 5, dtype=np.int16)
    parts = list(audio_in.chunks(x))
    assert [len(p) for p in parts[:-1]] == [1600] * 30
    assert np.array_equal(np.concatenate(parts), x)


def test_level_meter() -> None:
    assert audio_in.level_dbfs(np.zeros(1600, np.int16)) == -100.0
    full = (np.sin(np.arange(1600) / 3) * 32767).astype(np.int16)
    assert -4.0 < audio_in.level_dbfs(full) < -2.0  # a full-scale sine is -3 dBFS RMS


@pytest.mark.parametrize("content", [b"", b"not a wav at all", b"RIFF\x00\x00\x00\x00WAVE"])
def test_unreadable_wav_is_one_clear_user_error(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "bad.wav"
    p.write_bytes(content)
    with pytest.raises(UserError, match="ffmpeg"):
        audio_in.read_wav(p)
    with pytest.raises(UserError, match="no such file"):
        audio_in.read_wav(tmp_path / "missing.wav")
