"""`voice-coach listen` (a WAV file or the live microphone) and `voice-coach bench listen`."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from .engines.base import Detection, Engine
from .engines.factory import ENGINES, describe, make_engine
from .errors import UserError


def add_commands(sub: Any, bench_sub: Any) -> None:
    p = sub.add_parser("listen", help="hear commands from a WAV file or the microphone")
    p.add_argument("--input", type=Path, help="a WAV file (any rate/channels); default: the mic")
    _engine_args(p)
    p.add_argument("--json", action="store_true", help="one JSON object per detected command")
    p.add_argument("--input-device", help="microphone name or index (see 'voice-coach devices')")
    p.add_argument("--coach-speaking", action="store_true",
                   help="decode as if the coach were talking the whole time (stricter)")
    p.set_defaults(func=run_listen, decodes_here=True)

    b = bench_sub.add_parser("listen", help="recall, false accepts/hour, delay, RTF, memory")
    _engine_args(b, default="pocketsphinx")
    b.add_argument("--quick", action="store_true", help="a small set (about a minute)")
    b.add_argument("--data", type=Path,
                   help="a folder of WAVs + labels.tsv (file, start_s, end_s, command per line)")
    b.add_argument("--cache", type=Path, help="where the synthesized set is kept")
    b.add_argument("--opinions", type=Path, metavar="FILE",
                   help="record Whisper's decisions here, for 'voice-coach bench replay'")
    b.add_argument("--workers", type=_workers, default=min(os.cpu_count() or 1, 2),
                   metavar="N", help="streams decoded at once, each in a process of its own "
                   "with Whisper on one thread (default: 2, or 1 on a 1-core machine)")
    b.set_defaults(func=run_bench, decodes_here=True)

    r = bench_sub.add_parser("replay", help="decide recorded Whisper opinions again: what "
                             "changes with the bars as they are now")
    r.add_argument("opinions", type=Path, metavar="FILE",
                   help="recorded by 'voice-coach bench listen --opinions FILE'")
    r.set_defaults(func=run_replay)


def _engine_args(p: argparse.ArgumentParser, default: str = "auto") -> None:
    p.add_argument("--engine", default=default, choices=ENGINES,
                   help=f"recognizer (default {default}: vosk if a model is found, "
                        "else pocketsphinx)")
    p.add_argument("--model", type=Path, help="a Vosk model folder")


def _workers(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes (1, 2 ...)")
    return int(text)


def _model(args: argparse.Namespace) -> Path | None:
    """--model, else $VOICE_COACH_MODEL (the CLI is the one place that reads the environment)."""
    env = os.environ.get("VOICE_COACH_MODEL")
    return args.model or (Path(env).expanduser() if env else None)


def _line(det: Detection, as_json: bool) -> str:
    if as_json:
        return json.dumps({"command": det.command, "t": round(det.at_s, 3), "text": det.text,
                           "confidence": det.confidence, "engine": det.engine})
    return f"{det.at_s:7.2f}s  {det.command:<8} ({det.text}, {det.confidence:.2f})"


def run_listen(args: argparse.Namespace) -> int:
    from . import audio_in

    args.model = _model(args)
    print(describe(args.engine, args.model), file=sys.stderr)
    if args.input is not None:
        samples = audio_in.read_wav(args.input)  # bad files fail before the engine loads
        engine = make_engine(args.engine, args.model)
        engine.set_coach_speaking(args.coach_speaking)
        for chunk in audio_in.chunks(samples):
            for det in engine.feed(chunk):
                print(_line(det, args.json), flush=True)
        for det in engine.flush():
            print(_line(det, args.json), flush=True)
        return 0
    engine = make_engine(args.engine, args.model)
    if args.engine == "keys" or engine.name == "keys":
        return _listen_keys(engine, args.json)
    return _listen_live(engine, args)


def _listen_keys(engine: Engine, as_json: bool) -> int:
    for line in sys.stdin:
        det = engine.type_line(line)  # type: ignore[attr-defined]
        print(_line(det, as_json) if det else "(not a command)", flush=True)
    return 0


def _listen_live(engine: Engine, args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from . import audio_in

    console = Console(stderr=True)
    heard: list[str] = []
    level = -100.0
    stop = threading.Event()

    def view() -> Text:
        bars = int(max(0.0, min(1.0, (level + 60.0) / 60.0)) * 40)
        t = Text(f"mic {level:6.1f} dBFS ")
        t.append("#" * bars, style="green" if level < -6 else "red")
        t.append(" " * (40 - bars) + "\n")
        t.append("commands: " + ("  ".join(heard[-6:]) or "(nothing yet - say 'softer')"))
        verdicts = getattr(engine, "verdicts", None)  # pocketsphinx: what it weighed, and why
        if verdicts:
            v = verdicts[-1]
            t.append(f"\nlast heard: {v.text or '?'} -> {'accepted' if v.command else v.reason}")
        t.append("\nCtrl-C to stop")
        return t

    with audio_in.Microphone(args.input_device) as mic:
        if mic.rate != audio_in.RATE:
            console.print(f"device runs at {mic.rate} Hz; resampling to 16 kHz")
        print("listening now; Ctrl-C to stop", file=sys.stderr, flush=True)
        # Ctrl-C sets a flag the loop checks between blocks, instead of raising inside the
        # recogniser's C code (a listen interrupted mid-decode hung on exit on a busy CI).
        previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
        try:
            with Live(view(), console=console, refresh_per_second=10, transient=False) as live:
                while not stop.is_set():
                    chunk = mic.read(timeout_s=0.5)
                    if chunk is None:
                        if not mic.active:
                            raise UserError("the microphone stopped delivering audio; check "
                                            "that it is still plugged in and try again")
                        continue
                    level = audio_in.level_dbfs(chunk)
                    for det in engine.feed(chunk):
                        heard.append(det.command)
                        print(_line(det, args.json), flush=True)
                    live.update(view())
        finally:
            signal.signal(signal.SIGINT, previous)
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from platformdirs import user_cache_dir

    from . import bench_listen, bench_opinions, bench_runs

    cache = args.cache or Path(user_cache_dir("voice-coach")) / "bench_listen"
    args.model = _model(args)
    opinions = bench_opinions.OpinionLog(args.opinions) if args.opinions else None
    if opinions is not None:
        opinions.save()  # fail now on a file it cannot write, not after the whole bench
    make_engine(args.engine, args.model)  # fail fast on a bad engine/model

    printing = threading.Lock()  # the workers' progress is told from another thread

    def log(line: str) -> None:
        with printing:
            print(line, file=sys.stderr, flush=True)

    runs = bench_runs.Runs(args.engine, args.model, args.workers, opinions is not None, log)
    try:
        result = bench_listen.bench(runs, args.engine, cache, args.quick, args.data, log,
                                    opinions)
    finally:
        runs.close()
    if opinions is not None:
        opinions.save()
    print(bench_listen.to_json_line(result))
    return 0


def run_replay(args: argparse.Namespace) -> int:
    from .bench_opinions import replay

    for line in replay(args.opinions):
        print(line)
    return 0
