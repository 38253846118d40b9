"""Judging: second opinions answered at once, or on a worker beside the stream."""

from __future__ import annotations

import threading

import pytest

from voice_coach.engines.judging import Judging


def test_at_once_each_question_is_answered_before_ask_returns() -> None:
    judging: Judging[str, int] = Judging(background=False)
    judging.ask("a", lambda: 1)
    assert judging.answered() == [("a", 1)]
    assert judging.answered() == []


def test_beside_the_stream_urgent_questions_go_first_and_ask_never_waits() -> None:
    judging: Judging[str, str] = Judging(background=True)
    started, gate = threading.Event(), threading.Event()

    def busy() -> str:
        started.set()
        gate.wait(10)
        return "done"

    judging.ask("busy", busy)
    assert started.wait(10)  # the worker is on it
    judging.ask("rescue", lambda: "maybe")
    judging.ask("confirm", lambda: "yes", urgent=True)
    assert judging.answered() == [] and judging.waiting == 3
    gate.set()
    judging.wait()
    assert judging.answered() == [("busy", "done"), ("confirm", "yes"), ("rescue", "maybe")]
    assert judging.waiting == 0


def test_a_question_that_fails_raises_on_the_callers_thread() -> None:
    judging: Judging[str, int] = Judging(background=True)

    def broken() -> int:
        raise RuntimeError("the model is gone")

    judging.ask("x", broken)
    judging.ask("y", lambda: 2)
    judging.wait()
    with pytest.raises(RuntimeError, match="the model is gone"):
        judging.answered()
    assert judging.answered() == [("y", 2)]  # reported once; nothing else is lost
