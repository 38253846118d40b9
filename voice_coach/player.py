"""Sound output: a sounddevice OutputStream fed with mixed blocks, and output-device lookup.

A producer thread mixes a block only when the short queue has room (just in time, so a command
is heard within a few blocks); the PortAudio callback only takes a ready block (get_nowait) or
plays silence, counts underruns and never blocks.
"""

from __future__ import annotations

import queue
import threading
import time
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
        # from the given one on, already passed to `taps`: a chime's head (see `chime`).
        self.amend_taps: list[Callable[[np.ndarray, int], None]] = []
        # When the mixer's first voice frame went to the device (perf_counter), for the bench.
        self.voice_out_time: float | None = None
        self._chime_requests: queue.SimpleQueue[str] = queue.SimpleQueue()
        # Chime heads the callback adds to the blocks already queued: [mono samples, frame of
        # the first]. The lock keeps that frame and the callback's count of frames in step.
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
            if self._space.acquire(timeout=0.25):
                # Mixed only now, when there is room: control changes are as fresh as possible.
                self._blocks.put(self._mix())
            elif self._stream is not None and not self._stream.active:
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
        mixed and queued for it (~64 ms sooner than mixing it into the next one); the mixer
        plays the rest of it, seamlessly. Any thread."""
        self._chime_requests.put(kind)

    def _start_chimes(self) -> None:
        """On the mixing thread, just before a block is mixed: split each requested chime into
        the head the callback adds to the queued frames and the tail the mixer plays on."""
        while True:
            try:
                kind = self._chime_requests.get_nowait()
            except queue.Empty:
                return
            sound = self.mixer.chime_sound(kind)
            with self._overlay_lock:
                start = self.frames_out  # the first frame of the next callback
                head = sound[:max(0, self.mixer.frames_mixed - start)]
                if len(head):
                    self._overlays.append((head, start))
            self.mixer.chime(kind, skip=len(head))
            if len(head):
                for tap in self.amend_taps:
                    tap(head, start)

    def _add_overlays(self, outdata: np.ndarray, frames: int) -> None:
        """In the callback, under the overlay lock: the chime heads' samples for this block."""
        first, kept = self.frames_out, []
        for head, start in self._overlays:
            piece = head[first - start:first - start + frames]
            outdata[:len(piece)] += piece[:, None]
            if first - start + frames < len(head):
                kept.append((head, start))
        np.clip(outdata, -1.0, 1.0, out=outdata)
        self._overlays = kept

    def _mix(self) -> np.ndarray:
        self._start_chimes()
        first = self.mixer.frames_mixed
        block = self.mixer.mix_block()
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
