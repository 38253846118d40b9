"""The coordinator: one thread, one inbox, the only owner of the session state.

Edges (listener, keyboard, speech output) post events into the inbox from their own threads; the
coordinator turns wall-clock time into Tick events, feeds everything to the pure core in order,
and hands the resulting effects to the sinks. Nothing else ever touches the state.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from .commands import priority
from .events import Effect, Event, Heard, Tick
from .session import Phase, SessionState, handle

TICK_EVERY_S = 0.05  # wall seconds between ticks: fine enough for cues, cheap enough to idle
FINISH_GRACE_S = 60.0  # wall seconds to let the last words play out after Finish


class EffectSink(Protocol):
    def carry(self, effect: Effect, state: SessionState) -> None:
        """Carry out one effect (speak, chime, duck...). Must not block for long."""
        ...


class Observer(Protocol):
    def observe(self, item: Event | Effect, state: SessionState) -> None:
        """See every event in and effect out (logs, display, memory)."""
        ...


class Coordinator:
    def __init__(self, state: SessionState, sinks: Iterable[EffectSink],
                 observers: Iterable[Observer] = (), speed: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.state = state
        self.inbox: queue.Queue[Event] = queue.Queue()
        self._sinks = list(sinks)
        self._observers = list(observers)
        self._speed = speed
        self._clock = clock

    def add_sink(self, sink: EffectSink) -> None:
        """Sinks often need `post` (to report SpeechDone), so they may be added after init."""
        self._sinks.append(sink)

    def add_observer(self, observer: Observer) -> None:
        self._observers.append(observer)

    def post(self, event: Event) -> None:
        """Thread-safe: any edge may call this at any time."""
        self.inbox.put(event)

    def apply(self, event: Event) -> None:
        """Feed one event to the core and carry out its effects (coordinator thread only)."""
        for observer in self._observers:
            observer.observe(event, self.state)
        self.state, effects = handle(self.state, event)
        for effect in effects:
            for observer in self._observers:
                observer.observe(effect, self.state)
            for sink in self._sinks:
                sink.carry(effect, self.state)

    def run(self, first: Event) -> SessionState:
        """Run until the session finishes and its last words have been spoken."""
        self.apply(first)
        last = self._clock()
        finished_at: float | None = None
        while True:
            batch = self._wait_for_events(TICK_EVERY_S)
            now = self._clock()
            if self.state.phase is not Phase.FINISHED:
                self.apply(Tick((now - last) * self._speed))
            last = now
            # Commands heard at once: the safer one goes first (stop > pause > softer ...).
            # Typed lines keep their order: they were meant one after the other.
            if any(isinstance(e, Heard) and e.engine != "keys" for e in batch):
                batch.sort(key=lambda e: priority(e.command) if isinstance(e, Heard) else -1)
            for event in batch:
                self.apply(event)
            if self.state.phase is Phase.FINISHED:
                finished_at = finished_at or now
                if not self.state.speaking or now - finished_at > FINISH_GRACE_S:
                    return self.state

    def _wait_for_events(self, timeout_s: float) -> list[Event]:
        events: list[Event] = []
        try:
            events.append(self.inbox.get(timeout=timeout_s))
            while True:
                events.append(self.inbox.get_nowait())
        except queue.Empty:
            pass
        return events

