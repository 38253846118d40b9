"""`voice-coach demo` (a self-driving session anyone can watch) and `voice-coach bench live`.

Both play a synthetic voice saying commands into the microphone while a real spoken session
runs. On a machine with no sound card they bring up private virtual devices first.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import virtual_audio
from .errors import UserError
from .memory import tree_rss_mb

# A little story through the quick routine, in seconds after the session starts; mostly in
# the coach's pauses, where a person would speak: after "...Say next when you're ready." (it
# ends at ~18.3 s) and after "Paused. ... say resume when you're ready." (~6 s). Said over
# their last words, "next" and "resume" were taken for the coach's own voice coming back.
DEMO_CUES: tuple[tuple[float, str], ...] = (
    (19.5, "next"), (40, "more pressure"), (48, "ouch"), (56, "how long"), (64, "pause"),
    (72.5, "resume"), (78, "louder"), (86, "next"), (98, "stop"),
)
# After the demo's last words, how long it waits for the session to end before typing "stop"
# (a session whose "stop" went unheard would run on by its timer, "I can't hear the microphone").
DEMO_STOP_WAIT_S = 6.0
# Commands for the live bench: every kind, spread out, spoken by several voices.
BENCH_PHRASES = ("next", "softer", "harder", "pause", "resume", "louder", "quieter", "ouch",
                 "repeat", "back", "next", "that hurts", "slower", "faster", "softer", "next")
BENCH_VOICES = (("flite", "slt", 0), ("flite", "rms", 0), ("flite", "awb", 0))


def add_commands(sub: argparse._SubParsersAction, bench_sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="watch a session react to spoken commands (no mic needed)",
                          description="A self-driving session: a synthetic voice says commands "
                                      "into the (virtual) microphone while the coach runs.")
    demo.add_argument("--script", default="quick", help="session to run (default: quick)")
    demo.add_argument("--speed", type=float, default=1.0,
                      help="step timers this many times faster (default 1)")
    demo.set_defaults(func=run_demo)

    live = bench_sub.add_parser("live", help="chime latency, misses, false commands, CPU, RSS")
    live.add_argument("--minutes", type=float, default=5.0, help="session length (default 5)")
    live.add_argument("--snr-db", type=float, default=10.0,
                      help="the voice's level over the music in the microphone (default 10)")
    live.add_argument("--room-echo", action="store_true",
                      help="let the microphone hear the speaker too, as in a room (the music "
                           "then reaches it from the speaker, as it would: --snr-db is unused)")
    live.add_argument("--keep", type=Path, metavar="DIR",
                      help="keep the session's log (session.jsonl), the recogniser's "
                           "every verdict (verdicts.jsonl) and the audio it was fed "
                           "(verdicts.wav) in DIR")
    live.set_defaults(func=run_bench_live)

    soak = bench_sub.add_parser("soak", help="a long spoken session: underruns, memory, CPU")
    soak.add_argument("--minutes", type=float, default=60.0, help="how long (default 60)")
    soak.add_argument("--script", default="back-rub", help="session to loop (default back-rub)")
    soak.set_defaults(func=run_bench_soak)


def run_demo(args: argparse.Namespace) -> int:
    from .selfdrive import Cue, run

    print(virtual_audio.ensure(), flush=True)
    cues = [Cue(at, phrase) for at, phrase in DEMO_CUES]
    print("The demo voice will say: " + ", ".join(f"{p!r} at {t:.0f}s" for t, p in DEMO_CUES))
    # The microphone hears the speaker, as in a room: the coach's voice and its music (ducked
    # under the voice) come back to it with the demo voice, and echo removal takes them out.
    with tempfile.TemporaryDirectory(prefix="voice-coach-demo-") as tmp, virtual_audio.RoomEcho():
        outcome = run(args.script, cues, DEMO_CUES[-1][0] + 8, Path(tmp), music_snr_db=None,
                      extra_args=["--speed", str(args.speed)], echo_stdout=True,
                      timeout_s=DEMO_CUES[-1][0] + 120, type_stop_after_s=DEMO_STOP_WAIT_S)
    heard = [h["command"] for h in outcome.heard()]
    said = [s.command for s in outcome.spoken]
    print(f"\nSpoken: {', '.join(c or '?' for c in said)}")
    print(f"Heard:  {', '.join(heard) or 'nothing'}")
    if outcome.typed_stop:
        print("The demo's \"stop\" was not heard, so the demo typed it to end the session.")
    if outcome.returncode not in (0, None):
        print(outcome.stderr.strip()[-400:])
    return 0 if outcome.returncode == 0 else 1


def match(spoken: Sequence[str | None], heard: Sequence[str]) -> tuple[int, int]:
    """(missed, false): an in-order alignment (longest common subsequence) of the commands
    spoken and the commands heard."""
    common = sum(heard_in_order(spoken, heard))
    return len(spoken) - common, len(heard) - common


def heard_in_order(spoken: Sequence[str | None], heard: Sequence[str]) -> list[bool]:
    """For each spoken command, whether the in-order alignment (longest common subsequence)
    found it among those heard."""
    n, m = len(spoken), len(heard)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            table[i][j] = (table[i + 1][j + 1] + 1 if spoken[i] == heard[j]
                           else max(table[i + 1][j], table[i][j + 1]))
    found, i, j = [False] * n, 0, 0
    while i < n and j < m:
        if spoken[i] == heard[j]:
            found[i], i, j = True, i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return found


CHIME_WAIT_S = 10.0
# The command track starts as the session's first step does (the harness waits for it in the
# log), a few tenths of a second after the log's clock starts: slack for a heard command that
# seems to come a moment before its words began.
TRACK_START_SLACK_S = 0.5


def heard_by_time(spoken: Sequence[Any], heard: Sequence[dict[str, Any]]
                  ) -> tuple[list[bool], int]:
    """(for each command spoken (selfdrive.Spoken), whether it was heard; how many heard
    commands were not said): `match_by_time`, counted."""
    found, false = match_by_time(spoken, heard)
    return found, len(false)


def match_by_time(spoken: Sequence[Any], heard: Sequence[dict[str, Any]]
                  ) -> tuple[list[bool], list[dict[str, Any]]]:
    """(for each command spoken, whether it was heard; the heard commands that were not said).
    A heard command belongs to the last command spoken before it, within CHIME_WAIT_S of its
    end, and counts once if it is that command; anything else is false. Unlike an in-order
    alignment, a false "softer" cannot take a later "ouch"'s place."""
    found: list[bool] = [False] * len(spoken)
    false: list[dict[str, Any]] = []
    for line in heard:
        t = float(line["t"]) + TRACK_START_SLACK_S
        said = [i for i, s in enumerate(spoken) if s.start_s <= t]
        i = said[-1] if said else None
        if (i is not None and not found[i] and spoken[i].command == line["command"]
                and t - spoken[i].end_s <= CHIME_WAIT_S):
            found[i] = True
        else:
            false.append(line)
    return found, false


