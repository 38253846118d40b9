"""A user-mode PulseAudio with only virtual devices (speaker `spk`, microphone `vmic`).

For the tests, the benchmarks and `voice-coach demo` on machines with no sound card. Call
start() before anything imports sounddevice: PortAudio enumerates devices once, at import, so
the environment must already point at our server. `start()` is idempotent.
Manual use: `python -m voice_coach.virtual_audio start|stop` prints the environment to export.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path

import numpy as np

from .errors import UserError

RATE = 48_000
# A fixed place per user so `start` from a shell and the tests can share one server.
BASE = Path(os.environ.get("VOICE_COACH_VAUDIO_DIR",
                           Path(tempfile.gettempdir()) / f"voice-coach-vaudio-{os.getuid()}"))

PA_CONFIG = """\
load-module module-native-protocol-unix auth-anonymous=1
load-module module-null-sink sink_name=spk rate=48000 channels=2 \
sink_properties=device.description=VirtualSpeaker
load-module module-null-sink sink_name=micfeed rate=48000 channels=1 \
sink_properties=device.description=VirtualMicFeed
load-module module-remap-source source_name=vmic master=micfeed.monitor \
source_properties=device.description=VirtualMic
# keep-alive: an idle null sink stalls every new stream by 1.4-1.9 s without these
load-module module-null-source source_name=silence rate=48000 channels=1
load-module module-loopback source=silence sink=spk latency_msec=10 \
source_dont_move=true sink_dont_move=true
load-module module-loopback source=silence sink=micfeed latency_msec=10 \
source_dont_move=true sink_dont_move=true
set-default-sink spk
set-default-source vmic
"""

# ALSA named PCMs through the pulse plugin; the hint makes PortAudio list them.
ASOUNDRC = """\
pcm.spk     { type pulse; device "spk";         hint { show on; description "VirtualSpeaker" } }
pcm.spk_mon { type pulse; device "spk.monitor"; \
hint { show on; description "Monitor of VirtualSpeaker" } }
pcm.vmic    { type pulse; device "vmic";        hint { show on; description "VirtualMic" } }
pcm.micfeed { type pulse; device "micfeed";     hint { show on; description "VirtualMicFeed" } }
"""

_start_error: str | None = None
_launched: set[Path] = set()  # the servers this process brought up


def environment(base: Path = BASE) -> dict[str, str]:
    return {
        "PULSE_RUNTIME_PATH": str(base / "run"),
        "PULSE_STATE_PATH": str(base / "state"),
        "PULSE_SERVER": f"unix:{base / 'run' / 'native'}",
        "XDG_CONFIG_HOME": str(base / "xdg"),
    }


def _pactl_ok() -> bool:
    try:
        return subprocess.run(["pactl", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def start(base: Path = BASE) -> str | None:
    """Start (or reuse) the server and export its environment; returns None or why it failed."""
    global _start_error
    if "sounddevice" in sys.modules and os.environ.get("PULSE_SERVER") != environment(base)[
            "PULSE_SERVER"]:
        # Too late: PortAudio already enumerated without our devices.
        return "sounddevice was imported before the virtual devices were set up"
    os.environ.update(environment(base))
    for sub in ("run", "state", "xdg/alsa"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    (base / "ci.pa").write_text(PA_CONFIG)
    (base / "xdg" / "alsa" / "asoundrc").write_text(ASOUNDRC)  # always: it may have grown
    if _pactl_ok():
        _start_error = None
        return None
    if shutil.which("pulseaudio") is None:
        _start_error = "pulseaudio is not installed (apt-get install pulseaudio pulseaudio-utils)"
        return _start_error
    proc = subprocess.run(
        ["pulseaudio", "-n", "-F", str(base / "ci.pa"), "--daemonize=yes",
         "--exit-idle-time=-1", "--disallow-exit", "--use-pid-file=yes",
         f"--log-target=file:{base / 'pulse.log'}"],
        capture_output=True, text=True, timeout=20)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _pactl_ok():
            _start_error = None
            _launched.add(base)
            _warm_up_monitor()
            return None
        time.sleep(0.05)
    _start_error = f"PulseAudio did not start: {proc.stderr.strip()[-300:] or 'see pulse.log'}"
    return _start_error


def _monitor_recorder(rate: int) -> list[str]:
    """parec recording the speaker's monitor: raw 16-bit mono at `rate`, low latency."""
    return ["parec", "-d", "spk.monitor", "--raw", "--format=s16le", f"--rate={rate}",
            "--channels=1", "--latency-msec=20"]


