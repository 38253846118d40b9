"""The out-of-the-box listener: pocketsphinx keyword spotting finds candidates, a second pass
confirms them on the whole utterance.

Why two stages: keyword spotting reacts in ~0.1 s but, at a threshold that catches commands over
music, it also fires on music and on ordinary speech; a grammar maps everything onto a command.
So the spotter runs lenient (it only proposes). Each proposal is widened to the utterance that
holds it (where the sound rises out of the background and falls back: `utterance`), the
music's steady part is taken out (`denoise`), and a verifier must (1) hear a command in a
grammar where words that sound like commands compete on equal terms ("text" with "next"),
(2) find the command's acoustic score close enough to a free phone loop's (a likelihood ratio per
frame: a confidence that means the same for every voice), (3) find it long enough, and (4) find
little else said in the utterance ("my back is tight" is not "back"). "harder" clears a higher
bar than "softer"/"pause"/"stop", which are heard even when a sound-alike fits slightly better:
a missed "softer" is worse than a false one; a false "harder" is worse than a missed one.
What the verifier turns down as a near miss gets a second opinion from Whisper, which may
overturn it ("harder" only where Whisper itself clearly wrote it), and most of what it accepts
must be confirmed by Whisper (`second_opinion`, `whisper_judge`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .. import commands
from . import denoise, ps_model, utterance
from .base import SAMPLE_RATE, Detection
from .judging import Judging
from .second_opinion import STRICT_COMMANDS, SecondOpinion
from .verdict import SAFE_COMMANDS, SOUND_ALIKE, WHISPER_NAMED, Heard, Verdict
from .whisper_judge import WhisperJudge

FRAME = SAMPLE_RATE // 100  # pocketsphinx frames are 10 ms

# Likelihood-ratio bar (log-score units per frame of the phrase) per command; default for the rest.
LLR_MIN: dict[str, float] = {"harder": -22.0, "softer": -35.0, "pause": -32.0}
LLR_DEFAULT = -30.0
COACH_MARGIN = 10.0  # extra LLR bar while the coach's own voice is playing
ISO_MIN_DB = 4.0  # the phrase must stand this far above the sound just before/after it
COACH_ISO_DB = 4.0  # and this much more while the coach talks (its sentences run on)
# With Whisper at hand, only "softer" is heard over a sound-alike without it: a false "stop" or
# "pause" halts the session. Asking Whisper instead, the bench's near-miss words ("stock", "pose",
# "top") gave 35 false commands in 396 s before, 28 after (recall at 10 dB 250 -> 251 of 318).
# Such a "softer" is then confirmed by Whisper (`second_opinion`).
SAFE_OVER_DECOY_WITH_JUDGE = frozenset({"softer"})
SAFE_OVER_DECOY = 8.0  # the higher bar: added to their usual likelihood-ratio bar
DENOISE_BELOW_DB = 30.0  # clean the audio when the utterance rises less than this over the bed
DENOISE_BACKGROUND_S = 1.2  # the bed's spectrum is read from this much audio before the window
UNPROPOSED_PENALTY = 5.0  # the grammar heard a command the spotter did not propose here
SCORE_SCALE = 1e4  # hyp scores come as exp(log-score); ln() of them is tiny, so rescale
# Grammar-search word segments report acoustic scores 2**10 times the scale of hypothesis and
# phone-loop scores (pocketsphinx's senone score shift); measured: their sum / 1024 == hyp score.
FSG_SEG_SCALE = 1024.0
MIN_FRAMES_PER_PHONE = 3.0  # a real spoken phone lasts >= 30 ms; clicks and blips are shorter
PAD_S = 0.15  # the verifier hears the utterance with this much around it
# Over music the spotter sometimes places a word it found just after it, in the bed (an "ouch"
# at 13.98-14.39 s proposed only from 14.40 s on): where nothing rises out of the background in
# a proposal's own span, the utterance is looked for this far before it.
LATE_SPOT_S = 0.3
MAX_UTTERANCE_S = 1.8  # commands are short: a longer utterance is running speech
EXTRA_SPEECH_S = 0.45  # speech in the utterance beyond the command's own words ("my back is")
REFRACTORY_S = 0.25  # after a command, ignore proposals starting within this of its end
SAME_COMMAND_S = 1.5  # and the same command again within this long of it
RING_S = 6.0
ACTED_KEPT = 8  # commands remembered for CONTRARY ones answered late
JUDGE_PAD_S = 0.3  # Whisper hears the utterance with this much around it


def _kws_threshold(n_phones: int) -> float:
    """Lenient spotting threshold: longer phrases accumulate more score, so get a lower bar."""
    return 10.0 ** -(6 * n_phones)


# One-phone phrases ("ow") cannot be told from sound: spotting them fires several times a second
# over music, and a verifier that knows them hears one in any vowel of the coach's own voice
# (measured: "oil" became "ow", and softer, mid-sentence). Other words say the same: "ouch".
MIN_SPOT_PHONES = 2


@dataclass
class _Candidate:
    phrase: str
    start: int  # samples, stream time
    end: int


def _span(candidate: _Candidate) -> str:
    """Where the spotter put a proposal, for the verdict trace: a command missed live is
    traced to the words spotted then."""
    return f"spotted {candidate.start / SAMPLE_RATE:.2f}-{candidate.end / SAMPLE_RATE:.2f} s"


class PocketsphinxEngine:
    """Engine protocol implementation on pocketsphinx's bundled US-English model."""

    name = "pocketsphinx"

    def __init__(self, llr_offset: float = 0.0, judge: WhisperJudge | None = None,
                 judge_beside: bool = False) -> None:
        """`judge`: Whisper, for second opinions. `judge_beside`: it answers on a thread of its
        own while the stream goes on (live); otherwise the stream waits for it (files)."""
        self._second: SecondOpinion | None = None  # set when there is a judge
        self._judging: Judging[Heard, Verdict] = Judging(background=judge_beside)
        self._folder = ps_model.scratch_dir()
        try:
            # ds=2: acoustic scores on every other frame. Halves the spotter's cost; it only
            # proposes, and the verifier re-scores every frame.
            self._spot = ps_model.new_decoder(self._folder, cmn="live", kws_delay=5, ds=2)
            ps_model.check_vocabulary(self._spot)
            ps_model.add_merger_variants(self._spot)
            phrases = [p for p in commands.phrases()
                       if ps_model.n_phones(self._spot, p) >= MIN_SPOT_PHONES]
            thr = {p: _kws_threshold(ps_model.n_phones(self._spot, p)) for p in phrases}
            self._spot.add_kws("cmds", str(ps_model.keyphrase_file(self._spot, thr, self._folder)))
            self._spot.activate_search("cmds")
            self._ver = ps_model.new_decoder(self._folder, cmn="batch")
            ps_model.add_merger_variants(self._ver)
            # Commands and the words that sound like them compete in one grammar, on equal
            # terms: "text" beats "next" when it fits the sound better.
            self._decoys = set(ps_model.decoys_for_commands(self._ver, phrases))
            if judge is not None:
                self._second = SecondOpinion(
                    judge, rivals={p: ps_model.similar_decoys(self._ver, p) for p in phrases},
                    mixups=ps_model.command_mixups(self._ver, phrases),
                    # What Whisper may put forward by itself: not the strict commands.
                    suggestable=[p for p in phrases
                                 if commands.command_for_phrase(p) not in STRICT_COMMANDS])
            self._ver.add_jsgf_string("cmds", ps_model.grammar(
                phrases + sorted(self._decoys), "cmds"))
            self._ver.add_jsgf_string("cmds_only", ps_model.grammar(phrases, "cmds_only"))
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
        self._verified_until = 0  # end of the last window the verifier judged
        self._last_command: tuple[str, int] = ("", -SAMPLE_RATE * 60)  # (command, its end)
        self._acted: list[tuple[str, int]] = []  # the latest commands given, (command, start)
        self._coach_feed = False  # the coach's voice is in the audio being fed now
        self._coach_spans: list[list[int]] = []  # [start, end) stream samples with its voice
        self._coach = False  # ... during the utterance being judged
        self.verdicts: list[Verdict] = []  # every verification, for the bench and --verbose
        self._spot.start_utt()

    @property
    def judge(self) -> WhisperJudge | None:
        """The second opinion, if there is one."""
        return None if self._second is None else self._second.judge

    @property
    def stream_s(self) -> float:
        """Seconds of audio fed so far."""
        return self._pos / SAMPLE_RATE

    # ---------------------------------------------------------------- Engine protocol

    def set_coach_speaking(self, speaking: bool) -> None:
        self._coach_feed = speaking

    def feed(self, chunk: np.ndarray) -> list[Detection]:
        chunk = np.asarray(chunk, dtype=np.int16)
        self._mark_coach(len(chunk))
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
        self._judging.wait()
        out += self._settle_judged()
        self._spot.start_utt()
        self._utt_start = self._pos
        self._seen.clear()
        return out

    def ready(self) -> list[Detection]:
        """Commands whose second opinion came in since the last feed (judge_beside): the
        recogniser's process asks while no audio is waiting."""
        return self._settle_judged()

    # ---------------------------------------------------------------- internals

    def _mark_coach(self, n: int) -> None:
        """Note whether the coach speaks over the next n samples. An utterance is judged by
        what played under it, not by what plays when the verdict comes out (later, by the
        endpointing and the verifier's own time)."""
        if not self._coach_feed:
            return
        spans = self._coach_spans
        if spans and spans[-1][1] == self._pos:
            spans[-1][1] = self._pos + n
        else:
            spans.append([self._pos, self._pos + n])
        while spans and spans[0][1] < self._pos - RING_S * SAMPLE_RATE:
            spans.pop(0)

    def _coach_during(self, start: int, end: int) -> bool:
        return any(a < end and b > start for a, b in self._coach_spans)

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
        out = self._settle_judged()
        while self._pending:
            first = min(self._pending, key=lambda c: c.start)
            utt = self._utterance(first)
            if utt is not None and utt.start < self._verified_until:
                # A word said just after what was judged: the background, read again before
                # this proposal, can bridge the two (live, over the room's echo, a "back" said
                # just after a bump of the echo's residue was lost so, in 3 runs of 3). Only what
                # rises after the judged end is new; if nothing does, it is the judged one's tail.
                utt = self._utterance(first, not_before=self._verified_until) or utt
            if utt is None:  # nothing rises out of the background there: music, a breath
                self._pending.remove(first)
                self.verdicts.append(Verdict(None, first.phrase, 0.0, 0,
                                             f"no utterance here ({_span(first)})"))
                continue
            if utt.end - utt.start > MAX_UTTERANCE_S * SAMPLE_RATE:
                # Running speech (or a bed that never dips): not a command. Only this proposal
                # goes; a command said right after it is found as its own utterance.
                self._pending.remove(first)
                self.verdicts.append(Verdict(None, first.phrase, 0.0, 0,
                                             f"running speech ({_span(first)})"))
                continue
            if not (final or utt.ended):
                break  # wait for the utterance to end: one utterance gets one verdict
            # The proposals it holds (and the first one, if it was spotted late, just after it)
            group = [c for c in self._pending if c.start < utt.end or c is first]
            self._pending = [c for c in self._pending if c not in group]
            if utt.start < self._verified_until:  # its tail, heard later: judged already
                self.verdicts.append(Verdict(None, group[0].phrase, 0.0, 0,
                                             "part of an utterance already judged"))
                continue
            self._verified_until = utt.end
            self._coach = self._coach_during(utt.start, utt.end)
            verdict = self._verify(utt, {commands.command_for_phrase(c.phrase) for c in group})
            heard = Heard(utt, self._coach, self._judge_clip(utt).copy())
            question = self._question(heard, verdict, group)
            if isinstance(question, Verdict):  # settled without Whisper
                out += self._settle(heard, question)
            else:
                self._judging.ask(heard, question, urgent=verdict.command is not None)
                out += self._settle_judged()  # answered at once, unless judged beside
        return out

    def _settle_judged(self) -> list[Detection]:
        out: list[Detection] = []
        for heard, verdict in self._judging.answered():
            out += self._settle(heard, verdict)
        return out

    def _settle(self, heard: Heard, verdict: Verdict) -> list[Detection]:
        """Record the final verdict on an utterance; the command it gives, if any."""
        utt = heard.utt
        self.verdicts.append(verdict)
        if verdict.command is None:
            return []
        if self._repeats(verdict.command, utt):
            self.verdicts[-1] = replace(verdict, command=None, reason="same command just given")
            return []
        if (later := self._contrary_said_later(verdict.command, utt)) is not None:
            self.verdicts[-1] = replace(verdict, command=None,
                                        reason=f"{later!r}, said after it, was acted on first")
            return []
        self._acted = [*self._acted[-(ACTED_KEPT - 1):], (verdict.command, utt.start)]
        self._last_command = (verdict.command, utt.end)
        self._quiet_until = max(self._quiet_until, utt.end + int(REFRACTORY_S * SAMPLE_RATE))
        self._pending = [c for c in self._pending if c.start >= self._quiet_until]
        return [Detection(verdict.command, verdict.text, self._pos / SAMPLE_RATE,
                          round(_confidence(verdict), 3), self.name, during_coach=heard.coach,
                          start_s=utt.start / SAMPLE_RATE, end_s=utt.end / SAMPLE_RATE)]

    def _question(self, heard: Heard, verdict: Verdict, proposed: list[_Candidate]
                  ) -> Verdict | Callable[[], Verdict]:
        """What to ask Whisper about `verdict` (SecondOpinion.question), if there is a Whisper."""
        if self._second is None:
            return verdict
        longest_first = sorted(proposed, key=lambda c: c.start - c.end)
        return self._second.question(heard, verdict, [c.phrase for c in longest_first],
                                     self._best_command)

    def _best_command(self, audio: np.ndarray) -> str:
        """The command phrase the verifier's grammar finds likeliest in `audio`, if any."""
        return self._decode("cmds_only", audio)[0]

    def _judge_clip(self, utt: utterance.Utterance) -> np.ndarray:
        """The utterance as Whisper hears it: with JUDGE_PAD_S of audio either side."""
        pad = int(JUDGE_PAD_S * SAMPLE_RATE)
        return self._ring_slice(utt.start - pad, utt.end + pad)

    def _utterance(self, cand: _Candidate, not_before: int = 0) -> utterance.Utterance | None:
        a = max(cand.start - int((utterance.BACKGROUND_S + LATE_SPOT_S + 0.2) * SAMPLE_RATE),
                self._pos - len(self._ring), 0)
        audio = self._ring_slice(a, self._pos)
        found = utterance.find(audio, a, cand.start, cand.end, not_before)
        if found is None:  # spotted late, in the music just after the word?
            found = utterance.find(audio, a, cand.start - int(LATE_SPOT_S * SAMPLE_RATE),
                                   cand.start, not_before)
        return found

    def _contrary_said_later(self, command: str, utt: utterance.Utterance) -> str | None:
        """A command contrary to `command` (commands.CONTRARY) said after `utt` and already
        given: possible when `utt` waited for Whisper beside the stream."""
        contrary = commands.CONTRARY.get(command)
        return next((c for c, start in self._acted if c == contrary and start >= utt.end), None)

    def _repeats(self, command: str, utt: utterance.Utterance) -> bool:
        """The same command again within SAME_COMMAND_S is the same utterance heard twice
        ("that ... hurts"), not a second request. Either way round: answered beside the
        stream, the later one may come first."""
        last, at = self._last_command
        return last == command and abs(utt.end - at) < SAME_COMMAND_S * SAMPLE_RATE

    def _ring_slice(self, a: int, b: int) -> np.ndarray:
        """Stream samples [a, b) from the ring (clipped to what it still holds)."""
        a = max(a, self._pos - len(self._ring), 0)
        b = min(b, self._pos)
        return self._ring[len(self._ring) - (self._pos - a):len(self._ring) - (self._pos - b)]

    def _decode(self, search: str, audio: np.ndarray) -> tuple[str, list]:
        d = self._ver
        d.activate_search(search)
        d.start_utt()
        d.process_raw(audio.tobytes(), False, True)
        d.end_utt()
        hyp = d.hyp()
        if hyp is None or hyp.best_score <= 0.0:
            return "", []
        return hyp.hypstr, list(d.seg())

    def _verify(self, utt: utterance.Utterance, proposed: set[str | None]) -> Verdict:
        w0 = max(utt.start - int(PAD_S * SAMPLE_RATE), self._pos - len(self._ring), 0)
        audio = self._ring_slice(w0, utt.end + int(PAD_S * SAMPLE_RATE))
        if utt.rise_db < DENOISE_BELOW_DB:  # a bed under the voice: take its steady part out
            background = self._ring_slice(utt.start - int(DENOISE_BACKGROUND_S * SAMPLE_RATE), w0)
            audio = denoise.clean(audio, denoise.background_spectrum(background))
        text, segs = self._decode("cmds", audio)
        bar_raise, sound_alike = 0.0, None
        if text in self._decoys:
            # A word that sounds like a command fits better. For the commands that protect the
            # receiver, a miss costs more than a false accept: hear them out, at a higher bar.
            sound_alike = text
            text, segs = self._decode("cmds_only", audio)
            heard_out = SAFE_COMMANDS if self._second is None else SAFE_OVER_DECOY_WITH_JUDGE
            if commands.command_for_phrase(text) not in heard_out:
                return Verdict(None, sound_alike, 0.0, 0, f"{SOUND_ALIKE} {text!r}",
                               sounds_like=text or None)
            bar_raise = SAFE_OVER_DECOY
        parsed = commands.parse(text, written=False) if text else None
        if parsed is None:
            return Verdict(None, text, 0.0, 0, "grammar heard " + (text or "nothing"))
        words = [s for s in segs if s.word.strip().split("(")[0] in parsed.phrase.split()]
        if not words:
            return Verdict(None, text, 0.0, 0, "no word segments")
        sf, ef = words[0].start_frame, words[-1].end_frame
        frames = ef - sf + 1
        word_ll = sum(_ln(s.ascore) for s in words) / FSG_SEG_SCALE
        bar = LLR_MIN.get(parsed.command, LLR_DEFAULT) + self.llr_offset + bar_raise
        if parsed.command not in proposed:
            bar += UNPROPOSED_PENALTY
        if self._coach:
            bar += COACH_MARGIN
        if frames < MIN_FRAMES_PER_PHONE * self._phones[parsed.phrase]:
            return Verdict(None, text, 0.0, frames, "too short")
        extra_s = (utt.end - utt.start) / SAMPLE_RATE - frames / 100
        if extra_s > EXTRA_SPEECH_S:
            return Verdict(None, text, 0.0, frames, "more was said than a command")
        iso = _isolation_db(self._ring_slice(utt.start, utt.end),
                            self._ring_slice(utt.start - int(0.40 * SAMPLE_RATE),
                                             utt.start - FRAME * 5),
                            self._ring_slice(utt.end + FRAME * 3,
                                             utt.end + int(0.22 * SAMPLE_RATE)))
        if iso < ISO_MIN_DB + (COACH_ISO_DB if self._coach else 0.0):
            return Verdict(None, text, 0.0, frames, "not said on its own", iso)
        # Likelihood ratio on the phrase's own frames: the command's acoustic score against the
        # best free phone sequence over the same frames (phones cut by the span count pro rata).
        _, phone_segs = self._decode("phones", audio)
        phone_ll = 0.0
        for p in phone_segs:
            overlap = min(ef, p.end_frame) - max(sf, p.start_frame) + 1
            if overlap > 0:
                phone_ll += _ln(p.ascore) * overlap / (p.end_frame - p.start_frame + 1)
        llr = (word_ll - phone_ll) * SCORE_SCALE / frames
        if llr < bar:
            return Verdict(None, text, llr, frames, "llr below bar", iso)
        return Verdict(parsed.command, text, llr, frames, "ok", iso,
                       over_sound_alike=sound_alike, extra_s=max(extra_s, 0.0))


def _confidence(verdict: Verdict) -> float:
    if verdict.reason.startswith(WHISPER_NAMED):  # llr holds Whisper's log-probability
        return math.exp(verdict.llr)
    bar = LLR_MIN.get(verdict.command or "", LLR_DEFAULT)
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, (verdict.llr - bar) / 4.0))))


def _isolation_db(phrase: np.ndarray, before: np.ndarray, after: np.ndarray) -> float:
    """How much louder the phrase is than what surrounds it (the louder side). A command is said
    on its own; the same word inside running speech (or the coach's sentence) has speech around
    it at about the same level."""
    around = [_energy_db(x) for x in (before, after) if len(x) >= 5 * FRAME]
    return _energy_db(phrase) - max(around) if around else 0.0


def _energy_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1.0))


def _ln(x: float) -> float:
    return math.log(x) if x > 0 else -1e3
