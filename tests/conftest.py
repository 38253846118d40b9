"""Test set-up: the virtual PulseAudio devices start here, at import, before any test module
(and so before sounddevice) is imported; `audio` tests skip only if PulseAudio cannot start."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import virtual_audio  # noqa: E402

_ERROR = virtual_audio.start()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _ERROR is None:
        return
    skip = pytest.mark.skip(reason=f"virtual audio devices unavailable: {_ERROR}")
    for item in items:
        if "audio" in item.keywords:
            item.add_marker(skip)
