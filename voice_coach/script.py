"""Session scripts: the routine model, TOML parsing and validation with one-line errors.

Schema (see scripts/README.md): a [script] table (id, title, description) and [[steps]], each
with id, title, zone, duration_s, say, optional [steps.pressure] wording per level, optional
max_pressure, wait_for_next, checkin and [[steps.cues]] (at_s, say).
Parsing is separate from reading the file so the core stays free of I/O.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError
from .pressure import LEVEL_NAMES, ZONES, Level

MAX_STEP_S = 3600.0


@dataclass(frozen=True)
class Cue:
    at_s: float
    say: str


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    zone: str
    duration_s: float
    say: str
    pressure_text: dict[str, str] = field(default_factory=dict)  # level name -> wording
    max_pressure: Level | None = None
    wait_for_next: bool = False
    checkin: str | None = None  # custom check-in question; None = the default one
    cues: tuple[Cue, ...] = ()

    def text_for(self, level: Level) -> str:
        """What to say for this step at this pressure: the common text, then the wording for
        the level (or the nearest lighter level that has wording)."""
        for candidate in sorted((lv for lv in Level if lv <= level), reverse=True):
            if candidate.label in self.pressure_text:
                return f"{self.say} {self.pressure_text[candidate.label]}"
        return self.say


@dataclass(frozen=True)
class Script:
    id: str
    title: str
    description: str
    steps: tuple[Step, ...]
    source: str = ""  # file it came from, for messages

    @property
    def total_duration_s(self) -> float:
        return sum(s.duration_s for s in self.steps)

    @property
    def zones(self) -> list[str]:
        return list(dict.fromkeys(s.zone for s in self.steps))


class ScriptError(UserError):
    """A script file is missing or broken; the message names the file, step and field."""


_SCRIPT_KEYS = {"id", "title", "description"}
_STEP_KEYS = {"id", "title", "zone", "duration_s", "say", "pressure", "max_pressure",
              "wait_for_next", "checkin", "cues"}
_REQUIRED_STEP_KEYS = ("id", "title", "zone", "duration_s", "say")


def parse_script(text: str, source: str = "<script>") -> Script:
    """Parse and validate TOML text. Raises ScriptError with one line: file, step, field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScriptError(f"{source}: not valid TOML ({err}); fix the syntax at that line") \
            from None
    return _build(data, source)


def _fail(source: str, where: str, problem: str) -> ScriptError:
    return ScriptError(f"{source}: {where}: {problem}")


def _build(data: dict[str, Any], source: str) -> Script:
    unknown = set(data) - {"script", "steps"}
    if unknown:
        raise _fail(source, "top level", f"unknown key {sorted(unknown)[0]!r} "
                                         "(expected [script] and [[steps]])")
    head = data.get("script")
    if not isinstance(head, dict):
        raise _fail(source, "[script]", "missing table (needs id, title, description)")
    bad = set(head) - _SCRIPT_KEYS
    if bad:
        raise _fail(source, "[script]", f"unknown key {sorted(bad)[0]!r}")
    for key in ("id", "title"):
        if not isinstance(head.get(key), str) or not head[key].strip():
            raise _fail(source, "[script]", f"field {key!r} is missing or not text")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise _fail(source, "[[steps]]", "no steps: add at least one [[steps]] table")
    steps: list[Step] = []
    seen: set[str] = set()
    for number, raw in enumerate(raw_steps, start=1):
        step = _build_step(raw, source, number)
        if step.id in seen:
            raise _fail(source, f"step {step.id!r}", "field 'id' is used by an earlier step")
        seen.add(step.id)
        steps.append(step)
    return Script(head["id"], head["title"], str(head.get("description", "")), tuple(steps),
                  source)


