"""The command table: canonical commands, the phrases people say for them, parsing and grammar.

One table drives both typed/recognised text parsing and the recognisers' grammars, so they cannot
drift apart. Phrases are lower-case words; apostrophes are kept ("that's").
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str
    phrases: tuple[str, ...]
    summary: str
    pain_phrases: tuple[str, ...] = ()  # phrases that mean "it hurts": softer, at once
    # Other phrases said as a complaint ("it's way too loud"): complaint words may come around
    # them, as around the pain phrases (PAIN_FILLERS).
    complaint_phrases: tuple[str, ...] = ()
    # Phrases taken only from what is written (typed, or Whisper's transcription), kept out of
    # the closed grammars (`phrases`): in pocketsphinx's grammar "how much longer" drew an
    # "ouch that hurts" to it, and the pain was lost. A pain or complaint phrase that is not in
    # `phrases` is one of these too (`understood`).
    written_phrases: tuple[str, ...] = ()

    @property
    def understood(self) -> tuple[str, ...]:
        """Every phrase that names this command: the grammars' and the written ones."""
        return tuple(dict.fromkeys((*self.phrases, *self.written_phrases, *self.pain_phrases,
                                    *self.complaint_phrases)))


COMMANDS: tuple[Command, ...] = (
    # The written phrases: each said by the bench's 6 voices over music 10 dB, Whisper wrote most
    # of them whole 4-6 times of 6 ("More gently.", "Give me a second.", "Turn down the music",
    # "Not so fast.", "Stronger.", "Go easy.", "What's next?", "I missed that.", "All done.",
    # "Hurry up.", "Too noisy."), and none was heard: no table phrase with only fillers around.
    # Fewer for some ("Too strong." 3, "Take it slower." 2).
    Command("harder", ("harder", "firmer", "more pressure", "deeper", "press harder"),
            "more pressure, up to the safe limit for the area",
            written_phrases=("stronger",)),
    # Pain said the way people say it: Whisper wrote "That's sore." / "That's a sore." (4 of 6
    # voices), "That's painful." (4), "You are hurting me." / "You're hurting me." (4), and
    # "Careful.", "Not so deep.", "Back off." (6 of 6); none was heard, and "back off" would have
    # been "back".
    Command("softer", ("softer", "gentler", "lighter", "less pressure", "ease off", "too hard",
                       "not so hard", "ouch", "ow", "that hurts", "it hurts", "too much"),
            "less pressure; pain words do this at once",
            pain_phrases=("too hard", "not so hard", "ouch", "ow", "that hurts", "it hurts",
                          "too much", "sore", "painful", "hurting", "you're hurting me",
                          "you are hurting me"),
            complaint_phrases=("too strong", "too rough", "not so rough", "too deep", "too firm",
                               "not so deep", "a bit much"),
            written_phrases=("gently", "more gently", "be gentle", "easy", "less", "careful",
                             "back off", "ease up")),
    Command("next", ("next", "next step", "continue", "go on", "move on", "skip"),
            "go to the next step", written_phrases=("what's next", "go forward", "moving on")),
    Command("back", ("back", "go back", "previous", "last step"), "go back one step"),
    # "What did you say?", "Come again?", "Pardon?": Whisper writes them whole (over music 20
    # dB: 3, 2 and 1 voices of 3); taken from what it writes, as "how much longer" below.
    Command("repeat", ("repeat", "say again", "say that again", "say it again", "what was that"),
            "say the current step again",
            written_phrases=("what did you say", "come again", "pardon", "one more time",
                             "again", "i missed that")),
    Command("pause", ("pause", "wait", "hold on", "hang on", "one moment", "one second",
                      "just a minute"),
            "pause the timer and the voice",
            written_phrases=("give me a second", "give me a minute", "give me a moment",
                             "just a second", "one sec", "hold it",
                             # ... when heard whole: a "stop" taken before the rest is said
                             # still stops at once (a stop does not wait to hear more).
                             "stop for a second", "stop a second", "stop for a moment",
                             "stop a moment")),
    Command("resume", ("resume", "carry on", "keep going"), "carry on after a pause",
            written_phrases=("go ahead", "i'm ready", "keep it going")),
    # "stop right there" whole: Whisper wrote it so (3 of 6 voices over music) and nothing was
    # taken, "right there" being no filler. Not "stop" + any "there": "stopper" came as "Stop
    # there."
    Command("stop", ("stop", "end session", "that's enough", "finish", "stop right there"),
            "end the session",
            written_phrases=("we're done", "i'm done", "all done", "finish the session",
                             "end the session", "stop the session", "i want to stop",
                             "that's it for today")),
    # "music is too loud": not "music" as a carrier, since "louder music" is a near miss.
    Command("louder", ("louder", "music up", "volume up", "turn it up"), "music louder",
            complaint_phrases=("too quiet", "music is too quiet"),
            written_phrases=("turn up the music", "turn up the volume", "more volume")),
    Command("quieter", ("quieter", "music down", "volume down", "turn it down", "too loud"),
            "music quieter", complaint_phrases=("too loud", "music is too loud", "too noisy"),
            written_phrases=("turn down the music", "turn down the volume", "lower the music")),
    Command("slower", ("slower", "slow down"), "give each step more time",
            complaint_phrases=("too fast",),
            written_phrases=("not so fast", "slow it down", "take it slow", "take it slower")),
    Command("faster", ("faster", "speed up"), "give each step less time",
            complaint_phrases=("too slow",),
            written_phrases=("hurry up", "quicker", "speed it up")),
    # Whisper writes "How much longer?", "How much time is left?" whole (3 voices of 3).
    Command("time", ("how long", "time left"), "say the time left",
            written_phrases=("how much longer", "how much time", "how much is left",
                             "almost done")),
    Command("help", ("help", "what can i say"), "list the commands",
            written_phrases=("what are the commands",)),
)

