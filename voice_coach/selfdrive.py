"""A self-driving session: a synthetic voice speaks commands into the (virtual) microphone at set
times while a real `voice-coach start` runs, and the speaker's output is recorded.

`voice-coach demo`, `voice-coach bench live` and the end-to-end tests all use it. Playback into
the microphone and the speaker recording run in this process on PortAudio streams that share one
clock, so "when the command ended" and "when the chime started" can be compared to the ms.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import bench_data
from .audio_in import resample
from .commands import command_for_phrase
from .memory import peak_rss_mb, tree_cpu_s, tree_rss_mb
from .mixer import make_chime
from .tts import MIXER_RATE

RATE = MIXER_RATE
VOICE = ("flite", "slt", 0)


@dataclass(frozen=True)
class Cue:
    at_s: float  # seconds after the track starts
    phrase: str
    voice: tuple[str, str, int] = VOICE


@dataclass(frozen=True)
class Spoken:
    start_s: float
    end_s: float
    phrase: str
    command: str | None


def synthesize(phrase: str, voice: tuple[str, str, int]) -> np.ndarray:
    """The phrase spoken by a synthesizer, trimmed, as float32 at RATE."""
    clip = bench_data.speak(phrase, voice=voice[1], synth=voice[0], wpm=voice[2] or 160)
    return resample(clip.astype(np.float32) / 32768.0, bench_data.RATE, RATE)


def command_track(cues: Sequence[Cue], total_s: float,
                  music_snr_db: float | None = None) -> tuple[np.ndarray, list[Spoken]]:
    """Speech at the cue times, with music under it at the given speech-to-music ratio."""
    track = np.zeros(int(total_s * RATE), np.float32)
    spoken = []
    speech_parts = []
    for cue in cues:
        clip = synthesize(cue.phrase, cue.voice)
        start = int(cue.at_s * RATE)
        clip = clip[: max(0, len(track) - start)]
        track[start:start + len(clip)] += clip
        speech_parts.append(clip)
        spoken.append(Spoken(cue.at_s, cue.at_s + len(clip) / RATE, cue.phrase,
                             command_for_phrase(cue.phrase)))
    if music_snr_db is not None and speech_parts:
        # Not the session's own track: played un-ducked and seconds out of step with it, the
        # echo canceller took that copy for an echo of what it plays (the recogniser's input
        # 8-10 dB under the microphone's for the first 20 s of a run), and so could put the
        # coach's voice, which the microphone never had, into what the recogniser hears.
        music = resample(bench_data.music(total_s, bundled=False), bench_data.RATE,
                         RATE)[: len(track)]
        speech_rms = float(np.sqrt(np.mean(np.concatenate(speech_parts) ** 2)))
        music_rms = float(np.sqrt(np.mean(music ** 2))) + 1e-9
        track[: len(music)] += music * (speech_rms / music_rms) * 10 ** (-music_snr_db / 20)
    peak = float(np.max(np.abs(track))) or 1.0
    return track * min(1.0, 0.9 / peak), spoken


class _Stream:
    """One PortAudio stream in or out, remembering the stream time of its first sample."""

    def __init__(self) -> None:
        self.first_sample_time: float | None = None
        self.stream: Any = None

    def close(self) -> None:
        if self.stream is not None:
            self.stream.stop()
            self.stream.close()


class MicPlayer(_Stream):
    """Plays a track into the virtual microphone (the `micfeed` sink)."""

    def __init__(self, track: np.ndarray, device: str = "micfeed") -> None:
        import sounddevice as sd

        super().__init__()
        self._track = track
        self._pos = 0
        self.done = threading.Event()
        self.stream = sd.OutputStream(device=device, samplerate=RATE, channels=1,
                                      dtype="float32", blocksize=1024, callback=self._callback)

    def _callback(self, out: np.ndarray, frames: int, when: Any, status: Any) -> None:
        if self.first_sample_time is None:
            self.first_sample_time = when.outputBufferDacTime
        chunk = self._track[self._pos:self._pos + frames]
        out[: len(chunk), 0] = chunk
        out[len(chunk):, 0] = 0.0
        self._pos += frames
        if self._pos >= len(self._track):
            self.done.set()

    def start(self) -> None:
        self.stream.start()


class SpeakerRecorder(_Stream):
    """Records what the virtual speaker plays (its monitor)."""

    def __init__(self, device: str = "spk_mon") -> None:
        import sounddevice as sd

        super().__init__()
        self._blocks: list[np.ndarray] = []
        self.stream = sd.InputStream(device=device, samplerate=RATE, channels=1,
                                     dtype="float32", blocksize=1024, callback=self._callback)
        self.stream.start()

    def _callback(self, data: np.ndarray, frames: int, when: Any, status: Any) -> None:
        if self.first_sample_time is None:
            self.first_sample_time = when.inputBufferAdcTime
        self._blocks.append(data[:, 0].copy())

    def audio(self) -> np.ndarray:
        return np.concatenate(self._blocks) if self._blocks else np.zeros(0, np.float32)


@dataclass
class Outcome:
    returncode: int | None
    log: list[dict[str, Any]]
    stdout: str
    stderr: str
    spoken: list[Spoken]
    recording: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    track_start_in_recording_s: float = 0.0  # where track time 0 falls in the recording
    cpu_s: float = 0.0  # the app's own user + system CPU time
    cpu_with_recogniser_s: float = 0.0  # and its recogniser process's (sampled, so a bit short)
    peak_rss_mb: float = 0.0  # the app's own process
    peak_total_rss_mb: float = 0.0  # with its recogniser process, sampled twice a second
    wall_s: float = 0.0
    typed_stop: bool = False  # the session was stopped from the keyboard (`run`)

    def heard(self) -> list[dict[str, Any]]:
        """The commands the session heard through the microphone (not the one typed)."""
        return [line for line in self.log
                if line["type"] == "heard" and line.get("engine") != "keys"]


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class _Child:
    """The app's process, reaped with wait4 so its CPU time and peak memory are known."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.started = time.monotonic()
        self.returncode: int | None = None
        self.usage: Any = None
        self.wall_s = 0.0
        self.peak_total_rss_mb = 0.0
        self.peak_app_rss_mb = 0.0
        self.cpu_s = (0.0, 0.0)  # (the app at the last sample, the most seen with its recogniser)
        threading.Thread(target=self._sample_usage, daemon=True).start()

    def _sample_usage(self) -> None:
        while self.returncode is None:
            self.peak_total_rss_mb = max(self.peak_total_rss_mb, tree_rss_mb(self.proc.pid)[1])
            self.peak_app_rss_mb = max(self.peak_app_rss_mb, peak_rss_mb(self.proc.pid))
            cpu = tree_cpu_s(self.proc.pid)
            if cpu[1] > 0:  # 0: the process is gone
                # The recogniser ends before the app: its time must not drop out of the total.
                self.cpu_s = (cpu[0], max(cpu[1], self.cpu_s[1]))
            time.sleep(0.5)

    def exited(self) -> bool:
        if self.returncode is None:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                self.usage = usage
                self.wall_s = time.monotonic() - self.started
                self.proc.returncode = self.returncode  # so Popen does not wait for it again
        return self.returncode is not None

    def end(self) -> None:
        if not self.exited():
            self.proc.kill()
            while not self.exited():
                time.sleep(0.05)