def chime_delays(outcome: Any, heard: list[bool]) -> list[float | None]:
    """Seconds from the end of each spoken command to the next chime in the speaker output,
    before the next command ends (and within CHIME_WAIT_S). A late chime counts with its whole
    delay: a bar of 3 s once left the slowest half of the chimes out of the percentiles. Only
    for the commands that were heard (`heard`, one flag per spoken command): after a missed one
    the next chime belongs to something else. One entry per spoken command (None: not heard,
    or no chime found)."""
    from .selfdrive import chime_onsets

    onsets = chime_onsets(outcome.recording)
    offset = outcome.track_start_in_recording_s
    ends = [s.end_s + offset for s in outcome.spoken]
    delays: list[float | None] = []
    for end, next_end, was_heard in zip(ends, [*ends[1:], float("inf")], heard, strict=True):
        after = [t - end for t in onsets if -0.2 < t - end < min(CHIME_WAIT_S, next_end - end)]
        delays.append(after[0] if was_heard and after else None)
    return delays


def run_bench_live(args: argparse.Namespace) -> int:
    from .selfdrive import Cue, run

    print(virtual_audio.ensure(), flush=True)
    total_s = args.minutes * 60
    gap = max(6.0, (total_s - 20) / len(BENCH_PHRASES))
    cues = [Cue(10 + i * gap, phrase, BENCH_VOICES[i % len(BENCH_VOICES)])
            for i, phrase in enumerate(BENCH_PHRASES) if 10 + i * gap < total_s - 15]
    cues.append(Cue(total_s - 8, "stop"))
    with contextlib.ExitStack() as stack:
        if args.room_echo:
            stack.enter_context(virtual_audio.RoomEcho())
        if args.keep:  # the session's log and every verdict, to trace a run
            from .engines.process_engine import TRACE_ENV

            try:
                args.keep.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise UserError(f"--keep {args.keep}: {err.strerror or err}; give a folder "
                                "you can write to") from None
            workdir = args.keep
            (workdir / "verdicts.jsonl").unlink(missing_ok=True)  # this run's, not appended
            os.environ[TRACE_ENV] = str(workdir / "verdicts.jsonl")
        else:
            workdir = Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="voice-coach-bench-")))
        # In a room the music reaches the microphone from the speaker, ducked under the
        # coach as it plays: a second copy of our own track in the command track, out of
        # step with it and never ducked, is no room's sound (the canceller can follow one
        # path for the music and the voice, not two).
        outcome = run("back-rub", cues, total_s, workdir,
                      music_snr_db=None if args.room_echo else args.snr_db,
                      extra_args=["--engine", "auto"], record=True,
                      timeout_s=total_s + 120)
    spoken = [s.command for s in outcome.spoken]
    heard_lines = outcome.heard()
    heard = [h["command"] for h in heard_lines]
    found, not_said = match_by_time(outcome.spoken, heard_lines)
    missed, false = found.count(False), len(not_said)
    by_command = chime_delays(outcome, found)
    delays = [d for d in by_command if d is not None]
    result: dict[str, Any] = {
        "bench": "live", "minutes": args.minutes,
        "snr_db": None if args.room_echo else args.snr_db, "room_echo": args.room_echo,
        "voice_over_room_db": _voice_over_room_db(cues, total_s, outcome)
        if args.room_echo else None,
        "commands_spoken": len(spoken),
        "commands_heard": len(heard), "missed": missed, "false": false,
        "chime_delay_p50_ms": _pct_ms(delays, 50), "chime_delay_p95_ms": _pct_ms(delays, 95),
        "chimes_measured": len(delays),
        "cpu_pct_of_one_core": round(100 * outcome.cpu_s / outcome.wall_s, 1)
        if outcome.wall_s else None,
        "cpu_pct_with_recogniser": round(100 * outcome.cpu_with_recogniser_s / outcome.wall_s, 1)
        if outcome.wall_s else None,
        "peak_rss_mb": round(outcome.peak_rss_mb, 1),
        "peak_rss_with_recogniser_mb": round(outcome.peak_total_rss_mb, 1),
        "exit_code": outcome.returncode,
    }
    print(f"spoken: {' '.join(c or '?' for c in spoken)}")
    print(f"heard:  {' '.join(heard)}")
    for cue, was_heard, delay in zip(outcome.spoken, found, by_command, strict=True):
        chime = f"  chime after {delay * 1000:.0f} ms" if delay is not None else ""
        print(f"  {cue.start_s:6.1f} s  {cue.phrase:<12} {'heard' if was_heard else 'MISSED'}"
              f"{chime}")
    for line in heard_lines:  # when, what and how, so a false one can be traced
        print(f"heard at {float(line['t']):6.1f} s: {line['command']:<8} "
              f"\"{line.get('text') or ''}\" ({line.get('engine') or '?'})"
              + ("  NOT SAID" if any(line is f for f in not_said) else ""))
    print("behind (s): " + " ".join(f"{h['command']} {lag:.2f}"
                                     for h, lag in zip(heard_lines, behind(heard_lines),
                                                       strict=True)))
    print("over the echo (dB): " + " ".join(f"{h['command']} {h.get('over_echo_db')}"
                                            for h in heard_lines))
    for line in outcome.log:  # what was heard and not acted on, and why
        if line["type"] == "own_voice":
            why = "our own sound" if line.get("leftover") else "the coach's words"
            print(f"not taken at {line['t']:.1f} s: {line['text'] or line['command']} ({why}, "
                  f"{line.get('over_echo_db')} dB over the echo)")
    for key, value in result.items():
        print(f"{key:>22}: {value}")
    print(json.dumps(result))
    return 0


