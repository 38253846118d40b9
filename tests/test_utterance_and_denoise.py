"""The listener's front end on real speech over the project's music: where an utterance starts
and ends, and how much of the music bed the clean-up takes out."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from voice_coach import bench_data
from voice_coach.audio_in import to_int16
from voice_coach.engines import denoise, utterance

pytestmark = pytest.mark.skipif(shutil.which("flite") is None, reason="needs flite (apt)")
RATE = 16_000


def over_music(phrase: str, snr_db: float, before_s: float = 2.0, after_s: float = 0.6
               ) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(mix, the speech alone, start, end) with the phrase at -20 dBFS, music snr_db under it."""
    x = bench_data.speak(phrase, "rms").astype(np.float32)
    x *= 0.1 / np.sqrt(np.mean(x ** 2))
    start = int(before_s * RATE)
    speech = np.zeros(start + len(x) + int(after_s * RATE), np.float32)
    speech[start:start + len(x)] = x
    bed = bench_data.music(len(speech) / RATE + 1)[:len(speech)] * 0.1 * 10 ** (-snr_db / 20)
    return to_int16(speech + bed), to_int16(speech), start, start + len(x)


@pytest.mark.parametrize("phrase", ["go back", "stop", "softer", "that hurts"])
def test_an_utterance_over_music_is_found_whole(phrase: str) -> None:
    mix, _, start, end = over_music(phrase, snr_db=10.0)
    # The spotter's idea of where the word was is rough: say, its middle third.
    third = (end - start) // 3
    utt = utterance.find(mix, 0, start + third, end - third)
    assert utt is not None and utt.ended
    # Within the verifier's padding (0.15 s): a soft onset or a fading "-er" may sink into the
    # music, but the verifier still hears them.
    assert abs(utt.start - start) < 0.15 * RATE, (utt.start - start) / RATE
    assert abs(utt.end - end) < 0.15 * RATE, (utt.end - end) / RATE


def test_an_utterance_still_being_spoken_has_not_ended() -> None:
    mix, _, start, end = over_music("softer", snr_db=10.0, after_s=0.0)
    utt = utterance.find(mix, 0, start, end)
    assert utt is not None and not utt.ended


def test_music_alone_holds_no_utterance() -> None:
    bed = to_int16(bench_data.music(6.0) * 0.03)
    found = [utterance.find(bed, 0, a, a + RATE // 3) for a in range(3 * RATE, 5 * RATE, RATE // 4)]
    assert sum(u is not None for u in found) <= 2  # a note's attack can rise; most of it cannot


def test_denoise_takes_the_steady_music_out_and_leaves_the_voice() -> None:
    mix, speech, start, end = over_music("more pressure", snr_db=0.0)
    noise = denoise.background_spectrum(mix[:start - RATE // 10])
    cleaned = denoise.clean(mix[start:end], noise)
    assert len(cleaned) == end - start

    def snr(x: np.ndarray) -> float:
        s = speech[start:end].astype(np.float64)
        err = x.astype(np.float64) - s
        return 10 * np.log10(np.sum(s ** 2) / np.sum(err ** 2))

    assert snr(cleaned) > snr(mix[start:end]) + 2.0
    assert np.array_equal(denoise.clean(mix, None), mix)  # no background known: untouched
