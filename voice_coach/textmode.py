"""Text mode: the coach's words printed, commands typed or piped in as lines.

The same coordinator and core as a spoken session; only the edges differ. Speech is "done" as
soon as it is printed, so the music-ducking and speech bookkeeping still run.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TextIO

from .commands import parse
from .events import (
    Effect,
    Event,
    Heard,
    MusicGain,
    OwnVoice,
    PressureSet,
    Say,
    SpeechDone,
    StepStarted,
)
from .session import Phase, SessionState


def clock(seconds: float) -> str:
    """Session time as m:ss for people reading along."""
    return f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"


class TextSink:
    """Prints what the coach says and does. With `post`, printing counts as speaking (text
    mode); without, it only shows what the speakers are saying."""

    def __init__(self, post: Callable[[Event], None] | None, out: TextIO = sys.stdout):
        self._post = post
        self._out = out

    def carry(self, effect: Effect, state: SessionState) -> None:
        t = clock(state.clock_s)
        if isinstance(effect, StepStarted):
            step = state.script.steps[effect.index]
            n = len(state.script.steps)
            print(f"\n[{t}] step {effect.index + 1}/{n}: {step.title} "
                  f"({step.zone}, {step.duration_s * state.pace / 60:.1f} min)", file=self._out)
        elif isinstance(effect, Say):
            print(f"[{t}] coach: {effect.text}", file=self._out, flush=True)
            if self._post:
                self._post(SpeechDone(effect.utterance_id))
        elif isinstance(effect, PressureSet):
            print(f"[{t}] pressure: {effect.level} ({effect.value}/10, {effect.reason})",
                  file=self._out)
        elif isinstance(effect, MusicGain):
            print(f"[{t}] music: {effect.gain_db:+.0f} dB", file=self._out)


def read_commands(lines: TextIO, post: Callable[[Event], None],
                  phase: Callable[[], Phase], say: Callable[[str], None]) -> threading.Thread:
    """Read command lines on a daemon thread and post them. When input ends during the
    preparation step nobody can say "next" any more, so the session starts by itself."""

    def reader() -> None:
        moved_on = False
        for line in lines:
            text = line.strip()
            if not text:
                continue
            parsed = parse(text)
            if parsed is None:
                say(f"(not a command: {text!r}; type help)")
                continue
            post(Heard(parsed.command, text, engine="keys"))
            moved_on = moved_on or parsed.command == "next"
        if not moved_on and phase() is Phase.PREPARING:
            post(Heard("next", "(input closed)", engine="keys"))

    thread = threading.Thread(target=reader, name="text-input", daemon=True)
    thread.start()
    return thread



class HeardPrinter:
    """Observer printing each recognised command (plain-lines mode of a spoken session)."""

    def __init__(self, out: TextIO = sys.stdout):
        self._out = out

    def observe(self, item: Event | Effect, state: SessionState) -> None:
        if isinstance(item, Heard) and item.engine != "keys":
            print(f"[{clock(state.clock_s)}] heard: {item.text!r} -> {item.command} "
                  f"({item.engine})", file=self._out, flush=True)
        elif isinstance(item, OwnVoice):
            why = ("it was only our own sound coming back" if item.leftover
                   else "the coach had just said it")
            print(f"[{clock(state.clock_s)}] not taken: {item.text!r} -> {item.command} "
                  f"({why}; say it again)", file=self._out, flush=True)
