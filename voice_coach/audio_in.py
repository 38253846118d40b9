"""Audio into the listener: any WAV file or the live microphone, as 16 kHz mono int16 chunks."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import resampling
from .errors import UserError
from .stream_clock import SampleClock

RATE = 16_000
CHUNK_S = 0.1  # 100 ms: small enough for ~0.1 s reaction, large enough to keep Python overhead low
# The microphone's blocks are shorter: a command's end waits in the device's buffer until its
# block is full, and the acknowledgement has 300 ms in all. 1024 frames is the smallest block
# ENVIRONMENT.md found free of overruns under load (64 ms at 16 kHz).
MIC_BLOCK_S = 0.064


def to_float_mono(data: bytes, width: int, channels: int) -> np.ndarray:
    """Interleaved PCM bytes (8/16/24/32-bit) -> mono float32 in [-1, 1]."""
    if width == 1:  # 8-bit WAV is unsigned
        x = (np.frombuffer(data, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(data, np.uint8).reshape(-1, 3)
        i = (b[:, 0].astype(np.int32) | (b[:, 1].astype(np.int32) << 8)
             | (b[:, 2].astype(np.int32) << 16))
        i = np.where(i >= 1 << 23, i - (1 << 24), i)
        x = i.astype(np.float32) / float(1 << 23)
    elif width == 4:
        x = np.frombuffer(data, "<i4").astype(np.float32) / float(1 << 31)
    else:
        raise UserError(f"unsupported WAV sample width {width} bytes: convert to 16-bit PCM")
    if channels > 1:
        x = x[: len(x) // channels * channels].reshape(-1, channels).mean(axis=1)
    return x


def resample(x: np.ndarray, rate_in: int, rate_out: int = RATE) -> np.ndarray:
    """Band-limited resampling (libsoxr), so 44.1/48 kHz input keeps no aliases."""
    return resampling.resample(x, rate_in, rate_out)


class StreamResampler(resampling.StreamResampler):
    """Block-by-block resampling to 16 kHz (by default) with no seams between blocks."""

    def __init__(self, rate_in: int, rate_out: int = RATE) -> None:
        super().__init__(rate_in, rate_out)


def to_int16(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, -1.0, 1.0 - 1.0 / 32768) * 32768.0).astype(np.int16)


def _parse_wav(raw: bytes) -> tuple[int, int, int, bool, bytes]:
    """(rate, sample width, channels, is_float, data) from RIFF/WAVE bytes. Handles what the
    `wave` module refuses: WAVE_FORMAT_EXTENSIBLE (sox/ffmpeg stereo and 24-bit) and float."""
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError("file does not start with a RIFF/WAVE header")
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(raw):
        cid, size = raw[pos:pos + 4], int.from_bytes(raw[pos + 4:pos + 8], "little")
        body = raw[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = body
        elif cid == b"data":
            data = body
            break
        pos += 8 + size + (size & 1)  # chunks are padded to even sizes
    if fmt is None or data is None or len(fmt) < 16:
        raise ValueError("no fmt/data chunk")
    tag = int.from_bytes(fmt[0:2], "little")
    channels = int.from_bytes(fmt[2:4], "little")
    rate = int.from_bytes(fmt[4:8], "little")
    bits = int.from_bytes(fmt[14:16], "little")
    if tag == 0xFFFE and len(fmt) >= 26:
        tag = int.from_bytes(fmt[24:26], "little")  # the sub-format GUID starts with the tag
    if tag not in (1, 3) or channels < 1 or rate < 1000 or bits % 8:
        raise ValueError(f"unsupported encoding (format {tag}, {bits} bits, {channels} ch)")
    return rate, bits // 8, channels, tag == 3, data


def read_wav(path: Path) -> np.ndarray:
    """Any PCM or float WAV -> 16 kHz mono int16. Bad files raise UserError with what to do."""
    try:
        rate, width, channels, is_float, data = _parse_wav(Path(path).read_bytes())
        frame = width * channels
        data = data[: len(data) // frame * frame]
        if is_float:
            dtype = {4: "<f4", 8: "<f8"}[width]
            x = np.frombuffer(data, dtype).astype(np.float32)
            if channels > 1:
                x = x.reshape(-1, channels).mean(axis=1)
        else:
            x = to_float_mono(data, width, channels)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; give --input a WAV file that exists") from None
    except (ValueError, KeyError, OSError, UserError) as err:
        raise UserError(f"{path}: not a readable WAV ({err}); convert it with "
                        f"'ffmpeg -i {path} -ar 16000 -ac 1 out.wav'") from None
    return to_int16(resample(x, rate))


def chunks(samples: np.ndarray, chunk_s: float = CHUNK_S) -> Iterator[np.ndarray]:
    n = max(1, int(RATE * chunk_s))
    for i in range(0, len(samples), n):
        yield samples[i:i + n]


def level_dbfs(chunk: np.ndarray) -> float:
    """RMS level of an int16 chunk in dB full scale (-100 for silence): the meter's value."""
    if len(chunk) == 0:
        return -100.0
    rms = float(np.sqrt(np.mean((chunk.astype(np.float64) / 32768.0) ** 2)))
    return max(-100.0, 20.0 * np.log10(rms + 1e-12))


