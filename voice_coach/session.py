"""The session core: a pure state machine, `handle(state, event) -> (state, effects)`.

It knows steps, phases, pressure, caps, check-ins and timing, and nothing of audio, clocks or
files: time comes in as Tick events and everything it wants done goes out as effects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum

from . import phrasing
from .commands import help_text, parse
from .events import (
    CancelSpeech,
    Chime,
    DeviceProblem,
    Duck,
    Effect,
    Event,
    Finish,
    Heard,
    Log,
    MusicGain,
    PressureSet,
    Say,
    SpeechDone,
    Start,
    StepStarted,
    Tick,
)
from .pressure import ZONES, Level, cap_for
from .script import Script, Step

PREP_REMINDER_EVERY_S = 120.0
CHECKIN_AT_S = 40.0  # into a step that starts a new zone (or at 40 % of a shorter step)
PACE_STEP = 1.25
PACE_RANGE = (0.5, 2.0)
MUSIC_RANGE_DB = (-24.0, 6.0)
SPEAKER_GIVE_UP_S = 600.0  # wait this long for the sound output to come back


class Phase(Enum):
    PREPARING = "preparing"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"


@dataclass(frozen=True)
class Options:
    """The few settings the core needs; built from config.Settings by the shell."""

    duck_db: float = -14.0
    duck_ramp_ms: int = 250
    music_step_db: float = 3.0


@dataclass(frozen=True)
class SessionState:
    script: Script
    options: Options = Options()
    phase: Phase = Phase.PREPARING
    started: bool = False
    index: int = 0
    clock_s: float = 0.0  # session seconds since Start, paused time included
    step_elapsed_s: float = 0.0  # seconds the current step has run (not while paused/preparing)
    pace: float = 1.0  # multiplies step durations: >1 slower
    level: Level = Level.LIGHT
    general: Level = Level.LIGHT  # the receiver's preference before any zone-specific one
    preferred: Mapping[str, Level] = field(default_factory=dict)  # zone -> preferred level
    music_db: float = 0.0
    next_id: int = 1
    speaking: frozenset[int] = frozenset()  # utterances said and not yet done
    cues_said: int = 0
    checkin_due_s: float | None = None
    zones_seen: frozenset[str] = frozenset()
    idle_s: float = 0.0  # time since the last prep reminder
    paused_from: Phase = Phase.RUNNING
    speaker_lost: bool = False
    speaker_lost_s: float = 0.0  # how long the sound output has been gone
    finish_reason: str = ""

    @property
    def step(self) -> Step:
        return self.script.steps[self.index]

    @property
    def cap(self) -> Level:
        return cap_for(self.step.zone, self.step.max_pressure)

    @property
    def step_duration_s(self) -> float:
        return self.step.duration_s * self.pace

    @property
    def step_left_s(self) -> float:
        return max(0.0, self.step_duration_s - self.step_elapsed_s)

    @property
    def session_left_s(self) -> float:
        later = sum(s.duration_s for s in self.script.steps[self.index + 1:]) * self.pace
        return self.step_left_s + later


def new_session(script: Script, start_pressure: Level | None = None,
                preferred: Mapping[str, Level] | None = None,
                options: Options | None = None) -> SessionState:
    """A session before Start. `preferred` is remembered per-zone pressure (e.g. from a
    profile); it is clamped to the caps whenever it is used, so a bad profile cannot hurt."""
    general = start_pressure if start_pressure is not None else Level.LIGHT
    return SessionState(script, options or Options(), general=general, level=general,
                        preferred=dict(preferred or {}))


class _Out:
    """Collects effects and hands out utterance ids while one event is handled."""

    def __init__(self, state: SessionState):
        self.state = state
        self.effects: list[Effect] = []

    def add(self, *effects: Effect) -> None:
        self.effects.extend(effects)

    def say(self, text: str, kind: str) -> None:
        s = self.state
        self.state = replace(s, next_id=s.next_id + 1, speaking=s.speaking | {s.next_id})
        self.effects.append(Say(text, s.next_id, kind))

    def cancel(self) -> None:
        if self.state.speaking:
            self.state = replace(self.state, speaking=frozenset())
            self.effects.append(CancelSpeech())


def handle(state: SessionState, event: Event) -> tuple[SessionState, list[Effect]]:
    """The one entry point: apply an event, return the new state and the effects to carry out."""
    if state.phase is Phase.FINISHED and not isinstance(event, SpeechDone):
        return state, []  # only the closing words playing out still matter
    out = _Out(state)
    was_speaking = bool(state.speaking)
    if isinstance(event, Start):
        if not state.started:
            _start(out)
    elif not state.started:
        return state, []
    elif isinstance(event, Tick):
        _tick(out, event.elapsed_s)
    elif isinstance(event, Heard):
        _heard(out, event)
    elif isinstance(event, SpeechDone):
        out.state = replace(out.state, speaking=out.state.speaking - {event.utterance_id})
    elif isinstance(event, DeviceProblem):
        _device(out, event)
    # The music dips while the coach speaks and comes back when it is quiet again.
    now_speaking = bool(out.state.speaking)
    if now_speaking != was_speaking:
        o = out.state.options
        out.add(Duck(o.duck_db if now_speaking else 0.0, o.duck_ramp_ms))
    return out.state, out.effects


# ---------------------------------------------------------------- steps


def _start(out: _Out) -> None:
    out.state = replace(out.state, started=True)
    out.say(phrasing.GREETING, "info")
    _enter_step(out, 0, announce_pressure=False)


def _enter_step(out: _Out, index: int, announce_pressure: bool = True) -> None:
    s = out.state
    step = s.script.steps[index]
    zone_changed = step.zone != s.step.zone or not s.started
    phase = Phase.PREPARING if step.wait_for_next else Phase.RUNNING
    new_zone = step.zone not in s.zones_seen and step.zone != "prep"
    checkin_at = min(CHECKIN_AT_S, 0.4 * step.duration_s)
    out.state = replace(s, index=index, phase=phase, step_elapsed_s=0.0, cues_said=0,
                        idle_s=0.0, zones_seen=s.zones_seen | {step.zone},
                        checkin_due_s=checkin_at if (new_zone or step.checkin) else None)
    out.add(StepStarted(index, step.id))
    text = step.text_for(out.state.level)
    if step.zone != "prep":
        text = _settle_pressure(out, step, announce_pressure, zone_changed)
    out.say(text, "step")


def _settle_pressure(out: _Out, step: Step, announce: bool, zone_changed: bool) -> str:
    """Set the level for a new step: the receiver's preference for the zone, within the cap.
    Returns the step's spoken text with a note when the cap holds the level down."""
    s = out.state
    wanted = s.preferred.get(step.zone, s.general)
    level = min(wanted, s.cap)
    capped = level < wanted
    changed = level != s.level
    out.state = replace(s, level=level)
    if changed or capped or not announce:
        out.add(PressureSet(level.label, level.scale, step.zone, "cap" if capped else "zone"))
    text = step.text_for(level)
    if not capped or not (changed or zone_changed):
        return text
    note = (phrasing.step_cap(level) if level < ZONES[step.zone].cap
            else phrasing.entering_cap(step.zone, level))
    return f"{note} {text}"


