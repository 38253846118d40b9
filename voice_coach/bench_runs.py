"""The listening bench's streams through fresh engines: one after another in this process, or
several at once in worker processes (`voice-coach bench listen --workers N`).

Each stream gets an engine of its own, so streams are independent. One at a time, pocketsphinx
decodes on one core while the other mostly waits, and Whisper on two threads is only 1.3x as
fast as on one. In worker processes each engine's Whisper runs on one thread and the streams
share the cores: `bench listen --quick` on 2 cores took 150 s instead of 221 s, every decision
the same (scores equal to 3 decimals). The numbers do not depend on it, except the real-time
factor, which is each engine's own CPU time over the audio it heard: Whisper on one thread
spends less (RTF .361 against .419 there).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .audio_in import RATE, chunks
from .bench_opinions import recorded
from .engines.base import Detection, Engine
from .engines.factory import make_engine

WORKER_JUDGE_THREADS = 1  # Whisper's threads in each worker process


@dataclass
class Run:
    detections: list[Detection]
    audio_s: float
    cpu_s: float
    judged: list[dict[str, Any]] = field(default_factory=list)  # Whisper's, as opinion rows


def run_engine(engine: Engine, audio: np.ndarray, coach: list[tuple[float, float]],
               record: bool = False) -> Run:
    """Feed the whole stream as fast as possible in 100 ms chunks, telling the engine when the
    coach is speaking, and time only the engine. `record`: keep Whisper's decisions."""
    judged = recorded(engine) if record else []
    dets: list[Detection] = []
    cpu = 0.0
    pos = 0
    for chunk in chunks(audio):
        t = pos / RATE
        engine.set_coach_speaking(any(a - 0.1 <= t <= b + 0.3 for a, b in coach))
        c0 = time.process_time()
        dets += engine.feed(chunk)
        cpu += time.process_time() - c0
        pos += len(chunk)
    c0 = time.process_time()
    dets += engine.flush()
    cpu += time.process_time() - c0
    return Run(dets, len(audio) / RATE, cpu, judged)


_worker_make: Callable[[], Engine] | None = None


def _start_worker(engine_name: str, model: Path | None) -> None:
    global _worker_make
    _worker_make = partial(make_engine, engine_name, model, judge_threads=WORKER_JUDGE_THREADS)


def _run_in_worker(audio: np.ndarray, coach: list[tuple[float, float]], record: bool) -> Run:
    assert _worker_make is not None, "the worker was started without an engine"
    return run_engine(_worker_make(), audio, coach, record)


class Runs:
    """Runs streams through fresh engines (factory.make_engine's `engine_name` with `model`).
    `submit` hands one over and returns what gives its Run when asked: at once for `workers` 1
    (the stream runs then, in this process), else as soon as a worker process has run it.
    Started with `spawn`: the CLI has already built an engine here, and forking a process
    whose Whisper holds running threads is not safe."""

    def __init__(self, engine_name: str, model: Path | None, workers: int = 1,
                 record: bool = False, log: Callable[[str], None] = lambda _s: None) -> None:
        self._make = partial(make_engine, engine_name, model)
        self._record = record
        self._log = log
        self._submitted = self._done = 0
        self._pool = None if workers <= 1 else ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker, initargs=(engine_name, model))
        self.workers = max(workers, 1)

    def submit(self, audio: np.ndarray, coach: list[tuple[float, float]]) -> Callable[[], Run]:
        if self._pool is None:
            return lambda: run_engine(self._make(), audio, coach, self._record)
        self._submitted += 1
        future = self._pool.submit(_run_in_worker, audio, coach, self._record)
        future.add_done_callback(self._count)
        return future.result

    def _count(self, future: Future[Run]) -> None:
        self._done += 1
        if future.exception() is None:
            self._log(f"  ({self._done} of {self._submitted} streams done)")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
