"""Atomic, owner-only data files: replace by rename, corrupt files set aside, and a writer killed
with SIGKILL at random moments never leaves a partial file."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from voice_coach import history, profiles, storage
from voice_coach.pressure import Level


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_creates_owner_only_file_and_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "data.json"
    old_umask = os.umask(0)  # even a permissive umask must not widen the modes
    try:
        storage.write_json(target, {"x": 1})
    finally:
        os.umask(old_umask)
    assert json.loads(target.read_text()) == {"x": 1}
    assert mode(target) == 0o600
    assert mode(tmp_path / "a") == 0o700
    assert mode(tmp_path / "a" / "b") == 0o700
    assert sorted(p.name for p in target.parent.iterdir()) == ["data.json"]


def test_replace_is_a_rename_not_an_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "p.json"
    target.write_text("old\n")
    os.chmod(target, 0o644)
    holder = target.open("rb")  # a reader that opened the old version keeps reading it whole
    inode = target.stat().st_ino
    storage.write_atomic(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert target.stat().st_ino != inode
    assert holder.read() == b"old\n"
    holder.close()
    assert mode(target) == 0o600  # the old file's looser mode does not survive
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


def test_failed_write_is_one_line_and_leaves_the_old_file(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(storage.StorageError) as err:
        storage.write_json(blocker / "p.json", {"x": 1})
    assert "\n" not in str(err.value) and "not-a-folder" in str(err.value)


def test_read_json_missing_and_valid(tmp_path: Path) -> None:
    assert storage.read_json(tmp_path / "none.json") == (None, None)
    storage.write_json(tmp_path / "ok.json", {"a": [1, 2]})
    assert storage.read_json(tmp_path / "ok.json") == ({"a": [1, 2]}, None)


@pytest.mark.parametrize("content", [b'{"preferred": {"back": "med', b"\xff\xfe\x00junk", b""])
def test_corrupt_file_is_set_aside_and_reported(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "sam.json"
    path.write_bytes(content)
    value, warning = storage.read_json(path)
    assert value is None
    assert warning is not None and "\n" not in warning and "moved it to" in warning
    assert not path.exists()
    aside = list(tmp_path.glob("sam.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == content  # kept for the user to inspect
    assert aside[0].name in warning
    # A second damaged file in the same second gets its own name; nothing is overwritten.
    path.write_bytes(content)
    storage.read_json(path)
    assert len(list(tmp_path.glob("sam.json.corrupt-*"))) == 2


def test_sweep_removes_only_stale_temp_files(tmp_path: Path) -> None:
    data = tmp_path / "p.json"
    data.write_text("{}")
    stale = storage.temp_name(data)
    fresh = storage.temp_name(data)
    stale.write_text("{")
    fresh.write_text("{")
    old = time.time() - storage.STALE_TEMP_S - 5
    os.utime(stale, (old, old))
    assert storage.is_temp(stale) and not storage.is_temp(data)
    assert storage.sweep_temp(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([data.name, fresh.name])


def test_data_dir_override_and_default(tmp_path: Path) -> None:
    assert storage.data_dir(tmp_path / "mine") == tmp_path / "mine"
    default = storage.data_dir(None)
    assert default.name == "voice-coach" and default.is_absolute()


# ---------------------------------------------------------------- SIGKILL at random moments

# The child alternates two versions of a session summary and of a profile, forever; it says
# "go" once it is writing. Big summaries make each write take long enough to be cut in half.
_CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from voice_coach import profiles, storage
    from voice_coach.pressure import Level
    data = Path(sys.argv[1]); naive = sys.argv[2] == "naive"
    summary = data / "sessions" / "20260101T000000.000000Z-quick.json"
    versions = [Path(name).read_bytes() for name in sys.argv[3:5]]
    prefs = [{"back": Level.MEDIUM, "shoulders": Level.FIRM}, {"neck": Level.LIGHT}]
    print("go", flush=True)
    n = 0
    while True:
        if naive:  # what atomic writing prevents: truncate, then write in pieces
            with open(summary, "wb") as f:
                for i in range(0, len(versions[n % 2]), 4096):
                    f.write(versions[n % 2][i:i + 4096]); f.flush()
        else:
            storage.write_atomic(summary, versions[n % 2])
            profiles.save_profile(data, "Sam", prefs[n % 2])
        n += 1
""")


_SUMMARY_NAME = "20260101T000000.000000Z-quick.json"


