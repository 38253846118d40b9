"""Command-line options shared by several sub-commands, and the one place they become Settings."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .config import Settings


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 10_000:
        raise argparse.ArgumentTypeError(f"{text} must be above 0 and at most 10000")
    return value


def device(text: str) -> str | int:
    """A device index ("3") or a name or part of one ("VirtualSpeaker")."""
    return int(text) if text.strip().isdigit() else text


def rate(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of words a minute") \
            from None
    if not 80 <= value <= 400:
        raise argparse.ArgumentTypeError(f"{value} words a minute is outside 80-400")
    return value


def add_speech_and_music(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--voice", metavar="ID", help="speech voice (see 'voice-coach voices')")
    parser.add_argument("--rate", type=rate, default=160, metavar="WPM",
                        help="speaking rate in words a minute (default 160)")
    music = parser.add_mutually_exclusive_group()
    music.add_argument("--music", type=Path, metavar="FILE|FOLDER",
                       help="your own music: a file or a folder played as a playlist")
    music.add_argument("--no-music", action="store_true", help="no music, just the voice")
    parser.add_argument("--duck-db", type=float, default=-14.0, metavar="DB",
                        help="how far the music dips under the voice (default -14)")


def add_output_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output-device", type=device, metavar="NAME|INDEX",
                        help="speaker to play on (see 'voice-coach devices')")


def add_listening(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=["auto", "vosk", "pocketsphinx", "keys"],
                        default="auto", help="speech recogniser (default: auto)")
    parser.add_argument("--model", type=Path, metavar="PATH",
                        help="Vosk model folder (else $VOICE_COACH_MODEL, then models/)")
    parser.add_argument("--input-device", type=device, metavar="NAME|INDEX",
                        help="microphone to listen on (see 'voice-coach devices')")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from whatever options this sub-command has; the environment is read here only."""
    get = vars(args).get
    model = get("model") or (Path(os.environ["VOICE_COACH_MODEL"])
                             if os.environ.get("VOICE_COACH_MODEL") else None)
    return Settings(
        speed=get("speed") or 1.0,
        voice=get("voice"),
        rate_wpm=get("rate") or 160,
        music=get("music"),
        no_music=bool(get("no_music")),
        duck_db=float(args.duck_db) if get("duck_db") is not None else -14.0,
        output_device=get("output_device"),
        input_device=get("input_device"),
        engine=get("engine") or "auto",
        model=model,
        log_path=get("log"),
        person=get("person"),
    )
