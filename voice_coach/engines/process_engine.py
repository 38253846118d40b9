"""Runs a listening engine in a child process, behind the same Engine interface.

pocketsphinx holds Python's GIL for up to ~150 ms per decode (measured), which starves the
audio mixer thread and makes the music stutter (output underruns). A child process has its own
GIL; blocks go over a pipe (a 100 ms block is 3 KB), detections come back.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from .base import Detection

START_TIMEOUT_S = 60.0


def _serve(conn: Connection, name: str, model: Path | None) -> None:
    from .factory import make_engine

    try:
        engine = make_engine(name, model)
    except Exception as err:  # noqa: BLE001 - reported to the parent as one line
        conn.send(("error", str(err)))
        return
    conn.send(("ready", engine.name))
    while True:
        try:
            kind, arg = conn.recv()
        except EOFError:  # the parent went away
            return
        if kind == "feed":
            conn.send(engine.feed(arg))
        elif kind == "flush":
            conn.send(engine.flush())
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

    def feed(self, chunk: np.ndarray) -> list[Detection]:
        self._conn.send(("feed", chunk))
        return list(self._conn.recv())  # waiting on the pipe releases our GIL

    def flush(self) -> list[Detection]:
        self._conn.send(("flush", None))
        return list(self._conn.recv())

    def set_coach_speaking(self, speaking: bool) -> None:
        if speaking != self._speaking:
            self._speaking = speaking
            self._conn.send(("speaking", speaking))

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(("close", None))
        self._proc.join(timeout=2)
        if self._proc.is_alive():
            self._proc.kill()
