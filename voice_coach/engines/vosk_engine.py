"""The Vosk listening engine: a command grammar from the command table, checked against the model.

vosk is imported lazily (only here, only when a VoskEngine is built). A grammar recogniser maps
any speech onto its words, so this engine decides what to believe: long utterances are talk, not
commands; "harder" needs a final result with high confidence; one utterance gives one command.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import commands
from ..errors import UserError
from ..models import check_model
from .base import SAMPLE_RATE, Detection

UNK = "[unk]"
# Near misses of the English commands (issue 4's list): with these in the grammar, "hard" or
# "text" lands on a decoy instead of on "harder" or "next". Optional: any the model lacks are
# left out. Kept short on purpose: every decoy also competes with the real commands.
ENGLISH_DECOYS: tuple[str, ...] = ("hard", "soft", "text", "neck", "light")
# Below this level (about -60 dBFS) a 10 ms frame is quiet whatever the utterance's peak was.
_QUIET_FLOOR = 30.0
_KEEP_FRAMES = 3000  # 30 s of 10 ms frame levels: longer than any utterance Vosk keeps open


def load_model(path: Path | str) -> Any:
    """Load a Vosk model (seconds, hundreds of MB), or raise UserError saying what to do."""
    path = check_model(Path(path))
    import vosk  # lazy: importing vosk loads its shared library

    vosk.SetLogLevel(-1)  # Kaldi logs every load step to stderr otherwise
    with _stderr_captured() as captured:
        try:
            return vosk.Model(str(path))
        except Exception:  # vosk raises a bare Exception("Failed to create a model")
            pass
    # Kaldi writes its reason to C stderr even at log level -1; fold it into our one line.
    reasons = [ln.split(") ", 1)[-1] for ln in "".join(captured).splitlines()
               if "ERROR" in ln]
    why = f" ({reasons[-1][:200]})" if reasons else ""
    raise UserError(f"could not load the Vosk model in {path}: its files are corrupt or "
                    f"incomplete{why}; download it again with 'voice-coach models download'")


@contextlib.contextmanager
def _stderr_captured() -> Iterator[list[str]]:
    """Redirect file descriptor 2 (where C code writes) to a temp file for the block; the
    yielded list holds the captured text afterwards. Only used while loading a model, at
    start-up, before any thread that might log."""
    sys.stderr.flush()
    captured: list[str] = []
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            captured.append(tmp.read().decode("utf-8", "replace"))


@dataclass(frozen=True)
class _Word:
    word: str
    conf: float
    start_s: float
    end_s: float


@dataclass(frozen=True)
class _Match:
    phrase: str
    command: str
    words: tuple[_Word, ...]


class VoskEngine:
    """Engine protocol (see base.py) over a Vosk KaldiRecognizer with a command grammar.

    `phrases` maps spoken phrase -> command name (default: the command table); `pain` are the
    phrases that mean "it hurts" (acted on at once, as softer); `decoys` are extra grammar words
    that mean nothing. Injecting them lets a model in another language run exactly this code.

    Tunables: a word below `min_confidence` is ignored, "harder" needs `harder_confidence` and
    must be said on its own; an utterance longer than the longest phrase + `max_extra_words` is
    talk; a phrase shorter than `min_phrase_s`, or whose level varies less than
    `min_modulation_db`, is noise; an early decision needs the partial result unchanged and the
    input `quiet_db` below its peak for `stable_partial_s`."""

    name = "vosk"

    def __init__(self, model: Path | str | Any, *, phrases: Mapping[str, str] | None = None,
                 pain: Iterable[str] | None = None, decoys: Iterable[str] | None = None,
                 sample_rate: int = SAMPLE_RATE, min_confidence: float = 0.6,
                 harder_confidence: float = 0.9, stable_partial_s: float = 0.25,
                 min_phrase_s: float = 0.15, max_extra_words: int = 1,
                 quiet_db: float = 15.0, min_modulation_db: float = 2.0) -> None:
        started = time.perf_counter()
        self._model = load_model(model) if isinstance(model, (str, Path)) else model
        self.load_s = time.perf_counter() - started
        model_path = Path(model) if isinstance(model, (str, Path)) else None
        if phrases is None:
            phrases = {p: commands.command_for_phrase(p) or "" for p in commands.phrases()}
            pain = [p for p in commands.phrases() if commands.is_pain(p)] if pain is None else pain
            decoys = ENGLISH_DECOYS if decoys is None else decoys
        self._phrases = {" ".join(p.split()): c for p, c in phrases.items()}
        unknown = sorted({c for c in self._phrases.values() if c not in commands.BY_NAME})
        if unknown:
            raise ValueError(f"phrases map to unknown commands: {', '.join(unknown)}")
        self._pain = frozenset(" ".join(p.split()) for p in (pain or ()))
        self._longest = max(len(p.split()) for p in self._phrases)
        self.grammar = self._build_grammar(decoys or (), model_path)
        self.sample_rate = sample_rate
        self.min_confidence = min_confidence
        self.harder_confidence = harder_confidence
        self.stable_partial_s = stable_partial_s
        self.min_phrase_s = min_phrase_s
        self.max_extra_words = max_extra_words
        self.min_modulation_db = min_modulation_db
        import vosk

        self._rec = vosk.KaldiRecognizer(self._model, float(sample_rate),
                                         json.dumps(self.grammar, ensure_ascii=False))
        self._rec.SetWords(True)  # per-word confidence and timing for the final result
        # "Quiet" = 10 ms frames more than quiet_db below this utterance's loudest frame.
        self._quiet_ratio = 10 ** (-quiet_db / 20)
        self._samples = 0
        self._coach_speaking = False
        self._partial = ""
        self._partial_since = 0
        self._peak = 0.0
        self._loud_until = 0
        self._carry = np.zeros(0, dtype=np.int16)  # samples short of a whole 10 ms frame
        self._frames_seen = 0
        self._frame0 = 0  # stream index of the first frame still in _frame_db
        self._frame_db = np.zeros(0, dtype=np.float32)

    # ------------------------------------------------------------------ set-up

    def _known(self, word: str) -> bool:
        return int(self._model.vosk_model_find_word(word)) >= 0

    def _build_grammar(self, decoys: Iterable[str], model_path: Path | None) -> list[str]:
        """The phrase list Vosk is restricted to. Vosk silently drops grammar words its model
        does not know, which would make a command deaf without a trace: refuse to start."""
        needed = sorted({w for p in self._phrases for w in p.split()})
        missing = [w for w in needed if not self._known(w)]
        if missing:
            where = f" in {model_path}" if model_path else ""
            raise UserError(f"the Vosk model{where} does not know the command word(s) "
                            f"{', '.join(missing)}; use an English model "
                            "('voice-coach models download') or another engine")
        extra = [d for d in dict.fromkeys(decoys) if d not in self._phrases and self._known(d)]
        self.has_unk = self._known(UNK)
        # [unk] lets out-of-vocabulary speech land on "unknown" instead of on a command.
        return list(self._phrases) + extra + ([UNK] if self.has_unk else [])

    # ------------------------------------------------------------------ Engine protocol

    def set_coach_speaking(self, speaking: bool) -> None:
        self._coach_speaking = speaking

    def feed(self, chunk: np.ndarray) -> list[Detection]:
        data = _as_int16(chunk)
        self._track_level(data)
        self._samples += data.size
        if self._rec.AcceptWaveform(data.tobytes()):
            return self._on_final(self._rec.Result())
        return self._on_partial(json.loads(self._rec.PartialResult()).get("partial", ""))

    def flush(self) -> list[Detection]:
        return self._on_final(self._rec.FinalResult())

    # ------------------------------------------------------------------ decisions

    @property
    def _now_s(self) -> float:
        return self._samples / self.sample_rate

    def _track_level(self, chunk: np.ndarray) -> None:
        """Keep the level of every 10 ms frame of the last seconds (for the modulation check)
        and when the input was last loud relative to this utterance's loudest frame (to tell
        "the speaker has stopped" from a pause mid-sentence)."""
        data = np.concatenate([self._carry, chunk]) if self._carry.size else chunk
        frame = self.sample_rate // 100
        n = data.size // frame
        self._carry = data[n * frame:]
        if n == 0:
            return
        frames = data[:n * frame].astype(np.float32).reshape(n, frame)
        rms = np.sqrt(np.mean(frames * frames, axis=1))
        first = self._frames_seen
        self._frames_seen += n
        self._frame_db = np.concatenate([self._frame_db, 20 * np.log10(rms + 1.0)])
        if self._frame_db.size > _KEEP_FRAMES:
            self._frame0 += self._frame_db.size - _KEEP_FRAMES
            self._frame_db = self._frame_db[-_KEEP_FRAMES:]
        self._peak = max(self._peak, float(rms.max()))
        loud = np.nonzero(rms >= max(self._peak * self._quiet_ratio, _QUIET_FLOOR))[0]
        if loud.size:
            self._loud_until = (first + int(loud[-1]) + 1) * frame

    def _modulation_db(self, start_s: float, end_s: float) -> float | None:
        """Spread (standard deviation, dB) of the 10 ms frame levels between two stream times:
        speech rises and falls with its syllables; a fan, hiss or held tone stays flat."""
        lo = max(int(start_s * 100) - self._frame0, 0)
        hi = min(int(end_s * 100) - self._frame0, self._frame_db.size)
        if hi - lo < 5:
            return None  # too short to judge, or already forgotten: don't veto
        return float(np.std(self._frame_db[lo:hi]))

    def _on_partial(self, text: str) -> list[Detection]:
        """Decide early, without waiting ~0.5-1 s for Vosk's endpoint, when the partial result is
        a lone one-word command (or a pain phrase), unchanged for stable_partial_s, and the input
        has been quiet that long. Both guards are needed: a partial often shows the first word of
        a sentence, or a wrong word it revises a moment later. The decision itself is a forced
        final result, so it gets word confidences and all the checks of a normal final."""
        text = " ".join(text.split())
        if text != self._partial:
            self._partial, self._partial_since = text, self._samples
            return []
        if self._coach_speaking or not text or text not in self._phrases:
            return []
        if self._phrases[text] == "harder" or (len(text.split()) > 1 and text not in self._pain):
            return []  # "harder" always waits for the endpoint: the stricter standard
        stable_s = (self._samples - self._partial_since) / self.sample_rate
        quiet_s = (self._samples - self._loud_until) / self.sample_rate
        if stable_s < self.stable_partial_s or quiet_s < self.stable_partial_s:
            return []
        # FinalResult ends the utterance here: the rest of it cannot give a second command.
        return self._on_final(self._rec.FinalResult())

    def _on_final(self, result_json: str) -> list[Detection]:
        self._partial, self._partial_since = "", self._samples
        self._peak, self._loud_until = 0.0, self._samples
        result = json.loads(result_json)
        words = [_Word(w["word"], float(w.get("conf", 0.0)), float(w.get("start", 0.0)),
                       float(w.get("end", 0.0))) for w in result.get("result", [])]
        match = self._decide(words)
        if match is None:
            return []
        conf = min(w.conf for w in match.words)
        return [Detection(match.command, match.phrase, self._now_s, conf, self.name,
                          start_s=match.words[0].start_s, end_s=match.words[-1].end_s)]

    def _decide(self, words: list[_Word]) -> _Match | None:
        """The one command this utterance gives, or None."""
        if not words or all(w.word == UNK for w in words):
            return None
        if len(words) > self._longest + self.max_extra_words:
            return None  # a sentence is talk, not a command: grammar mode says yes to anything
        matches = self._matches(words)
        if not matches:
            return None
        if len({m.command for m in matches}) > 1:
            # Two different commands in one short utterance: ambiguous, unless one says it
            # hurts: then softer, at once.
            pain = [m for m in matches if m.phrase in self._pain]
            if not pain:
                return None
            matches = pain
        match = matches[0]
        extra = len(words) - len(match.words)
        conf = min(w.conf for w in match.words)
        duration = match.words[-1].end_s - match.words[0].start_s
        strict = match.command == "harder" or self._coach_speaking
        if duration < self.min_phrase_s or conf < self.min_confidence:
            return None
        spread = self._modulation_db(match.words[0].start_s, match.words[-1].end_s)
        if spread is not None and spread < self.min_modulation_db:
            return None  # steady noise the grammar turned into a word (no [unk] to absorb it)
        if strict and (extra > 0 or conf < self.harder_confidence):
            return None
        return match

    def _matches(self, words: list[_Word]) -> list[_Match]:
        """Command phrases in the word sequence, longest first, never across [unk] or decoys."""
        found: list[_Match] = []
        i = 0
        while i < len(words):
            for n in range(min(self._longest, len(words) - i), 0, -1):
                phrase = " ".join(w.word for w in words[i:i + n])
                if phrase in self._phrases:
                    found.append(_Match(phrase, self._phrases[phrase], tuple(words[i:i + n])))
                    i += n
                    break
            else:
                i += 1
        return found


def _as_int16(chunk: np.ndarray) -> np.ndarray:
    """Mono int16 samples; float audio in [-1, 1] is converted rather than misread as bytes."""
    data = np.asarray(chunk)
    if data.ndim > 1:
        data = data.reshape(-1) if data.shape[-1] == 1 or data.shape[0] == 1 else data.mean(axis=1)
    if data.dtype == np.int16:
        return np.ascontiguousarray(data)
    if np.issubdtype(data.dtype, np.floating):
        return (np.clip(data, -1.0, 1.0) * 32767).astype(np.int16)
    raise TypeError(f"audio chunk must be int16 or float samples, got {data.dtype}")
