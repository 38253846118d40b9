"""The out-of-the-box listener: pocketsphinx keyword spotting finds candidates, a second pass
confirms them (closed grammar with decoys + likelihood ratio against a phone loop).

Why two stages: keyword spotting reacts in ~0.1 s but, at a threshold that catches commands over
music, it also fires on music and on ordinary speech; a grammar maps everything onto a command.
So the spotter runs lenient (it only proposes), and each proposal is re-decoded on its own short
window by a verifier that must (1) hear the same command in a grammar where decoy words and other
commands compete, (2) find the command's acoustic score clearly better than a free phone loop's
(a likelihood ratio per frame: a confidence that means the same for every voice), and (3) find it
long enough. "harder" must clear a higher bar than "softer"/"stop" (a missed "softer" is worse than
a missed "harder"; a false "harder" is worse than a false "softer").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import commands
from . import ps_model
from .base import SAMPLE_RATE, Detection

FRAME = SAMPLE_RATE // 100  # pocketsphinx frames are 10 ms

# Likelihood-ratio bar (log-score units per frame of the phrase) per command; default for the rest.
LLR_MIN: dict[str, float] = {"harder": -22.0, "softer": -38.0, "stop": -32.0, "pause": -32.0}
LLR_DEFAULT = -30.0
COACH_MARGIN = 15.0  # extra bar while the coach's own voice is playing
DECOY_MARGIN = -8.0  # the command must explain the sound about as well as any decoy word
SCORE_SCALE = 1e4  # hyp scores come as exp(log-score); ln() of them is tiny, so rescale
MIN_FRAMES_PER_PHONE = 3.0  # a real spoken phone lasts >= 30 ms; clicks and blips are shorter
PRE_S, POST_S = 0.30, 0.15  # verification window around the spotted phrase
REFRACTORY_S = 0.25  # after a command, ignore proposals starting within this of its end
RING_S = 6.0


def _kws_threshold(n_phones: int) -> float:
    """Lenient spotting threshold: longer phrases accumulate more score, so get a lower bar."""
    return 10.0 ** -(6 * n_phones)


# One-phone phrases ("ow") cannot be spotted over music: at any threshold that catches them they
# fire several times a second. They are still heard by the verifier inside other candidates.
MIN_SPOT_PHONES = 2


@dataclass
class _Candidate:
    phrase: str
    start: int  # samples, stream time
    end: int


@dataclass(frozen=True)
class Verdict:
    command: str | None
    text: str
    llr: float
    margin: float
    frames: int
    reason: str  # "ok" or why it was rejected


class PocketsphinxEngine:
    """Engine protocol implementation on pocketsphinx's bundled US-English model."""

    name = "pocketsphinx"

    def __init__(self, llr_offset: float = 0.0) -> None:
        self._folder = ps_model.scratch_dir()
        try:
            self._spot = ps_model.new_decoder(cmn="live", kws_delay=5)
            ps_model.check_vocabulary(self._spot)
            ps_model.add_merger_variants(self._spot)
            thr = {p: _kws_threshold(ps_model.n_phones(self._spot, p)) for p in commands.phrases()
                   if ps_model.n_phones(self._spot, p) >= MIN_SPOT_PHONES}
            self._spot.add_kws("cmds", str(ps_model.keyphrase_file(self._spot, thr, self._folder)))
            self._spot.activate_search("cmds")
            self._ver = ps_model.new_decoder(cmn="batch")
            ps_model.add_merger_variants(self._ver)
            self._ver.add_jsgf_string("cmds", ps_model.command_grammar())
            self._ver.add_jsgf_string("decoys", ps_model.decoy_grammar(self._ver))
            self._ver.add_allphone_file("phones")
        finally:
            ps_model.remove_dir(self._folder)
        self._phones = {p: ps_model.n_phones(self._spot, p) for p in commands.phrases()}
        self.llr_offset = llr_offset
        self._ring = np.zeros(int(RING_S * SAMPLE_RATE), np.int16)
        self._pos = 0  # samples fed so far
        self._utt_start = 0  # stream sample where the spotter's current utterance began
        self._pending: list[_Candidate] = []
        self._seen: set[tuple[str, int]] = set()
        self._quiet_until = 0  # refractory end, in samples
        self._coach = False
        self.verdicts: list[Verdict] = []  # every verification, for the bench and --verbose
        self._spot.start_utt()

    # ---------------------------------------------------------------- Engine protocol

    def set_coach_speaking(self, speaking: bool) -> None:
        self._coach = speaking

    def feed(self, chunk: np.ndarray) -> list[Detection]:
        chunk = np.asarray(chunk, dtype=np.int16)
        out: list[Detection] = []
        step = FRAME * 10  # spot in 100 ms steps so decisions are checked often
        for i in range(0, len(chunk), step):
            part = chunk[i:i + step]
            self._append(part)
            self._spot.process_raw(part.tobytes(), False, False)
            self._collect_candidates()
            out += self._decide(final=False)
        return out

    def flush(self) -> list[Detection]:
        self._spot.end_utt()
        self._collect_candidates(ended=True)
        out = self._decide(final=True)
        self._spot.start_utt()
        self._utt_start = self._pos
        self._seen.clear()
        return out

    # ---------------------------------------------------------------- internals

    def _append(self, part: np.ndarray) -> None:
        n = len(part)
        self._ring = np.roll(self._ring, -n)
        self._ring[-n:] = part
        self._pos += n

    def _collect_candidates(self, ended: bool = False) -> None:
        hyp = self._spot.hyp()
        if hyp is None or not hyp.hypstr:
            return
        # The spotter's hypothesis lists every detection since the utterance began; restarting
        # after each one would reset its search and miss a command that is under way, so keep it
        # running and remember which detections were already taken.
        n = 0
        for seg in self._spot.seg():
            n += 1
            key = (seg.word, seg.start_frame)
            if key in self._seen:
                continue
            self._seen.add(key)
            phrase = seg.word.strip().split("(")[0]
            if commands.command_for_phrase(phrase) is None:
                continue
            start = self._utt_start + seg.start_frame * FRAME
            end = self._utt_start + (seg.end_frame + 1) * FRAME
            if start >= self._quiet_until:
                self._pending.append(_Candidate(phrase, start, end))
        # Restart now and then (at a calm moment) so the list stays short.
        if not ended and (n > 40 or self._pos - self._utt_start > 30 * SAMPLE_RATE) \
                and not self._pending:
            self._spot.end_utt()
            self._spot.start_utt()
            self._utt_start = self._pos
            self._seen.clear()

    def _decide(self, final: bool) -> list[Detection]:
        out: list[Detection] = []
        while self._pending:
            first = min(c.end for c in self._pending)
            if not final and self._pos < first + POST_S * SAMPLE_RATE:
                break
            # Proposals overlapping the first one are one utterance: verify them together.
            group = [c for c in self._pending if c.start < first + int(0.1 * SAMPLE_RATE)]
            self._pending = [c for c in self._pending if c not in group]
            start = min(c.start for c in group)
            end = max(c.end for c in group)
            verdict = self._verify(start, end, {commands.command_for_phrase(c.phrase)
                                                for c in group})
            self.verdicts.append(verdict)
            if verdict.command is not None:
                self._quiet_until = end + int(REFRACTORY_S * SAMPLE_RATE)
                self._pending = [c for c in self._pending if c.start >= self._quiet_until]
                bar = LLR_MIN.get(verdict.command, LLR_DEFAULT)
                conf = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, (verdict.llr - bar) / 2.0))))
                out.append(Detection(verdict.command, verdict.text, self._pos / SAMPLE_RATE,
                                     round(conf, 3), self.name))
        return out

    def _window(self, start: int, end: int) -> np.ndarray:
        a = max(start - int(PRE_S * SAMPLE_RATE), self._pos - len(self._ring), 0)
        b = min(end + int(POST_S * SAMPLE_RATE), self._pos)
        return self._ring[len(self._ring) - (self._pos - a):len(self._ring) - (self._pos - b)]

    def _decode(self, search: str, audio: np.ndarray) -> tuple[str, float, list]:
        d = self._ver
        d.activate_search(search)
        d.start_utt()
        d.process_raw(audio.tobytes(), False, True)
        d.end_utt()
        hyp = d.hyp()
        if hyp is None or hyp.best_score <= 0.0:
            return "", -math.inf, []
        return hyp.hypstr, math.log(hyp.best_score), list(d.seg())

    def _verify(self, start: int, end: int, proposed: set[str | None]) -> Verdict:
        audio = self._window(start, end)
        text, cmd_score, segs = self._decode("cmds", audio)
        parsed = commands.parse(text) if text else None
        if parsed is None or parsed.command not in proposed:
            return Verdict(None, text, 0.0, 0.0, 0, "grammar heard " + (text or "nothing"))
        words = [s for s in segs if s.word.strip().split("(")[0] in parsed.phrase.split()]
        frames = max(1, sum(s.end_frame - s.start_frame + 1 for s in words))
        _, phone_score, _ = self._decode("phones", audio)
        _, decoy_score, _ = self._decode("decoys", audio)
        # Scores are log-likelihoods of the whole window; the difference lives in the phrase.
        llr = (cmd_score - phone_score) * SCORE_SCALE / frames
        margin = (cmd_score - decoy_score) * SCORE_SCALE / frames
        bar = LLR_MIN.get(parsed.command, LLR_DEFAULT) + self.llr_offset
        if self._coach:
            bar += COACH_MARGIN
        if frames < MIN_FRAMES_PER_PHONE * self._phones[parsed.phrase]:
            return Verdict(None, text, llr, margin, frames, "too short")
        if llr < bar:
            return Verdict(None, text, llr, margin, frames, "llr below bar")
        if margin < DECOY_MARGIN:
            return Verdict(None, text, llr, margin, frames, "a decoy fits as well")
        return Verdict(parsed.command, text, llr, margin, frames, "ok")
