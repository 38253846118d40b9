"""`voice-coach doctor`: checks every piece a spoken session needs and says how to fix each.

Each check is small and independent, returns (status, detail, fix) and never raises: a doctor
that crashes on the first missing piece would hide the others.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass(frozen=True)
class Finding:
    name: str
    status: str
    detail: str
    fix: str = ""


def _python() -> Finding:
    v = sys.version_info
    if v < (3, 11):
        return Finding("python", FAIL, f"{v.major}.{v.minor}", "install Python 3.11 or newer")
    return Finding("python", OK, f"{v.major}.{v.minor}.{v.micro}")


def _program(name: str, package: str, why: str) -> Callable[[], Finding]:
    def check() -> Finding:
        path = shutil.which(name)
        if path:
            return Finding(name, OK, path)
        return Finding(name, FAIL, f"not found ({why})", f"sudo apt-get install {package}")
    return check


def _speech() -> Finding:
    from .tts import list_voices

    try:
        voices = list_voices()
    except Exception as err:  # noqa: BLE001 - any failure is the finding
        return Finding("speech", FAIL, f"pyttsx3 cannot start: {err}",
                       "sudo apt-get install espeak-ng libespeak-ng1")
    english = [v for v in voices if "en" in v.id.lower()]
    return Finding("speech", OK if english else WARN,
                   f"{len(voices)} voices, {len(english)} English",
                   "" if english else "install espeak-ng-data for English voices")


def _portaudio() -> Finding:
    try:
        import sounddevice as sd
    except OSError:
        return Finding("portaudio", FAIL, "the PortAudio library is missing",
                       "sudo apt-get install libportaudio2")
    return Finding("portaudio", OK, sd.get_portaudio_version()[1])


def _devices(kind: str) -> Callable[[], Finding]:
    def check() -> Finding:
        try:
            import sounddevice as sd

            devices = [d for d in sd.query_devices() if d[f"max_{kind}_channels"] > 0]
        except Exception as err:  # noqa: BLE001 - no PortAudio, no devices: the finding
            return Finding(f"{kind} devices", FAIL, str(err).splitlines()[0],
                           "install libportaudio2; check the sound settings")
        if not devices:
            hint = ("plug in speakers or headphones, or use 'voice-coach render' / --text"
                    if kind == "output" else
                    "plug in a microphone, or use --engine keys to type commands")
            return Finding(f"{kind} devices", FAIL, "none found", hint)
        try:
            default = sd.query_devices(kind=kind)["name"]
        except Exception:  # noqa: BLE001
            default = "no default"
        return Finding(f"{kind} devices", OK, f"{len(devices)} found, default: {default}")
    return check


def _pocketsphinx() -> Finding:
    try:
        import pocketsphinx
    except ImportError:
        return Finding("pocketsphinx", FAIL, "not installed", "pip install pocketsphinx")
    model = Path(pocketsphinx.get_model_path()) / "en-us"
    if not model.is_dir():
        return Finding("pocketsphinx", FAIL, f"bundled model missing at {model}",
                       "pip install --force-reinstall pocketsphinx")
    return Finding("pocketsphinx", OK, "bundled English model (works with no download)")


def _vosk(model: Path | None, env_value: str | None) -> Callable[[], Finding]:
    def check() -> Finding:
        try:
            import vosk  # noqa: F401
        except Exception as err:  # noqa: BLE001
            return Finding("vosk", WARN, f"cannot import vosk ({err})", "pip install vosk")
        from .commands import vocabulary
        from .models import find_model, missing_words

        try:
            found = find_model(model, env_value)
        except UserError as err:
            return Finding("vosk model", FAIL, str(err), "voice-coach models download")
        if found is None:
            return Finding("vosk model", WARN, "none found: pocketsphinx will listen",
                           "for better recognition: voice-coach models download")
        missing = missing_words(found, vocabulary())
        if missing:
            return Finding("vosk model", FAIL, f"{found} lacks words: {', '.join(missing)}",
                           "use an English model: voice-coach models download")
        return Finding("vosk model", OK, str(found))
    return check


def _music() -> Finding:
    from .music import find_tracks

    try:
        tracks = find_tracks(None)
    except UserError as err:
        return Finding("music", FAIL, str(err), "python -m voice_coach.musicgen")
    size_kb = sum(t.stat().st_size for t in tracks) // 1024
    return Finding("music", OK, f"{tracks[0].name} ({size_kb} KB)")


def _writable(name: str, path: Path) -> Callable[[], Finding]:
    def check() -> Finding:
        try:
            path.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path):
                pass
        except OSError as err:
            return Finding(name, FAIL, f"{path}: {err.strerror}",
                           f"make {path} writable for your user")
        return Finding(name, OK, str(path))
    return check


def run_checks(model: Path | None = None) -> list[Finding]:
    from platformdirs import user_cache_dir, user_data_dir

    env_model = os.environ.get("VOICE_COACH_MODEL")
    checks: list[Callable[[], Finding]] = [
        _python,
        _program("espeak-ng", "espeak-ng", "the speaking voice"),
        _program("ffmpeg", "ffmpeg", "mp3/ogg/flac music"),
        _program("ffprobe", "ffmpeg", "mp3/ogg/flac music"),
        _speech, _portaudio, _devices("output"), _devices("input"),
        _pocketsphinx, _vosk(model, env_model), _music,
        _writable("cache dir", Path(user_cache_dir("voice-coach"))),
        _writable("data dir", Path(user_data_dir("voice-coach"))),
    ]
    findings = []
    for check in checks:
        try:
            findings.append(check())
        except Exception as err:  # noqa: BLE001 - a doctor must report, not crash
            findings.append(Finding(getattr(check, "__name__", "check"), FAIL, str(err)))
    return findings


def add_commands(sub: argparse._SubParsersAction, bench_sub: argparse._SubParsersAction) -> None:
    doctor = sub.add_parser("doctor", help="check speech, music, devices and recognisers")
    doctor.add_argument("--model", type=Path, metavar="PATH", help="Vosk model folder to check")
    doctor.set_defaults(func=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    findings = run_checks(args.model)
    width = max(len(f.name) for f in findings)
    for f in findings:
        print(f"{f.status:>4}  {f.name:<{width}}  {f.detail}")
        if f.fix and f.status != OK:
            print(f"{'':>4}  {'':<{width}}  fix: {f.fix}")
    failed = sum(f.status == FAIL for f in findings)
    print("\nAll set." if not failed else f"\n{failed} problem(s) to fix (see 'fix:' above).")
    return 1 if failed else 0
