"""Unpacks a model zip safely: no absolute paths, no '..', no links, no zip bombs."""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from .errors import UserError

_CHUNK = 256 * 1024
# Refuse archives that would unpack to far more than they weigh (zip bombs).
_MAX_EXPANSION = 20
_MAX_UNPACKED_BYTES = 8 * 1024**3


def _unsafe_reason(member: zipfile.ZipInfo) -> str | None:
    """Why this zip member must not be unpacked, or None if it is fine."""
    name = member.filename
    mode = member.external_attr >> 16
    if stat.S_ISLNK(mode):
        # Refuse every link: a chain of individually harmless-looking relative links can still
        # point out of the target, and Vosk models contain none.
        return "is a symbolic link"
    if "\\" in name:
        return "uses backslashes (could escape the folder on Windows)"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "contains '..'"
    # Archives made on Windows (or by Python's writestr) carry no file type at all: fine.
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "is not a regular file or folder"
    return None


def safe_extract(archive: Path, dest: Path) -> None:
    """Unpack a zip into the empty folder `dest`, refusing the whole archive if any member is
    unsafe (absolute path, '..', link, device) or it would unpack to an absurd size."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise UserError(f"{Path(archive).name} is not a valid zip archive ({err}); "
                        "download it again") from None
    dest = Path(dest).resolve()
    with zf:
        members = zf.infolist()
        for member in members:
            reason = _unsafe_reason(member)
            if reason:
                raise UserError(f"refusing unsafe model archive: member {member.filename!r} "
                                f"{reason}; nothing was installed")
        unpacked = sum(m.file_size for m in members)
        limit = min(_MAX_UNPACKED_BYTES, max(1, Path(archive).stat().st_size) * _MAX_EXPANSION
                    + 1024**2)
        if unpacked > limit:
            raise UserError(f"refusing model archive: it would unpack to {unpacked} bytes "
                            f"(limit {limit}); nothing was installed")
        for member in members:
            out = (dest / member.filename).resolve()
            # Belt and braces: after the checks above this cannot fail, but a write outside
            # the models folder must be impossible, not merely unlikely.
            if out != dest and dest not in out.parents:
                raise UserError(f"refusing unsafe model archive: {member.filename!r} would land "
                                "outside the models folder")
            if member.is_dir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(member) as src, open(out, "xb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
            except FileExistsError:
                raise UserError(f"refusing model archive: {member.filename!r} appears twice") \
                    from None
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as err:
                raise UserError(f"model archive is corrupt at {member.filename!r} ({err}); "
                                "download it again") from None
