"""Session history: an observer that builds each session's summary as it runs, and the list of
past summaries.

The recorder only appends to lists and assigns fields while events pass, and `save()` copies
them before writing, so a signal handler can save the summary so far at any moment, as often as
it likes: every save atomically replaces the same file. It also saves by itself just after each
step starts and when the session finishes, so even a SIGKILL or a power cut loses one step at most.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import profiles, storage
from .events import Effect, Event, Finish, Heard, PressureSet, Start, StepStarted, Tick
from .pressure import Level
from .script import Script
from .session import Phase, SessionState

VERSION = 1
INTERRUPTED = "interrupted"


def sessions_dir(data_dir: Path) -> Path:
    return data_dir / "sessions"


@dataclass
class SessionRecorder:
    """Observer (coordinator.Observer) that keeps what the summary needs, nothing more."""

    script: Script
    person: str | None
    data_dir: Path
    started_at: float  # wall-clock epoch seconds, passed in: the core has no clock
    # (t_s, step index) per step entered; (t_s, zone, value 3-7); (t_s, command, text, engine)
    steps: list[tuple[float, int]] = field(default_factory=list)
    pressure: list[tuple[float, str, int]] = field(default_factory=list)
    commands: list[tuple[float, str, str, str]] = field(default_factory=list)
    clock_s: float = 0.0
    finish_reason: str = ""
    preferred: dict[str, Level] = field(default_factory=dict)
    autosave: bool = True  # save just after each step starts and at the finish
    autosave_error: str | None = None  # the last autosave's failure, if the disk refused
    path: Path = field(init=False)
    _save_due: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(self.started_at))
        micros = int(self.started_at % 1 * 1_000_000)
        slug = re.sub(r"[^A-Za-z0-9_-]+", "-", self.script.id)[:40] or "script"
        # Fixed at the start, so every save replaces the same file.
        self.path = sessions_dir(self.data_dir) / f"{stamp}.{micros:06d}Z-{slug}.json"

    # ------------------------------------------------------------ observing

    def observe(self, item: Event | Effect, state: SessionState) -> None:
        # Each branch does single appends/assignments, so a save from a signal handler that
        # interrupts it sees a consistent summary (at worst without this one item).
        self.preferred = dict(state.preferred)
        if isinstance(item, Tick):
            if self._save_due:  # the new step's speech went out first; now it can wait
                self._save_due = False
                self._autosave()
            if state.started and state.phase is not Phase.FINISHED:
                self.clock_s = state.clock_s + item.elapsed_s  # the core adds exactly this
            return
        self.clock_s = max(self.clock_s, state.clock_s)
        if isinstance(item, Start) and not state.started:
            first = self.script.steps[0]
            self._pressure(0.0, first.zone, state.level.scale)
        elif isinstance(item, Heard):
            self.commands.append((state.clock_s, item.command, item.text, item.engine))
        elif isinstance(item, StepStarted):
            self.steps.append((state.clock_s, item.index))
            zone = self.script.steps[item.index].zone
            if item.index == state.index and zone != "prep":
                # The level carried into the zone, so each zone's timeline starts somewhere.
                self._pressure(state.clock_s, zone, state.level.scale)
        elif isinstance(item, PressureSet):
            self._pressure(state.clock_s, item.zone, item.value)
        elif isinstance(item, Finish):
            self.finish_reason = item.reason
        if isinstance(item, StepStarted):
            # Saved at the next tick, not here: this runs before the step's words are spoken.
            self._save_due = self.autosave
        elif isinstance(item, Finish) and self.autosave:
            self._autosave()  # the closing words are already on their way

    def _autosave(self) -> None:
        # A full disk must not stop the guiding: note it; finish_recording tries again and
        # reports. A step starts every minute or two, so this is a few small writes a session.
        try:
            self.save()
            self.autosave_error = None
        except storage.StorageError as err:
            self.autosave_error = str(err)

    def _pressure(self, t_s: float, zone: str, value: int) -> None:
        point = (round(t_s, 3), zone, value)
        if not self.pressure or self.pressure[-1] != point:
            self.pressure.append(point)

    # ------------------------------------------------------------ results

    def summary(self, reason: str = INTERRUPTED) -> dict[str, Any]:
        """The summary so far; `reason` is used while the session has not finished."""
        steps, total = list(self.steps), self.clock_s
        rows = []
        for n, (t_s, index) in enumerate(steps):
            end = steps[n + 1][0] if n + 1 < len(steps) else total
            step = self.script.steps[index]
            rows.append({"index": index, "id": step.id, "title": step.title, "zone": step.zone,
                         "t_s": round(t_s, 3), "duration_s": round(max(0.0, end - t_s), 3)})
        return {
            "version": VERSION,
            "script": {"id": self.script.id, "title": self.script.title},
            "person": self.person,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
            "started_at_s": self.started_at,
            "finish_reason": self.finish_reason or reason,
            "total_s": round(total, 3),
            "steps": rows,
            "pressure": [list(p) for p in list(self.pressure)],
            "commands": [{"t_s": round(t, 3), "command": c, "text": text, "engine": engine}
                         for t, c, text, engine in list(self.commands)],
        }

    def save(self, data_dir: Path | None = None, reason: str = INTERRUPTED) -> Path:
        """Atomically write the summary so far (safe from a signal handler, idempotent).
        Raises storage.StorageError when the disk refuses."""
        path = self.path if data_dir is None else sessions_dir(data_dir) / self.path.name
        storage.write_json(path, self.summary(reason))
        return path

    def remembered_preferences(self) -> dict[str, Level]:
        """The receiver's final preferred pressure per zone, within the caps, for the profile."""
        return profiles.clamp(self.preferred)


