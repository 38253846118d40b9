"""The listening bench's test set: synthesized commands, narration, near misses and music, cached.

Speech comes from more than one synthesizer (espeak-ng formant voices and flite's recorded-voice
models when flite is installed) at several rates, so thresholds are not tuned to one voice. Every
stream is a list of 16 kHz int16 clips plus their labels; mixing with music happens at bench time.

`--data DIR` instead reads a folder of WAVs and `labels.tsv`, one line per spoken command:
`file.wav<TAB>start_s<TAB>end_s<TAB>command` (command = a canonical name such as `softer`).
WAVs with no line are command-free; a file whose name starts with `coach` is played as the coach's
own speech (the engine is told the coach is speaking).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import commands, storage
from .audio_in import RATE, read_wav
from .errors import UserError

# (synthesizer, voice, words per minute). Human-like flite voices first; espeak variants differ
# in pitch and formants. The last of each kind is held out from tuning (see HELD_OUT).
VOICES: tuple[tuple[str, str, int], ...] = (
    ("flite", "slt", 0), ("flite", "rms", 0), ("flite", "awb", 0), ("flite", "kal16", 0),
    ("espeak-ng", "en-us+f3", 150), ("espeak-ng", "en-gb-x-rp+m1", 170),
)
QUICK_VOICES = (VOICES[0], VOICES[1], VOICES[4])
HELD_OUT = {("flite", "kal16"), ("espeak-ng", "en-gb-x-rp+m1")}

QUICK_PHRASES = ("harder", "softer", "next", "stop", "go back", "ouch", "pause", "louder",
                 "more pressure", "that hurts")

# Words that sound like commands but are not; the listener must stay quiet.
NEAR_MISSES = ("hard", "soft", "text", "neck", "nest", "stock", "loud", "softly", "hardly",
               "stopper", "pose", "paws", "lighter fluid", "next door", "backpack", "harbor",
               "father", "deep", "press", "sofa", "faster car", "later", "mother", "hotter",
               "copper", "stopwatch", "ladder", "louder music", "go home", "well done")

# Commands as people say them, with more words than the table's phrase: politeness, complaint,
# the words that complete a command (commands.CARRIERS) and some the listener does not know
# ("let's carry on", "one moment"). The first eleven shaped those word lists; the rest did not.
PHRASINGS: tuple[tuple[str, str], ...] = (
    ("softer please", "softer"), ("a bit softer", "softer"), ("a little harder", "harder"),
    ("next please", "next"), ("that's too hard", "softer"), ("ouch that hurts", "softer"),
    ("wait a second", "pause"), ("hold on a second", "pause"), ("next one", "next"),
    ("go back one", "back"), ("turn the music down", "quieter"),
    ("a little lighter please", "softer"), ("could you go a bit gentler", "softer"),
    ("it's way too much", "softer"), ("okay that's enough", "stop"), ("just a minute", "pause"),
    ("stop right there", "stop"), ("next step please", "next"), ("can you repeat that", "repeat"),
    ("turn the music up a bit", "louder"), ("let's carry on", "resume"),
    ("one moment please", "pause"), ("please slow down", "slower"), ("go back a step", "back"),
    # Added with the table phrases they hold ("ease off", "too loud", "one second" ...): these
    # shaped the table, like the first eleven.
    ("ease off a bit", "softer"), ("could you say it again", "repeat"),
    ("it's too loud", "quieter"), ("turn it down please", "quieter"), ("hang on a sec", "pause"),
    ("not so hard please", "softer"), ("one second please", "pause"),
    ("how much longer", "time"), ("how much time is left", "time"),
    # Asked the way people ask; over music Whisper wrote most of them whole (tried on 3 voices).
    ("what did you say", "repeat"), ("sorry what was that", "repeat"), ("come again", "repeat"),
    ("go to the next step", "next"), ("pause for a second", "pause"),
    ("how much is left", "time"),
)

# Everyday ways of asking, beyond the table's phrases and PHRASINGS: they shaped the written
# phrases and carriers of stop 37 (commands.py), as the first eleven PHRASINGS shaped theirs.
EVERYDAY: tuple[tuple[str, str], ...] = (
    ("gently", "softer"), ("more gently", "softer"), ("be gentle", "softer"),
    ("too rough", "softer"), ("that's a bit much", "softer"), ("too strong", "softer"),
    ("easy", "softer"), ("go easy", "softer"), ("too deep", "softer"), ("a little less", "softer"),
    ("not so rough", "softer"), ("too firm", "softer"), ("back off", "softer"),
    ("ease up", "softer"), ("not so deep", "softer"), ("that's sore", "softer"),
    ("careful", "softer"), ("you're hurting me", "softer"), ("ow ow", "softer"),
    ("that's painful", "softer"), ("harder please", "harder"), ("a bit firmer", "harder"),
    ("go deeper", "harder"), ("you can press harder", "harder"), ("a little more", "harder"),
    ("stronger", "harder"), ("firmer please", "harder"), ("press a bit harder", "harder"),
    ("push harder", "harder"), ("you can go harder", "harder"), ("skip this one", "next"),
    ("let's move on", "next"), ("okay next", "next"), ("what's next", "next"),
    ("next part", "next"), ("skip it", "next"), ("go forward", "next"), ("moving on", "next"),
    ("let's do the next one", "next"), ("go back please", "back"), ("previous step", "back"),
    ("back please", "back"), ("previous one", "back"), ("one more time", "repeat"),
    ("say that again please", "repeat"), ("again", "repeat"), ("repeat that", "repeat"),
    ("i missed that", "repeat"), ("give me a second", "pause"), ("wait a moment", "pause"),
    ("hold on please", "pause"), ("pause please", "pause"), ("wait a minute", "pause"),
    ("hold it", "pause"), ("just a second", "pause"), ("one sec", "pause"),
    ("stop for a second", "pause"), ("stop a moment", "pause"), ("okay carry on", "resume"),
    ("let's keep going", "resume"), ("go ahead", "resume"), ("i'm ready", "resume"),
    ("keep it going", "resume"), ("stop please", "stop"), ("let's stop", "stop"),
    ("we're done", "stop"), ("end the session", "stop"), ("let's finish", "stop"),
    ("stop now", "stop"), ("all done", "stop"), ("finish the session", "stop"),
    ("ok stop", "stop"), ("stop the session", "stop"), ("i want to stop", "stop"),
    ("that's it for today", "stop"), ("turn up the music", "louder"),
    ("turn the volume up", "louder"), ("can you turn it up", "louder"), ("more volume", "louder"),
    ("turn down the music", "quieter"), ("the music is too loud", "quieter"),
    ("lower the music", "quieter"), ("too noisy", "quieter"), ("slow down a bit", "slower"),
    ("not so fast", "slower"), ("slow it down", "slower"), ("take it slower", "slower"),
    ("a bit slower", "slower"), ("speed up a bit", "faster"), ("go faster", "faster"),
    ("quicker", "faster"), ("hurry up", "faster"), ("speed it up", "faster"),
    ("how much time left", "time"), ("how long is left", "time"),
    ("how much time do we have", "time"), ("are we almost done", "time"),
    ("how long to go", "time"), ("help me", "help"), ("what are the commands", "help"),
)

# Things a receiver says that are not commands.
CHATTER = (
    "that feels really nice", "i had such a long day at work", "mm that is lovely",
    "can you do my shoulders for a while", "the music is pretty", "i think my back is tight",
    "what time is dinner tonight", "my sister called this morning", "it is warm in here",
    "the towel is a bit scratchy", "i could fall asleep like this", "we should do this more often",
)

# Short things said during a massage, no command either: with a word or two that sound like
# part of one ("boss please", "just there", "hold the towel please") they passed the listener as
# "pause" (4 of their 180 clips over music 10 dB at stop 38); the longer CHATTER passed none.
SHORT_TALK = (
    "post please", "boss please", "thank you", "thanks a lot", "close it please",
    "think for a moment", "pass the oil please", "hold the towel please", "a bit lower",
    "a bit higher", "a little to the left", "right there", "that feels good", "okay thanks",
    "nice one", "come on", "yes please", "no thanks", "more oil please", "left side please",
    "over here", "up a bit", "down a bit", "lower please", "higher please", "that's the spot",
    "move up a bit", "just there", "keep it there", "oh that's lovely",
)

# The coach's own narration, with command words inside sentences (it is heard while speaking).
NARRATION = (
    "Lean in with your body weight rather than pushing with your arms.",
    "Ask whether they would like it harder or softer on this part of the back.",
    "When you are ready for the next step, just say next.",
    "Slide your palms up beside the spine, then out to the sides and back down.",
    "Never press on the spine itself; work on the muscle beside it.",
    "If anything hurts, say softer or ouch and I will ease off at once.",
    "Warm the oil between your hands before you touch the back.",
    "Move on to the shoulders now, where most tension lives, and slow down.",
    "You can go a little deeper here if they are comfortable, but stop at the edge.",
    "Keep one hand on their back at all times, even while you pour more oil.",
    "Say louder or quieter to change the music, and pause whenever you need a moment.",
    "Finish with long light strokes, and then towel off any extra oil.",
)


@dataclass
class Clip:
    kind: str  # "command" | "near" | "chatter" | "narration" | "human"
    text: str
    voice: str
    samples: np.ndarray
    command: str | None = None


@dataclass
class TestSet:
    clips: list[Clip] = field(default_factory=list)


def _have(tool: str) -> bool:
    return shutil.which(tool) is not None


def _synth(engine: str, voice: str, wpm: int, text: str, out: Path) -> None:
    if engine == "flite":
        cmd = ["flite", "-voice", voice, "-t", text, "-o", str(out)]
    else:
        cmd = ["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(out), text]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


def speak(text: str, voice: str = "slt", synth: str = "flite", wpm: int = 160) -> np.ndarray:
    """One phrase as 16 kHz int16, silence trimmed (for tests and the bench)."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "x.wav"
        _synth(synth, voice, wpm, text, wav)
        return trim(read_wav(wav))