def run(script: str, cues: Sequence[Cue], total_s: float, workdir: Path,
        extra_args: Sequence[str] = (), music_snr_db: float | None = 10.0,
        record: bool = False, echo_stdout: bool = False, timeout_s: float = 600,
        type_stop_after_s: float | None = None) -> Outcome:
    """Run a spoken session with commands played into the microphone; returns its log.
    `type_stop_after_s`: once the command track has ended and this much more has passed, a
    session still running is stopped from the keyboard (its "stop" was not heard)."""
    track, spoken = command_track(cues, total_s, music_snr_db)
    log_path = workdir / "session.jsonl"
    log_path.unlink(missing_ok=True)
    recorder = SpeakerRecorder() if record else None
    app = _Child([sys.executable, "-m", "voice_coach.cli", "start", script, "--quiet",
                  "--log", str(log_path), *extra_args])
    out_lines: list[str] = []
    reader = threading.Thread(target=_pump, args=(app.proc.stdout, out_lines, echo_stdout),
                              daemon=True)
    reader.start()
    player = None
    typed_stop = False
    try:
        deadline = time.monotonic() + timeout_s
        while not any(line["type"] == "step_started" for line in read_log(log_path)):
            if app.exited() or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if not app.exited():
            player = MicPlayer(track)
            player.start()
        typed_at = (None if type_stop_after_s is None
                    else time.monotonic() + total_s + type_stop_after_s)
        while not app.exited() and time.monotonic() < deadline:
            if typed_at is not None and time.monotonic() > typed_at:
                typed_at = None
                # Not if it is ending already (a "stop" heard late, its closing words).
                if not any(line["type"] == "finish" for line in read_log(log_path)):
                    typed_stop = _type(app.proc, "stop")
            time.sleep(0.1)
    finally:
        app.end()
        if player is not None:
            player.close()
        if recorder is not None:
            recorder.close()
    reader.join(timeout=5)
    stderr = app.proc.stderr.read() if app.proc.stderr else ""
    outcome = Outcome(app.returncode, read_log(log_path), "".join(out_lines), stderr, spoken,
                      wall_s=app.wall_s, typed_stop=typed_stop)
    if app.usage is not None:
        # wait4's figures include the recogniser once the app has reaped it; these do not.
        outcome.cpu_s = app.cpu_s[0] or app.usage.ru_utime + app.usage.ru_stime
        outcome.peak_rss_mb = app.peak_app_rss_mb or app.usage.ru_maxrss / 1024
    outcome.cpu_with_recogniser_s = app.cpu_s[1]
    outcome.peak_total_rss_mb = app.peak_total_rss_mb
    if recorder is not None and player is not None:
        outcome.recording = recorder.audio()
        if recorder.first_sample_time is not None and player.first_sample_time is not None:
            outcome.track_start_in_recording_s = (player.first_sample_time
                                                  - recorder.first_sample_time)
    return outcome