def _advance(out: _Out, delta: int) -> None:
    s = out.state
    target = s.index + delta
    if target >= len(s.script.steps):
        _finish(out, "completed", phrasing.COMPLETED)
        return
    out.cancel()
    out.add(Chime("step"))
    if target < 0:
        out.say(phrasing.FIRST_STEP, "ack")
        target = 0
    _enter_step(out, target)


def _finish(out: _Out, reason: str, words: str) -> None:
    out.cancel()
    out.add(Chime("end"))
    out.say(words, "info")
    out.state = replace(out.state, phase=Phase.FINISHED, finish_reason=reason)
    out.add(Finish(reason))


def _tick(out: _Out, elapsed_s: float) -> None:
    s = out.state
    s = out.state = replace(s, clock_s=s.clock_s + elapsed_s)
    if s.speaker_lost:
        lost = s.speaker_lost_s + elapsed_s
        out.state = replace(s, speaker_lost_s=lost)
        if lost >= SPEAKER_GIVE_UP_S:  # end cleanly; the summary is saved on the way out
            _finish(out, "speaker lost", phrasing.STOPPED)
        return
    if s.phase is Phase.PREPARING:
        idle = s.idle_s + elapsed_s
        if idle >= PREP_REMINDER_EVERY_S:
            idle = 0.0
            if not s.speaking:
                out.say(phrasing.PREP_REMINDER, "cue")
        out.state = replace(out.state, idle_s=idle)
        return
    _run_step_time(out, elapsed_s)


