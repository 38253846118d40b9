"""Speech synthesis: pyttsx3 on one worker thread rendering to WAV files, cached on disk.

pyttsx3 2.99 on Linux returns from runAndWait before the file exists, can hang, and only works
on the thread that made the engine; so one thread owns it, each utterance is rendered to a file
and awaited with a watchdog, and if it misbehaves we switch to the espeak-ng command line.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from . import resampling
from .errors import UserError

MIXER_RATE = 48_000
_URGENT, _BACKGROUND = 0, 1  # worker queue priorities: spoken now beats pre-rendering
_TMP_IDS = itertools.count()


@dataclass(frozen=True)
class VoiceInfo:
    id: str
    name: str
    languages: tuple[str, ...]


def list_voices() -> list[VoiceInfo]:
    """The voices pyttsx3 offers (espeak-ng's on Linux); variants like `+f3` may be appended."""
    try:
        import pyttsx3

        engine = pyttsx3.init()
        voices = engine.getProperty("voices")
    except Exception as err:  # pyttsx3 raises many kinds when its driver is missing
        raise UserError(f"text-to-speech is unavailable ({err}); install espeak-ng "
                        "(apt-get install espeak-ng libespeak-ng1)") from err
    return [VoiceInfo(str(v.id), str(v.name), tuple(str(x) for x in (v.languages or ())))
            for v in voices]


def check_voice(voice: str | None, voices: list[VoiceInfo]) -> None:
    """Fail fast on an unknown voice: pyttsx3 itself only reports it to an error callback."""
    if voice is None:
        return
    base = voice.split("+", 1)[0]
    known = {v.id for v in voices} | {v.id.split("/")[-1] for v in voices}
    known |= {lang for v in voices for lang in v.languages}
    if base not in known:
        raise UserError(f"unknown voice '{voice}'; run 'voice-coach voices' to list them")


def resample(samples: np.ndarray, rate_in: int, rate_out: int = MIXER_RATE) -> np.ndarray:
    """Band-limited resampling to the mixer's rate, float32 in and out."""
    return resampling.resample(samples, rate_in, rate_out)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A 16-bit mono/stereo WAV as float32 mono, with its rate."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit PCM")
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        channels, rate = w.getnchannels(), w.getframerate()
    mono = data.reshape(-1, channels).mean(axis=1) if channels > 1 else data
    return (mono.astype(np.float32) / 32768.0), rate


def _wav_complete(path: Path) -> bool:
    """True once the WAV's header is written and its data is all there."""
    try:
        with wave.open(str(path), "rb") as w:
            frames = w.getnframes()
            return frames > 0 and path.stat().st_size >= 44 + frames * w.getsampwidth()
    except (OSError, EOFError, wave.Error):
        return False


class _DropDriverChatter:
    """stdout wrapper that swallows the espeak driver's "Audio saved to ..." lines.

    The driver prints them from espeak's own thread; they would spoil the CLI's output (a bench's
    last line must be JSON). Everything else passes through untouched.
    """

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner
        self._swallow_newline = False

    def write(self, text: str) -> int:
        if text.startswith("Audio saved to "):
            self._swallow_newline = True
            return len(text)
        if self._swallow_newline and text == "\n":
            self._swallow_newline = False
            return 1
        self._swallow_newline = False
        return self._inner.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _settle_espeak(timeout_s: float = 2.0) -> None:
    """Let espeak apply a property change before the next utterance.

    espeak runs commands from a queue of its own; the driver's stop() at the end of runAndWait
    cancels that queue, and with it a rate change still waiting there (measured: the next file
    came out at the old rate about half the time). Waiting until espeak is idle fixes it.
    """
    try:
        from pyttsx3.drivers import _espeak
    except (ImportError, OSError):  # another platform's driver: nothing to wait for
        return
    deadline = time.monotonic() + timeout_s
    while _espeak.IsPlaying() and time.monotonic() < deadline:
        time.sleep(0.001)


