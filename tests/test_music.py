"""Music loading through real pydub + ffmpeg, playlists, and the seamless loop."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from voice_coach.errors import UserError
from voice_coach.music import (
    OFFLINE_WAIT_S,
    MusicSource,
    bundled_music_dir,
    find_tracks,
    load_track,
)
from voice_coach.track_stream import CHUNK_FRAMES
from voice_coach.tts import MIXER_RATE


def ffmpeg_tone(path: Path, freq: float, seconds: float, rate: int = 44100,
                channels: int = 2, volume: float = 0.5, extra: tuple[str, ...] = ()) -> Path:
    """Encode a sine tone with the real ffmpeg (format from the suffix)."""
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         f"sine=frequency={freq}:sample_rate={rate}:duration={seconds}",
         "-af", f"volume={volume}", "-ac", str(channels), *extra, str(path)], check=True)
    return path


def _peak_hz(x: np.ndarray) -> float:
    mono = x.mean(axis=1) if x.ndim == 2 else x
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    return float(np.fft.rfftfreq(len(mono), 1 / MIXER_RATE)[np.argmax(spectrum)])


@pytest.mark.parametrize("suffix", [".mp3", ".ogg", ".flac", ".wav"])
def test_pydub_decodes_ffmpeg_made_files(tmp_path, suffix):
    # sine at volume 0.5 has amplitude ~0.0625 (ffmpeg's sine source is 1/8 full scale).
    path = ffmpeg_tone(tmp_path / f"tone{suffix}", 440, 3.0, channels=1)
    audio = load_track(path)
    assert audio.shape[1] == 2 and audio.dtype == np.float32
    # mp3 adds encoder padding; everything else is sample-exact up to resampling.
    assert abs(len(audio) / MIXER_RATE - 3.0) < (0.06 if suffix == ".mp3" else 0.002)
    assert abs(_peak_hz(audio[MIXER_RATE // 2: MIXER_RATE * 2]) - 440) < 2
    # Sample width handled (ogg decodes to 32 bits): the level is right, not 2**16 off.
    rms = float(np.sqrt(np.mean(audio[MIXER_RATE // 2: MIXER_RATE * 2] ** 2)))
    assert 0.5 / 8 / np.sqrt(2) * 0.8 < rms < 0.5 / 8 / np.sqrt(2) * 1.2


def test_24_bit_wav_is_scaled_by_its_sample_width(tmp_path):
    path = ffmpeg_tone(tmp_path / "deep.wav", 300, 1.0, rate=48000, volume=4.0,
                       extra=("-c:a", "pcm_s24le"))
    audio = load_track(path)
    assert 0.3 < np.max(np.abs(audio)) < 0.6


def test_bad_music_is_one_clear_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        find_tracks(tmp_path / "nope.mp3")
    (tmp_path / "notes.txt").write_text("la la")
    with pytest.raises(UserError, match="unsupported"):
        find_tracks(tmp_path / "notes.txt")
    with pytest.raises(UserError, match="no wav/mp3/ogg/flac"):
        find_tracks(tmp_path)
    corrupt = tmp_path / "broken.mp3"
    corrupt.write_bytes(np.random.default_rng(1).bytes(20_000))
    with pytest.raises(UserError, match="cannot decode"):
        MusicSource(find_tracks(corrupt))


def test_folder_is_a_playlist_that_loops_with_crossfades(tmp_path):
    ffmpeg_tone(tmp_path / "a.ogg", 300, 2.0)
    ffmpeg_tone(tmp_path / "b.flac", 500, 2.0)
    (tmp_path / "cover.jpg").write_bytes(b"not audio")
    tracks = find_tracks(tmp_path)
    assert [p.name for p in tracks] == ["a.ogg", "b.flac"]
    src = MusicSource(tracks, crossfade_s=0.2, wait_s=OFFLINE_WAIT_S)
    out = np.zeros((int(9 * MIXER_RATE), 2), dtype=np.float32)
    for start in range(0, len(out), 1024):
        src.read_into(out[start:start + 1024])
    second = MIXER_RATE
    # a (0.2..1.8 s), then b, then a again: the music keeps going round.
    assert abs(_peak_hz(out[int(0.5 * second):int(1.5 * second)]) - 300) < 3
    assert abs(_peak_hz(out[int(2.3 * second):int(3.3 * second)]) - 500) < 3
    assert abs(_peak_hz(out[int(4.1 * second):int(5.1 * second)]) - 300) < 3
    # No gaps anywhere: the level never drops out, and joins have no jumps.
    frames = out[: len(out) // 480 * 480, 0].reshape(-1, 480)
    assert np.sqrt(np.mean(frames**2, axis=1)).min() > 0.02
    assert np.max(np.abs(np.diff(out[:, 0]))) < 0.01
    assert src.starved_frames == 0 and not src.warnings
    src.close()


def _read(src: MusicSource, seconds: float) -> np.ndarray:
    out = np.zeros((int(seconds * MIXER_RATE), 2), dtype=np.float32)
    for start in range(0, len(out), 1024):
        src.read_into(out[start:start + 1024])
    return out


def test_a_long_track_is_decoded_as_it_plays_not_held_whole(tmp_path):
    path = ffmpeg_tone(tmp_path / "long.flac", 220, 120.0)
    src = MusicSource([path], wait_s=OFFLINE_WAIT_S)
    first = _read(src, 2.0)
    time.sleep(1.0)  # time for the decoder to run as far ahead as it will
    stream = src._cur
    assert stream is not None
    ahead = stream.held_frames + stream._ready.qsize() * CHUNK_FRAMES
    assert ahead < 10 * MIXER_RATE  # seconds, not the two minutes of the track
    assert abs(_peak_hz(first[MIXER_RATE // 2:]) - 220) < 2
    process = stream._proc
    src.close()
    assert process.wait(timeout=5) is not None  # closing stops ffmpeg


def test_a_broken_track_in_a_playlist_is_skipped_with_one_warning(tmp_path, capsys):
    ffmpeg_tone(tmp_path / "a.ogg", 300, 2.0)
    (tmp_path / "b.mp3").write_bytes(np.random.default_rng(2).bytes(20_000))
    src = MusicSource(find_tracks(tmp_path), crossfade_s=0.2, wait_s=OFFLINE_WAIT_S)
    out = _read(src, 7.0)
    # a, (b skipped), a, a: the music never stops.
    frames = out[: len(out) // 480 * 480, 0].reshape(-1, 480)
    assert np.sqrt(np.mean(frames**2, axis=1)).min() > 0.02
    assert len(src.warnings) == 1 and "b.mp3" in src.warnings[0]
    assert capsys.readouterr().err.count("skipping music") == 1
    src.close()


def test_bundled_track_is_long_and_loops_without_a_click():
    tracks = find_tracks(None)
    assert tracks[0].parent == bundled_music_dir() and tracks[0].stat().st_size < 2_000_000
    src = MusicSource(tracks, wait_s=OFFLINE_WAIT_S)
    length = len(load_track(tracks[0]))
    assert length >= 180 * MIXER_RATE
    out = np.zeros((length + 4 * MIXER_RATE, 2), dtype=np.float32)
    for start in range(0, len(out), 1024):
        src.read_into(out[start:start + 1024])
    steps = np.abs(np.diff(out, axis=0)).max(axis=1)
    join = length - src.xfade  # where the loop wraps
    around = steps[join - 2 * src.xfade: join + 2 * src.xfade]
    assert around.max() < 3 * np.percentile(steps, 99.9)
    # Calm: no silence, no loud peaks, and most energy below 1 kHz.
    assert 0.02 < np.sqrt(np.mean(out**2)) < 0.3 and np.max(np.abs(out)) < 0.95
    spectrum = np.abs(np.fft.rfft(out[: 20 * MIXER_RATE, 0])) ** 2
    freqs = np.fft.rfftfreq(20 * MIXER_RATE, 1 / MIXER_RATE)
    assert spectrum[freqs < 1000].sum() > 0.9 * spectrum.sum()
    src.close()


def test_generator_makes_a_calm_seamless_loop():
    from voice_coach.musicgen import CHORD_S, RATE, generate

    loop = generate(seed=3, chords=2)
    assert loop.shape == (int(2 * CHORD_S * RATE), 2) and loop.dtype == np.float32
    rms_db = 10 * np.log10(np.mean(loop**2))
    assert abs(rms_db + 20) < 0.5 and np.max(np.abs(loop)) <= 10 ** (-1 / 20) + 1e-6
    # Played round and round, the end runs into the start as smoothly as anywhere else.
    steps = np.abs(np.diff(loop, axis=0)).max(axis=1)
    seam = np.abs(loop[0] - loop[-1]).max()
    assert seam <= np.percentile(steps, 99.9)
    # Soft attacks only: no sudden jumps in loudness between 50 ms frames.
    frames = loop[: len(loop) // 2400 * 2400, 0].reshape(-1, 2400)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    assert np.max(np.diff(level)) < 6