WITHOUT_MIC = "go without one: 'start --engine keys' or 'listen --input FILE'"
NO_MIC_HINT = f"plug one in and pick it with --input-device, or {WITHOUT_MIC}"


def _find_input(sd: Any, spec: str | int | None) -> int | None:
    """The index of the microphone `spec` names (None: the default one, if any exists)."""
    from .player import pick_device

    try:
        inputs = [d for d in sd.query_devices() if d["max_input_channels"] > 0]
    except Exception as err:  # noqa: BLE001 - PortAudioError: no audio system at all
        raise UserError(f"cannot list sound devices ({err}); {NO_MIC_HINT}") from None
    if not inputs:
        raise UserError(f"no microphone found; {NO_MIC_HINT}")
    return None if spec is None else pick_device(spec, inputs, "input")


def _import_sounddevice() -> Any:
    try:
        import sounddevice as sd
    except OSError as err:  # no PortAudio library
        raise UserError(f"no audio input available ({err}); install libportaudio2, or "
                        f"{WITHOUT_MIC}") from None
    return sd


class Microphone:
    """Live capture: opens the device at a rate it supports and resamples to 16 kHz mono."""

    def __init__(self, device: str | int | None = None, block_s: float = MIC_BLOCK_S) -> None:
        self._device = int(device) if isinstance(device, str) and device.isdigit() else device
        self._block_s = block_s
        # (block, stream time of its first sample if the clock re-anchored there, else None)
        self._q: queue.Queue[tuple[np.ndarray, float | None]] = queue.Queue(maxsize=200)
        self._stream: Any = None
        self.rate = RATE
        self.overflows = 0
        self.block_time: float | None = None  # stream time of the last read block's start
        self._clock = SampleClock(RATE)
        self._frames_in = 0
        self._anchor_s = 0.0
        self._since_anchor = 0  # 16 kHz samples handed out since the anchor
        self._resampler = StreamResampler(RATE)

    def _pick_rate(self, sd: Any) -> int:
        # Ask for 16 kHz first (no resampling); else the device's own default rate.
        for rate in (RATE, None):
            try:
                if rate is None:
                    info = sd.query_devices(self._device, "input")
                    rate = int(info["default_samplerate"])
                sd.check_input_settings(device=self._device, channels=1, samplerate=rate,
                                        dtype="float32")
                return rate
            except Exception:  # noqa: BLE001 - any refusal means try the next rate
                continue
        raise UserError(f"{self._name()} accepts neither 16 kHz nor its own default rate; pick "
                        f"another with --input-device (see 'voice-coach devices'), or "
                        f"{WITHOUT_MIC}")

    def _name(self) -> str:
        return "the default microphone" if self._device is None else \
            f"input device {self._device!r}"

    def _callback(self, indata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        # Stream times pair the mic with what we played (echo removal). A stall (PulseAudio
        # starting up, an overflow) jumps the device's clock: the clock re-anchors there.
        anchored = self._clock.place(float(time.inputBufferAdcTime), self._frames_in)
        self._frames_in += frames
        if status and status.input_overflow:
            self.overflows += 1
        try:  # copy: PortAudio reuses indata's buffer after we return
            self._q.put_nowait((indata[:, 0].copy(),
                                float(time.inputBufferAdcTime) if anchored else None))
        except queue.Full:
            self.overflows += 1

    def __enter__(self) -> Microphone:
        sd = _import_sounddevice()
        # No microphone at all, or a name or index that is none: say so, and which there are.
        found = _find_input(sd, self._device)
        if self._device is not None:
            self._device = found
        try:
            self.rate = self._pick_rate(sd)
            self._resampler = StreamResampler(self.rate)
            self._clock = SampleClock(self.rate)
            self._stream = sd.InputStream(device=self._device, channels=1, dtype="float32",
                                          samplerate=self.rate,
                                          blocksize=max(1024, int(self.rate * self._block_s)),
                                          callback=self._callback)
            self._stream.start()
        except UserError:
            raise
        except Exception as err:  # noqa: BLE001 - PortAudioError, ValueError for bad names
            raise UserError(f"cannot open {self._name()} ({err}); list devices with "
                            f"'voice-coach devices' and pass --input-device, or {WITHOUT_MIC}"
                            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None

    @property
    def active(self) -> bool:
        return bool(self._stream is not None and self._stream.active)

    def read(self, timeout_s: float = 1.0) -> np.ndarray | None:
        """The next block as 16 kHz int16, or None if nothing arrived in timeout_s."""
        try:
            block, anchor_s = self._q.get(timeout=timeout_s)
        except queue.Empty:
            return None
        if anchor_s is not None:
            self._anchor_s, self._since_anchor = anchor_s, 0
            self._resampler = StreamResampler(self.rate)
        out = to_int16(self._resampler(block))
        self.block_time = self._anchor_s + self._since_anchor / RATE
        self._since_anchor += len(out)
        return out