def _type(proc: subprocess.Popen, command: str) -> bool:
    """Type a command into the session (it reads commands from its standard input too)."""
    try:
        assert proc.stdin is not None
        proc.stdin.write(command + "\n")
        proc.stdin.flush()
        return True
    except (OSError, ValueError):  # it has just ended
        return False


def _pump(stream: Any, lines: list[str], echo: bool) -> None:
    for line in stream:
        lines.append(line)
        if echo:
            sys.stdout.write(line)
            sys.stdout.flush()


def chime_onsets(recording: np.ndarray, threshold: float = 0.6,
                 jump_db: float = 6.0) -> list[float]:
    """Times (s) in the recording where one of the coach's chimes starts.

    A candidate is a peak of the normalised cross-correlation with a whole chime, in the
    chime's own frequency bands: the chime starts over the last ~60 ms of a sentence it cuts
    off, and a correlation with only its first 60 ms, over all frequencies, fell below any
    usable threshold there. It counts only if its level matches the chime's (within 6 dB) and
    the energy at the chime's pitch jumps by `jump_db` there: a note of the music in the same
    band correlates with a bare sine as well, but neither starts nor decays like a chime."""
    if len(recording) == 0:
        return []
    x = recording.astype(np.float64)
    onsets: list[tuple[float, float]] = []  # (time, how much of the recording it explains)
    for kind in ("ack", "step", "refuse", "end"):
        chime = make_chime(kind).astype(np.float64)
        m = len(chime)
        size = 1 << (len(x) + m - 2).bit_length()
        spectrum = np.fft.rfft(chime, size)
        bands = np.abs(spectrum) > 0.1 * np.max(np.abs(spectrum))
        x_band = np.fft.irfft(np.fft.rfft(x, size) * bands, size)[: len(x)]
        corr = np.fft.irfft(np.fft.rfft(x_band, size) * np.conj(spectrum), size)[: len(x) - m]
        running = np.concatenate([[0.0], np.cumsum(x_band ** 2)])
        window_energy = np.maximum(running[m:m + len(corr)] - running[:len(corr)], 0.0)
        chime_energy = np.sum(chime ** 2)
        score = corr / (np.sqrt(window_energy * chime_energy) + 1e-12)
        gain = corr / chime_energy  # the chime's level in the recording, if it is one
        head = chime[: int(0.06 * RATE)]
        for peak in _peaks(score, threshold, RATE // 2):
            # The normalised score stays high for up to a chime's length around one (a sine
            # fits itself shifted by whole periods; quiet bands before it weigh nothing); the
            # raw match peaks where it really starts.
            lo = max(0, peak - m)
            i = lo + int(np.argmax(corr[lo:peak + m]))
            if 0.5 < gain[i] < 2.0 and _energy_jump_db(x, i, head) >= jump_db:
                onsets.append((i / RATE, float(corr[i] ** 2 / chime_energy)))
    # The kinds share notes: one chime may match several templates, the others where their
    # own note of it falls (the "end" chime's third note is the "ack"): keep the one that
    # explains the most of the recording's energy (the least-squares projection on it).
    merged: list[tuple[float, float]] = []
    for t, fit in sorted(onsets):
        if merged and t - merged[-1][0] <= 0.3:
            if fit > merged[-1][1]:
                merged[-1] = (t, fit)
        else:
            merged.append((t, fit))
    return [t for t, _ in merged]


def _peaks(score: np.ndarray, threshold: float, spacing: int) -> list[int]:
    above = np.nonzero(score > threshold)[0]
    peaks: list[int] = []
    for i in above:
        if peaks and i - peaks[-1] < spacing:
            if score[i] > score[peaks[-1]]:
                peaks[-1] = int(i)
            continue
        peaks.append(int(i))
    return peaks


def _energy_jump_db(x: np.ndarray, at: int, template: np.ndarray) -> float:
    """How much the component matching `template` grew from just before `at` to just after."""
    m = len(template)
    before, after = x[max(0, at - m):at], x[at:at + m]
    if len(before) < m or len(after) < m:
        return 0.0
    unit = template / np.sqrt(np.sum(template ** 2))
    # Projection on the template and its quadrature (phase-free energy at the chime's pitch).
    quad = np.imag(_analytic(unit))
    e_before = np.dot(before, unit) ** 2 + np.dot(before, quad) ** 2
    e_after = np.dot(after, unit) ** 2 + np.dot(after, quad) ** 2
    return float(10 * np.log10((e_after + 1e-12) / (e_before + 1e-12)))


def _analytic(x: np.ndarray) -> np.ndarray:
    spectrum = np.fft.fft(x)
    h = np.zeros(len(x))
    h[0] = 1
    h[1:(len(x) + 1) // 2] = 2
    if len(x) % 2 == 0:
        h[len(x) // 2] = 1
    return np.fft.ifft(spectrum * h)
