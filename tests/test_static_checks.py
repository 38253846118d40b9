"""The code's own checks: ruff's lint and mypy's types stay clean (both are in the dev tools
`./test` installs), so a slip is caught by the tests rather than by the next reader."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which(tool, path=str(Path(sys.executable).parent)) is None:
        pytest.skip(f"{tool} is not installed (./test installs it)")
    return subprocess.run([sys.executable, "-m", tool, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_lint_is_clean() -> None:
    done = _run("ruff", "check", "voice_coach", "tests")
    assert done.returncode == 0, done.stdout[-3000:]


def test_types_check() -> None:
    done = _run("mypy", "voice_coach")
    assert done.returncode == 0, done.stdout[-3000:]
