"""`voice-coach bench echo`: which echo canceller removes most of our own voice and music.

A scene is built from real parts: the coach's sentences (espeak-ng) over the bundled music
(ducked 14 dB under speech) played through a simulated room (bulk delay, a decaying-noise impulse
response, gain and a mild loudspeaker non-linearity), plus spoken commands and a little noise at
the microphone. Each candidate sees only (mic, reference) in 20 ms blocks, as the listener will.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import subprocess
import tempfile
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .clock_drift import interpolate
from .echo import EchoCanceller, have_webrtc
from .errors import UserError

RATE = 16000
BLOCK = 320  # 20 ms, the listener's block
COACH_VOICE = "en-us+f3"
COMMAND_VOICE = "en-us+m3"
SENTENCES = (
    "Lean in with your body weight rather than pushing with your arms.",
    "Keep your hands soft and let the warmth of your palms do the work.",
    "Slide slowly up along the spine, then fan out across the shoulders.",
    "Ask whether they would like it harder or softer on this part of the back.",
    "Breathe out as you press, and release as they breathe in.",
    "Now circle your thumbs gently around the shoulder blades.",
    "When you are ready for the next step, just say next.",
    "Let your strokes get longer and slower as the muscles relax.",
    "Check in with a quiet word, and keep one hand on the back at all times.",
    "Finish this part with three long strokes from the neck to the lower back.",
)
COMMANDS = ("softer", "stop", "next", "pause", "harder")
JUMP_MS = 3.2  # the virtual room's loopback steps its path this much every 4-10 s (echo_jump)


def speak(text: str, voice: str, wpm: int = 150) -> np.ndarray:
    """espeak-ng speech as float64 at 16 kHz."""
    from scipy.signal import resample_poly

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "s.wav"
        try:
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(out), text],
                           check=True, capture_output=True, timeout=60)
        except FileNotFoundError as err:
            raise UserError("espeak-ng is needed for the echo bench; "
                            "apt-get install espeak-ng") from err
        with wave.open(str(out), "rb") as w:
            rate = w.getframerate()
            x = np.frombuffer(w.readframes(w.getnframes()), np.int16) / 32768.0
    g = np.gcd(rate, RATE)
    return np.asarray(resample_poly(x, RATE // g, rate // g), np.float64)


def load_music(seconds: float) -> np.ndarray:
    """The bundled relaxation track, mono float64 at 16 kHz, looped to `seconds`."""
    from .music import find_tracks, load_track

    x = load_track(find_tracks(None)[0], RATE).astype(np.float64).mean(axis=1)
    n = int(seconds * RATE)
    return np.tile(x, n // len(x) + 1)[:n]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x ** 2) + 1e-20))


def room_response(rt60_s: float, rng: np.random.Generator, direct_to_reverb_db: float = 3.0
                  ) -> np.ndarray:
    """A direct path then exponentially decaying noise (60 dB down after rt60_s)."""
    n = int(rt60_s * RATE)
    t = np.arange(n) / RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)
    tail[: int(0.002 * RATE)] = 0  # first reflections arrive a couple of ms after the direct path
    tail *= 10 ** (-direct_to_reverb_db / 20) / np.sqrt(np.sum(tail ** 2))
    tail[0] = 1.0
    return tail


@dataclass
class Scene:
    """Everything a candidate sees (mic, reference) and the truth to score it against."""

    name: str
    reference: np.ndarray  # what we played (far end)
    mic: np.ndarray
    echo: np.ndarray  # the echo part of the mic signal
    near: np.ndarray  # the commands as they reach the mic
    commands: list[tuple[int, int, bool]]  # (start, end, during the coach's speech)
    speech: np.ndarray  # bool per sample: the coach is speaking
    delay_ms: float
    converge_s: float = 5.0
    extra: dict = field(default_factory=dict)


def build_scene(name: str = "virtual", delay_ms: float = 45.0, rt60_s: float = 0.25,
                gain: float = 0.7, seed: int = 1, sentences: int = 10,
                commands: int = 5, jump_every_s: float = 0.0) -> Scene:
    """Coach speech over ducked music through a synthetic room, with spoken commands; every
    `jump_every_s` the echo comes JUMP_MS later (PulseAudio's loopback, measured)."""
    rng = np.random.default_rng(seed)
    parts, speech_spans, gaps, pos = [], [], [], int(0.8 * RATE)
    for i, text in enumerate(SENTENCES[:sentences]):
        s = speak(text, COACH_VOICE)
        s *= 10 ** (-20 / 20) / rms(s)  # speech at -20 dBFS
        parts.append((pos, s))
        speech_spans.append((pos, pos + len(s)))
        pause = 2.6 if i % 2 else 1.0  # long pauses hold music alone (and some commands)
        gaps.append((pos + len(s), pos + len(s) + int(pause * RATE)))
        pos += len(s) + int(pause * RATE)
    total = pos + RATE
    voice = np.zeros(total)
    speaking = np.zeros(total, bool)
    for start, s in parts:
        voice[start:start + len(s)] += s
        speaking[start:start + len(s)] = True
    music = load_music(total / RATE)
    music *= 10 ** (-24 / 20) / rms(music)
    # Duck the music 14 dB while the coach speaks, with ~300 ms ramps (as the mixer does).
    hold = np.convolve(speaking.astype(float), np.ones(int(0.3 * RATE)), "same") > 0
    duck = np.where(hold, 10 ** (-14 / 20), 1.0)
    duck = np.convolve(duck, np.ones(int(0.3 * RATE)) / int(0.3 * RATE), "same")
    far = voice + music * duck

    # The loudspeaker saturates a little, then the room, then the bulk delay and the gain.
    driven = np.tanh(1.2 * far) / 1.2
    from scipy.signal import fftconvolve

    wet = fftconvolve(driven, room_response(rt60_s, rng))[:total]
    d = int(round(delay_ms * RATE / 1000))
    echo = np.zeros(total)
    if jump_every_s:
        steps = np.arange(total) // int(jump_every_s * RATE)
        echo[d:] = gain * interpolate(wet, np.arange(total) - d - steps * JUMP_MS * RATE / 1000)[d:]
    else:
        echo[d:] = gain * wet[: total - d]

    near = np.zeros(total)
    cmds: list[tuple[int, int, bool]] = []
    # Alternate: a command in the middle of a sentence (doubletalk), then one in a long pause.
    dt_spans = [sp for sp in speech_spans[3:]]
    quiet = [g for g in gaps[3:] if g[1] - g[0] > 2 * RATE]
    for j in range(commands):
        word = COMMANDS[j % len(COMMANDS)]
        c = speak(word, COMMAND_VOICE, 160)
        c *= 10 ** (-26 / 20) / rms(c)  # about as loud as the coach's echo
        src = dt_spans if j % 2 == 0 else quiet
        if not src:
            continue
        a, b = src.pop(0)
        start = (a + b) // 2 - len(c) // 2 if j % 2 == 0 else a + int(0.4 * RATE)
        near[start:start + len(c)] += c
        cmds.append((start, start + len(c), j % 2 == 0))
    noise = rng.standard_normal(total) * 10 ** (-60 / 20)
    mic = echo + near + noise
    return Scene(name, far, mic, echo, near, cmds, speaking, delay_ms,
                 extra={"rt60_s": rt60_s, "gain": gain, "jump_every_s": jump_every_s})


Canceller = Callable[[np.ndarray, np.ndarray], np.ndarray]


def ours(suppress: bool = True) -> tuple[Canceller, int, object]:
    aec = EchoCanceller(RATE, engine="adaptive", suppress=suppress)
    return aec.process, aec.latency_samples, aec


def ours_following_drift(lag_blocks: int = 5) -> tuple[Canceller, int, object]:
    """Ours as the live listener runs it (echo_link.MicCleaner): the reference is read with a
    stretch that follows the clocks' drift. The scene's reference, already paired with the mic,
    is replayed into a `Reference`; the mic runs `lag_blocks` behind, so a stretch that reads
    ahead finds its samples written."""
    from collections import deque
    from types import SimpleNamespace

    from .echo import MIC_CLOCK_SLACK_S, Reference
    from .echo_link import MicCleaner

    reference = Reference(RATE)
    cleaner = MicCleaner(reference)
    mic = SimpleNamespace(block_time=0.0)
    waiting: deque[tuple[np.ndarray, int]] = deque()
    written = [0]
    cleaned = [np.zeros(lag_blocks * BLOCK, np.int16)]

    def run(block: np.ndarray, played: np.ndarray) -> np.ndarray:
        reference.write(played, written[0] / RATE)
        waiting.append((block, written[0]))
        written[0] += len(played)
        if len(waiting) > lag_blocks:
            late, at = waiting.popleft()
            mic.block_time = at / RATE - MIC_CLOCK_SLACK_S  # the reference paired with it
            cleaned[0] = np.concatenate([cleaned[0], cleaner(late, mic)])
        out, cleaned[0] = cleaned[0][:len(block)], cleaned[0][len(block):]
        return out
    return run, lag_blocks * BLOCK + cleaner._aec.latency_samples, cleaner


def webrtc_aec3() -> tuple[Canceller, int, object]:
    aec = EchoCanceller(RATE, engine="webrtc")  # no delay hint: AEC3 finds the delay itself
    return aec.process, aec.latency_samples, aec


def speex_mdf(filter_s: float = 0.5, preprocess: bool = True) -> tuple[Canceller, int, object]:
    import pyaec

    frame = 160
    handle = pyaec.lib.AecNew(frame, int(filter_s * RATE), RATE, preprocess)
    ptr = ctypes.POINTER(ctypes.c_int16)

    def run(mic: np.ndarray, ref: np.ndarray) -> np.ndarray:
        out = np.zeros_like(mic)
        for i in range(0, len(mic) - frame + 1, frame):
            m, r = np.ascontiguousarray(mic[i:i + frame]), np.ascontiguousarray(ref[i:i + frame])
            o = out[i:i + frame]
            pyaec.lib.AecCancelEcho(handle, m.ctypes.data_as(ptr), r.ctypes.data_as(ptr),
                                    o.ctypes.data_as(ptr), frame)
        return out
    return run, 0, handle


def candidates() -> dict[str, Callable[[], tuple[Canceller, int, object]]]:
    """Every canceller that can run here; missing optional libraries are left out."""
    found: dict[str, Callable[[], tuple[Canceller, int, object]]] = {
        "ours (PBFDAF+RES)": ours, "ours, linear only": lambda: ours(False),
        "ours, following drift (live)": ours_following_drift}
    if have_webrtc():
        found["webrtc AEC3 (pywebrtc-audio)"] = webrtc_aec3
    try:
        import pyaec  # noqa: F401
        found["speex MDF+pre (pyaec)"] = speex_mdf
        found["speex MDF, linear (pyaec)"] = lambda: speex_mdf(preprocess=False)
    except (ImportError, OSError, AttributeError):  # pyaec sets lib=None if its .so fails
        pass
    return found


def to_i16(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, -1, 32767 / 32768) * 32768).astype(np.int16)


