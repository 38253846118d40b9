"""The --log file: one JSON object per line for every event in and effect out.

Each line carries the session time and where the session stood (step, zone, pressure), so a
log can be read on its own. Ticks are summarised, not logged one by one: there are 20 a second.
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path
from typing import IO, Any

from .errors import UserError
from .events import Effect, Event, Heard, PressureSet, Tick
from .session import SessionState


def record(item: Event | Effect, state: SessionState) -> dict[str, Any]:
    """The log line for one event or effect, as a dict."""
    step = state.step if state.started else None
    line: dict[str, Any] = {
        "t": round(state.clock_s, 3),
        "type": _type_name(item),
        "step": step.id if step else None,
        "zone": step.zone if step else None,
        "pressure": state.level.scale,
        "level": state.level.label,
        "phase": state.phase.value,
    }
    data = {f.name: getattr(item, f.name) for f in fields(item)}
    if isinstance(item, Heard):
        line["command"] = item.command
    if isinstance(item, PressureSet):
        line["pressure"] = item.value  # the level it was set to, not the one before
        line["level"] = item.level
    for key, value in data.items():
        line.setdefault(key, value)
    return line


def _type_name(item: Event | Effect) -> str:
    name = type(item).__name__
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


class JsonLog:
    """Observer writing the JSON-lines log; every line is flushed so a crash loses nothing."""

    def __init__(self, path: Path):
        try:
            # Owner-only, like the history: a log says who was massaged and how.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._file: IO[str] = open(fd, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        except OSError as err:
            raise UserError(f"cannot write the log file {path}: {err.strerror}; "
                            "choose another path with --log") from None

    def observe(self, item: Event | Effect, state: SessionState) -> None:
        if isinstance(item, Tick):
            return
        self._file.write(json.dumps(record(item, state), default=str) + "\n")

    def close(self) -> None:
        self._file.close()

