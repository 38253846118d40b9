"""Echo removal wired into a real spoken session on the virtual devices: the speaker is fed
back into the microphone (as in a room) and the listener's cleaned signal must be much quieter
than what the microphone picked up."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from voice_coach.config import Settings
from voice_coach.coordinator import Coordinator
from voice_coach.events import Heard, Start
from voice_coach.live import LiveEdges
from voice_coach.script import load_script
from voice_coach.session import new_session
from voice_coach.virtual_audio import RoomEcho

pytestmark = pytest.mark.audio


def test_our_own_voice_and_music_are_removed_from_the_microphone():
    script = load_script("back-rub")
    coordinator = Coordinator(new_session(script), sinks=[])
    edges = LiveEdges(coordinator, script, Settings(engine="pocketsphinx", input_device="vmic"))
    assert edges.listener is not None
    clean_block = edges.listener._cleaner
    energy: list[tuple[float, float]] = []

    def measuring(block, mic):
        out = clean_block(block, mic)
        energy.append((float(np.mean(block.astype(float) ** 2)),
                       float(np.mean(out.astype(float) ** 2))))
        return out

    edges.listener._cleaner = measuring
    with RoomEcho(), edges:
        runner = threading.Thread(target=coordinator.run, args=(Start(),), daemon=True)
        runner.start()
        time.sleep(20)  # the greeting and the checklist, over the music
        coordinator.post(Heard("stop", "stop"))
        runner.join(timeout=60)
    raw, clean = np.array(energy[len(energy) // 4:]).T  # after the filter has converged
    assert raw.mean() > 1e4  # the microphone really heard the speaker (int16 power)
    erle_db = 10 * np.log10(raw.mean() / clean.mean())
    second = np.arange(len(raw)) // 10  # ten 100 ms blocks
    seconds = [round(float(10 * np.log10(raw[second == s].mean() / clean[second == s].mean())), 1)
               for s in range(second[-1] + 1)]
    aec, reference = clean_block._aec, clean_block._reference
    assert erle_db > 5, (f"only {erle_db:.1f} dB of our own sound removed (second by second: "
                         f"{seconds}; echo delay {aec.delay_ms} ms, clock skew "
                         f"{clean_block.drift.skew * 1e6:.0f} ppm, {reference.unwritten_reads} "
                         f"mic blocks read ahead of the reference)")


def test_a_room_left_on_by_a_killed_run_is_not_heard_twice():
    """A run killed while its room was on leaves the loopback loaded; the next room replaces
    it rather than adding a second echo path."""
    from voice_coach.virtual_audio import pactl

    def rooms() -> int:
        return pactl("list", "short", "modules").count("source=spk.monitor")

    RoomEcho().__enter__()  # never left, as by a killed run
    assert rooms() == 1
    with RoomEcho():
        assert rooms() == 1
    assert rooms() == 0
