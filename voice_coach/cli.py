"""The command line: the only place that parses arguments, resolves paths and builds the edges.

Each area registers its own sub-commands (cli_*.py: `add_commands(sub, bench_sub)`), so this file
stays a small dispatcher.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from . import __version__, memory
from .errors import UserError

# Modules that register sub-commands; each defines add_commands(subparsers, bench_subparsers).
COMMAND_MODULES = (
    "voice_coach.cli_session",
    "voice_coach.cli_listen",
    "voice_coach.cli_models",
    "voice_coach.cli_audio",
    "voice_coach.bench_echo",
    "voice_coach.doctor",
    "voice_coach.cli_live",
    "voice_coach.cli_history",
)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line and says where to look."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="voice-coach",
                     description="Hands-free voice guide for giving a back rub.")
    parser.add_argument("--version", action="version", version=f"voice-coach {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    bench = sub.add_parser("bench", help="measure speed and accuracy (prints JSON last)")
    bench_sub = bench.add_subparsers(dest="bench", metavar="BENCH", parser_class=_Parser)
    bench_sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub, bench_sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    # Sessions run for an hour. Not where a recogniser decodes in this process: its Whisper
    # allocates buffers over the threshold at every step, and each one mapped and unmapped
    # again doubled its CPU time (bench listen --quick: sys 46 s -> 3 min 45 s).
    if not getattr(args, "decodes_here", False):
        memory.keep_large_buffers_out_of_the_heap()
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        print(f"voice-coach: error: {err}", file=sys.stderr)
        if argv is None:  # the program itself, not a caller in this process
            _exit_before_native_teardown(2)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        sys.stderr.close()
        return 0


def _exit_before_native_teardown(code: int) -> None:
    """Exit now, once the sound libraries are loaded. Listing PortAudio's devices loads ALSA's
    plugins, and with them C++ codec libraries (its a52 plugin links libavcodec); exiting
    right after one clear error line, their teardown now and then aborted the process
    ("terminate called without an active exception", exit -6; seen in CI). What was started
    has been closed on the way here, and nothing is left to save."""
    if "sounddevice" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
