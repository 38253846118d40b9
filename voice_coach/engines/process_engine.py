"""Runs a listening engine in a child process, behind the same Engine interface.

pocketsphinx holds Python's GIL for up to ~150 ms per decode (measured), which starves the
audio mixer thread and makes the music stutter (output underruns). A child process has its own
GIL; blocks go over a pipe (a 100 ms block is 3 KB), detections come back.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import queue
import sys
import threading
import wave
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from .base import SAMPLE_RATE, Detection

START_TIMEOUT_S = 60.0
# While no audio waits, look this often for commands whose second opinion came in (rather than
# only with the next block, up to 100 ms later).
READY_POLL_S = 0.02
# A file to append each of the engine's verdicts to, one JSON line each (what it weighed and why
# it turned it down): how a command missed in a live session is diagnosed. Beside it (same
# name, .wav) the audio the recogniser was fed, after echo removal: `voice-coach listen
# --input` on it decodes the session's microphone again, offline.
TRACE_ENV = "VOICE_COACH_TRACE_VERDICTS"


class _VerdictTrace:
    def __init__(self, engine: Any, path: str | None) -> None:
        self._engine, self._path, self._done = engine, path, 0

    def write_new(self) -> None:
        verdicts = getattr(self._engine, "verdicts", None)
        if not self._path or verdicts is None or len(verdicts) == self._done:
            return
        at_s = round(getattr(self._engine, "stream_s", 0.0), 2)
        try:
            with open(self._path, "a", encoding="utf-8") as out:
                for v in verdicts[self._done:]:
                    row = {"at_s": at_s, **{k: getattr(v, k) for k in v.__dataclass_fields__}}
                    out.write(json.dumps(row, default=str) + "\n")
        except OSError as err:  # a diagnostic must never stop the listening: say so, stop it
            print(f"voice-coach: cannot write {TRACE_ENV}={self._path} ({err.strerror}); "
                  "not tracing", file=sys.stderr)
            self._path = None
        self._done = len(verdicts)


class _AudioTrace:
    """The recogniser's input, 16 kHz mono int16, as a WAV beside the verdict trace."""

    def __init__(self, verdicts_path: str | None) -> None:
        self._out: wave.Wave_write | None = None
        self._file: Any = None
        if not verdicts_path:
            return
        try:
            # Opened here, not by wave.open(path): a Wave_write whose file failed to open
            # prints an "Exception ignored" traceback when it is collected.
            self._file = open(  # noqa: SIM115 - closed when the recogniser ends
                Path(verdicts_path).with_suffix(".wav"), "wb")
        except OSError as err:
            print(f"voice-coach: cannot write the heard audio beside {verdicts_path} "
                  f"({err.strerror}); not recording it", file=sys.stderr)
            return
        self._out = wave.open(self._file, "wb")  # noqa: SIM115 - as the file
        self._out.setnchannels(1)
        self._out.setsampwidth(2)
        self._out.setframerate(SAMPLE_RATE)

    def write(self, chunk: np.ndarray) -> None:
        # (writeframes also rewrites the header's length: the file is whole if we are killed)
        if self._out is None:
            return
        try:
            self._out.writeframes(np.asarray(chunk, "<i2").tobytes())
        except OSError as err:  # a diagnostic must never stop the listening
            print(f"voice-coach: cannot write the heard audio ({err.strerror}); not recording "
                  "it any more", file=sys.stderr)
            self.close()

    def close(self) -> None:
        out, self._out = self._out, None
        file, self._file = self._file, None
        try:
            if out is not None:
                out.close()  # (writes the header; the file it was given stays open)
        except OSError:
            pass  # a full disk: what was written stays, under the last header written
        finally:
            if file is not None:
                with contextlib.suppress(OSError):
                    file.close()


def _serve(conn: Connection, name: str, model: Path | None) -> None:
    from .factory import make_engine

    try:
        engine = make_engine(name, model, live=True)
    except Exception as err:  # noqa: BLE001 - reported to the parent as one line
        conn.send(("error", str(err)))
        return
    conn.send(("ready", engine.name))
    trace = _VerdictTrace(engine, os.environ.get(TRACE_ENV))
    audio = _AudioTrace(os.environ.get(TRACE_ENV))
    try:
        _answer(conn, engine, trace, audio)
    finally:
        audio.close()


def _answer(conn: Connection, engine: Any, trace: _VerdictTrace, audio: _AudioTrace) -> None:
    """Feed the engine what comes over `conn` and send back what it hears, until told to
    close or the parent goes away."""
    ready = getattr(engine, "ready", None)  # commands settled beside the stream (Whisper's)
    while True:
        if ready is not None and not conn.poll(READY_POLL_S):
            if heard := ready():
                trace.write_new()
                conn.send(("heard", heard))
            continue
        try:
            kind, arg = conn.recv()
        except EOFError:  # the parent went away
            return
        if kind == "feed":
            audio.write(arg)
            heard = engine.feed(arg)
            trace.write_new()
            if heard:
                conn.send(("heard", heard))
        elif kind == "flush":
            heard = engine.flush()
            trace.write_new()
            conn.send(("flushed", heard))
        elif kind == "speaking":
            engine.set_coach_speaking(arg)
        elif kind == "close":
            return


