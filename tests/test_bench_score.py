"""How `bench listen` counts what the engine heard against what was said."""

from voice_coach.bench_listen import Run, Score, score
from voice_coach.engines.base import Detection


def _heard(command: str, at_s: float) -> Detection:
    return Detection(command, command, at_s, 1.0, "test")


def test_hits_wrong_and_extra_commands_are_counted_by_voice_and_by_phrase() -> None:
    labels = [(1.0, 1.5, "softer", "a"), (4.0, 4.6, "softer", "b"), (8.0, 8.4, "next", "a"),
              (12.0, 12.5, "stop", "b")]
    phrases = ["ouch", "softer", "next", "stop"]
    run = Run([_heard("softer", 1.7), _heard("next", 8.5), _heard("pause", 12.6),
               _heard("back", 20.0)], 25.0, 1.0)
    sc = Score()
    score(run, labels, sc, phrases)
    assert (sc.hits, sc.total, sc.wrong, sc.extra) == (2, 4, 1, 1)
    assert sc.by_voice == {"a": [2, 2], "b": [0, 2]}
    assert sc.by_phrase == {"ouch": [1, 1], "softer": [0, 1], "next": [1, 1], "stop": [0, 1]}