def run(scene: Scene, make: Callable[[], tuple[Canceller, int, object]] | None
        ) -> tuple[np.ndarray, float, object]:
    """Feed the scene block by block; returns (output aligned to the mic, CPU RTF, state)."""
    mic, ref = to_i16(scene.mic), to_i16(scene.reference)
    if make is None:
        return mic / 32768.0, 0.0, None
    fn, latency, state = make()
    outs = []
    t0 = time.process_time()
    for i in range(0, len(mic), BLOCK):
        outs.append(fn(mic[i:i + BLOCK], ref[i:i + BLOCK]))
    cpu = time.process_time() - t0
    out = np.concatenate(outs).astype(np.float64) / 32768.0
    out = np.concatenate([out[latency:], np.zeros(latency)])
    return out, cpu / (len(mic) / RATE), state


def erle_db(echo: np.ndarray, out: np.ndarray, mask: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(echo[mask] ** 2) / (np.sum(out[mask] ** 2) + 1e-20)))


def near_end_quality(scene: Scene, out: np.ndarray, start: int, end: int
                     ) -> tuple[float, float]:
    """(correlation, SDR dB) of the output against the clean command, best lag up to 20 ms."""
    s = scene.near[start:end]
    best = (0.0, -99.0)
    for lag in range(-int(0.02 * RATE), int(0.02 * RATE) + 1, 4):
        o = out[start + lag:end + lag]
        if len(o) != len(s):
            continue
        c = float(o @ s / (np.linalg.norm(o) * np.linalg.norm(s) + 1e-20))
        if c > best[0]:
            a = float(o @ s) / float(s @ s)
            sdr = 10 * np.log10(float(s @ s) * a * a / (float((o - a * s) @ (o - a * s)) + 1e-20))
            best = (c, float(sdr))
    return best


