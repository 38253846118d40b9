"""The keyboard engine: typed lines become commands through the same parser as speech."""

from __future__ import annotations

import numpy as np

from .. import commands
from .base import Detection


class KeysEngine:
    """Always available. Audio fed to it is only counted (for stream time); lines come from
    `type_line`, which the CLI calls for each line read from stdin."""

    name = "keys"

    def __init__(self) -> None:
        self._samples = 0
        self._pending: list[Detection] = []

    def type_line(self, line: str) -> Detection | None:
        parsed = commands.parse(line)
        if parsed is None:
            return None
        det = Detection(parsed.command, line.strip(), self._samples / 16_000, 1.0, self.name)
        self._pending.append(det)
        return det

    def feed(self, chunk: np.ndarray) -> list[Detection]:
        self._samples += len(chunk)
        out, self._pending = self._pending, []
        return out

    def flush(self) -> list[Detection]:
        out, self._pending = self._pending, []
        return out

    def set_coach_speaking(self, speaking: bool) -> None:
        """Typing is unambiguous: nothing to tighten while the coach talks."""