BY_NAME: dict[str, Command] = {c.name: c for c in COMMANDS}
NAMES: tuple[str, ...] = tuple(c.name for c in COMMANDS)

# When two commands arrive together (or one utterance holds two), the safer one wins.
PRIORITY: tuple[str, ...] = ("stop", "pause", "softer", "resume", "harder")

# Heard even while the coach talks (DOMAIN: barge-in), said with their own names or a pain word,
# whatever the coach is saying. The rest are heard over the coach too, unless its own words just
# held a phrase for them (`mentions`): those could be its voice, heard back.
BARGE_IN: frozenset[str] = frozenset({"stop", "pause", "softer", "next"})


# Commands that undo each other. Live, a command that waited for a second opinion can be
# decided after one said later was acted on at once; the older of two contrary ones is then
# dropped, as the newer is the person's wish now ("harder ... ouch" must not end on harder).
_PAIRS = (("harder", "softer"), ("next", "back"), ("pause", "resume"), ("louder", "quieter"),
          ("slower", "faster"))
CONTRARY: dict[str, str] = {**dict(_PAIRS), **{b: a for a, b in _PAIRS}}


def priority(name: str) -> int:
    """Lower is more urgent; commands outside PRIORITY share the lowest urgency."""
    return PRIORITY.index(name) if name in PRIORITY else len(PRIORITY)


_PHRASE_TO_COMMAND: dict[str, str] = {p: c.name for c in COMMANDS for p in c.understood}
_SPOKEN_PHRASES: frozenset[str] = frozenset(p for c in COMMANDS for p in c.phrases)
_PAIN: frozenset[str] = frozenset(p for c in COMMANDS for p in c.pain_phrases)
_NON_WORD = re.compile(r"[^a-z' ]+")
# Whisper writes a number as digits ("1 second", "Just 1 minute."): spelled out, as said.
_DIGIT = re.compile(r"\b\d\b")
_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def normalize(text: str) -> list[str]:
    """Lower-case words, punctuation dropped, curly apostrophes straightened, a lone digit
    spelled out."""
    text = _DIGIT.sub(lambda m: " " + _DIGIT_WORDS[int(m.group())] + " ", text)
    cleaned = _NON_WORD.sub(" ", text.lower().replace("\u2019", "'"))
    return [w.strip("'") for w in cleaned.split() if w.strip("'")]


@dataclass(frozen=True)
class Parsed:
    command: str
    phrase: str
    pain: bool