def _warm_up_monitor(timeout_s: float = 5.0) -> None:
    """Open the speaker's monitor once and wait for its first bytes: on a fresh server the
    first low-latency recording of it stalls for ~1.5 s (measured; later ones start at once),
    and a test's recording would miss the first 1.5 s of what it played."""
    import select

    with subprocess.Popen(_monitor_recorder(RATE), stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        select.select([proc.stdout], [], [], timeout_s)
        proc.terminate()


def ensure() -> str:
    """Use the sound server we are given (PULSE_SERVER: the tests', or the user's own choice),
    or bring up ours. Returns a note to show; raises UserError if neither is there.
    A server brought up here goes down when the program ends (one that was already running,
    e.g. from `python -m voice_coach.virtual_audio start`, is left running)."""
    if os.environ.get("PULSE_SERVER"):
        return "using the sound server in PULSE_SERVER"
    error = start()
    if error:
        raise UserError(f"cannot start virtual audio devices: {error}")
    if BASE in _launched:
        atexit.register(stop)
    remove_room_echo()
    return "using private virtual audio devices (a PulseAudio null sink and microphone)"


def remove_room_echo() -> int:
    """Unload every speaker-to-microphone loopback (RoomEcho's): a run killed while one was on
    leaves it loaded, and every later session on the server hears the room once more (two
    such echo paths, out of step, left the canceller little to remove). Returns how many."""
    removed = 0
    for line in pactl("list", "short", "modules").splitlines():
        index, name, *args = line.split("\t")
        loop = " ".join(args)
        if name == "module-loopback" and "source=spk.monitor" in loop and "sink=micfeed" in loop:
            pactl("unload-module", index)
            removed += 1
    return removed


def stop(base: Path = BASE) -> None:
    env = {**os.environ, **environment(base)}
    subprocess.run(["pulseaudio", "--kill"], env=env, capture_output=True, timeout=20)


def start_error() -> str | None:
    return _start_error


def record_monitor(seconds: float, rate: int = RATE) -> np.ndarray:
    """Record what the virtual speaker played (its monitor), as float32 mono."""
    n_bytes = int(seconds * rate) * 2
    # parec has no duration flag: read a fixed number of bytes from its pipe, then stop it.
    with subprocess.Popen(_monitor_recorder(rate), stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        data = b""
        while len(data) < n_bytes:
            chunk = proc.stdout.read(min(65536, n_bytes - len(data)))
            if not chunk:
                break
            data += chunk
        proc.terminate()
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


class MonitorRecorder:
    """Record the speaker's monitor in the background while the code under test plays."""

    def __init__(self, rate: int = RATE) -> None:
        self.rate = rate
        self._proc = subprocess.Popen(_monitor_recorder(rate), stdout=subprocess.PIPE)
        self._chunks: list[bytes] = []
        # Drain the pipe all the time: a full pipe would stall parec and lose audio.
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        stdout = self._proc.stdout
        assert isinstance(stdout, io.BufferedReader)  # a pipe opened for bytes, buffered
        while chunk := stdout.read1(65536):
            self._chunks.append(chunk)

    def so_far(self) -> np.ndarray:
        """What has been recorded up to now (the recording goes on)."""
        data = b"".join(list(self._chunks))
        return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float32) / 32768

    def stop(self) -> np.ndarray:
        self._proc.terminate()
        self._proc.wait(timeout=10)
        self._reader.join(timeout=10)
        data = b"".join(self._chunks)
        data = data[: len(data) // 2 * 2]
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def pactl(*args: str) -> str:
    """Run pactl against our server; returns its output (e.g. a module index)."""
    result = subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=10,
                            check=True)
    return result.stdout.strip()


class RoomEcho:
    """While active, the microphone hears the speaker, as in a room (a PulseAudio loopback).

    By default the loopback keeps its latency by re-tuning its resampler: against the
    microphone's sample count the echo path drifted 480-930 ppm (measured live), more than
    separate devices do. `steady`: no rate control (adjust_time=0); the path then holds still
    but steps ~3 ms every 4-10 s. Two-minute sessions, recorded and replayed: echo removal
    left a median 29-47 dB per 2 s after the first 20 s on either, so the sessions' tests keep
    the default."""

    def __init__(self, latency_ms: int = 30, steady: bool = False) -> None:
        self._latency_ms = latency_ms
        self._steady = steady
        self._module: str | None = None

    def __enter__(self) -> RoomEcho:
        rate_control = ["adjust_time=0"] if self._steady else []
        try:
            remove_room_echo()  # one room: none left over from a run that was killed
            self._module = pactl("load-module", "module-loopback", "source=spk.monitor",
                                 "sink=micfeed", f"latency_msec={self._latency_ms}",
                                 *rate_control, "source_dont_move=true", "sink_dont_move=true")
        except subprocess.CalledProcessError as err:  # a server without our virtual devices
            raise UserError("cannot let the virtual microphone hear the virtual speaker "
                            f"({(err.stderr or '').strip() or 'pactl failed'}); unset "
                            "PULSE_SERVER to use private virtual devices") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._module is not None:
            with contextlib.suppress(subprocess.CalledProcessError):  # gone already
                pactl("unload-module", self._module)
            self._module = None


def play_into_mic(wav_path: Path) -> None:
    """Play a WAV into the virtual microphone, as if someone spoke; returns when done."""
    subprocess.run(["paplay", "-d", "micfeed", str(wav_path)], check=True, timeout=120)


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    """Write float mono samples in [-1, 1] as a 16-bit WAV (handy for play_into_mic)."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


if __name__ == "__main__":
    action = sys.argv[1] if len(sys.argv) > 1 else "start"
    if action == "start":
        err = start()
        if err:
            sys.exit(f"error: {err}")
        for key, value in environment().items():
            print(f"export {key}={value}")
    elif action == "stop":
        stop()
    else:
        sys.exit("usage: python -m voice_coach.virtual_audio start|stop")
