"""A three-minute soak on the virtual devices (the CI-sized version of `bench soak`): a whole
spoken session with music and listening runs to its end and reports its health as JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.audio


def test_three_minute_soak_runs_a_whole_session_and_reports():
    result = subprocess.run([sys.executable, "-m", "voice_coach.cli", "bench", "soak",
                             "--minutes", "3"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-1000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["finished"] is True
    assert report["steps_reached"] == report["steps_total"] == 10
    # Numbers are for the closing note, not pass/fail on a shared machine; they must exist.
    for key in ("output_underruns", "rss_growth_mb", "cpu_pct_of_one_core"):
        assert isinstance(report[key], int | float)