def parse(text: str, written: bool = True) -> Parsed | None:
    """The command in `text`, or None. Phrases match as whole words anywhere in the text
    ("a bit softer please"); a longer phrase beats a shorter one inside it ("go back" over
    "back"), and between different commands the more urgent one wins. `written` False: only
    the phrases of the closed grammars, for what a grammar heard (whose other words, the
    sound-alikes, include "less" and "more", written phrases of ours)."""
    words = normalize(text)
    found: list[tuple[int, int, str]] = []  # (start, end, phrase)
    for phrase in (_PHRASE_TO_COMMAND if written else _SPOKEN_PHRASES):
        p = phrase.split()
        for i in range(len(words) - len(p) + 1):
            if words[i:i + len(p)] == p:
                found.append((i, i + len(p), phrase))
    # Drop phrases that lie inside a longer match ("hard" in "too hard", "back" in "go back").
    kept = [f for f in found
            if not any(g != f and g[0] <= f[0] and f[1] <= g[1] for g in found)]
    if not kept:
        return None
    best = min(kept, key=lambda f: (priority(_PHRASE_TO_COMMAND[f[2]]), f[0]))
    return Parsed(_PHRASE_TO_COMMAND[best[2]], best[2], best[2] in _PAIN)


# Words people wrap a command in ("a little softer, please", "okay, next", "repeat that"):
# politeness and hesitation, nothing that links a sentence ("and then stop" is a story, not a
# command). A phrase with only these around it is still that command; anything else around it
# ("my back is tight", "don't stop") is not a command at all.
FILLERS: frozenset[str] = frozenset({
    "please", "a", "the", "bit", "little", "okay", "ok", "um", "uh", "er", "oh", "yeah", "just",
    "now", "that", "can", "could", "you", "go", "let's"})
# Around a pain word more may be said and it is still pain ("that's way too hard", "ouch, that
# hurts", "it is too much"): a complaint, not a story, and a false "softer" costs little. Not for
# the other commands: "it's harder" describes; "that's too hard" asks. The cries people put
# before it, and "out": Whisper writes an "ouch" so ("Out!", "out that hurts.").
PAIN_FILLERS: frozenset[str] = FILLERS | {
    "that's", "it's", "it", "this", "is", "way", "really", "so", "ah", "ooh", "hey", "ouch", "ow",
    "ugh", "argh", "oof", "out"}
# Words that complete one command's phrases the way people say them: "wait a second", "hold on
# a minute", "next one", "go back one step", "turn the music up". Over music at 10 dB Whisper
# wrote these whole (fit -0.5 to -1.7) and none was heard: the words around were no fillers.
# The same for "go to the next step", "sorry, what was that?" (3 voices of 3 over music 20 dB)
# and "pause for a second" (1 of 3), and over music 10 dB "Help me." (6 voices of 6), "Press a
# bit harder." (6), "Next part." (4), "How long to go?" (4), "skip this" (1: "Keep this one.").
# Said with these, the command means what it means alone. None for "stop" (it ends the
# session), nor a command said twice: for near-miss words over music Whisper wrote "Stop it."
# and "Stop there." ("stopper"), and "Back back" ("backpack").
CARRIERS: dict[str, frozenset[str]] = {
    "pause": frozenset({"second", "sec", "minute", "moment", "one", "for"}),
    "harder": frozenset({"press", "push"}),
    "next": frozenset({"one", "step", "to", "this", "it", "part", "do"}),
    "repeat": frozenset({"sorry", "me"}),
    "back": frozenset({"one", "step"}),
    "louder": frozenset({"turn", "more"}),
    "quieter": frozenset({"turn", "more"}),
    "time": frozenset({"is", "left", "still", "do", "we", "have", "there", "are", "to"}),
    "help": frozenset({"me"}),
}
# The cry before "that hurts" is what Whisper spells worst: an "ouch that hurts" over music came
# out "Alch, that hurts." and "touch that touch", an "ow that hurts" "Oh", "Of", "Film" or "Go,
# that hurts." Before these the first word may be any word but another command ("Stop, that
# hurts." is not a softer only): it is pain whatever was cried.
CRIED_BEFORE: frozenset[str] = frozenset({"that hurts", "it hurts"})
_COMPLAINTS: frozenset[str] = _PAIN | {p for c in COMMANDS for p in c.complaint_phrases}
# What may be said around each phrase, longest phrases first (carried_phrase).
_AROUND: dict[str, frozenset[str]] = {
    p: (PAIN_FILLERS if p in _COMPLAINTS else FILLERS) | CARRIERS.get(c, frozenset())
    for p, c in sorted(_PHRASE_TO_COMMAND.items(), key=lambda pc: -len(pc[0].split()))}


