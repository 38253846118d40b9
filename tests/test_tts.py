"""Speech through the real pyttsx3 / espeak-ng: audible, plausibly long, cached, with fallback."""

from __future__ import annotations

import numpy as np
import pytest

from voice_coach.errors import UserError
from voice_coach.tts import MIXER_RATE, Speech, check_voice, list_voices, resample

TEXT = "Warm a little oil between your hands, then spread it slowly over the whole back."


def _words_per_minute(audio: np.ndarray, text: str) -> float:
    return len(text.split()) / (len(audio) / MIXER_RATE) * 60


def test_pyttsx3_renders_real_speech_of_plausible_length(tmp_path):
    speech = Speech(rate_wpm=160, cache_dir=tmp_path)
    audio = speech.render(TEXT)
    assert speech.backend == "pyttsx3" and not speech.warnings
    assert audio.dtype == np.float32 and audio.ndim == 1
    # 15 words at 160 wpm is ~5.6 s; allow for pauses and the voice's own pacing.
    assert 90 < _words_per_minute(audio, TEXT) < 260
    rms_db = 20 * np.log10(np.sqrt(np.mean(audio**2)))
    assert rms_db > -30 and np.max(np.abs(audio)) > 0.2
    # Speech has gaps: a good share of 20 ms frames are far quieter than the loudest.
    frames = audio[: len(audio) // 960 * 960].reshape(-1, 960)
    energy = np.sqrt(np.mean(frames**2, axis=1))
    assert np.mean(energy < 0.1 * energy.max()) > 0.1


def test_rate_changes_the_length(tmp_path):
    slow = Speech(rate_wpm=110, cache_dir=tmp_path).render(TEXT)
    fast = Speech(rate_wpm=220, cache_dir=tmp_path).render(TEXT)
    assert len(slow) > 1.4 * len(fast)


def test_each_utterance_is_its_own_text(tmp_path):
    # pyttsx3 2.99 repeats the last text on a second runAndWait; ours must not.
    speech = Speech(cache_dir=tmp_path)
    short = speech.render("Next.")
    long = speech.render(TEXT)
    assert len(long) > 3 * len(short)


def test_disk_cache_is_keyed_by_text_voice_and_rate(tmp_path):
    first = Speech(cache_dir=tmp_path).render("Slow down at the shoulders.")
    files = sorted(tmp_path.glob("*.wav"))
    assert len(files) == 1
    again = Speech(cache_dir=tmp_path).render("Slow down at the shoulders.")
    assert np.array_equal(first, again) and sorted(tmp_path.glob("*.wav")) == files
    Speech(cache_dir=tmp_path, rate_wpm=200).render("Slow down at the shoulders.")
    assert len(list(tmp_path.glob("*.wav"))) == 2


def test_prerender_fills_the_cache_in_the_background(tmp_path):
    speech = Speech(cache_dir=tmp_path)
    texts = ["Step one.", "Step two, a little longer.", "Step three."]
    speech.prerender(texts)
    for text in texts:  # render waits for the in-flight job rather than synthesising twice
        assert len(speech.render(text)) > 0.3 * MIXER_RATE
    assert len(list(tmp_path.glob("*.wav"))) == 3


def test_watchdog_falls_back_to_espeak_ng_with_one_warning(tmp_path, capsys):
    # A timeout shorter than pyttsx3's start-up stands in for a hung runAndWait.
    speech = Speech(cache_dir=tmp_path, timeout_s=0.001)
    audio = speech.render(TEXT)
    speech.render("And a second sentence.")
    assert speech.backend == "espeak-ng"
    assert 90 < _words_per_minute(audio, TEXT) < 260
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "espeak-ng" in warnings[0]


def test_unknown_voice_is_a_user_error():
    voices = list_voices()
    assert any(v.id == "gmw/en-us" for v in voices)
    check_voice("gmw/en-us", voices)
    check_voice("en-us+f3", voices)
    with pytest.raises(UserError, match="voice-coach voices"):
        check_voice("klingon-opera", voices)


def test_resample_keeps_pitch_and_level():
    t = np.arange(22050) / 22050
    out = resample(0.5 * np.sin(2 * np.pi * 1000 * t).astype(np.float32), 22050, MIXER_RATE)
    assert len(out) == MIXER_RATE
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    assert abs(np.argmax(spectrum) - 1000) <= 1
    assert abs(np.sqrt(np.mean(out[1000:-1000] ** 2)) - 0.5 / np.sqrt(2)) < 0.01


def _centroid_hz(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    freqs = np.fft.rfftfreq(len(audio), 1 / MIXER_RATE)
    return float(np.sum(spectrum * freqs) / np.sum(spectrum))


def test_voice_changes_apply_between_utterances(tmp_path):
    # espeak is one engine per process: switching voices back and forth must really switch.
    male = Speech(voice="gmw/en-us", cache_dir=tmp_path).render(TEXT)
    female = Speech(voice="gmw/en-us+f3", cache_dir=tmp_path).render(TEXT)
    male_again = Speech(voice="gmw/en-us", cache_dir=tmp_path / "again").render(TEXT)
    assert _centroid_hz(female) > 1.1 * _centroid_hz(male)
    # (espeak is not bit-exact run to run, but the voice is the same again.)
    assert abs(len(male_again) - len(male)) < 0.01 * len(male)
    assert _centroid_hz(male_again) == pytest.approx(_centroid_hz(male), rel=0.05)


def test_speech_held_in_memory_is_bounded_by_size(tmp_path):
    # A long session speaks many long steps: only the most recent few MB stay in memory.
    speech = Speech(cache_dir=tmp_path, memory_mb=1.0)
    texts = [f"{TEXT} Step {n}." for n in range(4)]  # ~0.9 MB each at the mixer rate
    for text in texts:
        speech.render(text)
    held = list(speech._memory.values())
    assert 1 <= len(held) < len(texts)
    assert sum(a.nbytes for a in held) <= 1e6 or len(held) == 1
    again = speech.render(texts[0])  # evicted from memory, still on disk: same audio
    assert len(again) > 0 and len(list(tmp_path.glob("*.wav"))) == len(texts)