def start_recording(script: Script, person: str | None, data_dir: Path,
                    started_at: float, autosave: bool = True) -> SessionRecorder:
    """A recorder for a session about to start. Checks the person's name first (one-line
    UserError), so a bad --for fails before any audio starts."""
    name = profiles.check_name(person) if person is not None else None
    for folder in (sessions_dir(data_dir), profiles.profiles_dir(data_dir)):
        storage.sweep_temp(folder)  # leftovers of writers killed mid-write
    return SessionRecorder(script, name, data_dir, started_at, autosave=autosave)


def finish_recording(recorder: SessionRecorder, reason: str = INTERRUPTED) -> list[str]:
    """Save the summary and, for a named person, merge their preferences into the profile.
    Returns one-line notes to show. Raises storage.StorageError (one line) when the disk
    refuses, after trying both: a summary that cannot be written must not cost the profile."""
    notes: list[str] = []
    errors: list[str] = []
    try:
        notes.append(f"Saved the session summary to {recorder.save(reason=reason)}.")
    except storage.StorageError as err:
        errors.append(str(err))
    if recorder.person is not None:
        preferred = recorder.remembered_preferences()
        try:
            _, warning = profiles.remember(recorder.data_dir, recorder.person, preferred)
        except storage.StorageError as err:
            errors.append(str(err))
        else:
            notes.extend([warning] if warning else [])
            if preferred:
                said = ", ".join(f"{zone.replace('_', ' ')} {level.label}"
                                 for zone, level in preferred.items())
                notes.append(f"Remembered for {recorder.person}: {said}.")
    if errors:
        raise storage.StorageError("; ".join(errors))
    return notes


# ---------------------------------------------------------------- reading back


def list_sessions(data_dir: Path, person: str | None = None) -> tuple[list[dict[str, Any]],
                                                                     list[str]]:
    """(summaries oldest first, warnings). Damaged files are set aside and reported; temp
    files of interrupted writes are never read as data. `person` matches case-insensitively."""
    folder = sessions_dir(data_dir)
    want = profiles.key(person) if person is not None else None
    sessions: list[dict[str, Any]] = []
    warnings: list[str] = []
    try:
        paths = sorted(p for p in folder.glob("*.json") if not storage.is_temp(p))
    except OSError:
        return [], []
    for path in paths:
        data, warning = storage.read_json(path)
        if warning:
            warnings.append(warning)
        if data is None:
            continue
        if not _looks_like_summary(data):
            warnings.append(storage.set_aside(path, "it is not a session summary"))
            continue
        who = data.get("person")
        if want is not None and (not isinstance(who, str) or who.casefold() != want):
            continue
        sessions.append(data)
    sessions.sort(key=lambda s: s["started_at_s"])
    return sessions, warnings


def _looks_like_summary(data: Any) -> bool:
    return (isinstance(data, dict) and isinstance(data.get("started_at_s"), int | float)
            and isinstance(data.get("script"), dict) and isinstance(data.get("steps"), list)
            and isinstance(data.get("pressure"), list) and isinstance(data.get("commands"), list)
            and isinstance(data.get("total_s"), int | float))


def zone_timelines(summary: dict[str, Any], columns: int) -> dict[str, list[int | None]]:
    """Per body zone, the pressure (3-7) in each of `columns` equal slices of the session, or
    None where the session was elsewhere: the data behind the terminal sparklines."""
    total = float(summary.get("total_s") or 0.0)
    steps = [s for s in summary["steps"] if isinstance(s, dict)]
    points = sorted((p for p in summary["pressure"] if isinstance(p, list) and len(p) == 3),
                    key=lambda p: p[0])
    zones = list(dict.fromkeys(s["zone"] for s in steps if s.get("zone") != "prep"))
    lines: dict[str, list[int | None]] = {z: [None] * columns for z in zones}
    if total <= 0 or not steps:
        return lines
    for col in range(columns):
        t = (col + 0.5) * total / columns
        zone = next((s["zone"] for s in reversed(steps) if s["t_s"] <= t), steps[0]["zone"])
        if zone not in lines:
            continue
        value = next((p[2] for p in reversed(points) if p[0] <= t), None)
        lines[zone][col] = value
    return lines
