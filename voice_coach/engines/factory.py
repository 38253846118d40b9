"""Picks and builds the listening engine: `auto` = vosk when a model is found, else pocketsphinx."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .base import Engine

ENGINES = ("auto", "vosk", "pocketsphinx", "keys")


def _find_model(model: Path | None) -> Path | None:
    try:
        from ..models import find_model  # the models area's resolver (flag, env, models/ folder)
    except ImportError:
        return model if model is not None and model.exists() else None
    return find_model(model)


def resolve(name: str, model: Path | None) -> tuple[str, Path | None]:
    """(engine name, vosk model path or None) that `name` means on this machine."""
    if name not in ENGINES:
        raise UserError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")
    if name in ("auto", "vosk"):
        found = _find_model(model)
        if found is not None:
            return "vosk", found
        if name == "vosk" or model is not None:
            where = f"{model} is not a Vosk model folder" if model else "no Vosk model found"
            raise UserError(f"{where}; run 'voice-coach models download' or use "
                            "--engine pocketsphinx")
        return "pocketsphinx", None
    return name, None


def describe(name: str, model: Path | None) -> str:
    """One line for the CLI saying which engine listens and why."""
    engine, path = resolve(name, model)
    if engine == "vosk":
        return f"listening with vosk, model {path}"
    if engine == "pocketsphinx":
        from .whisper_judge import available

        why = " (no Vosk model found)" if name == "auto" else ""
        second = ", Whisper tiny.en as a second opinion" if available() else ""
        return f"listening with pocketsphinx, its bundled English model{second}{why}"
    return "listening to the keyboard: type a command and press Enter"


def make_engine(name: str, model: Path | None, live: bool = False,
                judge_threads: int = 2) -> Engine:
    """Build the engine `name` (auto|vosk|pocketsphinx|keys); vosk is imported only if chosen.
    `live`: it listens to a microphone, and second opinions are formed beside the stream
    rather than holding it up (a file is decoded the same way every run). `judge_threads`:
    Whisper's (two in a session; the bench's worker processes give it one each)."""
    engine, path = resolve(name, model)
    if engine == "vosk":
        from .vosk_engine import VoskEngine

        return VoskEngine(path)
    if engine == "pocketsphinx":
        from . import whisper_judge
        from .pocketsphinx_engine import PocketsphinxEngine

        judge = whisper_judge.WhisperJudge(judge_threads) if whisper_judge.available() else None
        return PocketsphinxEngine(judge=judge, judge_beside=live and judge is not None)
    from .keys import KeysEngine

    return KeysEngine()