def _build_step(raw: Any, source: str, number: int) -> Step:
    if not isinstance(raw, dict):
        raise _fail(source, f"step {number}", "is not a table")
    name = raw.get("id") if isinstance(raw.get("id"), str) else f"#{number}"
    where = f"step {name!r}"
    unknown = set(raw) - _STEP_KEYS
    if unknown:
        raise _fail(source, where, f"unknown field {sorted(unknown)[0]!r}")
    for key in _REQUIRED_STEP_KEYS:
        if key not in raw:
            raise _fail(source, where, f"missing field {key!r}")
    for key in ("id", "title", "say"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise _fail(source, where, f"field {key!r} must be non-empty text")
    zone = raw["zone"]
    if zone not in ZONES:
        raise _fail(source, where, f"field 'zone': unknown zone {zone!r} "
                                   f"(use one of {', '.join(ZONES)})")
    duration = raw["duration_s"]
    if isinstance(duration, bool) or not isinstance(duration, int | float) \
            or not 0 < duration <= MAX_STEP_S:
        raise _fail(source, where, f"field 'duration_s': {duration!r} is not a number of "
                                   f"seconds between 1 and {MAX_STEP_S:.0f}")
    pressure = raw.get("pressure", {})
    if not isinstance(pressure, dict):
        raise _fail(source, where, "field 'pressure' must be a table of level = text")
    for level, text in pressure.items():
        if level not in LEVEL_NAMES:
            raise _fail(source, where, f"field 'pressure.{level}': unknown level "
                                       f"(use {', '.join(LEVEL_NAMES)})")
        if not isinstance(text, str) or not text.strip():
            raise _fail(source, where, f"field 'pressure.{level}' must be non-empty text")
    max_pressure = None
    if "max_pressure" in raw:
        try:
            max_pressure = Level.parse(str(raw["max_pressure"]))
        except ValueError as err:
            raise _fail(source, where, f"field 'max_pressure': {err}") from None
    for key in ("wait_for_next",):
        if key in raw and not isinstance(raw[key], bool):
            raise _fail(source, where, f"field {key!r} must be true or false")
    checkin = raw.get("checkin")
    if checkin is not None and (not isinstance(checkin, str) or not checkin.strip()):
        raise _fail(source, where, "field 'checkin' must be non-empty text")
    cues = tuple(_build_cue(c, source, where, float(duration)) for c in raw.get("cues", []))
    return Step(raw["id"], raw["title"], zone, float(duration), raw["say"].strip(),
                {k: v.strip() for k, v in pressure.items()}, max_pressure,
                bool(raw.get("wait_for_next", False)), checkin, cues)


def _build_cue(raw: Any, source: str, where: str, duration: float) -> Cue:
    if not isinstance(raw, dict) or set(raw) != {"at_s", "say"}:
        raise _fail(source, where, "field 'cues': each cue needs exactly at_s and say")
    at = raw["at_s"]
    if isinstance(at, bool) or not isinstance(at, int | float) or not 0 < at < duration:
        raise _fail(source, where, f"field 'cues.at_s': {at!r} must lie inside the step "
                                   f"(0 to {duration:.0f} s)")
    if not isinstance(raw["say"], str) or not raw["say"].strip():
        raise _fail(source, where, "field 'cues.say' must be non-empty text")
    return Cue(float(at), raw["say"].strip())


# ---------------------------------------------------------------- finding and reading files


def builtin_dir() -> Path:
    """Where the built-in scripts live: package data in a wheel, else the checkout's scripts/."""
    packaged = Path(__file__).parent / "_data" / "scripts"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "scripts"


def builtin_names() -> list[str]:
    return sorted(p.stem for p in builtin_dir().glob("*.toml"))


def resolve(name_or_path: str) -> Path:
    """A built-in script name ("quick") or a path to the user's own TOML file."""
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix == ".toml" or candidate.exists() or "/" in name_or_path:
        return candidate
    return builtin_dir() / f"{name_or_path}.toml"


def load_script(name_or_path: str) -> Script:
    path = resolve(name_or_path)
    if not path.is_file():
        known = ", ".join(builtin_names()) or "none found"
        raise ScriptError(f"{name_or_path}: no such script file or built-in script "
                          f"(built-in: {known}; or give a path to a .toml file)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ScriptError(f"{path}: cannot read it ({err}); check the file's permissions "
                          "and that it is UTF-8 text") from None
    return parse_script(text, str(path))