def carried_phrase(text: str) -> str | None:
    """The command phrase `text` holds with nothing but FILLERS around it ("A little harder."
    holds "harder"), PAIN_FILLERS around a complaint, or its command's CARRIERS; the longest
    if several; None if there is none, or more than that. Before a CRIED_BEFORE phrase the
    first word may be any word that names no other command."""
    words = normalize(text)
    for phrase, around in _AROUND.items():
        n = len(phrase.split())
        for i in range(len(words) - n + 1):
            cried = phrase in CRIED_BEFORE and _PHRASE_TO_COMMAND.get(words[0]) in (None, "softer")
            before = words[1:i] if cried else words[:i]
            if (" ".join(words[i:i + n]) == phrase
                    and all(w in around for w in before + words[i + n:])):
                return phrase
    return None


def context_around(text: str, phrase: str) -> tuple[list[str], list[str]] | None:
    """The words of `text` around the one short stretch of it that could be `phrase`
    misheard, when they are words that may be said around `phrase` (carried_phrase): for
    "pause", "Post, please!" gives ([], ["please"]) and "Pass for a moment." ([], ["for", "a",
    "moment"]). None when `text` already holds `phrase`, or is nothing but such words, or has
    no such stretch (two of them, or one longer than the phrase and a word)."""
    words, around = normalize(text), _AROUND.get(phrase)
    if around is None or holds(text, phrase):
        return None
    other = [i for i, w in enumerate(words) if w not in around]
    if not other or len(other) == len(words):
        return None
    first, last = other[0], other[-1]
    if last - first + 1 != len(other) or len(other) > len(phrase.split()) + 1:
        return None
    return words[:first], words[last + 1:]


def phrases() -> list[str]:
    """Every phrase of every command, in table order (for recogniser grammars): not the
    written_phrases."""
    return [p for c in COMMANDS for p in c.phrases]


def command_for_phrase(phrase: str) -> str | None:
    return _PHRASE_TO_COMMAND.get(" ".join(normalize(phrase)))


def is_barge_in(command: str, phrase: str) -> bool:
    """May `phrase`, heard as `command`, interrupt the coach mid-sentence?"""
    said = " ".join(normalize(phrase))
    return command in BARGE_IN and (said in BARGE_IN or said in _PAIN)


def mentions(text: str, command: str) -> bool:
    """Does `text` hold any phrase of `command`, as whole words ("say next" holds next)? The
    written phrases too: the coach's "gently" may come back, written by Whisper."""
    found = BY_NAME.get(command)
    return any(holds(text, p) for p in (found.understood if found else ()))


def leads_with_word_of(phrase: str, text: str) -> bool:
    """Is `phrase` two words or more whose first word past the FILLERS is a word of `text`?
    ("keep going" and "Keep the room warm.") A recogniser bound to command phrases that hears
    one word of the coach's echo completes it into a phrase of ours."""
    words = normalize(phrase)
    lead = next((w for w in words if w not in FILLERS), None)
    return len(words) > 1 and lead is not None and lead in normalize(text)


def holds(text: str, phrase: str) -> bool:
    """Does `text` hold `phrase` as whole words ("Stop if they tense." holds "stop")?"""
    said = " ".join(normalize(phrase))
    return bool(said) and f" {said} " in f" {' '.join(normalize(text))} "


def is_pain(phrase: str) -> bool:
    return " ".join(normalize(phrase)) in _PAIN


def vocabulary() -> set[str]:
    """Every word a recogniser must know to hear every phrase."""
    return {w for p in phrases() for w in p.split()}


def help_text() -> str:
    """What the coach says for "help": the main words only, short enough to listen to."""
    return ("Say harder or softer, next or back, repeat, pause or resume, louder or quieter, "
            "slower or faster, how long, or stop.")
