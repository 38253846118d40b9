"""The bundled pocketsphinx engine on real synthesized speech over the project's music."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from voice_coach import bench_data
from voice_coach.audio_in import chunks, to_int16
from voice_coach.engines.base import Detection
from voice_coach.engines.pocketsphinx_engine import PocketsphinxEngine

pytestmark = pytest.mark.skipif(shutil.which("flite") is None, reason="needs flite (apt)")


def scene(phrases: list[str], voice: str, snr_db: float | None = 20.0) -> tuple[np.ndarray,
                                                                              list[float]]:
    """Phrases 1.5 s apart at -20 dBFS over the music bed; returns audio and phrase end times."""
    parts, ends, t = [np.zeros(16_000, np.float32)], [], 16_000
    for p in phrases:
        x = bench_data.speak(p, voice).astype(np.float32)
        x *= 0.1 / np.sqrt(np.mean(x ** 2))
        parts += [x, np.zeros(24_000, np.float32)]
        t += len(x)
        ends.append(t / 16_000)
        t += 24_000
    audio = np.concatenate(parts)
    if snr_db is not None:
        audio += bench_data.music(len(audio) / 16_000 + 1)[:len(audio)] * 0.1 * 10 ** (-snr_db / 20)
    return to_int16(audio), ends


def decode(audio: np.ndarray, coach: bool = False) -> tuple[list[Detection], PocketsphinxEngine]:
    engine = PocketsphinxEngine()
    engine.set_coach_speaking(coach)
    out: list[Detection] = []
    for c in chunks(audio):
        out += engine.feed(c)
    return out + engine.flush(), engine


def test_commands_over_music_in_order_with_plausible_times() -> None:
    audio, ends = scene(["next", "softer", "stop"], "rms")
    dets, _ = decode(audio)
    assert [d.command for d in dets] == ["next", "softer", "stop"]
    for d, end in zip(dets, ends, strict=True):
        assert end - 0.4 <= d.at_s <= end + 0.8  # emitted around the end of the phrase
        assert 0.0 < d.confidence <= 1.0 and d.engine == "pocketsphinx"


def test_one_utterance_gives_one_command() -> None:
    audio, _ = scene(["go back"], "awb")
    dets, engine = decode(audio)
    assert [d.command for d in dets] == ["back"]  # "go back" and "back" both spotted: once


def test_pain_words_mean_softer() -> None:
    audio, _ = scene(["that hurts", "ouch"], "rms")
    dets, _ = decode(audio)
    assert [d.command for d in dets] == ["softer", "softer"]


def test_ordinary_speech_and_near_misses_map_to_nothing() -> None:
    audio, _ = scene(["that feels nice", "hard", "text", "my sister called this morning"], "slt")
    dets, engine = decode(audio)
    assert dets == []
    assert engine.verdicts, "the spotter proposed nothing, so the verifier was not exercised"


def test_music_alone_gives_nothing() -> None:
    music = to_int16(bench_data.music(30.0) * 0.1)
    dets, _ = decode(music)
    assert dets == []


def test_stricter_while_the_coach_speaks() -> None:
    audio, _ = scene(["next", "softer", "stop", "pause", "go back"], "rms")
    normal, e1 = decode(audio)
    coach, e2 = decode(audio, coach=True)
    assert len(coach) < len(normal)
    assert {d.command for d in coach} <= {d.command for d in normal}
