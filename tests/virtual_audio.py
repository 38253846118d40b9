"""The tests' handle on the virtual devices; the code lives in the package (the demo uses it)."""

from voice_coach.virtual_audio import *  # noqa: F403
from voice_coach.virtual_audio import environment, start, start_error, stop  # noqa: F401
