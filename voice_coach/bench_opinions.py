"""Whisper's decisions on the listening bench, recorded with what was said at each, and replayed.

A run of the whole bench takes most of an hour; a change to Whisper's bars changes only how
its scores are weighed. `voice-coach bench listen --opinions FILE` records every decision with
the scores it was made on; `voice-coach bench replay FILE` decides them all again by the bars
as they are now and tells which decisions change, and on what was said there.
"""

from __future__ import annotations

import json
import weakref
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .engines.base import Engine
from .engines.whisper_decide import Hearing, Judged
from .errors import UserError

# Whisper is asked when the utterance has ended: up to this long after its phrase ended.
ASKED_AFTER_S = 1.6


class OpinionLog:
    """Every Whisper decision on the bench's streams, by stream and stream time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._rows: list[dict[str, Any]] = []
        self._streams = 0

    def add(self, name: str, spoken: list[tuple[float, float, str]],
            labels: list[tuple[float, float, str, str]], judged: list[dict[str, Any]]) -> None:
        """A stream's decisions (rows made by `recorded`), with what the stream held: every
        clip's words and the commands among them."""
        self._streams += 1
        self._rows += [{"stream": self._streams, **row} for row in judged]
        self._rows.append({"stream": self._streams, "name": name, "spoken": spoken,
                           "labels": [lab[:3] for lab in labels]})

    def save(self) -> None:
        try:
            self.path.write_text("".join(json.dumps(r) + "\n" for r in self._rows))
        except OSError as err:
            raise UserError(f"cannot write the opinions to {self.path}: {err.strerror}") from err


def recorded(engine: Engine) -> list[dict[str, Any]]:
    """The list that the engine's Whisper decisions will be added to, as rows for
    OpinionLog.add, each with the stream time it was made at (empty if it has no Whisper)."""
    rows: list[dict[str, Any]] = []
    judge = getattr(engine, "judge", None)
    # A weak reference: the engine holds the judge, which holds this; a strong one made a
    # cycle that kept each stream's Whisper model alive (peak RSS 485 -> 1,160 MB).
    engine_ref = weakref.ref(engine)
    if judge is not None:
        def on_judged(judged: Judged) -> None:
            rows.append({"t": round(getattr(engine_ref(), "stream_s", 0.0), 2),
                         **_as_row(judged)})
        judge.on_judged = on_judged
    return rows


def _as_row(judged: Judged) -> dict[str, Any]:
    return {"hearing": asdict(judged.hearing), "confirmed": judged.confirmed,
            "safe": sorted(judged.safe), "strict": sorted(judged.strict),
            "command": judged.command}


def _as_judged(row: dict[str, Any]) -> Judged:
    h = row["hearing"]
    hearing = Hearing(h["scores"], h["rival_best"], h["free"], h["free_fit"], h["written"],
                      tuple(h["added"]), tuple(h.get("in_context", ())))
    return Judged(hearing, row["confirmed"], frozenset(row["safe"]), frozenset(row["strict"]),
                  row["command"])


def replay(path: Path) -> Iterator[str]:
    """Lines saying which recorded decisions the bars as they are now change, and a count."""
    streams, decisions = _load(path)
    counts: Counter[str] = Counter(decisions=len(decisions))
    for stream_number, t, judged in decisions:
        now = judged.redecided()
        if now == judged.command:
            continue
        stream = streams.get(stream_number, {"name": "?", "spoken": [], "labels": []})
        said = _at(stream["spoken"], t)
        counts[_effect(judged.command, now, _at(stream["labels"], t))] += 1
        yield (f"{stream['name']} {t:7.2f} s  said {said!r}: {judged.command} -> {now}"
               f"  (whisper wrote {judged.hearing.free!r})")
    yield ", ".join(f"{k} {v}" for k, v in counts.items())


def _load(path: Path) -> tuple[dict[int, dict[str, Any]], list[tuple[int, float, Judged]]]:
    try:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        streams = {r["stream"]: {"name": str(r["name"]), "spoken": list(r["spoken"]),
                                 "labels": list(r["labels"])} for r in rows if "spoken" in r}
        return streams, [(r["stream"], float(r["t"]), _as_judged(r))
                         for r in rows if "hearing" in r]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"cannot read recorded opinions from {path} ({err}); record them with "
                        "voice-coach bench listen --opinions FILE") from err


def _at(spans: list[list[Any]], t: float) -> str | None:
    """What the span that Whisper was asked about at `t` holds, if any."""
    return next((str(s[2]) for s in spans if s[0] - 0.2 <= t <= s[1] + ASKED_AFTER_S), None)


def _effect(before: str | None, now: str | None, meant: str | None) -> str:
    """How a changed decision changes the bench: a command heard or lost, a false one."""
    if meant is None:
        return "false accept added" if before is None else (
            "false accept undone" if now is None else "false accept changed")
    if before == meant:
        return "lost"
    if now == meant:
        return "gained"
    return "wrong command added" if before is None else (
        "wrong command undone" if now is None else "wrong command changed")