def _voice_over_room_db(cues: Sequence[Any], total_s: float, outcome: Any) -> float | None:
    """The spoken commands' level over all the speaker played (coach and music), in dB: what
    the microphone hears of each through the room's loopback, at one gain."""
    import numpy as np

    from .selfdrive import RATE, command_track

    track, spoken = command_track(cues, total_s)
    voiced = np.concatenate([track[int(s.start_s * RATE):int(s.end_s * RATE)] for s in spoken])
    room = outcome.recording
    if room is None or not len(room) or not len(voiced):
        return None
    return round(float(10 * np.log10(np.mean(voiced ** 2) / (np.mean(room ** 2) + 1e-12))), 1)


def behind(heard: list[dict[str, Any]]) -> list[float]:
    """How far each command reached the session behind the audio it was decided on: the
    session's clock at delivery minus the recogniser's stream time at the decision, less the
    smallest such gap of the session. What grows here is time spent after the words were
    heard and before the session knew (echo removal, the pipe, the recogniser's backlog and
    Whisper's time), not the recogniser waiting for the words to end."""
    gaps = [float(h["t"]) - float(h["at_s"]) for h in heard]
    return [g - min(gaps) for g in gaps] if gaps else []


def _pct_ms(values: list[float], q: float) -> float | None:
    import numpy as np

    return round(float(np.percentile(values, q)) * 1000, 1) if values else None