class ProcessEngine:
    """An engine made by factory.make_engine(name, model), running in its own process."""

    def __init__(self, name: str, model: Path | None) -> None:
        ctx = mp.get_context("spawn")  # never fork a process that has audio threads running
        self._conn, child = ctx.Pipe()
        self._proc: Any = ctx.Process(target=_serve, args=(child, name, model), daemon=True,
                                      name=f"voice-coach-{name}")
        self._proc.start()
        child.close()
        self._speaking: bool | None = None
        # Messages go out on a thread of their own: when the recogniser falls behind, the pipe
        # fills and a send waits; the listener must not wait with it.
        self._outbox: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        # Detections are read the moment the recogniser sends them, on a thread of their own
        # (read when the next block went in, each waited up to a block in the pipe).
        self._on_heard: Callable[[list[Detection]], None] | None = None
        self._heard: queue.Queue[Detection] = queue.Queue()
        self._flushed: queue.Queue[list[Detection] | None] = queue.Queue()
        self._ended = threading.Event()
        self._why_ended = "process ended"
        threading.Thread(target=self._send_all, name="recogniser-feed", daemon=True).start()
        if not self._conn.poll(START_TIMEOUT_S):
            self.close()
            raise UserError(f"the {name} recogniser did not start within {START_TIMEOUT_S:.0f} "
                            "s; try again, or use --engine keys")
        try:
            kind, detail = self._conn.recv()
        except EOFError:  # it died before saying anything (an import failed, say)
            kind, detail = "error", f"the {name} recogniser process failed to start"
        if kind == "error":
            self.close()
            raise UserError(detail)
        self.name = str(detail)
        threading.Thread(target=self._receive_all, name="recogniser-heard", daemon=True).start()

    def deliver_to(self, on_heard: Callable[[list[Detection]], None] | None) -> None:
        """Hand each batch of detections to `on_heard` (on the receiving thread) the moment it
        arrives, instead of returning it from the next feed()."""
        self._on_heard = on_heard

    def feed(self, chunk: np.ndarray) -> list[Detection]:
        """Queue the chunk and return what the recogniser has heard since the last call (none
        once deliver_to() has a receiver), without waiting: the caller's echo removal must keep
        up with the microphone while Whisper thinks for a second (waiting here, the listener
        fell seconds behind, past the playback it pairs with, and the coach's own voice reached
        the recogniser uncancelled)."""
        if self._ended.is_set():
            raise RuntimeError(f"the {self.name} recogniser {self._why_ended}")
        self._outbox.put(("feed", chunk))
        return self._take_heard()

    def flush(self) -> list[Detection]:
        """Everything still to be heard, once the recogniser has caught up."""
        self._outbox.put(("flush", None))
        last = self._flushed.get()
        if last is None:
            raise RuntimeError(f"the {self.name} recogniser {self._why_ended}")
        return self._take_heard() + last

    def _take_heard(self) -> list[Detection]:
        heard: list[Detection] = []
        while True:
            try:
                heard.append(self._heard.get_nowait())
            except queue.Empty:
                return heard

    def _receive_all(self) -> None:
        while True:
            try:
                kind, detections = self._conn.recv()
            except (EOFError, OSError):  # the recogniser is gone: feed() and flush() say so
                self._end("process ended")
                return
            if kind == "flushed":
                self._flushed.put(detections)
            elif (on_heard := self._on_heard) is not None:
                try:
                    on_heard(detections)
                except Exception as err:  # noqa: BLE001 - feed() reports it; the caller rebuilds
                    self._end(f"lost a detection ({type(err).__name__}: {err})")
                    return
            else:
                for detection in detections:
                    self._heard.put(detection)

    def _end(self, why: str) -> None:
        """No more detections will come: the next feed() or a waiting flush() raises `why`."""
        self._why_ended = why
        self._ended.set()
        self._flushed.put(None)

    def set_coach_speaking(self, speaking: bool) -> None:
        if speaking != self._speaking:
            self._speaking = speaking
            self._outbox.put(("speaking", speaking))

    def _send_all(self) -> None:
        while (message := self._outbox.get()) is not None:
            try:
                self._conn.send(message)
            except (OSError, ValueError):  # the recogniser is gone: feed() finds out
                return

    def close(self) -> None:
        self._outbox.put(("close", None))
        self._outbox.put(None)
        self._proc.join(timeout=2)
        if self._proc.is_alive():
            self._proc.kill()
        self._ended.set()