def _summary_text(fill: str) -> str:
    return json.dumps({
        "version": 1, "script": {"id": "quick", "title": "Quick back rub"}, "person": "Sam",
        "started_at": "2026-01-01T00:00:00Z", "started_at_s": 1767225600.0,
        "finish_reason": "completed", "total_s": 270.0, "steps": [],
        "pressure": [[float(i), "back", 3] for i in range(8000)], "commands": [],
        "note": fill * 100_000,
    }, indent=2) + "\n"


def _kill_rounds(data: Path, mode_: str, seconds: float, versions: list[str],
                 enough: int = 40) -> tuple[int, int, set[bytes]]:
    """Start the writer, kill it with SIGKILL after a random moment, inspect; repeat until
    `enough` rounds or `seconds` have passed (a busy machine starts Python slowly).
    Returns (rounds, rounds that found a file that is neither version, versions found)."""
    rng = random.Random(1234)
    sources = []
    for n, text in enumerate(versions):  # too big for argv: the child reads them from files
        sources.append(data.parent / f"{data.name}-version-{n}.json")
        sources[-1].write_text(text)
    summary = data / "sessions" / _SUMMARY_NAME
    expected = {v.encode() for v in versions}
    rounds = torn = 0
    seen: set[bytes] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and rounds < enough:
        command = [sys.executable, "-c", _CHILD, str(data), mode_, *map(str, sources)]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=Path(__file__).parent.parent)
        assert child.stdout is not None
        assert child.stdout.readline() == b"go\n"
        time.sleep(rng.uniform(0.0, 0.04))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        rounds += 1
        content = summary.read_bytes() if summary.exists() else None
        if content is not None and content not in expected:
            torn += 1
            continue
        if content is not None:
            seen.add(content)
        if mode_ == "atomic":
            _check_profile(data)
    return rounds, torn, seen


def _check_profile(data: Path) -> None:
    path = profiles.profile_path(data, "Sam")
    if not path.exists():
        return  # killed before the first profile write finished: no version yet is fine
    raw = path.read_bytes()
    assert raw.endswith(b"}\n"), f"partial profile: {raw[-40:]!r}"
    preferred = json.loads(raw)["preferred"]
    assert preferred in ({"back": "medium", "shoulders": "firm"}, {"neck": "light"})
    assert mode(path) == 0o600


@pytest.mark.slow
def test_sigkill_at_random_moments_never_leaves_a_partial_file(tmp_path: Path) -> None:
    versions = [_summary_text("a"), _summary_text("b")]
    rounds, torn, seen = _kill_rounds(tmp_path, "atomic", 10.0, versions)
    assert rounds >= 15
    assert torn == 0
    assert len(seen) == 2  # the kills did land between different writes
    # Temp files of killed writers may remain, but they are never read as data.
    sessions_dir = history.sessions_dir(tmp_path)
    leftovers = [p for p in sessions_dir.iterdir() if p.name != _SUMMARY_NAME]
    assert all(storage.is_temp(p) for p in leftovers)
    listed, warnings = history.list_sessions(tmp_path)
    assert warnings == [] and len(listed) == 1 and listed[0]["person"] == "Sam"
    preferred, warning = profiles.load_profile(tmp_path, "sam")
    assert warning is None
    assert preferred in ({"back": Level.MEDIUM, "shoulders": Level.FIRM}, {"neck": Level.LIGHT})
    assert not list(tmp_path.rglob("*.corrupt-*"))
    # Once stale, the killed writers' leftovers are swept.
    for p in [*leftovers, *profiles.profiles_dir(tmp_path).iterdir()]:
        if storage.is_temp(p):
            os.utime(p, (0, 0))
    storage.sweep_temp(sessions_dir)
    storage.sweep_temp(profiles.profiles_dir(tmp_path))
    assert not [p for p in tmp_path.rglob("*") if storage.is_temp(p)]


@pytest.mark.slow
def test_the_kill_harness_does_catch_a_non_atomic_writer(tmp_path: Path) -> None:
    """The same harness, pointed at a plain truncate-and-write, finds torn files: so the zero
    above means something."""
    (tmp_path / "sessions").mkdir()
    versions = [_summary_text("a"), _summary_text("b")]
    rounds, torn, _ = _kill_rounds(tmp_path, "naive", 3.0, versions, enough=10)
    assert rounds >= 5
    assert torn >= 1
