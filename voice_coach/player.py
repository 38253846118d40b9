"""Sound output: a sounddevice OutputStream fed with mixed blocks, and output-device lookup.

A producer thread mixes a block only when the short queue has room (just in time, so a command
is heard within a few blocks); the PortAudio callback only takes a ready block (get_nowait) or
plays silence, counts underruns and never blocks.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from .errors import UserError
from .mixer import Mixer

NO_DEVICE_HINT = ("use 'voice-coach render SCRIPT -o session.mp3' to make a file instead, "
                  "or 'voice-coach start --text'")


def sounddevice() -> ModuleType:
    """Import sounddevice lazily: PortAudio is only needed for live sound."""
    try:
        import sounddevice as sd
    except OSError as err:  # the wheel does not bundle PortAudio on Linux
        raise UserError("PortAudio is not installed (apt-get install libportaudio2); "
                        + NO_DEVICE_HINT) from err
    return sd


def list_devices() -> list[dict[str, Any]]:
    """Devices that can play sound: index, name, host API, channels, default flag."""
    sd = sounddevice()
    try:
        devices = sd.query_devices()
        default_out = sd.default.device[1]
    except sd.PortAudioError as err:
        raise UserError(f"cannot list sound devices ({err}); " + NO_DEVICE_HINT) from err
    apis = [a["name"] for a in sd.query_hostapis()]
    return [{"index": d["index"], "name": d["name"], "hostapi": apis[d["hostapi"]],
             "channels": d["max_output_channels"],
             "rate": d["default_samplerate"], "default": d["index"] == default_out}
            for d in devices if d["max_output_channels"] > 0]


def resolve_output_device(spec: str | int | None) -> int | None:
    """--output-device NAME|INDEX to a PortAudio index (None = the system default)."""
    outputs = list_devices()
    if not outputs:
        raise UserError("no sound output device found; " + NO_DEVICE_HINT)
    if spec is None:
        if not any(d["default"] for d in outputs):
            sd = sounddevice()
            try:
                sd.query_devices(kind="output")
            except sd.PortAudioError as err:
                raise UserError("no default sound output device; pick one with "
                                "--output-device (see 'voice-coach devices') or "
                                + NO_DEVICE_HINT) from err
        return None
    return pick_device(spec, outputs, "output")


def pick_device(spec: str | int, devices: list[dict[str, Any]], kind: str) -> int:
    """A device by index, exact name, or part of a name unique among `devices` (each with
    "index" and "name"); otherwise one line that lists the choices."""
    names = ", ".join(f"{d['index']}: {d['name']}" for d in devices)
    if isinstance(spec, int) or str(spec).strip().isdigit():
        index = int(spec)
        if any(d["index"] == index for d in devices):
            return index
        raise UserError(f"no {kind} device with index {index}; choose one of: {names}")
    wanted = str(spec).strip().lower()
    exact = [d for d in devices if d["name"].lower() == wanted]
    partial = [d for d in devices if wanted in d["name"].lower()]
    matches = exact or partial
    if len(matches) == 1:
        return int(matches[0]["index"])
    if not matches:
        raise UserError(f"no {kind} device named '{spec}'; choose one of: {names}")
    raise UserError(f"'{spec}' matches several devices ({', '.join(d['name'] for d in matches)})"
                    "; give the index instead")


class Player:
    """Plays the mixer on a device. `start()` fails fast with a UserError."""

    def __init__(self, mixer: Mixer, device: str | int | None = None, latency: str = "low",
                 queue_blocks: int = 4,
                 on_problem: Callable[[bool, str], None] | None = None) -> None:
        self.mixer, self.device_spec, self.latency = mixer, device, latency
        self._blocks: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
        self._depth = queue_blocks
        self._space = threading.Semaphore(queue_blocks)  # released by the callback
        self._wake = threading.Event()  # set by the callback and by chime / cut requests
        self._on_problem = on_problem
        self._running = False
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self.underruns = 0  # PortAudio reported output underflow
        self.starved = 0  # the mixer thread fell behind: we played silence
        self.frames_out = 0
        self.reconnects = 0
        self._device: int | None = None
        self._channels = 2
        # Called on the mixing thread with each block and its first frame number, before it is
        # played (queue + device latency later): the playback reference for echo removal.
        self.taps: list[Callable[[np.ndarray, int], None]] = []
        # Called on the mixing thread with a sound (mono) added after the fact to output frames
        # from the given one on, already passed to `taps`: a chime's head, or the removal of
        # the voice a cut takes out (see `chime`, `cut_speech`).
        self.amend_taps: list[Callable[[np.ndarray, int], None]] = []
        # When the mixer's first voice frame went to the device (perf_counter), for the bench.
        self.voice_out_time: float | None = None
        # ("chime", kind) or ("cut", None), taken up on the mixing thread before each mix.
        self._requests: queue.SimpleQueue[tuple[str, str | None]] = queue.SimpleQueue()
        # The voice bus of the last mixed blocks (all that can be queued), by their first frame:
        # what a cut takes out of the queued blocks.
        self._queued_voice: deque[tuple[int, np.ndarray]] = deque(maxlen=queue_blocks + 1)
        # Sounds the callback adds to the blocks already queued (chime heads, voice cuts):
        # (mono samples, frame of the first). The lock keeps that frame and the callback's
        # count of frames in step.
        self._overlays: list[tuple[np.ndarray, int]] = []
        self._overlay_lock = threading.Lock()

    @property
    def latency_s(self) -> float:
        return float(self._stream.latency) if self._stream is not None else 0.0

    @property
    def stream_time(self) -> float | None:
        """The output stream's clock now (PortAudio time; the input streams share it), or None
        while no stream is open."""
        stream = self._stream
        try:
            return float(stream.time) if stream is not None else None
        except Exception:  # noqa: BLE001 - a stream closing under us: no time to give
            return None

    @property
    def active(self) -> bool:
        return bool(self._stream is not None and self._stream.active)

    def start(self) -> None:
        sd = sounddevice()
        self._device = resolve_output_device(self.device_spec)
        info = sd.query_devices(self._device, kind="output")
        self._channels = min(2, int(info["max_output_channels"]))
        try:
            self._stream = self._open()
        except sd.PortAudioError as err:
            raise UserError(f"cannot open sound output '{info['name']}' at {self.mixer.rate} Hz "
                            f"({err}); try another --output-device or " + NO_DEVICE_HINT) from err
        self._running = True
        for _ in range(self._depth):  # prime: the first callbacks find blocks ready
            self._space.acquire()
            self._blocks.put(self._mix())
        self._thread = threading.Thread(target=self._produce, daemon=True, name="audio-mix")
        self._thread.start()
        self._stream.start()

    def _open(self) -> Any:
        sd = sounddevice()
        return sd.OutputStream(samplerate=self.mixer.rate, blocksize=self.mixer.block,
                               device=self._device, channels=self._channels, dtype="float32",
                               latency=self.latency, callback=self._callback)

    def close(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close_stream()

    def _close_stream(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            except Exception:  # a vanished device cannot be closed cleanly; nothing to save
                pass
            self._stream = None

    def _produce(self) -> None:
        while self._running:
            # Woken by the callback taking a block, or by a chime or a cut to lay over the
            # queued blocks at once (not only after the next block goes out).
            woken = self._wake.wait(timeout=0.25)
            self._wake.clear()
            self._take_requests()
            mixed = False
            while self._space.acquire(blocking=False):
                # Mixed only now, when there is room: control changes are as fresh as possible.
                self._blocks.put(self._mix())
                mixed = True
            if not (woken or mixed) and self._stream is not None and not self._stream.active:
                # The callback stopped taking blocks: PulseAudio or the device went away.
                self._ride_out_loss()

    def _ride_out_loss(self) -> None:
        """Keep the session's audio time going (speech finishes, SpeechDone arrives) while the
        output is gone, and reopen it every couple of seconds until it plays again."""
        if self._on_problem:
            self._on_problem(False, "the sound output stopped")
        block_s = self.mixer.block / self.mixer.rate
        next_try = time.monotonic() + 1.0
        while self._running:
            time.sleep(block_s)
            self._mix()  # heard by nobody, but time moves on
            if time.monotonic() < next_try:
                continue
            next_try = time.monotonic() + 2.0
            self._close_stream()
            try:
                stream = self._open()
                stream.start()
            except Exception:  # still gone (PortAudio reports it in many ways): try later
                continue
            self._stream = stream
            self.reconnects += 1
            if self._on_problem:
                self._on_problem(True, "the sound output is back")
            return

    def chime(self, kind: str = "ack") -> None:
        """Play a chime as soon as the device takes its next block, over the blocks already
        mixed and queued for it (up to ~85 ms sooner than mixing it into the next); the mixer
        plays the rest of it, seamlessly. Any thread."""
        self._requests.put(("chime", kind))
        self._wake.set()

    def cut_speech(self) -> None:
        """Cancel the coach's speech: faded out of the blocks already queued, from the next one
        the device takes (so a "stop" silences it as soon as the chime sounds), and dropped by
        the mixer from the blocks after them. Any thread."""
        # The mixer's cancel first: had the cut of the queued blocks come first, a block mixed
        # in between would still carry the voice.
        self.mixer.cancel_speech(fade=False)
        self._requests.put(("cut", None))
        self._wake.set()

    def _take_requests(self) -> None:
        """On the mixing thread, when woken and before each mix: lay the requested sounds over
        the queued frames (the callback adds them), and tell the amend taps."""
        while True:
            try:
                kind, arg = self._requests.get_nowait()
            except queue.Empty:
                return
            with self._overlay_lock:
                start = self.frames_out  # the first frame of the next callback
                ahead = max(0, self.mixer.frames_mixed - start)
                if kind == "chime":
                    overlay = self.mixer.chime_sound(str(arg))[:ahead]
                    self.mixer.chime(str(arg), skip=len(overlay))
                else:
                    overlay = self._voice_removal(start, ahead)
                laid = bool(np.any(overlay))
                if laid:
                    self._overlays.append((overlay, start))
            if laid:
                for tap in self.amend_taps:
                    tap(overlay, start)

    def _voice_removal(self, start: int, count: int) -> np.ndarray:
        """What, added to the queued frames [start, start + count), fades the voice in them
        out along the mixer's own cancel fade."""
        voice = np.zeros(count, np.float32)
        for first, part in self._queued_voice:
            lo, hi = max(first, start), min(first + len(part), start + count)
            if hi > lo:
                voice[lo - start:hi - start] = part[lo - first:hi - first]
        fade = self.mixer.fade_out
        keep = np.zeros(count, np.float32)
        keep[:len(fade)] = fade[:count]
        return -voice * (1.0 - keep)

    def _add_overlays(self, outdata: np.ndarray, frames: int) -> None:
        """In the callback, under the overlay lock: the overlays' samples for this block."""
        first, kept = self.frames_out, []
        for head, start in self._overlays:
            piece = head[first - start:first - start + frames]
            outdata[:len(piece)] += piece[:, None]
            if first - start + frames < len(head):
                kept.append((head, start))
        np.clip(outdata, -1.0, 1.0, out=outdata)
        self._overlays = kept

    def _mix(self) -> np.ndarray:
        self._take_requests()
        first = self.mixer.frames_mixed
        block = self.mixer.mix_block()
        self._queued_voice.append((first, self.mixer.last_voice))
        for tap in self.taps:
            tap(block, first)
        return block

    def _callback(self, outdata: np.ndarray, frames: int, _time: Any, status: Any) -> None:
        if status.output_underflow:
            self.underruns += 1
        try:
            block = self._blocks.get_nowait()
        except queue.Empty:
            outdata.fill(0)
            self.starved += 1
            return
        self._space.release()
        self._wake.set()
        if outdata.shape[1] == 2:
            outdata[:] = block
        else:
            outdata[:, 0] = block[:, 0] * 0.5 + block[:, 1] * 0.5
        watch = self.mixer.first_voice_frame
        if watch is not None and self.voice_out_time is None and watch < self.frames_out + frames:
            # A clock read only: the block holding the first voice frame goes to the device now.
            self.voice_out_time = (time.perf_counter()
                                   + (watch - self.frames_out) / self.mixer.rate)
        with self._overlay_lock:
            if self._overlays:
                self._add_overlays(outdata, frames)
            self.frames_out += frames