def trim(x: np.ndarray, floor_db: float = -45.0) -> np.ndarray:
    """Cut leading/trailing silence (10 ms frames below floor_db re the peak frame) so a clip's
    ends are the phrase's ends, which the delay measurement depends on."""
    n = 160
    frames = x[: len(x) // n * n].astype(np.float64).reshape(-1, n)
    e = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-9)
    on = np.nonzero(e > e.max() + floor_db)[0]
    if len(on) == 0:
        return x
    return x[on[0] * n:(on[-1] + 1) * n]


def available_voices(quick: bool) -> list[tuple[str, str, int]]:
    voices = QUICK_VOICES if quick else VOICES
    usable = [v for v in voices if _have(v[0])]
    if not any(v[0] == "espeak-ng" for v in usable):
        raise UserError("espeak-ng is not installed: 'apt-get install espeak-ng' (and flite for "
                        "more voices), or pass --data DIR with your own recordings")
    return usable


def _items(quick: bool) -> list[tuple[str, str, str | None]]:
    phrases = QUICK_PHRASES if quick else tuple(commands.phrases())
    items: list[tuple[str, str, str | None]] = [
        ("command", p, commands.command_for_phrase(p)) for p in phrases]
    items += [("near", w, None) for w in (NEAR_MISSES[::3] if quick else NEAR_MISSES)]
    items += [("chatter", s, None) for s in (CHATTER[:4] if quick else CHATTER)]
    items += [("chatter", s, None) for s in (SHORT_TALK[::6] if quick else SHORT_TALK)]
    items += [("narration", s, None) for s in (NARRATION[:4] if quick else NARRATION)]
    return items


