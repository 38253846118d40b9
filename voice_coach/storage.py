"""Files that must survive a crash: atomic writes, owner-only permissions, corrupt files set aside.

A write goes to a temporary file in the same folder, is flushed and fsynced, then renamed over
the old file, and the folder is fsynced so the rename itself is durable: a reader (or a reboot)
sees the old version or the new one, never half of one. Temporary files are named
`.<name>.<pid>.<token>.tmp`, so a `*.json` listing never mistakes one for data.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from .errors import UserError

FILE_MODE = 0o600  # profiles and history say who was massaged how: the user's eyes only
DIR_MODE = 0o700
TEMP_SUFFIX = ".tmp"
STALE_TEMP_S = 600.0  # a temp file this old belongs to a writer that died mid-write


class StorageError(UserError):
    """A data file could not be written; the message names the file and what to do."""


def data_dir(override: Path | None = None) -> Path:
    """Where profiles and history live: `override` (Settings.data_dir) or the platform's user
    data folder. Resolving it creates nothing."""
    if override is not None:
        return Path(override).expanduser()
    import platformdirs  # only needed when no folder was given

    return Path(platformdirs.user_data_dir("voice-coach", appauthor=False))


def ensure_dir(path: Path) -> Path:
    """Create `path` and any missing parents as owner-only folders (existing ones are left
    as they are: the user may have chosen a shared parent on purpose)."""
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    try:
        for folder in reversed(missing):
            with contextlib.suppress(FileExistsError):  # another process made it just now
                folder.mkdir(mode=DIR_MODE)
                os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask
    except OSError as err:
        raise StorageError(f"cannot create the data folder {path}: {err.strerror}; "
                           "check its permissions or choose another data folder") from None
    if not path.is_dir():
        raise StorageError(f"{path} is not a folder; choose another data folder")
    return path


def temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def is_temp(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that it is always the old or the new version, owner-only.
    Raises StorageError (one line) when the disk refuses."""
    ensure_dir(path.parent)
    tmp = temp_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                     FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)  # the umask could have taken bits away, never added them
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise StorageError(f"cannot save {path}: {err.strerror}; "
                           "free some disk space or check the folder's permissions") from None
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable. Some file systems cannot fsync a folder; the data is already
    safe in the renamed file then, so that is not an error."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json(path: Path, value: Any) -> None:
    """Atomically write `value` as indented JSON (ends with a newline, so a cut is visible)."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    write_atomic(path, text.encode("utf-8"))


def read_json(path: Path) -> tuple[Any | None, str | None]:
    """Read a JSON file: (value, None); a missing file is (None, None). A corrupt file is
    renamed to `<name>.corrupt-<timestamp>` and gives (None, one-line warning): it never raises,
    so a damaged profile cannot stop a session."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as err:
        return None, f"could not read {path} ({err.strerror}); carrying on without it"
    try:
        return json.loads(raw.decode("utf-8")), None
    except (UnicodeDecodeError, ValueError) as err:
        return None, set_aside(path, f"it is not valid JSON ({_short(err)})")


def set_aside(path: Path, why: str) -> str:
    """Rename a damaged file out of the way (kept for the user to inspect) and say so in one
    line. Never raises: if even the rename fails, the warning says that instead."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    try:
        os.replace(path, target)
    except OSError as err:
        return f"{path} is damaged: {why}; could not move it aside ({err.strerror}), ignoring it"
    with contextlib.suppress(OSError):
        os.chmod(target, FILE_MODE)  # kept for inspection, still the user's eyes only
    _fsync_dir(path.parent)
    return f"{path} was damaged: {why}; moved it to {target.name} and carried on without it"


def sweep_temp(folder: Path, older_than_s: float = STALE_TEMP_S) -> int:
    """Delete temporary files left by writers that died mid-write (old ones only: a young one
    may belong to a writer still at work). Returns how many were removed."""
    removed = 0
    now = time.time()
    try:
        entries = list(folder.iterdir())
    except OSError:
        return 0
    for entry in entries:
        if not is_temp(entry):
            continue
        try:
            if now - entry.stat().st_mtime >= older_than_s:
                entry.unlink()
                removed += 1
        except OSError:
            continue  # gone already, or not ours to remove
    return removed


def _short(err: Exception) -> str:
    return str(err).splitlines()[0][:120]
