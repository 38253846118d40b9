"""Renders a whole narrated session to a file: the pure session core driven in simulated time,
its speech and music through the live mixer, written as WAV and encoded with pydub's ffmpeg."""

from __future__ import annotations

import os
import tempfile
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio_out import RenderAudio
from .config import Settings
from .errors import UserError
from .events import Finish, Heard, Say, SpeechDone, Start, Tick
from .pressure import Level
from .script import Script
from .session import Options, Phase, handle, new_session
from .tts import Speech

FORMATS = {".wav": "wav", ".mp3": "mp3", ".ogg": "ogg", ".flac": "flac"}
PREP_GRACE_S = 15.0  # after the checklist has been read, as if the giver got ready, then "next"
TAIL_S = 5.0  # music after the closing words, fading out
TAIL_FADE_S = 4.0
MAX_SESSION_S = 4 * 3600.0  # a runaway script must not fill the disk


@dataclass(frozen=True)
class RenderResult:
    path: Path
    duration_s: float
    frames: int
    rate: int
    timeline: tuple[tuple[float, str, str], ...]  # (session s, kind, text) of every Say

    @property
    def utterances(self) -> int:
        return len(self.timeline)


def check_output(out: Path) -> str:
    """The export format for OUT; a bad suffix or folder is a UserError before any work."""
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise UserError(f"cannot write '{out.name}': use a .mp3, .wav, .ogg or .flac file name")
    if not out.parent.exists():
        raise UserError(f"folder {out.parent} does not exist; create it or pick another -o path")
    return fmt


def render_session(script: Script, out: Path, settings: Settings,
                   pressure: Level | None = None, speech: Speech | None = None,
                   progress: Callable[[float, float, str], None] | None = None) -> RenderResult:
    """Write the session to `out`. `progress(session_s, expected_s, step_title)` is called
    about twice a second of session time."""
    out = Path(out)
    fmt = check_output(out)
    finished_ids: list[int] = []
    audio = RenderAudio(settings, finished_ids.append, speech=speech)
    rate, block = audio.mixer.rate, audio.mixer.block
    dt = block / rate
    options = Options(duck_db=settings.duck_db, duck_ramp_ms=settings.duck_ramp_ms,
                      music_step_db=settings.music_step_db)
    state = new_session(script, start_pressure=pressure, options=options)
    timeline: list[tuple[float, str, str]] = []
    frames = 0
    finished = False

    def feed(event: Start | Tick | Heard | SpeechDone) -> None:
        nonlocal state, finished
        state, effects = handle(state, event)
        for effect in effects:
            audio.apply(effect)
            if isinstance(effect, Say):
                timeline.append((frames / rate, effect.kind, effect.text))
            finished = finished or isinstance(effect, Finish)

    fd, tmp_name = tempfile.mkstemp(suffix=".wav", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with wave.open(str(tmp), "wb") as wav:
            wav.setnchannels(2)
            wav.setsampwidth(2)
            wav.setframerate(rate)
            feed(Start())
            prep_index, prep_quiet_s, prep_s = -1, 0.0, 0.0
            tail_frames = int(TAIL_S * rate)
            fade_frames = int(TAIL_FADE_S * rate)
            tail_left = -1
            report_every = max(1, int(0.5 / dt))
            n_block = 0
            while tail_left != 0:
                mixed = audio.next_block()
                if tail_left > 0:  # the closing fade: music out over the last seconds
                    pos = tail_frames - tail_left + np.arange(block)
                    fade = np.clip((tail_frames - pos) / fade_frames, 0.0, 1.0)
                    mixed = mixed * fade[:, None].astype(np.float32)
                    tail_left = max(0, tail_left - block)
                wav.writeframes((mixed * 32767.0).astype("<i2").tobytes())
                frames += block
                n_block += 1
                while finished_ids:  # SpeechDone when its audio would have ended
                    feed(SpeechDone(finished_ids.pop(0)))
                if finished:
                    if tail_left < 0 and not audio.speaking and not state.speaking:
                        tail_left = tail_frames
                    continue
                feed(Tick(dt))
                if state.phase is Phase.PREPARING:
                    # Nobody can say "next" in a render: do it once the checklist has been
                    # read and a moment has passed (never before the step's own duration).
                    if state.index != prep_index:
                        prep_index, prep_quiet_s, prep_s = state.index, 0.0, 0.0
                    prep_s += dt
                    busy = bool(state.speaking) or audio.speaking
                    prep_quiet_s = 0.0 if busy else prep_quiet_s + dt
                    if prep_quiet_s >= PREP_GRACE_S and prep_s >= state.step.duration_s:
                        feed(Heard("next", text="next", at_s=state.clock_s, engine="render"))
                        prep_index = -1
                if progress and n_block % report_every == 0:
                    progress(frames / rate, script.total_duration_s, state.step.title)
                if frames / rate > MAX_SESSION_S:
                    raise UserError(f"{script.title}: the session did not end within "
                                    f"{MAX_SESSION_S / 3600:.0f} hours; check the script")
        if progress:
            progress(frames / rate, frames / rate, "done")
        _export(tmp, out, fmt)
    finally:
        audio.close()
        tmp.unlink(missing_ok=True)
    return RenderResult(out, frames / rate, frames, rate, tuple(timeline))


def _export(wav_path: Path, out: Path, fmt: str) -> None:
    """Encode the rendered WAV with the ffmpeg that pydub uses. The file goes to ffmpeg as it
    is: loading it into an AudioSegment first would hold the whole session in memory twice
    (about 0.5 GB for 20 minutes)."""
    if fmt == "wav":
        os.replace(wav_path, out)
        return
    import subprocess

    from pydub import AudioSegment

    codec = {"mp3": ["-c:a", "libmp3lame", "-b:a", "128k"], "ogg": ["-c:a", "libvorbis"],
             "flac": ["-c:a", "flac"]}[fmt]
    # -nostdin: ffmpeg would otherwise read (and swallow) whatever is piped to voice-coach.
    cmd = [AudioSegment.converter, "-nostdin", "-loglevel", "error", "-y", "-i", str(wav_path),
           *codec, str(out)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError as err:
        raise UserError(f"ffmpeg is needed to write .{fmt} files; install it "
                        "(apt-get install ffmpeg) or render to .wav") from err
    if proc.returncode != 0:
        raise UserError(f"ffmpeg could not write {out.name}: {proc.stderr.strip()[-200:]}")


def expected_duration_s(script: Script) -> float:
    """Roughly how long a render runs: the script's time plus the closing words and tail."""
    return script.total_duration_s + TAIL_S

