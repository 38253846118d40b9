"""Whisper's second opinion on what the pocketsphinx engine's verifier decided: it may rescue
an utterance the verifier turned down as a near miss of a command, and it must confirm most
commands the verifier accepted (music alone once passed it as "slower").

What is asked, and at which bars, is decided here; Whisper's scoring is `whisper_judge`'s and
the bars themselves `whisper_decide`'s. Questions are built on the stream's thread and may be
answered on another (`judging`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .. import commands
from .verdict import SAFE_COMMANDS, SOUND_ALIKE, Heard, Verdict, named_by_whisper
from .whisper_decide import Opinion
from .whisper_judge import WhisperJudge

STRICT_COMMANDS = frozenset({"harder"})  # Whisper names these only on its own clear hearing
# ... and, while the coach talks, all but the barge-in commands: what is left of its voice after
# echo removal is speech, and Whisper wrote "keep going" at logprob -4.7 into the coach's
# prepare step in CI's self-trigger test. The barge-in commands keep their usual bars.
STRICT_OVER_COACH = frozenset(c.name for c in commands.COMMANDS) - commands.BARGE_IN
# Said by their own name and accepted by the verifier, these act without Whisper's confirmation
# (about a second on a busy 2-core machine, so the chime comes late): a false one only makes
# things gentler or halts, or for "next" moves on a step, which "back" undoes. On the bench,
# confirmation turned down no "next" said by name, and none of the false ones from near misses
# ("text", "neck") either: those passed it.
UNCONFIRMED = SAFE_COMMANDS | {"next"}
# ... unless a word that sounds like it fitted better and the verifier heard the command out
# over it (for "softer" only): on the whole bench 9 of the 22 false commands from near-miss
# words came so ("soft", "softly", "sofa", "stopper", "father"); confirmed by Whisper, all 9 were
# turned down, and 1 of the 18 real "softer" at music 20 dB lost (heard out over "soft": Whisper
# wrote "So after..."; at 10 dB none). Not a bar on the likelihood ratio:
# "hard" and "paws" passed as pause at -14.1 and -14.5, but real ones by name came as low (-13.6
# to -21 on the bench, -17 live): live, over the room's echo, such a "pause" waited for Whisper
# and was lost ("Class.").
# ... but over the coach's voice only "softer" (a false one is harmless): in the live
# self-trigger test what echo removal left of the coach's sentences passed the verifier as
# "pause" (its fit as good as a real one's: "...towards the shoulders, fan out...") and as
# "stop" (its "Before we start", 7 s in, the filter still learning: the session ended). Said
# over the coach, "stop", "pause" and "next" wait for Whisper (~1 s).
UNCONFIRMED_OVER_COACH = frozenset({"softer"})
# ... and only said on their own: with more than this much speech in the utterance beyond the
# command's word they wait for Whisper. Short things said during a massage passed the verifier
# by name so ("boss please" as pause, "are we almost done" as stop: 0.40 and 0.41 s left over);
# commands said alone left none over 0.1 s on the bench (233 at music 10 dB).
AT_ONCE_EXTRA_S = 0.25
# Rejections that Whisper may overturn (Verdict.reason prefixes).
RESCUABLE = (SOUND_ALIKE, "grammar heard", "llr below bar", "too short",
             "no word segments")
# ... and, while the coach is silent, a command said with more around it ("a little softer,
# please", "okay, next"): Whisper names it only if all else it wrote is filler words
# (commands.carried_phrase). Over the coach these are its own sentences.
RESCUABLE_IN_CARRIER = ("more was said than a command", "not said on its own")
JUDGE_CANDIDATES = 3  # command phrases Whisper scores for one utterance, at most
# Whisper is asked only about utterances that hold speech at all (Silero VAD, ~5 ms): in live
# sessions bumps of music and of the echo canceller's residue reached it ~11 times in the first
# 18 s, each 0.4-1 s of a busy machine (it wrote "Thank you." for them), and the recogniser fell
# seconds behind the microphone. Music alone scores 0.1-0.2 on the bench, but its bumps in a
# live session 0.4-0.9 (after echo removal); the utterances Whisper rightly rescued on the full
# bench scored 0.85+ at 10 dB, and at 0 dB 0.51-0.99 (4 of 86 under 0.7). At 0.7, 11 of the 20
# Whisper calls on music in a live 75 s session were spared (at 0.5: 19 of 39).
MIN_SPEECH_PROB = 0.7


class SecondOpinion:
    """What to ask Whisper about each of the verifier's verdicts, and the verdict it makes."""

    def __init__(self, judge: WhisperJudge, rivals: Mapping[str, Sequence[str]],
                 mixups: Mapping[str, Sequence[str]], suggestable: list[str]) -> None:
        """`rivals`: each command phrase's sound-alikes; `mixups`: the command phrases that
        sound like each one; `suggestable`: what Whisper may put forward by itself."""
        self.judge = judge
        self._rivals = rivals
        self._mixups = mixups
        self._suggestable = suggestable

    def question(self, heard: Heard, verdict: Verdict, proposed: list[str],
                 best_command: Callable[[np.ndarray], str]) -> Verdict | Callable[[], Verdict]:
        """What to ask Whisper about the first pass's verdict (asked on another thread, when
        judged beside the stream), or the verdict as it stands if there is nothing to ask.
        `proposed`: the spotter's phrases in the utterance, the longest first; `best_command`:
        the command phrase the verifier's grammar finds likeliest in a clip. What touches the
        verifier's decoder is done here, on the stream's thread. (It is not kept: the engine
        holds this object, and a kept reference back to the engine made a cycle that left each
        bench stream's Whisper model to the garbage collector, peak RSS 485 -> 1,160 MB.)"""
        if verdict.command is None:
            return self._rescue_question(heard, verdict, proposed, best_command)
        unconfirmed = UNCONFIRMED_OVER_COACH if heard.coach else UNCONFIRMED
        if verdict.reason != "ok" or (verdict.text == verdict.command
                                      and verdict.command in unconfirmed
                                      and verdict.over_sound_alike is None
                                      and verdict.extra_s <= AT_ONCE_EXTRA_S):
            return verdict
        return lambda: self._confirmed(heard, verdict)

    def _rescue_question(self, heard: Heard, verdict: Verdict, proposed: list[str],
                         best_command: Callable[[np.ndarray], str]
                         ) -> Verdict | Callable[[], Verdict]:
        """Ask Whisper about an utterance turned down as a near miss of a command (a sound-alike
        won, the grammar heard nothing useful, the fit was weak), not about running speech or a
        word inside a sentence: was it the command that fits it best, or something else? While
        the coach talks the barge-in commands are asked about first, at Whisper's usual bars
        (the listener drops a command the coach's own words just held). A stricter bar over the
        coach (-3, then -4) turned down "stop" said over it on the virtual devices (-3.0 to
        -5.3) and kept no more of the coach's own sentences out (bench narration, -4 to -6: the
        same one false "next")."""
        rescuable = RESCUABLE if heard.coach else RESCUABLE + RESCUABLE_IN_CARRIER
        if not verdict.reason.startswith(rescuable):
            return verdict
        audio = heard.clip
        if (speech := self.judge.speech_probability(audio)) < MIN_SPEECH_PROB:
            return replace(verdict, reason=f"{verdict.reason}; no speech (vad {speech:.2f})")
        # The command that fits best, and a few of the spotter's proposals (the longest): it
        # proposes a dozen phrases for any stretch of speech, and scoring them all made Whisper
        # the listener's bottleneck (1.5 s a call, measured live).
        candidates = list(dict.fromkeys([best_command(audio), *proposed]))
        candidates = [c for c in candidates if commands.command_for_phrase(c) is not None]
        if heard.coach:
            # Only the one-word barge-in phrases ("stop", "next", "ouch"): they are what cuts
            # into the coach. The spotter proposes "it hurts", "too much" and the rest in nearly
            # every sentence of the coach's, and asking Whisper about them all (1.1-1.7 s a call
            # on a busy 2-core machine) left the recogniser 7-10 s behind the microphone at the
            # start of a live session; over the coach those need Whisper's own clear hearing
            # anyway (STRICT_OVER_COACH). Said over the coach, they can still be accepted by
            # the verifier and confirmed.
            candidates = [c for c in candidates if " " not in c and commands.is_barge_in(
                commands.command_for_phrase(c) or "", c)]
            # ... and a command whose own word a sound-alike fitted better ("bag" for "back"):
            # its one-word phrases, which Whisper must then write down itself.
            command = commands.command_for_phrase(verdict.sounds_like or "")
            if command in STRICT_OVER_COACH:
                candidates += [p for p in commands.BY_NAME[command].phrases
                               if " " not in p and p not in candidates]
        candidates = candidates[:JUDGE_CANDIDATES]
        if not candidates:
            return verdict
        return lambda: self._second_opinion(heard, verdict, candidates, speech)

    def _second_opinion(self, heard: Heard, verdict: Verdict, candidates: list[str],
                        speech: float) -> Verdict:
        """Whisper's verdict on a rejected utterance: one of `candidates`, or still none."""
        opinion = self._ask(heard, candidates, safe=SAFE_COMMANDS, suggest=self._suggestable)
        if opinion.command is None:
            return replace(verdict, reason=f"{verdict.reason}; whisper: {opinion.detail}, "
                                           f"vad {speech:.2f}")
        return named_by_whisper(opinion, verdict)

    def _ask(self, heard: Heard, candidates: list[str], **how: Any) -> Opinion:
        """Whisper's opinion of the utterance, at the bars for it: stricter over the coach,
        and there only a command said by itself counts (no filler words). Thread-safe."""
        strict = STRICT_COMMANDS | STRICT_OVER_COACH if heard.coach else STRICT_COMMANDS
        return self.judge.judge(heard.clip, candidates, rivals_of=self._rivals,
                                 strict=strict, carriers=not heard.coach, **how)

    def _confirmed(self, heard: Heard, verdict: Verdict) -> Verdict:
        """Whisper must agree with what pocketsphinx accepted, unless it is one of UNCONFIRMED
        said by its own name ("stop", not "that's enough"): those act at once (`question`).
        In the live self-trigger test the room's music, with nobody speaking, passed the
        verifier as "too hard" now and then, and once as "slower" (at 0.999 confidence).
        Costs Whisper's time (0.4-1.5 s) on the others. Where Whisper clearly hears a different
        command, that one is taken (pocketsphinx's "keep going" for a "go back" over music),
        and so is a command that sounds like it, if Whisper clearly hears that one ("lighter"
        for a "louder": a wrong softer in live sessions)."""
        assert verdict.command is not None
        # Only speech is confirmed: Whisper writes words into music too, and confirmed a "go
        # on" that pocketsphinx had found in the music alone (the live self-trigger test, the
        # coach silent for 30 s).
        if (speech := self.judge.speech_probability(heard.clip)) < MIN_SPEECH_PROB:
            return replace(verdict, command=None,
                           reason=f"whisper did not confirm it: no speech (vad {speech:.2f})")
        # The command is confirmed, not the phrase: Whisper may find another of its phrases
        # likelier ("Out!" for an "ouch" that pocketsphinx heard as "it hurts").
        same = [p for p in commands.BY_NAME[verdict.command].phrases if p != verdict.text]
        opinion = self._ask(heard, [verdict.text, *self._mixups.get(verdict.text, ())],
                            confirming=True, suggest=same)
        if opinion.command == verdict.command:
            return replace(verdict, reason=f"ok; whisper confirmed: {opinion.detail}")
        if opinion.command is not None:  # it clearly heard another ("Go back." for "keep going")
            return named_by_whisper(opinion, verdict)
        return replace(verdict, command=None,
                       reason=f"whisper did not confirm it: {opinion.detail}")
