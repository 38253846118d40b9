"""One music track decoded on the fly.

ffmpeg (the one pydub found) writes the track as stereo int16 at the mixer's rate to a pipe,
and a thread keeps a few seconds of it decoded ahead. A track of any length costs the same few
MB: decoding a whole 3-minute track up front through pydub held it several times over as 32-bit
samples (the app peaked at 345 MB), and an hour-long ambient track would not fit at all.
"""

from __future__ import annotations

import queue
import subprocess
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

from .errors import UserError

CHUNK_FRAMES = 4800  # what the decoding thread hands over at a time: 0.1 s at 48 kHz
FRAME_BYTES = 4  # stereo int16
INT16_SCALE = np.float32(1.0 / 32768.0)


def _ffmpeg() -> str:
    from pydub import AudioSegment

    return str(AudioSegment.converter)


class TrackStream:
    """A track being decoded: `take` what is ready, holding back the tail for the crossfade."""

    def __init__(self, path: Path, rate: int, ahead_s: float = 4.0) -> None:
        self.path = Path(path)
        self.error: str | None = None
        self.ended = False  # the consumer holds everything that is left of the track
        self.decoded_all = threading.Event()  # ffmpeg is done: time to open the next track
        self._held: deque[np.ndarray] = deque()
        self._held_frames = 0
        self._closed = False
        self._ready: queue.Queue[np.ndarray | None] = queue.Queue(
            maxsize=max(2, int(ahead_s * rate / CHUNK_FRAMES)))
        # A file, not a pipe: a flood of errors cannot block ffmpeg. Closed by _decode.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        # The pan keeps a mono track at full level in both ears (ffmpeg's own upmix puts it
        # 3 dB down) and folds a centre channel in; stereo passes as it is.
        command = [_ffmpeg(), "-nostdin", "-v", "error", "-i", str(self.path), "-vn",
                   "-af", "pan=stereo|FL=FL+FC|FR=FR+FC", "-ar", str(rate),
                   "-f", "s16le", "-"]
        try:
            self._proc = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=self._stderr)
        except FileNotFoundError as err:
            self._stderr.close()
            raise UserError("ffmpeg is needed to decode music; install it "
                            "(apt-get install ffmpeg) or use --no-music") from err
        self._thread = threading.Thread(target=self._decode, daemon=True,
                                        name=f"music-{self.path.name}")
        self._thread.start()

    @property
    def held_frames(self) -> int:
        return self._held_frames

    def _decode(self) -> None:
        assert self._proc.stdout is not None
        frames = 0
        while not self._closed:
            data = self._proc.stdout.read(CHUNK_FRAMES * FRAME_BYTES)  # full chunks until EOF
            usable = len(data) // FRAME_BYTES * FRAME_BYTES
            if usable == 0:
                break
            frames += usable // FRAME_BYTES
            self._put(np.frombuffer(data[:usable], dtype="<i2").reshape(-1, 2))
        code = self._proc.wait()
        if not self._closed and (code != 0 or frames == 0):
            self._stderr.seek(0)
            lines = self._stderr.read().decode(errors="replace").strip().splitlines()
            self.error = lines[-1] if lines else f"ffmpeg exited with code {code}"
        self._stderr.close()
        self.decoded_all.set()
        self._put(None)

    def _put(self, item: np.ndarray | None) -> None:
        while not self._closed:  # blocks while the consumer is far enough behind: backpressure
            try:
                self._ready.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _pull(self, want: int, wait_s: float) -> None:
        """Move decoded chunks into hand until `want` frames are held, the end, or wait_s."""
        deadline = time.monotonic() + wait_s
        while not self.ended and self._held_frames < want:
            try:
                chunk = self._ready.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return
            if chunk is None:
                self.ended = True
            else:
                self._held.append(chunk)
                self._held_frames += len(chunk)

    def prime(self, frames: int, wait_s: float) -> None:
        """Wait for the first `frames` (or the end); a track that cannot be decoded raises."""
        self._pull(frames, wait_s)
        if self.ended and self._held_frames == 0:
            reason = self.error or "it holds no audio"
            raise UserError(f"cannot decode {self.path.name} ({reason}): is it a wav/mp3/ogg/"
                            "flac audio file? Pick another or use --no-music")

    def take(self, n: int, keep: int, wait_s: float) -> np.ndarray:
        """Up to n frames (int16), never the last `keep`: they are the tail, for `rest()`."""
        self._pull(n + keep, wait_s)
        return self._pop(max(0, min(n, self._held_frames - keep)))

    def rest(self) -> np.ndarray:
        """Whatever is held: at the end of the track, its tail."""
        return self._pop(self._held_frames)

    def _pop(self, n: int) -> np.ndarray:
        parts, need = [], n
        while need > 0:
            chunk = self._held[0]
            if len(chunk) <= need:
                parts.append(self._held.popleft())
                need -= len(chunk)
            else:
                parts.append(chunk[:need])
                self._held[0] = chunk[need:]
                need = 0
        self._held_frames -= n
        return np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.int16)

    def close(self) -> None:
        """Stop decoding (ffmpeg is killed if still running); safe to call twice."""
        self._closed = True
        if self._proc.poll() is None:
            self._proc.kill()
        self._thread.join(timeout=2.0)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
