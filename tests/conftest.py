"""Test set-up: the virtual PulseAudio devices start here, when pytest is configured, before
any test module (and so sounddevice) is imported; `audio` tests skip only if PulseAudio cannot
start."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import virtual_audio  # noqa: E402

# A server of its own for each test run (unless VOICE_COACH_VAUDIO_DIR names one), so two runs
# on one machine, or a manual session, never play into each other's recordings.
_OWN = not os.environ.get("VOICE_COACH_VAUDIO_DIR")
_BASE: Path | None = None  # the server's folder, once started
_ERROR: str | None = None

# Sessions the tests run save their history and profiles here, not in the user's data folder.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="voice-coach-test-data-")


@pytest.fixture
def verdict_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the recogniser writes its verdicts (VOICE_COACH_TRACE_VERDICTS, one JSON line
    each); its process, and a session's, inherit the environment."""
    from voice_coach.engines.process_engine import TRACE_ENV

    trace = tmp_path / "verdicts.jsonl"
    monkeypatch.setenv(TRACE_ENV, str(trace))
    return trace


def pytest_configure(config: pytest.Config) -> None:
    global _BASE, _ERROR
    if config.getoption("numprocesses", None) and not hasattr(config, "workerinput"):
        return  # pytest-xdist's controller runs no test; each worker starts its own server
    _BASE = (Path(tempfile.mkdtemp(prefix="voice-coach-pa-")) if _OWN
             else Path(os.environ["VOICE_COACH_VAUDIO_DIR"]))
    _ERROR = virtual_audio.start(_BASE)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _ERROR is None:
        return
    skip = pytest.mark.skip(reason=f"virtual audio devices unavailable: {_ERROR}")
    for item in items:
        if "audio" in item.keywords:
            item.add_marker(skip)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OWN and _BASE is not None and _ERROR is None:
        virtual_audio.stop(_BASE)
        shutil.rmtree(_BASE, ignore_errors=True)