def run_bench_soak(args: argparse.Namespace) -> int:
    """Runs a real spoken session (speech, music, listening) in this process for the given
    time, stretching the script's pace to fit, and samples memory and CPU as it goes."""
    import threading
    import time

    from .config import Settings
    from .coordinator import Coordinator
    from .events import Heard, Start
    from .live import LiveEdges
    from .script import load_script
    from .session import Phase, new_session

    print(virtual_audio.ensure(), flush=True)
    script = load_script(args.script)
    seconds = args.minutes * 60
    speed = script.total_duration_s / seconds  # the whole script, stretched or squeezed
    settings = Settings(speed=speed, engine="auto")
    coordinator = Coordinator(new_session(script), sinks=[], speed=speed)
    edges = LiveEdges(coordinator, script, settings)
    samples: list[tuple[float, float, float]] = []  # (wall s, RSS MB, with the recogniser)
    started = time.monotonic()
    with edges:
        runner = threading.Thread(target=coordinator.run, args=(Start(),), daemon=True)
        runner.start()
        coordinator.post(Heard("next", "(soak)", engine="keys"))
        while runner.is_alive() and time.monotonic() - started < seconds + 120:
            samples.append((time.monotonic() - started, *tree_rss_mb()))
            if sys.stdout.isatty() or len(samples) % 6 == 1:
                print(f"{samples[-1][0] / 60:5.1f} min  step {coordinator.state.index + 1}/"
                      f"{len(script.steps)}  RSS {samples[-1][1]:6.1f} MB  underruns "
                      f"{edges.audio.player.underruns}", end="\r" if sys.stdout.isatty()
                      else "\n", flush=True)
            runner.join(timeout=min(10.0, max(1.0, seconds / 60)))
        player = edges.audio.player
        underruns, starved = player.underruns, player.starved
        music = edges.audio.mixer.music
        music_gap_ms = 1000 * music.starved_frames / music.rate if music else 0.0
    wall = time.monotonic() - started
    # Memory growth after warm-up (the first tenth: caches, the model, the music decoded).
    steady = [s for s in samples if s[0] >= seconds / 10] or samples
    result = {
        "bench": "soak", "minutes": round(wall / 60, 2), "script": script.id,
        "steps_reached": coordinator.state.index + 1, "steps_total": len(script.steps),
        "finished": coordinator.state.phase is Phase.FINISHED,
        "output_underruns": underruns, "mixer_starved_blocks": starved,
        "music_decoder_late_ms": round(music_gap_ms, 1),
        "rss_start_mb": round(steady[0][1], 1), "rss_end_mb": round(samples[-1][1], 1),
        "rss_growth_mb": round(samples[-1][1] - steady[0][1], 1),
        "peak_rss_with_recogniser_mb": round(max(s[2] for s in samples), 1),
        "cpu_pct_of_one_core": round(100 * _cpu_s() / wall, 1),  # the recogniser's included
    }
    print()
    for key, value in result.items():
        print(f"{key:>22}: {value}")
    print(json.dumps(result))
    return 0


def _cpu_s() -> float:
    """This process's CPU time and that of its children that have exited (the recogniser,
    once the session closes it)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system
