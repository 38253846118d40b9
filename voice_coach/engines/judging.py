"""Runs the second opinions (Whisper's, ~0.5-1.5 s each on a busy 2-core machine) about the
utterances the first-pass recogniser has judged: at once, or beside the stream.

At once (offline: `listen --input`, the bench): the stream waits for each answer, so a file
gives the same commands every run. Beside the stream (the live session): a worker thread
answers while the recogniser keeps up with the microphone. Waiting in line, the recogniser fell
1-1.4 s behind the microphone in live sessions, and a "stop" or "softer" said during Whisper's
second had to wait for it before even its fast path could act. Whisper's runtime lets go of
Python's lock while it computes (measured: a 1 ms sleep loop ran unhindered beside it).
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Key = TypeVar("Key")
Answer = TypeVar("Answer")


class Judging(Generic[Key, Answer]):
    """Questions in, (key, answer) pairs out, in the order they were answered."""

    def __init__(self, background: bool) -> None:
        self._background = background
        self._answered: list[tuple[Key, Answer]] = []
        self._failed: BaseException | None = None
        self._lock = threading.Lock()
        self._open = 0  # asked, not yet answered
        self._idle = threading.Condition(self._lock)
        self._order = itertools.count()
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        if background:
            threading.Thread(target=self._work, name="second-opinion", daemon=True).start()

    def ask(self, key: Key, question: Callable[[], Answer], urgent: bool = False) -> None:
        """Have `question` answered. Urgent ones are answered first (a command the first pass
        already accepted, waiting on a confirmation, before a rejection that might be rescued)."""
        if not self._background:
            self._answered.append((key, question()))
            return
        with self._lock:
            self._open += 1
        self._queue.put((0 if urgent else 1, next(self._order), key, question))

    def answered(self) -> list[tuple[Key, Answer]]:
        """The answers since the last call. A question that raised raises here, on the
        caller's thread (once; the answers stay for the next call)."""
        with self._lock:
            failed, self._failed = self._failed, None
            if failed is None:
                done, self._answered = self._answered, []
        if failed is not None:
            raise failed
        return done

    def wait(self) -> None:
        """Until every question asked so far is answered."""
        with self._idle:
            self._idle.wait_for(lambda: self._open == 0)

    @property
    def waiting(self) -> int:
        """Questions asked and not answered yet."""
        with self._lock:
            return self._open

    def _work(self) -> None:
        while True:
            _, _, key, question = self._queue.get()
            try:
                answer = question()
            except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
                with self._idle:
                    self._failed = err
                    self._open -= 1
                    self._idle.notify_all()
                continue
            with self._idle:
                self._answered.append((key, answer))
                self._open -= 1
                self._idle.notify_all()