def score(scene: Scene, out: np.ndarray) -> dict:
    """ERLE on far-end-only stretches (coach voice / music alone), convergence, near end."""
    n = len(out)
    idx = np.arange(n)
    busy = np.zeros(n, bool)
    for a, b, _ in scene.commands:
        busy[max(0, a - RATE // 4): b + RATE // 2] = True  # the command and its echo in the room
    far_only = ~busy & (idx >= scene.converge_s * RATE)
    voice = far_only & scene.speech
    music = far_only & ~scene.speech
    # Convergence: the first half second (far end only) with 20 dB of echo removed.
    win = RATE // 2
    conv = None
    for w in range(RATE // 4, n - win, win // 4):
        m = ~busy[w:w + win]
        if m.mean() > 0.9 and erle_db(scene.echo[w:w + win], out[w:w + win], m) >= 20.0:
            conv = round((w + win) / RATE, 2)
            break
    dt = [near_end_quality(scene, out, a, b) for a, b, talk in scene.commands if talk]
    alone = [near_end_quality(scene, out, a, b) for a, b, talk in scene.commands if not talk]
    return {
        "erle_db": round(erle_db(scene.echo, out, far_only), 1),
        "erle_voice_db": round(erle_db(scene.echo, out, voice), 1),
        "erle_music_db": round(erle_db(scene.echo, out, music), 1),
        "converge_s": conv,
        "doubletalk_corr": round(float(np.mean([c for c, _ in dt])), 3) if dt else None,
        "doubletalk_sdr_db": round(float(np.mean([s for _, s in dt])), 1) if dt else None,
        "alone_corr": round(float(np.mean([c for c, _ in alone])), 3) if alone else None,
    }


def bench(quick: bool = False, seed: int = 1, live: bool = False) -> dict:
    scenes = [build_scene("virtual", 45.0, 0.25, 0.7, seed)]
    if not quick:
        scenes.append(build_scene("room", 180.0, 0.4, 0.5, seed + 1))
        scenes.append(build_scene("jumping", 45.0, 0.25, 0.7, seed + 3, jump_every_s=6.0))
    if live:
        for drift in (False, True):
            scenes.append(record_live(build_scene("live", seed=seed + 2, sentences=6,
                                                  commands=3), drift))
    makers: dict[str, Callable[[], tuple[Canceller, int, object]] | None] = {"none": None}
    makers.update(candidates())
    results: dict = {}
    for scene in scenes:
        if scene.name.startswith("live"):
            print(f"\nscene {scene.name}: recorded through the virtual devices, "
                  f"{len(scene.mic) / RATE:.0f} s, {len(scene.commands)} commands")
        else:
            print(f"\nscene {scene.name}: delay {scene.delay_ms:.0f} ms, RT60 "
                  f"{scene.extra['rt60_s']:.2f} s, echo gain {scene.extra['gain']}, "
                  + (f"{JUMP_MS} ms later every {scene.extra['jump_every_s']:.0f} s, "
                     if scene.extra["jump_every_s"] else "") +
                  f"{len(scene.mic) / RATE:.0f} s, {len(scene.commands)} commands")
        print(f"{'candidate':30} {'ERLE':>6} {'voice':>6} {'music':>6} {'conv s':>7} "
              f"{'DT corr':>8} {'DT SDR':>7} {'alone':>6} {'RTF':>7}")
        res = {}
        for name, make in makers.items():
            out, rtf, state = run(scene, make)
            r = score(scene, out)
            r["rtf"] = round(rtf, 4)
            if isinstance(state, EchoCanceller) and state.delay_ms is not None:
                r["delay_ms"] = round(state.delay_ms, 1)
            follower = getattr(state, "drift", None)  # the live listener's drift follower
            if follower is not None:
                r["skew_ppm"] = round(follower.skew * 1e6)
            res[name] = r
            conv = "-" if r["converge_s"] is None else f"{r['converge_s']:.1f}"
            print(f"{name:30} {r['erle_db']:6.1f} {r['erle_voice_db']:6.1f} "
                  f"{r['erle_music_db']:6.1f} {conv:>7} {r['doubletalk_corr']:8.3f} "
                  f"{r['doubletalk_sdr_db']:7.1f} {r['alone_corr']:6.3f} {rtf:7.4f}"
                  + (f"  delay {r['delay_ms']} ms" if "delay_ms" in r else "")
                  + (f"  skew {r['skew_ppm']} ppm" if "skew_ppm" in r else ""))
        results[scene.name] = res
    return results


def add_commands(sub: argparse._SubParsersAction, bench_sub: argparse._SubParsersAction) -> None:
    p = bench_sub.add_parser("echo", help="compare echo cancellers on our own voice and music",
                             description="ERLE (dB) on far-end-only stretches, the command's "
                                         "correlation/SDR through doubletalk, convergence time "
                                         "and CPU real-time factor, per candidate.")
    p.add_argument("--quick", action="store_true",
                   help="only the synthetic room with the virtual devices' 45 ms delay")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--live", action="store_true",
                   help="also play and record through the virtual PulseAudio devices with a "
                        "room loopback (its rate control makes the echo path drift ~250 ppm, "
                        "like separate real devices, only more)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    results = bench(args.quick, args.seed, args.live)
    default = "webrtc AEC3 (pywebrtc-audio)" if have_webrtc() else "ours (PBFDAF+RES)"
    # Why: synthetic rooms have one steady echo path, where our filter wins; real device paths
    # slip and drift (see --live), where AEC3 removed the most of our voice and music.
    print(json.dumps({"bench": "echo", "default": default, "scenes": results}))
    return 0


def record_live(scene: Scene, drift: bool = True) -> Scene:
    """Play the scene's far end on the virtual speaker with a room loopback on, record the
    virtual microphone, and pair the two through `Reference` by the streams' own clocks."""
    import queue

    from scipy.signal import resample_poly

    from . import virtual_audio
    from .echo import Reference
    from .stream_clock import SampleClock

    virtual_audio.ensure()
    import sounddevice as sd

    far48 = resample_poly(scene.reference, 3, 1).astype(np.float32)
    far16 = scene.reference.astype(np.float32)
    ref = Reference(RATE, seconds=len(far16) / RATE + 5)
    pos = [0]

    def out_cb(outdata: np.ndarray, frames: int, t: object, status: object) -> None:
        i = pos[0]
        blk = far48[i:i + frames]
        outdata[:] = 0
        outdata[:len(blk), 0] = outdata[:len(blk), 1] = blk
        ref.write(far16[i // 3:(i + frames) // 3], t.outputBufferDacTime)  # type: ignore[attr-defined]
        pos[0] += frames

    mics: queue.Queue = queue.Queue()

    def in_cb(indata: np.ndarray, frames: int, t: object, status: object) -> None:
        mics.put((indata[:, 0].copy(), t.inputBufferAdcTime))  # type: ignore[attr-defined]

    with virtual_audio.RoomEcho(steady=not drift):
        time.sleep(0.3)
        with sd.InputStream(device="vmic", samplerate=RATE, channels=1, blocksize=1024,
                            callback=in_cb, dtype="float32"), \
                sd.OutputStream(device="spk", samplerate=48000, channels=2, blocksize=1536,
                                callback=out_cb, dtype="float32"):
            time.sleep(len(far16) / RATE + 0.5)
    blocks = []
    while not mics.empty():
        blocks.append(mics.get())
    clock, count, got, paired = SampleClock(RATE), 0, [], []
    for m, adc_time in blocks:  # a running count re-anchored on stalls, as the mic does
        clock.place(adc_time, count)
        paired.append(ref.read_for_mic(clock.time_of(count), len(m)))
        got.append(m)
        count += len(m)
    echo = np.concatenate(got).astype(np.float64)
    reference = np.concatenate(paired).astype(np.float64)
    n = min(len(echo), len(scene.near))
    echo, reference = echo[:n], reference[:n]
    # The commands are added after recording: the mic path is linear, so this is the same as
    # speaking them into the room, and it keeps the clean command known exactly.
    return Scene("live-drift" if drift else "live-steady", reference, echo + scene.near[:n],
                 echo, scene.near[:n], scene.commands, scene.speech[:n], float("nan"),
                 extra={"rt60_s": 0.0, "gain": 1.0})
