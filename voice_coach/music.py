"""The music bed: finds and decodes tracks (pydub + ffmpeg) and plays them as an endless,
gapless loop or playlist with a short crossfade at every join."""

from __future__ import annotations

import sys
import threading
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import UserError
from .tts import MIXER_RATE, resample

AUDIO_SUFFIXES = (".wav", ".mp3", ".ogg", ".flac")
BUNDLED_NAME = "relaxation.ogg"


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
    """Decode a file to float32 stereo (n, 2) at `rate`; bad files become one clear UserError."""
    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError

    try:
        # -nostdin: ffmpeg otherwise reads the terminal/pipe, eating typed or piped commands.
        seg = AudioSegment.from_file(str(path), parameters=["-nostdin"])
    except FileNotFoundError as err:
        if Path(path).exists():  # it is ffmpeg/ffprobe that is missing, not the track
            raise UserError("ffmpeg is needed to decode music; install it "
                            "(apt-get install ffmpeg) or use --no-music") from err
        raise UserError(f"music file not found: {path}") from err
    except (CouldntDecodeError, IndexError, ValueError, OSError) as err:
        raise UserError(f"cannot decode {Path(path).name}: is it a wav/mp3/ogg/flac audio "
                        "file? Pick another or use --no-music") from err
    if len(seg) == 0 or seg.frame_count() < 1:
        raise UserError(f"{Path(path).name} holds no audio; pick another file or use --no-music")
    # OGG decodes to 32-bit samples, 8-bit WAV to 1 byte: scale by the real sample width.
    samples = seg.get_array_of_samples()
    raw = np.frombuffer(samples, dtype=np.dtype(samples.typecode))  # no per-sample copy loop
    audio = raw.reshape(-1, seg.channels).astype(np.float32)
    audio *= np.float32(1.0 / 2 ** (8 * seg.sample_width - 1))
    if seg.channels == 1:
        audio = np.repeat(audio, 2, axis=1)
    elif seg.channels > 2:
        audio = audio[:, :2]
    return resample(audio.astype(np.float32), seg.frame_rate, rate)


class MusicSource:
    """Endless music: track after track (or one track again), crossfaded at each join."""

    def __init__(self, tracks: list[Path], rate: int = MIXER_RATE,
                 crossfade_s: float = 0.5) -> None:
        if not tracks:
            raise UserError("no music tracks given; use --no-music to play without music")
        self.paths, self.rate = list(tracks), rate
        self.xfade = max(1, int(crossfade_s * rate))
        # Equal-power curves: the join keeps its loudness instead of dipping.
        ramp = np.linspace(0.0, np.pi / 2, self.xfade, dtype=np.float32)
        self._fade_in, self._fade_out = np.sin(ramp)[:, None], np.cos(ramp)[:, None]
        self.warnings: list[str] = []
        first = self._fit(load_track(self.paths[0], rate))  # decode now: fail fast at start
        self._loaded: dict[int, np.ndarray] = {0: first}
        self._index = 0
        self._prev: np.ndarray = first  # the track whose tail fades out at the current join
        self._cur: np.ndarray = first
        self._pos = 0  # within the current track; [0, xfade) is the crossfade from _prev
        self._next_index = 1 % len(self.paths)
        self._loading: threading.Thread | None = None
        self._preload(self._next_index)

    def _fit(self, track: np.ndarray) -> np.ndarray:
        # A join needs a head and a tail of `xfade` each: repeat very short tracks.
        reps = int(np.ceil((3 * self.xfade) / max(1, len(track))))
        return np.tile(track, (reps, 1)) if reps > 1 else track

    def _preload(self, index: int) -> None:
        if index in self._loaded:
            return

        def work() -> None:
            try:
                self._loaded[index] = self._fit(load_track(self.paths[index], self.rate))
            except UserError as err:  # fail soft while running: skip the track, say why once
                self.warnings.append(str(err))
                print(f"voice-coach: warning: skipping music: {err}", file=sys.stderr)

        self._loading = threading.Thread(target=work, daemon=True, name="music-load")
        self._loading.start()

    def _advance(self) -> None:
        """At the end of a track's body: the next one (if decoded yet) or this one again."""
        nxt = self._next_index
        if nxt not in self._loaded:
            nxt = self._index  # never stop the music: loop the current track meanwhile
        self._prev, self._cur = self._cur, self._loaded[nxt]
        for old in [k for k in self._loaded if k not in (nxt, self._index)]:
            del self._loaded[old]  # keep memory to a few tracks, whatever the playlist size
        self._index = nxt
        self._next_index = (nxt + 1) % len(self.paths)
        self._pos = 0
        self._preload(self._next_index)

    def read_into(self, out: np.ndarray) -> None:
        """Fill `out` (n, 2) float32 with the next n frames of music."""
        filled, n = 0, len(out)
        while filled < n:
            end_body = len(self._cur) - self.xfade  # the tail belongs to the next join
            if self._pos < self.xfade:
                take = min(n - filled, self.xfade - self._pos)
                p = self._pos
                tail = self._prev[len(self._prev) - self.xfade + p:
                                  len(self._prev) - self.xfade + p + take]
                out[filled:filled + take] = (tail * self._fade_out[p:p + take]
                                             + self._cur[p:p + take] * self._fade_in[p:p + take])
            else:
                take = min(n - filled, end_body - self._pos)
                out[filled:filled + take] = self._cur[self._pos:self._pos + take]
            filled += take
            self._pos += take
            if self._pos >= end_body:
                self._advance()