class _Pyttsx3Thread:
    """The one thread that owns pyttsx3's engine (espeak is process-global: one per process).

    Each job carries its own voice and rate, so several Speech objects can share it.
    """

    _instance: _Pyttsx3Thread | None = None
    _instance_lock = threading.Lock()

    @classmethod
    def get(cls) -> _Pyttsx3Thread:
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def __init__(self) -> None:
        self.jobs: queue.PriorityQueue[tuple[int, int, str | None, int, str, Path,
                                             Future[Path]]] = queue.PriorityQueue()
        self._seq = itertools.count()
        threading.Thread(target=self._loop, daemon=True, name="tts-pyttsx3").start()

    def submit(self, priority: int, voice: str | None, rate: int, text: str,
               tmp: Path) -> Future[Path]:
        fut: Future[Path] = Future()
        self.jobs.put((priority, next(self._seq), voice, rate, text, tmp, fut))
        return fut

    def _loop(self) -> None:
        try:
            import pyttsx3

            if not isinstance(sys.stdout, _DropDriverChatter):
                sys.stdout = _DropDriverChatter(sys.stdout)
            engine = pyttsx3.init()
            finished = threading.Event()
            errors: list[BaseException] = []

            def on_finished(name: str | None, completed: bool) -> None:
                if completed:  # a stop() also reports "finished", with completed=False
                    finished.set()

            engine.connect("finished-utterance", on_finished)
            engine.connect("error", lambda name, exception: errors.append(exception))
        except Exception as err:
            while True:  # every job, now and later, learns that pyttsx3 is unusable
                self.jobs.get()[-1].set_exception(err)
        applied: tuple[str | None, int] | None = None
        while True:
            _, _, voice, rate, text, tmp, fut = self.jobs.get()
            try:
                if applied != (voice, rate):
                    if voice:
                        engine.setProperty("voice", voice)
                    engine.setProperty("rate", rate)
                    _settle_espeak()
                    applied = (voice, rate)
                fut.set_result(self._synth(engine, finished, errors, text, tmp))
            except Exception as err:
                fut.set_exception(err)

    @staticmethod
    def _synth(engine: Any, finished: threading.Event, errors: list[BaseException],
               text: str, tmp: Path, timeout_s: float = 30.0) -> Path:
        finished.clear()
        errors.clear()
        engine.save_to_file(text, str(tmp))
        engine.runAndWait()
        # runAndWait may return before the file exists: wait for the event and a whole file.
        deadline = time.monotonic() + timeout_s
        while not (finished.is_set() and _wav_complete(tmp)):
            if errors:
                raise RuntimeError(str(errors[0]))
            if time.monotonic() > deadline:
                raise TimeoutError("no finished-utterance event")
            finished.wait(0.005)
        return tmp


