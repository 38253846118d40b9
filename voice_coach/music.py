"""The music bed: finds tracks, decodes them (ffmpeg, as pydub runs it) and plays them as an
endless, gapless loop or playlist with a short crossfade at every join."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import UserError
from .track_stream import INT16_SCALE, TrackStream
from .tts import MIXER_RATE

AUDIO_SUFFIXES = (".wav", ".mp3", ".ogg", ".flac")
BUNDLED_NAME = "relaxation.ogg"
LIVE_WAIT_S = 0.02  # the live mixer's thread must not stall: then a moment of silence
OFFLINE_WAIT_S = 30.0  # a reader that is not real-time (a render, a test) waits for the decoder


def bundled_music_dir() -> Path:
    """`voice_coach/_data/music` in an installed wheel, `<repo>/music` in a checkout."""
    try:
        packaged = Path(str(resources.files("voice_coach") / "_data" / "music"))
        if packaged.is_dir():
            return packaged
    except (ModuleNotFoundError, TypeError):  # odd loaders: fall back to the checkout layout
        pass
    return Path(__file__).resolve().parent.parent / "music"


def find_tracks(music: Path | None) -> list[Path]:
    """The playlist for --music FILE|FOLDER (None = the bundled track), checked up front."""
    if music is None:
        path = bundled_music_dir() / BUNDLED_NAME
        if not path.is_file():
            raise UserError(f"the bundled music is missing ({path}); reinstall voice-coach, "
                            "run 'python -m voice_coach.musicgen', or use --no-music")
        return [path]
    music = Path(music).expanduser()
    if music.is_dir():
        tracks = sorted(p for p in music.iterdir()
                        if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
        if not tracks:
            raise UserError(f"no wav/mp3/ogg/flac files in {music}; pick another folder or "
                            "use --no-music")
        return tracks
    if not music.exists():
        raise UserError(f"music file not found: {music}; check the path or use --no-music")
    if music.suffix.lower() not in AUDIO_SUFFIXES:
        raise UserError(f"unsupported music file {music.name}; use wav, mp3, ogg or flac")
    return [music]


def load_track(path: Path, rate: int = MIXER_RATE) -> np.ndarray:
    """Decode a whole file to float32 stereo (n, 2) at `rate`, through the same decoder as the
    live music (TrackStream); bad files become one clear UserError. For benches and tests: the
    live music never holds a whole track."""
    stream = TrackStream(path, rate)
    try:
        stream.prime(1, wait_s=OFFLINE_WAIT_S)
        parts = []
        while not (stream.ended and stream.held_frames == 0):
            parts.append(stream.take(rate, keep=0, wait_s=OFFLINE_WAIT_S))
    finally:
        stream.close()
    return np.concatenate(parts).astype(np.float32) * INT16_SCALE


class MusicSource:
    """Endless music: track after track (or one track again), crossfaded at each join.

    Tracks are decoded on the fly (TrackStream), so memory does not grow with their length.
    `wait_s` is how long a read may wait for the decoder: a blink for the live mixer, which must
    not stall; long for rendering to a file, which must never drop music."""

    def __init__(self, tracks: list[Path], rate: int = MIXER_RATE, crossfade_s: float = 0.5,
                 wait_s: float = LIVE_WAIT_S) -> None:
        if not tracks:
            raise UserError("no music tracks given; use --no-music to play without music")
        self.paths, self.rate, self.wait_s = list(tracks), rate, wait_s
        self.xfade = max(1, int(crossfade_s * rate))
        self.warnings: list[str] = []
        self.starved_frames = 0  # music the decoder did not have ready in time (played as silence)
        self._index = 0
        self._cur: TrackStream | None = TrackStream(self.paths[0], rate)
        try:  # fail fast at start: the first track must decode
            self._cur.prime(min(rate, 2 * self.xfade), wait_s=30.0)
        except UserError:
            self._cur.close()
            raise
        self._next: TrackStream | None = None
        self._join = np.zeros((0, 2), dtype=np.float32)  # the crossfade being played, mixed
        self._join_pos = 0

    def _open_following(self) -> TrackStream | None:
        """The next track that decodes (a bad one is skipped with a warning, once)."""
        for _ in range(len(self.paths)):
            index = (self._index + 1) % len(self.paths)
            stream, self._next = self._next or TrackStream(self.paths[index], self.rate), None
            try:
                stream.prime(1, wait_s=max(self.wait_s, 5.0) if stream.held_frames == 0 else 0)
            except UserError as err:
                stream.close()
                self._index = index
                if str(err) not in self.warnings:
                    self.warnings.append(str(err))
                    print(f"voice-coach: warning: skipping music: {err}", file=sys.stderr)
                continue
            self._index = index
            return stream
        return None  # nothing plays any more: silence, and the session goes on

    def _start_join(self, ending: TrackStream) -> None:
        """Crossfade the ending track's tail into the next track's head (equal power)."""
        tail = ending.rest().astype(np.float32) * INT16_SCALE
        ending.close()
        self._cur = self._open_following()
        head = (np.zeros((0, 2), dtype=np.float32) if self._cur is None else
                self._cur.take(len(tail), keep=self.xfade, wait_s=self.wait_s)
                .astype(np.float32) * INT16_SCALE)
        overlap = len(head)  # shorter than the tail only if the next track is tiny or late
        ramp = np.linspace(0.0, np.pi / 2, overlap, dtype=np.float32)[:, None]
        tail[len(tail) - overlap:] = (tail[len(tail) - overlap:] * np.cos(ramp)
                                      + head * np.sin(ramp))
        self._join, self._join_pos = tail, 0

    def read_into(self, out: np.ndarray) -> None:
        """Fill `out` (n, 2) float32 with the next n frames of music."""
        filled, n = 0, len(out)
        while filled < n:
            if self._join_pos < len(self._join):
                take = min(n - filled, len(self._join) - self._join_pos)
                out[filled:filled + take] = self._join[self._join_pos:self._join_pos + take]
                self._join_pos += take
                filled += take
                continue
            if self._cur is None:
                break
            if self._next is None and self._cur.decoded_all.is_set():
                self._next = TrackStream(self.paths[(self._index + 1) % len(self.paths)],
                                         self.rate)  # seconds before the join: ready in time
            got = self._cur.take(n - filled, keep=self.xfade, wait_s=self.wait_s)
            if len(got):
                out[filled:filled + len(got)] = got
                out[filled:filled + len(got)] *= INT16_SCALE
                filled += len(got)
            elif self._cur.ended:
                self._start_join(self._cur)
            else:  # the decoder is behind: a moment of silence rather than a stalled mixer
                self.starved_frames += n - filled
                break
        out[filled:] = 0.0

    def close(self) -> None:
        """Stop the decoders (their ffmpeg processes)."""
        for stream in (self._cur, self._next):
            if stream is not None:
                stream.close()
