"""What the coach says for acknowledgements, refusals and announcements: short, calm, in one place.

Long confirmations break the mood, so each line is a few words; the chime does most of the work.
"""

from __future__ import annotations

from .pressure import ZONES, Level


def pressure_ack(command: str, level: Level) -> str:
    # No command's words here ("Softer: ..."): what the microphone hears of the coach saying
    # them could pass for the person saying them again.
    word = {"harder": "Up to", "softer": "Down to"}.get(command, "Now")
    return f"{word} {level.label} pressure."


def pain_ack(level: Level, was_floor: bool) -> str:
    if was_floor:
        return ("Ease right off, rest your hands still, and ask how they feel. "
                "Say stop if you want to end.")
    return f"Easing off now: {level.label} pressure. Ask if that feels better."


def at_cap(zone: str, level: Level) -> str:
    return f"Staying {level.label}: {ZONES[zone].why_capped}. Ask them, more or less here?"


def at_floor() -> str:
    return "That's already the lightest touch. Slow down, or just rest your hands."


def prep_pressure(level: Level) -> str:
    return f"Noted. We'll work up to {level.label} pressure where it's safe."


def entering_cap(zone: str, level: Level) -> str:
    return f"Keep it {level.label} here: {ZONES[zone].why_capped}."


def step_cap(level: Level) -> str:
    return f"Keep it {level.label} for this step."


def default_checkin(zone: str) -> str:
    return f"Check in with them: more or less pressure on {ZONES[zone].spoken}?"


def time_left(step_s: float, session_s: float) -> str:
    return f"{_minutes(step_s)} left in this step, {_minutes(session_s)} in the session."


def _minutes(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    return "about 1 minute" if minutes == 1 else f"about {minutes} minutes"


GREETING = "Welcome. I'll talk you through the back rub. Say help at any time to hear the commands."
PREP_REMINDER = "When everything is ready, say next."
PAUSED = "Paused. Keep a hand resting on them, and say resume when you're ready."
RESUMED = "Carrying on."
NOT_PAUSED = "We're not paused."
FIRST_STEP = "This is the first step."
SLOWER = "Slower: each step gets more time."
FASTER = "Faster: each step gets less time."
PACE_LIMIT = "That's as far as the pace goes."
STOPPED = ("Stopping here. Finish with a few long, light strokes, then wipe off the oil "
           "with the towel.")
COMPLETED = ("That's the end of the session. Let them rest a moment, then wipe off any extra "
             "oil with the towel.")
NOT_STARTED_YET = "We haven't started the massage yet. Say next when you're ready."
MIC_LOST = "I can't hear the microphone. I'll keep going by the timer."
MIC_BACK = "I can hear you again."
SOUND_BACK = "The sound is back. Carrying on."
