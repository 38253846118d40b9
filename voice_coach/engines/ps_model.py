"""The pocketsphinx model inside the wheel: paths, decoders, and the search inputs built from the
command table (keyphrase list, verification grammar), checked against the dictionary."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from .. import commands

# Words that sound like parts of commands. Those a phone or two from a command phrase compete
# with it in the verification grammar, so "hard" or "text" wins instead of becoming a command.
# Chosen by sound (shared onsets/rhymes with the command words), not from any test set.
DECOYS: tuple[str, ...] = (
    "hard", "heart", "hardy", "farther", "father", "harbor", "card",
    "soft", "sofa", "often", "after", "coffee", "shorter",
    "neck", "text", "nest", "necks", "desk", "mix",
    "stock", "top", "shop", "stuff", "stomp",
    "pack", "bag", "black", "bat",
    "paws", "pose", "cause", "pass", "pours",
    "weight", "way", "late", "wet",
    "loud", "cloud", "powder", "louis",
    "quite", "quiet", "diet",
    "fast", "master", "pastor",
    "slow", "lower", "sore",
    "deep", "keeper", "peeper", "depart",
    "farmer", "former", "warmer", "fur",
    "gentle", "center", "lighten", "letter", "later", "light",
    "peat", "complete", "repair",
    "couch", "out", "oh", "how", "now", "no", "yes", "okay",
    "ship", "script", "held", "health", "fish", "finnish",
    "press", "pressed", "fresh", "less", "mess", "more", "floor",
    "go", "going", "home", "gone",
    "the", "a", "and", "i", "it", "is", "you", "that", "this", "so", "well", "mm", "uh",
    "feels", "nice", "good", "really", "back's",
)


def model_dir() -> Path:
    import pocketsphinx

    return Path(pocketsphinx.get_model_path()) / "en-us"


def new_decoder(folder: Path, **config: Any) -> Any:
    """A decoder on the bundled model with logging off (it prints "Final result does not match
    the grammar" and friends to stderr otherwise), knowing only the words we listen for.

    Why not the whole dictionary: its 134,000 words cost each decoder ~27 MB of memory, and
    every search here is built from the command words and the decoys (the phone loop needs
    no words). `folder`: scratch space for the smaller dictionary."""
    from pocketsphinx import Decoder

    m = model_dir()
    words = folder / "words.dict"
    if not words.exists():
        words.write_text(_entries(m / "cmudict-en-us.dict", {*commands.vocabulary(), *DECOYS}))
    # lm=None: without it every decoder also loads the 86 MB general language model, which
    # keyword spotting, grammars and the phone loop never use.
    return Decoder(hmm=str(m / "en-us"), dict=str(words), loglevel="FATAL", lm=None, **config)


def _entries(dictionary: Path, words: set[str]) -> str:
    """The lines of a pocketsphinx dictionary for these words, every pronunciation of each
    ("word", "word(2)", ...)."""
    def word_of(line: str) -> str:
        head = line.split(maxsplit=1)
        return head[0].split("(")[0] if head else ""

    with open(dictionary, encoding="utf-8") as lines:
        return "".join(line for line in lines if word_of(line) in words)


def pronunciations(decoder: Any, word: str) -> list[str]:
    """The dictionary entries for a word: 'softer', 'softer(2)', ..."""
    out = [word] if decoder.lookup_word(word) else []
    out += [f"{word}({i})" for i in range(2, 6) if decoder.lookup_word(f"{word}({i})")]
    return out


def check_vocabulary(decoder: Any) -> None:
    """Fail at start, not silently in the field, if a command word is not in the dictionary."""
    missing = sorted(w for w in commands.vocabulary() if not decoder.lookup_word(w))
    if missing:
        raise RuntimeError(f"command words missing from the pocketsphinx dictionary: {missing}")


def add_merger_variants(decoder: Any) -> None:
    """Most North American speakers say "pause" and "long" with the vowel of "father" (the
    cot-caught merger); the dictionary often lists only AO. Add the AA form as an alternate."""
    for word in sorted(commands.vocabulary()):
        prons = [decoder.lookup_word(p) for p in pronunciations(decoder, word)]
        for pron in list(prons):
            merged = " ".join("AA" if ph == "AO" else ph for ph in pron.split())
            if merged not in prons:
                decoder.add_word(f"{word}({len(prons) + 1})", merged, False)
                prons.append(merged)


def n_phones(decoder: Any, phrase: str) -> int:
    return sum(len(decoder.lookup_word(w).split()) for w in phrase.split())


def keyphrase_file(decoder: Any, thresholds: dict[str, float], folder: Path) -> Path:
    """Every phrase of the command table, with every pronunciation of one-word phrases spelled out
    (kws only uses the first entry otherwise), each with its own threshold."""
    lines = []
    for phrase in commands.phrases():
        if phrase not in thresholds:
            continue
        variants = pronunciations(decoder, phrase) if " " not in phrase else [phrase]
        for v in variants:
            lines.append(f"{v} /{thresholds[phrase]:.0e}/")
    path = folder / "commands.kws"
    path.write_text("\n".join(lines) + "\n")
    return path


def grammar(words: list[str], name: str) -> str:
    """JSGF for exactly one of `words` (a loop over ~150 words makes pocketsphinx 50x slower)."""
    return f"#JSGF V1.0;\ngrammar {name};\npublic <s> = {' | '.join(words)};\n"


def decoys_for_commands(decoder: Any, phrases: list[str]) -> list[str]:
    """Every decoy that sounds like one of these command phrases (see similar_decoys)."""
    return sorted({d for p in phrases for d in similar_decoys(decoder, p)})


def similar_decoys(decoder: Any, phrase: str) -> list[str]:
    """The decoys that sound like `phrase`: a phone or two apart ("text" for "next", "loud" for
    "louder"), but never the same sounds ("paws" is "pause": no model can tell them apart, and
    such a decoy would veto the real command half the time). Generic short words are left out
    on purpose: over music they fit any sound a little, which says nothing about the command."""
    variants = _pronounced(decoder, phrase)
    limit = max(1, len(variants[0]) // 3)
    out = []
    for word in DECOYS:
        if not decoder.lookup_word(word):
            continue
        if 1 <= _phone_distance(decoder, variants, word) <= limit:
            out.append(word)
    return out


def similar_commands(decoder: Any, phrase: str) -> list[str]:
    """The phrases of other commands that sound like `phrase`, up to half its phones apart
    ("louder" for "lighter", "skip" for "stop", "volume down" for "volume up"): the mix-ups a
    recogniser can make between commands, which a second opinion must weigh."""
    own = commands.command_for_phrase(phrase)
    variants = _pronounced(decoder, phrase)
    limit = max(1, len(variants[0]) // 2)
    return [other for other in commands.phrases()
            if commands.command_for_phrase(other) != own
            and _phone_distance(decoder, variants, other) <= limit]


def command_mixups(decoder: Any, phrases: list[str]) -> dict[str, list[str]]:
    """similar_commands of each phrase, both ways: "half its phones" is more of a longer
    phrase, so "quieter" finds "lighter" while "lighter" would not find "quieter", yet
    pocketsphinx took a "quieter" for "lighter" live."""
    table = {p: similar_commands(decoder, p) for p in phrases}
    for phrase, others in list(table.items()):
        for other in others:
            if phrase not in table.setdefault(other, []):
                table[other].append(phrase)
    return table


def _phone_distance(decoder: Any, variants: list[list[str]], other: str) -> int:
    """The fewest phone edits from any of `variants` (phone strings) to any way `other` is
    pronounced."""
    return min(_edit_distance(a, b) for a in variants for b in _pronounced(decoder, other))


def _pronounced(decoder: Any, phrase: str) -> list[list[str]]:
    """The phone strings of a phrase: every dictionary variant of a one-word phrase."""
    if " " in phrase:
        return [sum((decoder.lookup_word(w).split() for w in phrase.split()), [])]
    return [decoder.lookup_word(p).split() for p in pronunciations(decoder, phrase)]


def _edit_distance(a: list[str], b: list[str]) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="voice-coach-ps-"))


def remove_dir(path: Path) -> None:
    for f in path.iterdir():
        f.unlink()
    os.rmdir(path)
