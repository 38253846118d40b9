"""When the coach's words played, as the listener sees it: the player's estimate of when each
word sounds and the microphone's stream clock agree on the virtual devices, with the speaker fed
back into the microphone as in a room. The listener's check against its own voice relies on it."""

from __future__ import annotations

import time

import numpy as np
import pytest

from voice_coach.audio_in import RATE, Microphone
from voice_coach.audio_out import AudioOut
from voice_coach.config import Settings
from voice_coach.listener import _StreamClock
from voice_coach.virtual_audio import RoomEcho

pytestmark = pytest.mark.audio
LINE = "Place your palms flat on either side of the spine and glide slowly upward."


def _read_for(mic: Microphone, clock: _StreamClock, seconds: float) -> list[np.ndarray]:
    blocks, until = [], time.monotonic() + seconds
    while time.monotonic() < until:
        block = mic.read(timeout_s=1.0)
        if block is not None:
            clock.fed(len(block), time.monotonic())  # as the listener does
            blocks.append(block)
    return blocks


def test_the_coachs_words_are_timed_as_the_microphone_hears_them(tmp_path):
    out = AudioOut(Settings(output_device="spk", no_music=True, cache_dir=tmp_path),
                   lambda uid: None)
    heard_at = _StreamClock()
    with RoomEcho(), out, Microphone("vmic") as mic:
        blocks = _read_for(mic, heard_at, 1.0)  # the quiet room first
        out.say(LINE, 1)
        blocks += _read_for(mic, heard_at, 8.0)
    x = np.concatenate(blocks).astype(np.float32) / 32768
    frame = RATE // 100
    n = len(x) // frame
    level = 10 * np.log10(np.mean(x[:n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    voice = np.nonzero(level > level.max() - 30)[0]
    assert len(voice), "the microphone did not hear the speaker"
    began = heard_at.time_of(voice[0] / 100)
    ended = heard_at.time_of((voice[-1] + 1) / 100)
    words = out.recent.played(1)
    assert [w for *_, w in words] == LINE.split()
    # The first word's estimated start and the last one's end, against when the microphone
    # heard the voice begin and end (measured 40-80 ms later: the room's and devices' delay).
    assert -0.1 < began - words[0][0] < 0.35, (began, words[0])
    assert -0.1 < ended - words[-1][1] < 0.35, (ended, words[-1])
