"""The pocketsphinx model inside the wheel: paths, decoders, and the search inputs built from the
command table (keyphrase list, verification grammar), checked against the dictionary."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from .. import commands

# Words that sound like parts of commands. They compete with the commands in the verification
# grammar, so "hard", "text" or "paws" lose to their decoy instead of becoming a command.
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


def new_decoder(**config: Any) -> Any:
    """A decoder on the bundled model with logging off (it prints "Final result does not match
    the grammar" and friends to stderr otherwise)."""
    from pocketsphinx import Decoder

    m = model_dir()
    # lm=None: without it every decoder also loads the 86 MB general language model, which
    # keyword spotting, grammars and the phone loop never use.
    return Decoder(hmm=str(m / "en-us"), dict=str(m / "cmudict-en-us.dict"),
                   loglevel="FATAL", lm=None, **config)


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


def command_grammar() -> str:
    return grammar(commands.phrases(), "cmds")


def decoy_grammar(decoder: Any) -> str:
    """Decoy words only: their best score says how well "something else" explains the sound."""
    return grammar([d for d in DECOYS if decoder.lookup_word(d)], "decoys")


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="voice-coach-ps-"))


def remove_dir(path: Path) -> None:
    for f in path.iterdir():
        f.unlink()
    os.rmdir(path)
