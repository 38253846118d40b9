"""Sub-commands that run or list sessions: `start` and `scripts`."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path

from . import history, profiles, storage
from .cli_options import (
    add_listening,
    add_output_device,
    add_speech_and_music,
    positive_float,
    settings_from_args,
)
from .config import Settings
from .coordinator import Coordinator
from .display import LiveView
from .events import Start
from .pressure import LEVEL_NAMES, Level
from .script import Script, builtin_names, load_script
from .session import Options, SessionState, new_session
from .sessionlog import JsonLog
from .textmode import HeardPrinter, TextSink, read_commands


def add_commands(sub: argparse._SubParsersAction, bench_sub: argparse._SubParsersAction) -> None:
    start = sub.add_parser("start", help="run a back-rub session (spoken, or --text)",
                           description="Run a session: the coach speaks each step over music. "
                                       "With --text the coach's words are printed and commands "
                                       "are typed (or piped) as lines.")
    start.add_argument("script", nargs="?", default="back-rub",
                       help="built-in script name or path to a .toml file (default: back-rub)")
    start.add_argument("--text", action="store_true",
                       help="print instead of speaking; read commands from standard input")
    start.add_argument("--speed", type=positive_float, default=1.0, metavar="X",
                       help="run the step timers X times faster (e.g. 60 for a quick look)")
    start.add_argument("--pressure", choices=LEVEL_NAMES, default=None,
                       help="the pressure to work up to where it is safe (default: light)")
    start.add_argument("--log", type=Path, metavar="FILE",
                       help="append a JSON-lines log of every event and effect to FILE")
    start.add_argument("--for", dest="person", metavar="NAME",
                       help="remember this person's preferred pressure per area for next time")
    start.add_argument("--quiet", action="store_true",
                       help="plain log lines instead of the live view")
    add_speech_and_music(start)
    add_output_device(start)
    add_listening(start)
    start.set_defaults(func=run_start)

    scripts = sub.add_parser("scripts", help="list the built-in session scripts")
    scripts.set_defaults(func=run_scripts)


def prepare_state(args: argparse.Namespace, script: Script, settings: Settings,
                  preferred: dict[str, Level]) -> SessionState:
    start = Level.parse(args.pressure) if args.pressure else None
    return new_session(script, start_pressure=start, preferred=preferred,
                       options=Options(duck_db=settings.duck_db))


def run_start(args: argparse.Namespace) -> int:
    script = load_script(args.script)
    settings = settings_from_args(args)
    data = storage.data_dir(settings.data_dir)
    recorder = history.start_recording(script, settings.person, data, time.time())
    preferred: dict[str, Level] = {}
    if settings.person:
        preferred, warning = profiles.load_profile(data, settings.person)
        if warning:  # a damaged profile is set aside; the session still starts
            print(f"voice-coach: warning: {warning}", file=sys.stderr)
    log = JsonLog(args.log) if args.log else None
    coordinator = Coordinator(prepare_state(args, script, settings, preferred), sinks=[],
                              observers=[recorder, *([log] if log else [])],
                              speed=settings.speed)
    _stop_on_sigterm()
    try:
        if args.text:
            coordinator.add_sink(TextSink(coordinator.post))
            final = _run(coordinator, script)
        else:
            final = _run_spoken(coordinator, script, settings, args.quiet)
    finally:
        # Whatever happened (finished, Ctrl-C, SIGTERM, a device error): keep what was done.
        if log:
            log.close()
        if coordinator.state.started:
            _save_history(recorder)
    print(f"\nSession {final.finish_reason} after {final.clock_s / 60:.1f} minutes.")
    return 0


def _stop_on_sigterm() -> None:
    """SIGTERM ends the session like Ctrl-C does, so the summary so far is saved."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _save_history(recorder: history.SessionRecorder) -> None:
    try:
        for note in history.finish_recording(recorder):
            print(note, file=sys.stderr)
    except storage.StorageError as err:
        print(f"voice-coach: warning: {err}", file=sys.stderr)


def _run(coordinator: Coordinator, script: Script) -> SessionState:
    print(f"{script.title} ({script.total_duration_s / 60:.0f} min). "
          "Type a command and press Enter (help lists them).", flush=True)
    read_commands(sys.stdin, coordinator.post, lambda: coordinator.state.phase,
                  lambda msg: print(msg, flush=True))
    return coordinator.run(Start())


def _run_spoken(coordinator: Coordinator, script: Script, settings: Settings,
                quiet: bool) -> SessionState:
    from .live import LiveEdges  # loads the audio libraries

    edges = LiveEdges(coordinator, script, settings)
    listener = edges.listener
    view = None
    if not quiet and sys.stdout.isatty():
        view = LiveView(lambda: coordinator.state, listener.status if listener else None,
                        edges.engine_label)
        coordinator.add_observer(view)
    else:
        coordinator.add_sink(TextSink(None))
        coordinator.add_observer(HeardPrinter())
    print(edges.engine_label, flush=True)
    with edges, view or nullcontext():
        return _run(coordinator, script)


def run_scripts(args: argparse.Namespace) -> int:
    for name in builtin_names():
        script = load_script(name)
        zones = ", ".join(z for z in script.zones if z != "prep")
        print(f"{name:<12} {script.total_duration_s / 60:4.0f} min  {script.title}  [{zones}]")
    print("\nRun one with: voice-coach start NAME   (or a path to your own .toml file)")
    return 0