def _run_step_time(out: _Out, elapsed_s: float) -> None:
    """Advance the running step's timer: check-in, cues, and on to the next step when its time
    is up, carrying the time left over into it (coarse ticks must not make steps longer)."""
    s = out.state
    if s.phase is not Phase.RUNNING:
        return
    elapsed = s.step_elapsed_s + elapsed_s
    out.state = replace(s, step_elapsed_s=elapsed)
    if s.checkin_due_s is not None and elapsed >= s.checkin_due_s * s.pace:
        out.state = replace(out.state, checkin_due_s=None)
        out.say(s.step.checkin or phrasing.default_checkin(s.step.zone), "checkin")
    cues = s.step.cues
    while out.state.cues_said < len(cues) and elapsed >= cues[out.state.cues_said].at_s * s.pace:
        out.say(cues[out.state.cues_said].say, "cue")
        out.state = replace(out.state, cues_said=out.state.cues_said + 1)
    if elapsed >= s.step_duration_s:
        _advance(out, +1)
        _run_step_time(out, elapsed - s.step_duration_s)


# ---------------------------------------------------------------- commands


def _heard(out: _Out, heard: Heard) -> None:
    name = heard.command
    if name in ("harder", "softer"):
        _pressure(out, name, pain=name == "softer" and _is_pain(heard.text))
        return
    handler = _COMMANDS.get(name)
    if handler is None:
        out.add(Log("unknown_command", name))
        return
    handler(out)


def _is_pain(text: str) -> bool:
    parsed = parse(text)  # the same table that produced the command
    return bool(parsed and parsed.pain)


def _pressure(out: _Out, command: str, pain: bool) -> None:
    s = out.state
    zone = s.step.zone
    if zone == "prep":  # before the massage: this sets where to work up to
        _prep_pressure(out, command)
        return
    if command == "harder":
        if s.level >= s.cap:
            # They want at least this much here: remember it, as far as the cap allows.
            out.state = replace(s, preferred={**s.preferred, zone: s.level})
            out.add(Chime("refuse"), PressureSet(s.level.label, s.level.scale, zone, "cap"))
            out.cancel()
            out.say(phrasing.at_cap(zone, s.level), "ack")
            return
        level = Level(s.level + 1)
    else:
        if s.level == Level.LIGHT:
            out.add(Chime("refuse" if not pain else "ack"),
                    PressureSet(s.level.label, s.level.scale, zone, "floor"))
            out.cancel()
            out.say(phrasing.pain_ack(s.level, True) if pain else phrasing.at_floor(), "ack")
            return
        level = Level.LIGHT if pain else Level(s.level - 1)
    out.state = replace(s, level=level, preferred={**s.preferred, zone: level})
    out.add(Chime("ack"), PressureSet(level.label, level.scale, zone, "pain" if pain else command))
    out.cancel()
    ack = phrasing.pain_ack(level, False) if pain else phrasing.pressure_ack(command, level)
    wording = s.step.pressure_text.get(level.label)
    out.say(f"{ack} {wording}" if wording else ack, "ack")


