"""Which of the verifier's verdicts act at once and which wait for Whisper (no model needed:
the question is decided before Whisper is asked anything)."""

from __future__ import annotations

from typing import Any

import numpy as np

from voice_coach.engines.second_opinion import SecondOpinion
from voice_coach.engines.utterance import Utterance
from voice_coach.engines.verdict import WHISPER_NAMED, Heard, Verdict
from voice_coach.engines.whisper_decide import Opinion


class _NoWhisper:
    """Stands for the judge: asking it anything here would be a mistake."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"Whisper asked ({name}) before its question was put")


def _second(judge: Any) -> SecondOpinion:
    return SecondOpinion(judge, rivals={}, mixups={}, suggestable=[])


def _heard(coach: bool = False) -> Heard:
    return Heard(Utterance(16_000, 24_000, True, 20.0), coach, np.zeros(12_800, np.int16))


def _question(verdict: Verdict, coach: bool = False) -> Verdict | object:
    return _second(_NoWhisper()).question(_heard(coach), verdict, [verdict.text],
                                          lambda audio: verdict.text)


def _ok(command: str, llr: float, over: str | None = None, extra_s: float = 0.0) -> Verdict:
    return Verdict(command, command, llr, 60, "ok", 10.0, over_sound_alike=over, extra_s=extra_s)


def test_stop_pause_softer_or_next_by_name_act_at_once() -> None:
    for command in ("stop", "pause", "softer", "next"):
        verdict = _ok(command, -20.0)  # a weak fit, yet by name (a real "pause" live: -17)
        assert _question(verdict) is verdict


def test_a_command_word_with_more_said_around_it_waits_for_whisper() -> None:
    # "boss please" passed the verifier as "pause" with 0.40 s of speech left over
    for command in ("stop", "pause", "softer", "next"):
        assert callable(_question(_ok(command, -20.0, extra_s=0.40)))
    verdict = _ok("pause", -20.0, extra_s=0.10)  # the tail of a word said alone
    assert _question(verdict) is verdict


def test_softer_heard_out_over_a_sound_alike_waits_for_whisper() -> None:
    assert callable(_question(_ok("softer", 0.0, over="soft")))


def test_other_commands_always_wait_for_whisper() -> None:
    assert callable(_question(_ok("slower", 5.0)))
    assert callable(_question(_ok("stop", 5.0), coach=True))  # over the coach only softer
    verdict = _ok("softer", 5.0)
    assert _question(verdict, coach=True) is verdict


class _NamesStop:
    """Stands for a Whisper that hears speech and names "stop" in it."""

    def speech_probability(self, audio: np.ndarray) -> float:
        return 0.95

    def judge(self, audio: np.ndarray, candidates: list[str], **how: Any) -> Opinion:
        return Opinion("stop", "Stop.", -2.0, "'stop' -2.0, free 'Stop.' -2.0", "stop")


def test_a_command_whisper_names_keeps_why_the_first_pass_did_not_take_it() -> None:
    # Live, a command that waited for Whisper chimes a second late: its trace must say why.
    turned_down = Verdict(None, "stock", 0.0, 0, "a word that sounds like 'stop'",
                          sounds_like="stop")
    ask = _second(_NamesStop()).question(_heard(), turned_down, ["stop"], lambda audio: "stop")
    assert callable(ask)
    verdict = ask()
    assert verdict.command == "stop"
    assert verdict.reason.startswith(WHISPER_NAMED)
    assert verdict.reason.endswith("first pass: 'stock', a word that sounds like 'stop'")
