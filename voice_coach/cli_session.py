"""Sub-commands that run or list sessions: `start` and `scripts`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .coordinator import Coordinator
from .errors import UserError
from .events import Start
from .pressure import LEVEL_NAMES, Level
from .script import Script, builtin_names, load_script
from .session import Options, SessionState, new_session
from .sessionlog import JsonLog
from .textmode import TextSink, read_commands


def add_commands(sub: argparse._SubParsersAction, bench_sub: argparse._SubParsersAction) -> None:
    start = sub.add_parser("start", help="run a back-rub session (spoken, or --text)",
                           description="Run a session. With --text the coach's words are "
                                       "printed and commands are typed (or piped) as lines.")
    start.add_argument("script", nargs="?", default="back-rub",
                       help="built-in script name or path to a .toml file (default: back-rub)")
    start.add_argument("--text", action="store_true",
                       help="print instead of speaking; read commands from standard input")
    start.add_argument("--speed", type=_positive_float, default=1.0, metavar="X",
                       help="run the step timers X times faster (e.g. 60 for a quick look)")
    start.add_argument("--pressure", choices=LEVEL_NAMES, default=None,
                       help="the pressure to work up to where it is safe (default: light)")
    start.add_argument("--log", type=Path, metavar="FILE",
                       help="append a JSON-lines log of every event and effect to FILE")
    start.set_defaults(func=run_start)

    scripts = sub.add_parser("scripts", help="list the built-in session scripts")
    scripts.set_defaults(func=run_scripts)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 10_000:
        raise argparse.ArgumentTypeError(f"{text} must be above 0 and at most 10000")
    return value


def prepare_state(args: argparse.Namespace, script: Script) -> SessionState:
    start = Level.parse(args.pressure) if args.pressure else None
    return new_session(script, start_pressure=start, options=Options())


def run_start(args: argparse.Namespace) -> int:
    script = load_script(args.script)
    if not args.text:
        raise UserError("spoken sessions are not available in this build yet; "
                        "use --text to run the session in the terminal")
    state = prepare_state(args, script)
    log = JsonLog(args.log) if args.log else None
    coordinator = Coordinator(state, sinks=[], observers=[log] if log else [], speed=args.speed)
    coordinator.add_sink(TextSink(coordinator.post))
    print(f"{script.title} ({script.total_duration_s / 60:.0f} min). "
          "Type a command and press Enter (help lists them).", flush=True)
    read_commands(sys.stdin, coordinator.post, lambda: coordinator.state.phase,
                  lambda msg: print(msg, flush=True))
    try:
        final = coordinator.run(Start())
    finally:
        if log:
            log.close()
    print(f"\nSession {final.finish_reason} after {final.clock_s / 60:.1f} minutes.")
    return 0


def run_scripts(args: argparse.Namespace) -> int:
    for name in builtin_names():
        script = load_script(name)
        zones = ", ".join(z for z in script.zones if z != "prep")
        print(f"{name:<12} {script.total_duration_s / 60:4.0f} min  {script.title}  [{zones}]")
    print("\nRun one with: voice-coach start NAME   (or a path to your own .toml file)")
    return 0