def _prep_pressure(out: _Out, command: str) -> None:
    s = out.state
    step = -1 if command == "softer" else 1
    general = Level(min(max(s.general + step, Level.LIGHT), Level.DEEP))
    out.state = replace(s, general=general, level=general)
    out.add(Chime("ack"), PressureSet(general.label, general.scale, "prep", command))
    out.cancel()
    out.say(phrasing.prep_pressure(general), "ack")


def _next(out: _Out) -> None:
    _advance(out, +1)


def _back(out: _Out) -> None:
    _advance(out, -1)


def _repeat(out: _Out) -> None:
    s = out.state
    out.cancel()
    out.add(Chime("ack"))
    out.say(s.step.text_for(s.level), "step")


def _pause(out: _Out) -> None:
    s = out.state
    if s.phase is Phase.PAUSED:
        return
    out.state = replace(s, phase=Phase.PAUSED, paused_from=s.phase)
    out.cancel()
    out.add(Chime("ack"))
    out.say(phrasing.PAUSED, "ack")


def _resume(out: _Out) -> None:
    s = out.state
    out.add(Chime("ack"))
    out.cancel()
    if s.phase is not Phase.PAUSED:
        out.say(phrasing.NOT_PAUSED, "ack")
        return
    out.state = replace(s, phase=s.paused_from)
    out.say(phrasing.RESUMED, "ack")


def _stop(out: _Out) -> None:
    _finish(out, "stopped", phrasing.STOPPED)


def _music(out: _Out, sign: int) -> None:
    s = out.state
    lo, hi = MUSIC_RANGE_DB
    db = min(max(s.music_db + sign * s.options.music_step_db, lo), hi)
    out.state = replace(s, music_db=db)
    # The change itself is audible: a chime and no words, so the step's speech goes on.
    out.add(Chime("ack" if db != s.music_db else "refuse"), MusicGain(db))


def _pace(out: _Out, factor: float) -> None:
    s = out.state
    lo, hi = PACE_RANGE
    pace = min(max(s.pace * factor, lo), hi)
    out.cancel()
    out.add(Chime("ack" if pace != s.pace else "refuse"))
    out.state = replace(s, pace=pace)
    if pace == s.pace:
        out.say(phrasing.PACE_LIMIT, "ack")
    else:
        out.say(phrasing.SLOWER if factor > 1 else phrasing.FASTER, "ack")


def _time(out: _Out) -> None:
    s = out.state
    out.cancel()
    out.add(Chime("ack"))
    out.say(phrasing.time_left(s.step_left_s, s.session_left_s), "ack")


def _help(out: _Out) -> None:
    out.cancel()
    out.add(Chime("ack"))
    out.say(help_text(), "ack")


_COMMANDS = {
    "next": _next, "back": _back, "repeat": _repeat, "pause": _pause, "resume": _resume,
    "stop": _stop, "louder": lambda o: _music(o, +1), "quieter": lambda o: _music(o, -1),
    "slower": lambda o: _pace(o, PACE_STEP), "faster": lambda o: _pace(o, 1 / PACE_STEP),
    "time": _time, "help": _help,
}


def _device(out: _Out, problem: DeviceProblem) -> None:
    s = out.state
    out.add(Log("device", f"{problem.device} {'ok' if problem.ok else 'lost'} {problem.detail}"))
    if problem.device == "microphone":
        # The timers keep guiding; the giver just has to know their voice isn't heard.
        out.say(phrasing.MIC_BACK if problem.ok else phrasing.MIC_LOST, "info")
    elif problem.device == "speaker" and not problem.ok and s.phase is not Phase.PAUSED:
        # Nobody can hear the steps: hold the session until the sound comes back.
        out.state = replace(s, phase=Phase.PAUSED, paused_from=s.phase, speaker_lost=True)
        out.cancel()
    elif problem.device == "speaker" and problem.ok and s.speaker_lost:
        out.state = replace(s, phase=s.paused_from, speaker_lost=False, speaker_lost_s=0.0)
        out.say(phrasing.SOUND_BACK, "info")