def build(cache_root: Path, quick: bool) -> TestSet:
    """Synthesize (or load from cache) every clip for every available voice."""
    return _built(cache_root, available_voices(quick), _items(quick), with_human=True)


def build_phrasings(cache_root: Path, phrasings: tuple[tuple[str, str], ...] = PHRASINGS
                    ) -> list[Clip]:
    """`phrasings` (PHRASINGS, EVERYDAY) said by every available voice (synthesized once, then
    cached)."""
    items: list[tuple[str, str, str | None]] = [("phrasing", text, command)
                                                for text, command in phrasings]
    return _built(cache_root, available_voices(False), items, with_human=False).clips


def _built(cache_root: Path, voices: list[tuple[str, str, int]],
           items: list[tuple[str, str, str | None]], with_human: bool) -> TestSet:
    key = hashlib.sha256(json.dumps([voices, items, 3]).encode()).hexdigest()[:16]
    path = cache_root / f"testset-{key}.npz"
    if path.exists():
        return _load(path)
    ts = TestSet()
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "x.wav"
        for engine, voice, wpm in voices:
            for kind, text, cmd in items:
                _synth(engine, voice, wpm, text, wav)
                ts.clips.append(Clip(kind, text, f"{engine}:{voice}", trim(read_wav(wav)), cmd))
    if with_human:
        ts.clips += human_clips()
    cache_root.mkdir(parents=True, exist_ok=True)
    _save(ts, path)
    return ts


def human_clips() -> list[Clip]:
    """Real read speech from Debian's pocketsphinx-testdata, if installed: command-free."""
    root = Path("/usr/share/pocketsphinx/test/data")
    clips = [Clip("human", w.stem, "human", read_wav(w))
             for w in sorted((root / "librivox").glob("*.wav"))]
    for raw in sorted(root.glob("*.raw")):
        clips.append(Clip("human", raw.stem, "human", np.fromfile(raw, "<i2")))
    return clips


