"""Per-person memory (`--for NAME`): the receiver's preferred pressure per zone, always capped.

A profile is `<data>/profiles/<name>.json`. Values are level names; they are clamped to the zone
caps when read and when written, so a hand-edited or stale file can never raise the pressure
above what the zone allows. A damaged file is set aside and the session starts from defaults.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path

from . import storage
from .errors import UserError
from .pressure import LEVEL_NAMES, ZONES, Level, cap_for

VERSION = 1
MAX_NAME = 64
# Letters (any script), digits, spaces and . ' - _ ; must start with a letter or digit.
_NAME = re.compile(r"[^\W_][\w .'-]*")


def check_name(name: str) -> str:
    """The name as given (trimmed), or a one-line UserError. Names become file names, so
    anything that could leave the profiles folder (/, \\, .., control characters) is refused."""
    clean = name.strip()
    if not clean:
        raise UserError("--for needs a name, e.g. --for Sam")
    if len(clean) > MAX_NAME:
        raise UserError(f"the name after --for is longer than {MAX_NAME} characters; "
                        "use a shorter one")
    if "/" in clean or "\\" in clean or ".." in clean or not _NAME.fullmatch(clean):
        raise UserError(f"{clean!r} cannot be used as a name: use letters, digits, spaces, "
                        "' - _ or single dots (no / or ..)")
    return clean


def key(name: str) -> str:
    """The file stem for a name: 'Sam' and 'sam ' are the same person."""
    return check_name(name).casefold()


def profiles_dir(data_dir: Path) -> Path:
    return data_dir / "profiles"


def profile_path(data_dir: Path, name: str) -> Path:
    return profiles_dir(data_dir) / f"{key(name)}.json"


def clamp(preferred: Mapping[str, Level | str]) -> dict[str, Level]:
    """Known body zones only, each within its cap; unknown zones and level names are dropped."""
    out: dict[str, Level] = {}
    for zone, value in preferred.items():
        if zone not in ZONES or zone == "prep":
            continue
        if isinstance(value, Level):
            level = value
        elif isinstance(value, str) and value.strip().lower() in LEVEL_NAMES:
            level = Level.parse(value)
        else:
            continue
        out[zone] = min(level, cap_for(zone))
    return out


def load_profile(data_dir: Path, name: str) -> tuple[dict[str, Level], str | None]:
    """(preferred level per zone, warning or None). A missing profile is empty; a damaged one
    is moved aside and reported in the warning; the session always gets something to start."""
    path = profile_path(data_dir, name)
    data, warning = storage.read_json(path)
    if data is None:
        return {}, warning
    preferred = data.get("preferred") if isinstance(data, dict) else None
    if not isinstance(preferred, dict):
        return {}, storage.set_aside(path, "it has no 'preferred' table")
    return clamp(preferred), None


def save_profile(data_dir: Path, name: str, preferred: Mapping[str, Level | str]) -> Path:
    """Atomically write the person's preferences (clamped to the caps). Raises StorageError."""
    path = profile_path(data_dir, name)
    levels = clamp(preferred)
    storage.write_json(path, {
        "version": VERSION,
        "name": check_name(name),
        "preferred": {zone: levels[zone].label for zone in ZONES if zone in levels},
        "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    return path


def remember(data_dir: Path, name: str,
             preferred: Mapping[str, Level | str]) -> tuple[Path, str | None]:
    """Merge this session's preferences into the stored profile and save it: zones the session
    never touched keep what was remembered before. Returns (path, warning from reading)."""
    old, warning = load_profile(data_dir, name)
    return save_profile(data_dir, name, {**old, **clamp(preferred)}), warning
