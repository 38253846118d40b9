"""Session history: the recorder fed by the real core through the coordinator, saves at any
moment (also from a signal handler in a real process), preferences remembered for next time,
and the `history` command's listing and plot."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from voice_coach import history, profiles, storage
from voice_coach.coordinator import Coordinator
from voice_coach.errors import UserError
from voice_coach.events import Event, Heard, Start, Tick
from voice_coach.pressure import Level
from voice_coach.script import load_script
from voice_coach.session import new_session

REPO = Path(__file__).parent.parent
T0 = 1_790_000_000.0  # a fixed wall-clock start: the recorder is given the time, never reads it


def coordinator(data: Path, person: str | None = "Sam", started_at: float = T0,
                preferred: dict[str, Level] | None = None,
                ) -> tuple[Coordinator, history.SessionRecorder]:
    script = load_script("quick")
    recorder = history.start_recording(script, person, data, started_at)
    coord = Coordinator(new_session(script, preferred=preferred), sinks=[],
                        observers=[recorder])
    return coord, recorder


def feed(coord: Coordinator, *events: Event) -> None:
    for event in events:
        coord.apply(event)


def ticks(seconds: float, every: float = 5.0) -> list[Event]:
    return [Tick(every)] * int(seconds / every)


def said(command: str, text: str = "", engine: str = "vosk") -> Heard:
    return Heard(command, text or command, 0.0, engine)


def run_quick_session(coord: Coordinator) -> None:
    """quick: prepare (waits) | long-strokes 75 s back | beside-spine 60 s upper_back |
    shoulders 90 s | cool-down 45 s back (light at most)."""
    feed(coord, Start(), said("next", "go on", "keys"), *ticks(75), *ticks(10),
         said("harder"), said("harder", "firmer"), *ticks(50), *ticks(20),
         said("harder"), said("softer", "ouch that hurts", "pocketsphinx"), said("harder"),
         *ticks(200))


def test_the_summary_follows_a_real_session(tmp_path: Path) -> None:
    coord, recorder = coordinator(tmp_path)
    run_quick_session(coord)
    assert coord.state.finish_reason == "completed"
    summary = recorder.summary()
    json.dumps(summary)  # plain JSON all the way down
    assert summary["script"] == {"id": "quick", "title": "Quick back rub"}
    assert summary["person"] == "Sam" and summary["started_at_s"] == T0
    assert summary["started_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0))
    assert summary["finish_reason"] == "completed"
    assert summary["total_s"] == 270.0
    steps = [(s["id"], s["zone"], s["t_s"], s["duration_s"]) for s in summary["steps"]]
    assert steps == [("prepare", "prep", 0.0, 0.0), ("long-strokes", "back", 0.0, 75.0),
                     ("beside-spine", "upper_back", 75.0, 60.0),
                     ("shoulders", "shoulders", 135.0, 90.0), ("cool-down", "back", 225.0, 45.0)]
    assert summary["pressure"] == [
        [0.0, "prep", 3], [0.0, "back", 3], [75.0, "upper_back", 3],
        [85.0, "upper_back", 5], [85.0, "upper_back", 6],  # harder, firmer
        [135.0, "shoulders", 3],  # a new zone starts from the general level
        [155.0, "shoulders", 5], [155.0, "shoulders", 3],  # harder, then "ouch": light at once
        [155.0, "shoulders", 5], [225.0, "back", 3]]
    assert [(c["t_s"], c["command"], c["text"], c["engine"]) for c in summary["commands"]] == [
        (0.0, "next", "go on", "keys"), (85.0, "harder", "harder", "vosk"),
        (85.0, "harder", "firmer", "vosk"), (155.0, "harder", "harder", "vosk"),
        (155.0, "softer", "ouch that hurts", "pocketsphinx"), (155.0, "harder", "harder", "vosk")]
    assert recorder.remembered_preferences() == {"upper_back": Level.FIRM,
                                                 "shoulders": Level.MEDIUM}


def test_coarse_ticks_still_count_the_whole_session(tmp_path: Path) -> None:
    coord, recorder = coordinator(tmp_path)
    feed(coord, Start(), said("next"), Tick(100.0), Tick(100.0), Tick(100.0))
    summary = recorder.summary()
    assert summary["finish_reason"] == "completed"
    # The tick that ended the session counts in full, as the session's own clock says.
    assert summary["total_s"] == coord.state.clock_s == 300.0
    assert sum(s["duration_s"] for s in summary["steps"]) == pytest.approx(300.0)


def test_save_anytime_same_file_partial_then_final(tmp_path: Path) -> None:
    coord, recorder = coordinator(tmp_path)
    feed(coord, Start(), said("next"), *ticks(100))
    first = recorder.save()
    again = recorder.save()  # idempotent: the same file, replaced
    assert first == again and first.parent == history.sessions_dir(tmp_path)
    partial = json.loads(first.read_text())
    assert partial["finish_reason"] == "interrupted" and partial["total_s"] == 100.0
    assert [s["id"] for s in partial["steps"]] == ["prepare", "long-strokes", "beside-spine"]
    feed(coord, *ticks(200))
    recorder.save()
    final = json.loads(first.read_text())
    assert final["finish_reason"] == "completed" and final["total_s"] == 270.0
    assert [p.name for p in first.parent.iterdir()] == [first.name]
    assert oct(first.stat().st_mode & 0o777) == oct(0o600)


def test_finish_remembers_preferences_and_the_next_session_starts_there(tmp_path: Path) -> None:
    coord, recorder = coordinator(tmp_path)
    run_quick_session(coord)
    notes = history.finish_recording(recorder)
    assert any("Remembered for Sam" in n and "shoulders medium" in n for n in notes)
    preferred, warning = profiles.load_profile(tmp_path, "sam")
    assert warning is None
    assert preferred == {"upper_back": Level.FIRM, "shoulders": Level.MEDIUM}
    # Next time: straight to the remembered pressure in each zone, no commands needed.
    coord2, recorder2 = coordinator(tmp_path, started_at=T0 + 3600, preferred=preferred)
    feed(coord2, Start(), said("next"), *ticks(80))
    assert coord2.state.step.zone == "upper_back" and coord2.state.level == Level.FIRM
    feed(coord2, *ticks(60))
    assert coord2.state.step.zone == "shoulders" and coord2.state.level == Level.MEDIUM
    feed(coord2, said("stop"))
    history.finish_recording(recorder2)
    sessions, _ = history.list_sessions(tmp_path, "SAM")
    assert [s["finish_reason"] for s in sessions] == ["completed", "stopped"]
    # Zones this session did not change keep what was remembered before.
    assert profiles.load_profile(tmp_path, "sam")[0] == preferred


def test_no_person_no_profile(tmp_path: Path) -> None:
    coord, recorder = coordinator(tmp_path, person=None)
    run_quick_session(coord)
    notes = history.finish_recording(recorder)
    assert len(notes) == 1 and "Saved the session summary" in notes[0]
    assert not profiles.profiles_dir(tmp_path).exists() or \
        not any(profiles.profiles_dir(tmp_path).iterdir())


def test_a_bad_name_fails_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(UserError):
        history.start_recording(load_script("quick"), "../../etc/x", tmp_path, T0)
    assert not any(tmp_path.rglob("*.json"))


def test_list_sessions_filters_orders_and_sets_damage_aside(tmp_path: Path) -> None:
    for n, person in enumerate(["Sam", "Kim", "sam", None]):
        coord, recorder = coordinator(tmp_path, person=person, started_at=T0 + 1000 * (3 - n))
        feed(coord, Start(), said("next"), *ticks(20 * (n + 1)))
        recorder.save()
    folder = history.sessions_dir(tmp_path)
    (folder / "broken.json").write_text('{"version": 1, "scr')
    (folder / "other.json").write_text('{"hello": "world"}')
    (folder / ".x.json.123.abcd.tmp").write_text('{"half')
    everyone, warnings = history.list_sessions(tmp_path)
    assert [s["total_s"] for s in everyone] == [80.0, 60.0, 40.0, 20.0]  # oldest first
    assert len(warnings) == 2 and all("\n" not in w for w in warnings)
    assert {p.name.split(".json.corrupt-")[0] for p in folder.glob("*.corrupt-*")} == \
        {"broken", "other"}
    assert (folder / ".x.json.123.abcd.tmp").exists()  # a young temp file is left alone
    sams, warnings = history.list_sessions(tmp_path, "sAm")
    assert [s["person"] for s in sams] == ["sam", "Sam"] and warnings == []


# ---------------------------------------------------------------- a real process, a real signal

_CHILD = textwrap.dedent("""
    import signal, sys, time
    from pathlib import Path
    from voice_coach import history
    from voice_coach.coordinator import Coordinator
    from voice_coach.events import Heard, Start
    from voice_coach.script import load_script
    from voice_coach.session import new_session

    script = load_script("quick")
    recorder = history.start_recording(script, "Sam", Path(sys.argv[1]), time.time())
    coord = Coordinator(new_session(script), sinks=[], observers=[recorder], speed=100.0)

    def on_term(signum, frame):
        recorder.save()  # straight from the handler, wherever the coordinator was
        sys.exit(143)

    signal.signal(signal.SIGTERM, on_term)
    coord.post(Heard("next", "next"))
    coord.post(Heard("harder", "harder"))  # typed: kept in order
    print("go", flush=True)
    coord.run(Start())
    print("finished before the signal", flush=True)
