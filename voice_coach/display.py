"""The live terminal view (rich): where the session is, the pressure, the time, what was heard.

A glanceable extra, never required: everything important is also spoken. It only reads
snapshots (the session state is immutable; the listener's status is plain numbers).
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .events import Effect, Event, Heard, OwnVoice, Say
from .listener import ListenerStatus
from .pressure import Level
from .session import Phase, SessionState
from .textmode import clock


def pressure_gauge(state: SessionState) -> Text:
    """Four cells light..deep; filled up to the level, dim past the zone's cap."""
    text = Text()
    for level in Level:
        if level <= state.level:
            style = "bold green" if level < Level.FIRM else "bold yellow"
            text.append("\u2588\u2588 ", style=style)
        elif level <= state.cap:
            text.append("\u2591\u2591 ", style="white")
        else:
            text.append("\u2591\u2591 ", style="dim red")
    text.append(f" {state.level.label} ({state.level.scale}/10, cap {state.cap.label})")
    return text


def meter(level_db: float, width: int = 24) -> Text:
    filled = int(max(0.0, min(1.0, (level_db + 60) / 60)) * width)
    return Text("\u2588" * filled + "\u2591" * (width - filled) + f" {level_db:5.0f} dB",
                style="cyan")


class LiveView:
    """Observer that keeps the last words and renders the panel on demand."""

    def __init__(self, state: Callable[[], SessionState], listener: ListenerStatus | None,
                 engine_label: str):
        self._state = state
        self._listener = listener
        self._engine_label = engine_label
        self.last_said = ""
        self.last_heard = ""
        self._live: Live | None = None

    def observe(self, item: Event | Effect, state: SessionState) -> None:
        if isinstance(item, Say):
            self.last_said = item.text
        elif isinstance(item, Heard):
            self.last_heard = f"{item.text or item.command} \u2192 {item.command} ({item.engine})"
        elif isinstance(item, OwnVoice):
            said = item.text or item.command
            why = "our own sound coming back" if item.leftover else "the coach had just said it"
            self.last_heard = f"{said} \u2192 not taken: {why}"

    def __rich__(self) -> Panel:
        s = self._state()
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        n = len(s.script.steps)
        phase = {Phase.PAUSED: " [yellow](paused)[/]", Phase.PREPARING: " (say next)"}.get(
            s.phase, "")
        table.add_row("Step", f"{s.index + 1}/{n}  {s.step.title}{phase}")
        table.add_row("Area", s.step.zone.replace("_", " "))
        table.add_row("Pressure", pressure_gauge(s))
        table.add_row("Time left", f"{clock(s.step_left_s)} in step, "
                                   f"{clock(s.session_left_s)} in session")
        if self._listener is not None:
            table.add_row("Mic", meter(self._listener.level_db) if self._listener.hearing
                          else Text("not hearing the microphone", style="red"))
        table.add_row("Heard", self.last_heard or "\u2014")
        table.add_row("Listening", self._engine_label)
        said = Text(self.last_said, style="italic")
        return Panel(Group(table, Text(""), said), title=s.script.title, border_style="blue")

    def __enter__(self) -> LiveView:
        self._live = Live(self, refresh_per_second=4, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