def _save(ts: TestSet, path: Path) -> None:
    meta = [{"kind": c.kind, "text": c.text, "voice": c.voice, "command": c.command}
            for c in ts.clips]
    arrays: dict[str, Any] = {f"a{i}": c.samples for i, c in enumerate(ts.clips)}
    # Through a temporary file of its own: two benches building the same set at once each
    # write it whole (a shared temporary name had one rename the other's file away).
    data = io.BytesIO()
    np.savez_compressed(data, meta=np.array(json.dumps(meta)), **arrays)
    storage.write_atomic(path, data.getvalue())


def _load(path: Path) -> TestSet:
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        return TestSet([Clip(m["kind"], m["text"], m["voice"], z[f"a{i}"], m["command"])
                        for i, m in enumerate(meta)])


def music(seconds: float, seed: int = 7, bundled: bool = True) -> np.ndarray:
    """The bench's music bed, float32 at 16 kHz with an RMS of 1 (callers scale it to a
    speech-to-music ratio): the project's bundled track when present (and `bundled`), else a
    synthesized stand-in (slow pad chords and a plucked melody: tonal, like speech)."""
    folders = (Path(__file__).parent / "_data" / "music",
               Path(__file__).resolve().parent.parent / "music") if bundled else ()
    for candidate in folders:
        for f in sorted(candidate.glob("*.ogg")) + sorted(candidate.glob("*.wav")):
            x = _decode_any(f)
            if x is not None and len(x) > RATE:
                reps = int(np.ceil(seconds * RATE / len(x)))
                return np.tile(x / np.sqrt(np.mean(x ** 2)), reps)[: int(seconds * RATE)]
    return _stand_in_music(seconds, seed)


@functools.lru_cache(maxsize=4)
def _decode_any(f: Path) -> np.ndarray | None:
    try:
        from pydub import AudioSegment

        seg = AudioSegment.from_file(str(f)).set_channels(1).set_frame_rate(RATE)
        seg = seg.set_sample_width(2)
        return np.array(seg.get_array_of_samples(), np.float32) / 32768.0
    except Exception:  # noqa: BLE001 - an undecodable track just means: use the stand-in
        return None


def _stand_in_music(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    out = np.zeros(n, np.float64)
    chords = ((220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6),
              (196.0, 246.9, 329.6))
    bar = 4.0
    for k in range(int(np.ceil(seconds / bar))):
        a, b = int(k * bar * RATE), min(n, int((k + 1) * bar * RATE) + RATE // 2)
        tt = t[a:b] - t[a]
        env = np.minimum(1.0, tt / 0.8) * np.exp(-tt / 6.0)
        for f in chords[k % len(chords)]:
            for h, g in ((1, 1.0), (2, 0.35), (3, 0.15)):
                out[a:b] += g * env * np.sin(2 * np.pi * f * h * tt + rng.uniform(0, 6.28))
    scale = (440.0, 493.9, 554.4, 659.3, 740.0, 880.0)
    for start in np.arange(0.0, seconds - 0.5, 0.5):
        if rng.random() < 0.6:
            a = int(start * RATE)
            b = min(n, a + int(1.2 * RATE))
            tt = t[a:b] - t[a]
            f = scale[rng.integers(len(scale))]
            out[a:b] += 0.5 * np.exp(-tt / 0.35) * (np.sin(2 * np.pi * f * tt)
                                                      + 0.3 * np.sin(4 * np.pi * f * tt))
    out += 0.02 * rng.standard_normal(n)  # a little air, like a recording
    out /= np.sqrt(np.mean(out ** 2)) + 1e-9
    return out.astype(np.float32)


def read_folder(folder: Path) -> list[tuple[str, np.ndarray, list[tuple[float, float, str]]]]:
    """--data DIR: [(name, samples, [(start_s, end_s, command)])] from WAVs + labels.tsv."""
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder; --data wants a folder of WAVs and labels.tsv")
    labels: dict[str, list[tuple[float, float, str]]] = {}
    lab = folder / "labels.tsv"
    if lab.exists():
        for n, line in enumerate(lab.read_text().splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 4 or parts[3] not in commands.BY_NAME:
                raise UserError(f"{lab}:{n}: want 'file.wav<TAB>start_s<TAB>end_s<TAB>command' "
                                f"with a command from: {', '.join(commands.NAMES)}")
            labels.setdefault(parts[0], []).append((float(parts[1]), float(parts[2]), parts[3]))
    wavs = sorted(folder.glob("*.wav"))
    if not wavs:
        raise UserError(f"{folder}: no .wav files found")
    return [(w.name, read_wav(w), sorted(labels.get(w.name, []))) for w in wavs]