class Speech:
    """Renders text to float32 mono at `sample_rate`; `render` blocks, `prerender` does not."""

    def __init__(self, voice: str | None = None, rate_wpm: int = 160,
                 cache_dir: Path | None = None, sample_rate: int = MIXER_RATE,
                 timeout_s: float = 10.0, memory_mb: float = 32.0,
                 use_pyttsx3: bool = True) -> None:
        self.voice, self.rate_wpm, self.sample_rate = voice, rate_wpm, sample_rate
        self.timeout_s = timeout_s
        if cache_dir is None:
            from platformdirs import user_cache_dir

            cache_dir = Path(user_cache_dir("voice-coach")) / "speech"
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.backend = "pyttsx3" if use_pyttsx3 else "espeak-ng"
        self.warnings: list[str] = []
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        # Bounded by size, not count: one step's speech is ~10 MB at the mixer rate, a spoken
        # acknowledgement a few hundred kB; a count bound let a long session keep 150 MB.
        self._memory_bytes = int(memory_mb * 1e6)
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[Path]] = {}
        self._closed = False

    # ------------------------------------------------------------------ public API

    def key(self, text: str) -> str:
        raw = f"{self.backend}\0{self.voice or ''}\0{self.rate_wpm}\0{text}"
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]

    def render(self, text: str) -> np.ndarray:
        """Speech for `text` at the mixer rate (memory, then disk cache, then synthesis)."""
        key = self.key(text)
        with self._lock:
            cached = self._memory.get(key)
            if cached is not None:
                self._memory.move_to_end(key)
                return cached
        wav = self._wav_for(text, key, _URGENT)
        samples, rate = read_wav(wav)
        audio = resample(samples, rate, self.sample_rate)
        with self._lock:
            self._memory[key] = audio
            while len(self._memory) > 1 and sum(
                    a.nbytes for a in self._memory.values()) > self._memory_bytes:
                self._memory.popitem(last=False)
        return audio

    def prerender(self, texts: Iterable[str], in_memory: bool = True) -> None:
        """Render these in the background so speaking them later starts at once. With
        in_memory=False they only go to the disk cache: a whole session's speech held in
        memory at the mixer rate would be ~100 MB; the coming step's is a few MB."""
        todo = [t for t in dict.fromkeys(texts) if t.strip()]
        if todo:
            threading.Thread(target=self._prerender_all, args=(todo, in_memory), daemon=True,
                             name="tts-prerender").start()

    def warm_up(self) -> None:
        """Start the engine and load the resampler now, in the background, so the first real
        utterance does not pay ~1-2 s of start-up."""
        self.prerender(["Ready."])

    def close(self) -> None:
        self._closed = True

    # ------------------------------------------------------------------ internals

    def _prerender_all(self, texts: list[str], in_memory: bool = True) -> None:
        for text in texts:
            if self._closed:
                return
            try:
                # Background priority: a step spoken right now overtakes the pre-rendering.
                self._wav_for(text, self.key(text), _BACKGROUND)
                if in_memory:
                    self.render(text)
            except Exception as err:  # keep pre-rendering the rest; `render` will report it
                self._warn(f"could not pre-render speech: {err}")

    def _wav_for(self, text: str, key: str, priority: int) -> Path:
        path = self.cache_dir / f"{key}.wav"
        if _wav_complete(path):
            return path
        with self._lock:
            fut = self._inflight.get(key)
            if fut is None and _wav_complete(path):
                return path  # finished between the first look and taking the lock
            if fut is None:
                fut = Future()
                self._inflight[key] = fut
                if self.backend == "pyttsx3":
                    tmp = path.with_suffix(f".{os.getpid()}.{next(_TMP_IDS)}.partial")
                    job = _Pyttsx3Thread.get().submit(priority, self.voice, self.rate_wpm,
                                                      text, tmp)
                    job.add_done_callback(partial(self._finish, key=key, path=path, fut=fut))
                else:
                    threading.Thread(target=self._espeak_job, args=(text, path, key, fut),
                                     daemon=True).start()
        try:
            return fut.result(timeout=self.timeout_s)
        except TimeoutError:
            # Watchdog: pyttsx3 hung. Abandon its thread (daemon) and use the command line.
            self._fall_back("pyttsx3 did not finish within "
                            f"{self.timeout_s:.0f} s")
            with self._lock:
                self._inflight.pop(key, None)
            return self._espeak_cli(text, self.cache_dir / f"{self.key(text)}.wav")
        except UserError:
            raise
        except Exception as err:
            if self.backend == "pyttsx3":
                self._fall_back(str(err))
                with self._lock:
                    self._inflight.pop(key, None)
                return self._espeak_cli(text, self.cache_dir / f"{self.key(text)}.wav")
            raise

    def _fall_back(self, why: str) -> None:
        with self._lock:
            if self.backend != "pyttsx3":
                return
            self.backend = "espeak-ng"
            # Later utterances are keyed by the new backend, so no mixed voices in the cache.
        self._warn(f"pyttsx3 failed ({why}); speaking with the espeak-ng command line instead")

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            print(f"voice-coach: warning: {message}", file=sys.stderr)

    def _finish(self, job: Future[Path], key: str, path: Path, fut: Future[Path]) -> None:
        """Move a finished pyttsx3 file into the cache (atomically) and wake the waiters."""
        try:
            os.replace(job.result(), path)
            fut.set_result(path)
        except Exception as err:
            fut.set_exception(err)
        finally:
            with self._lock:
                self._inflight.pop(key, None)

    def _espeak_job(self, text: str, path: Path, key: str, fut: Future[Path]) -> None:
        try:
            fut.set_result(self._espeak_cli(text, path))
        except Exception as err:
            fut.set_exception(err)
        finally:
            with self._lock:
                self._inflight.pop(key, None)

    def _espeak_cli(self, text: str, path: Path) -> Path:
        exe = shutil.which("espeak-ng") or shutil.which("espeak")
        if exe is None:
            raise UserError("no speech synthesiser works; install espeak-ng "
                            "(apt-get install espeak-ng) or use --text")
        fd, tmp_name = tempfile.mkstemp(suffix=".partial", dir=self.cache_dir)
        os.close(fd)
        cmd = [exe, "-s", str(self.rate_wpm), "-w", tmp_name]
        if self.voice:
            cmd += ["-v", self.voice]
        proc = subprocess.run([*cmd, "--", text], capture_output=True, text=True,
                              timeout=max(30.0, self.timeout_s))
        if proc.returncode != 0 or not _wav_complete(Path(tmp_name)):
            Path(tmp_name).unlink(missing_ok=True)
            raise UserError(f"espeak-ng failed: {proc.stderr.strip() or proc.returncode}")
        os.replace(tmp_name, path)
        return path