""")


def test_sigterm_mid_session_saves_the_summary_so_far(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path)], cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline() == "go\n"
    time.sleep(1.0)  # about 100 session seconds at speed 100: into the second massage step
    child.send_signal(signal.SIGTERM)
    out, _ = child.communicate(timeout=10)
    assert child.returncode == 143, out
    [path] = history.sessions_dir(tmp_path).glob("*.json")
    summary = json.loads(path.read_text())
    assert summary["finish_reason"] == "interrupted"
    assert 50.0 < summary["total_s"] < 250.0
    # Saved by the handler mid-step, not by the autosave at the step's start.
    assert summary["total_s"] > summary["steps"][-1]["t_s"]
    assert [s["id"] for s in summary["steps"]][:3] == ["prepare", "long-strokes", "beside-spine"]
    assert [c["command"] for c in summary["commands"]] == ["next", "harder"]
    assert [p for p in path.parent.iterdir() if storage.is_temp(p)] == []


def test_sigkill_mid_session_keeps_the_summary_up_to_the_last_step(tmp_path: Path) -> None:
    """No handler runs on SIGKILL: what survives is the autosave made when each step began."""
    order = [step.id for step in load_script("quick").steps]
    for round_, wait_s in enumerate([0.3, 0.9, 1.6]):
        data = tmp_path / str(round_)
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(data)], cwd=REPO,
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        assert child.stdout.readline() == "go\n"
        time.sleep(wait_s)
        child.kill()
        child.communicate(timeout=10)
        [path] = history.sessions_dir(data).glob("*.json")
        summary = json.loads(path.read_text())
        assert summary["finish_reason"] == "interrupted"
        reached = [s["id"] for s in summary["steps"]]
        assert reached == order[:len(reached)] and len(reached) >= 2
        # Saved as the last step began: its start is the summary's end.
        assert summary["total_s"] == summary["steps"][-1]["t_s"]
        assert summary["total_s"] <= wait_s * 100 + 5


def test_a_refusing_disk_never_stops_the_session(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    coord, recorder = coordinator(blocker)
    run_quick_session(coord)  # every autosave fails; the session runs to the end regardless
    assert coord.state.finish_reason == "completed"
    assert recorder.autosave_error is not None and "\n" not in recorder.autosave_error
    with pytest.raises(storage.StorageError) as err:
        history.finish_recording(recorder)
    assert "\n" not in str(err.value)


def test_a_summary_that_cannot_be_written_does_not_cost_the_profile(tmp_path: Path) -> None:
    history.sessions_dir(tmp_path).parent.mkdir(exist_ok=True)
    history.sessions_dir(tmp_path).write_text("in the way")
    coord, recorder = coordinator(tmp_path)
    run_quick_session(coord)
    with pytest.raises(storage.StorageError, match="sessions"):
        history.finish_recording(recorder)
    assert profiles.load_profile(tmp_path, "sam")[0] == {"upper_back": Level.FIRM,
                                                         "shoulders": Level.MEDIUM}


# ---------------------------------------------------------------- the history command


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voice_coach.cli", "history", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "100"})


@pytest.fixture()
def two_sessions(tmp_path: Path) -> Path:
    coord, recorder = coordinator(tmp_path)
    run_quick_session(coord)
    history.finish_recording(recorder)
    coord, recorder = coordinator(tmp_path, person="Kim", started_at=T0 + 86400)
    feed(coord, Start(), said("next"), *ticks(100))
    recorder.save()  # as a signal handler would: interrupted
    return tmp_path


def test_history_lists_sessions_with_a_pressure_timeline(two_sessions: Path) -> None:
    result = cli("--data-dir", str(two_sessions))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    lines = out.splitlines()
    heads = [line for line in lines if "Quick back rub" in line]
    assert len(heads) == 2
    assert "for Sam" in heads[0] and "4.5 min" in heads[0] and "completed" in heads[0]
    assert "6 commands" in heads[0]
    assert "for Kim" in heads[1] and "1.7 min" in heads[1] and "interrupted" in heads[1]
    shoulders = next(line for line in lines if line.strip().startswith("shoulders"))
    assert "▁" in shoulders and "▅" in shoulders and shoulders.rstrip().endswith("medium")
    upper = next(line for line in lines if line.strip().startswith("upper back"))
    assert "▆" in upper and upper.rstrip().endswith("firm")
    assert result.stderr == ""


def test_history_for_one_person_shows_what_is_remembered(two_sessions: Path) -> None:
    result = cli("sam", "--data-dir", str(two_sessions))
    assert result.returncode == 0, result.stderr
    assert "Remembered for Sam: upper back firm, shoulders medium." in result.stdout
    assert "for Kim" not in result.stdout and "for Sam" in result.stdout
    unknown = cli("bob", "--data-dir", str(two_sessions))
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr.count("\n") == 1 and "Kim, Sam" in unknown.stderr


def test_history_last_and_empty(two_sessions: Path, tmp_path_factory: Any) -> None:
    result = cli("--last", "1", "--data-dir", str(two_sessions))
    assert "1 earlier sessions not shown" in result.stdout
    assert "for Kim" in result.stdout and "for Sam" not in result.stdout
    empty = cli("--data-dir", str(tmp_path_factory.mktemp("empty")))
    assert empty.returncode == 0 and "No sessions saved yet" in empty.stdout


def test_history_reports_a_damaged_summary_and_lists_the_rest(two_sessions: Path) -> None:
    (history.sessions_dir(two_sessions) / "20990101T000000.000000Z-quick.json").write_text("{")
    result = cli("--data-dir", str(two_sessions))
    assert result.returncode == 0
    assert result.stderr.startswith("voice-coach: warning: ") and "moved it to" in result.stderr
    assert result.stdout.count("Quick back rub") == 2


def test_history_plot_writes_a_real_png(two_sessions: Path, tmp_path_factory: Any) -> None:
    out = tmp_path_factory.mktemp("plots") / "pressure.png"
    result = cli("--plot", str(out), "--data-dir", str(two_sessions))
    assert result.returncode == 0, result.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert (width, height) == (900, 480)  # 9 in wide, 2.4 in per session, 100 dpi
    assert len(data) > 20_000
    assert f"Drew 2 sessions into {out}" in result.stdout


@pytest.mark.parametrize("args, says", [
    (["--plot", "pressure.txt"], "ending in .png"),
    (["--plot", "/no/such/folder/p.png"], "does not exist"),
    (["--last", "0"], "must be 1 or more"),
    (["../x"], "cannot be used as a name"),
])
def test_history_bad_input_is_one_line(args: list[str], says: str, two_sessions: Path) -> None:
    result = cli(*args, "--data-dir", str(two_sessions))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and says in result.stderr
    assert "Traceback" not in result.stderr


def test_plot_with_no_sessions_says_so(tmp_path: Path) -> None:
    result = cli("--plot", str(tmp_path / "p.png"), "--data-dir", str(tmp_path))
    assert result.returncode == 2 and "no sessions to plot" in result.stderr
    assert not (tmp_path / "p.png").exists()


# ---------------------------------------------------------------- through `voice-coach start`


def start(data_home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """A text-mode session in a real process; the data folder comes from XDG_DATA_HOME, the
    way platformdirs finds it for a real user."""
    return subprocess.run([sys.executable, "-m", "voice_coach.cli", "start", "quick", "--text",
                           "--speed", "1000", *args], input=stdin, cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "XDG_DATA_HOME": str(data_home)})


def test_start_for_remembers_and_starts_there_next_time(tmp_path: Path) -> None:
    first = start(tmp_path, "--for", "Sam", stdin="next\nharder\nharder\n")
    assert first.returncode == 0, first.stderr
    assert "Remembered for Sam: back medium." in first.stderr
    data = tmp_path / "voice-coach"
    profile = profiles.profile_path(data, "sam")
    assert oct(profile.stat().st_mode & 0o777) == oct(0o600)
    [summary] = history.list_sessions(data, "Sam")[0]
    assert summary["finish_reason"] == "completed"
    assert [c["command"] for c in summary["commands"]] == ["next", "harder", "harder"]
    # Next time: nobody says anything, and the long strokes start at medium all the same.
    second = start(tmp_path, "--for", "sam")
    assert second.returncode == 0, second.stderr
    assert "pressure: medium (5/10" in second.stdout
    assert "pressure: medium" not in start(tmp_path).stdout  # without --for: the default


def test_start_with_a_damaged_profile_warns_and_runs(tmp_path: Path) -> None:
    path = profiles.profile_path(tmp_path / "voice-coach", "sam")
    path.parent.mkdir(parents=True)
    path.write_text('{"preferred": {"back": "medi')
    result = start(tmp_path, "--for", "Sam")
    assert result.returncode == 0, result.stderr
    assert "voice-coach: warning:" in result.stderr and "moved it to" in result.stderr
    assert "Session completed" in result.stdout
    assert list(path.parent.glob("sam.json.corrupt-*"))
    assert json.loads(path.read_text())["preferred"] == {}  # a fresh profile in its place


def test_start_bad_name_is_one_line(tmp_path: Path) -> None:
    result = start(tmp_path, "--for", "../../x")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert not any(tmp_path.rglob("*.json"))


def test_start_sigterm_saves_the_summary_so_far(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-m", "voice_coach.cli", "start", "quick",
                              "--text", "--speed", "50", "--for", "Kim"], cwd=REPO,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "XDG_DATA_HOME": str(tmp_path)})
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write("next\nharder\n")
    child.stdin.flush()
    assert "Quick back rub" in child.stdout.readline()
    time.sleep(2.0)  # about 100 session seconds: into the second massage step
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=30)
    assert "Saved the session summary" in err
    [summary] = history.list_sessions(tmp_path / "voice-coach", "kim")[0]
    assert summary["finish_reason"] == "interrupted"
    assert summary["total_s"] > summary["steps"][-1]["t_s"] > 0  # saved mid-step, at the end
    assert [c["command"] for c in summary["commands"]] == ["next", "harder"]
    assert profiles.load_profile(tmp_path / "voice-coach", "kim")[0] == {"back": Level.MEDIUM}
