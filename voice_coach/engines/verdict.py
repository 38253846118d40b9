"""What the pocketsphinx engine decides about one utterance, and the words both of its stages
(its own verifier and Whisper's second opinion) use to say why."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import utterance
from .whisper_decide import Opinion

# Commands heard even when a sound-alike fits better ("stock" for a "stop" whose burst the
# music masked), if their likelihood ratio clears a higher bar: for these a miss costs more
# than a false accept. "harder" is never among them. While the coach talks the bar is higher
# still (COACH_MARGIN on top); without this, "pause" said over the coach was heard 2 times in 6
# ("pose", "pours" fit better), with it 4.
SAFE_COMMANDS = frozenset({"softer", "pause", "stop"})
# The verifier's reason for a word that sounds like a command and fits better than it.
SOUND_ALIKE = "a word that sounds like"
# The reason of a verdict whose command Whisper named (followed by what it weighed); a command
# it confirmed keeps "ok", with what it weighed after it: traces show why each was heard.
WHISPER_NAMED = "named by whisper"


@dataclass(frozen=True)
class Heard:
    """An utterance being judged, with what the second opinion needs of it."""

    utt: utterance.Utterance
    coach: bool  # the coach's voice played during it
    clip: np.ndarray  # what Whisper hears (a little audio around it), a copy


@dataclass(frozen=True)
class Verdict:
    command: str | None
    text: str
    llr: float
    frames: int
    reason: str  # "ok" or why it was rejected
    iso_db: float = 0.0
    sounds_like: str | None = None  # the command phrase a sound-alike fitted better than
    # An accepted command heard out over a word that sounds like it and fitted better ("sofa"
    # for "softer"): the sound-alike.
    over_sound_alike: str | None = None
    # Seconds of speech in the utterance beyond the command's own words ("boss please" heard as
    # "pause" has the "please" left over); a command said on its own has none.
    extra_s: float = 0.0


def named_by_whisper(opinion: Opinion, verdict: Verdict) -> Verdict:
    """The verdict for a command Whisper named in place of pocketsphinx's `verdict`. The phrase
    it matched, not its free transcription ("Let's tap." for a "stop"): the listener lets a
    command interrupt the coach by the words it was heard as. Its reason says what it weighed;
    its llr holds Whisper's log-probability (the engine's confidence reads it so), and it ends
    with the first pass's own reason: a command that waited for Whisper live (a chime a second
    late) is traced to why pocketsphinx did not take it at once."""
    first_pass = f"{verdict.text!r}, {verdict.reason}"
    return Verdict(opinion.command, opinion.phrase, opinion.logprob, verdict.frames,
                   f"{WHISPER_NAMED}: {opinion.detail}; first pass: {first_pass}", verdict.iso_db)
