"""The mixer on real speech and real music: ducking measured on the output, click-free cancel."""

from __future__ import annotations

import numpy as np
import pytest

from voice_coach.mixer import BLOCK, Mixer, make_chime
from voice_coach.music import OFFLINE_WAIT_S, MusicSource, find_tracks
from voice_coach.tts import MIXER_RATE, Speech


@pytest.fixture(scope="module")
def speech_audio(tmp_path_factory) -> np.ndarray:
    speech = Speech(cache_dir=tmp_path_factory.mktemp("speech"))
    return speech.render("Lean in with your body weight rather than pushing with your arms. "
                         "Let the palms glide all the way up to the shoulders.")


def _bundled() -> MusicSource:
    return MusicSource(find_tracks(None), wait_s=OFFLINE_WAIT_S)  # faster than real time


def _run(mixer: Mixer, seconds: float) -> np.ndarray:
    return np.concatenate([mixer.mix_block() for _ in range(int(seconds * MIXER_RATE / BLOCK))])


def _db(x: np.ndarray) -> float:
    return 10 * np.log10(float(np.mean(x**2)) + 1e-20)


def test_music_ducks_14_db_under_speech(speech_audio):
    lead = 2.0  # seconds of music before the coach speaks
    with_voice = Mixer(_bundled(), duck_db=-14.0)
    voice_only = Mixer(None, duck_db=-14.0)
    music_only = Mixer(_bundled(), duck_db=-14.0)
    _run(with_voice, lead), _run(voice_only, lead), _run(music_only, lead)
    with_voice.play_voice(speech_audio, 1)
    voice_only.play_voice(speech_audio, 1)
    span = len(speech_audio) / MIXER_RATE
    mixed = _run(with_voice, span)
    # Mixing is linear: the mix minus the same voice alone leaves exactly the music as heard.
    music_under_speech = mixed - _run(voice_only, span)
    plain = _run(music_only, span)
    middle = slice(int(0.5 * MIXER_RATE), int((span - 0.5) * MIXER_RATE))
    duck = _db(music_under_speech[middle]) - _db(plain[middle])
    assert duck == pytest.approx(-14.0, abs=0.5)
    # The ramp is gradual: in the first 100 ms the music is only partly ducked.
    early = _db(music_under_speech[: int(0.1 * MIXER_RATE)]) - _db(plain[: int(0.1 * MIXER_RATE)])
    assert -10 < early < -1


def test_music_comes_back_after_speech_and_never_stops(speech_audio):
    mixer = Mixer(_bundled())
    done: list[int] = []
    mixer.on_speech_done = done.append
    mixer.play_voice(speech_audio[: MIXER_RATE], 7)
    _run(mixer, 1.1)
    assert done == [7]
    after = _run(mixer, 3.0)
    reference = _run(Mixer(_bundled()), 4.0)[MIXER_RATE:]
    # After the hold and the ramp back up, the music is at its full level again.
    assert abs(_db(after[2 * MIXER_RATE:]) - _db(reference[2 * MIXER_RATE:])) < 0.5


def test_cancel_mid_word_fades_without_a_click(speech_audio):
    mixer = Mixer(None)
    done: list[int] = []
    mixer.on_speech_done = done.append
    mixer.play_voice(speech_audio, 1)
    mixer.play_voice(speech_audio, 2)  # queued: must be dropped by the cancel too
    # Cancel at the block boundary where the speech is loudest: the worst moment for a click.
    boundaries = np.abs(speech_audio[BLOCK - 1::BLOCK])
    blocks = int(np.argmax(boundaries)) + 1
    before = np.concatenate([mixer.mix_block() for _ in range(blocks)])
    assert abs(before[-1, 0]) > 0.2  # really mid-word
    mixer.cancel_speech()
    after = np.concatenate([mixer.mix_block() for _ in range(20)])
    signal = np.concatenate([before, after])[:, 0]
    natural = np.max(np.abs(np.diff(before[:, 0])))  # the speech's own steepest step
    cut = np.abs(np.diff(signal[len(before) - 2: len(before) + 600]))
    assert cut.max() <= natural * 1.05
    assert np.max(np.abs(after[int(0.008 * MIXER_RATE):])) == 0.0  # gone within ~6 ms
    assert done == [2, 1]


def test_a_hard_cut_would_have_clicked(speech_audio):
    # Guards the click test: chopping the same speech abruptly does exceed the threshold.
    loud = int(np.argmax(np.abs(speech_audio)))
    chopped = np.concatenate([speech_audio[:loud], np.zeros(100, dtype=np.float32)])
    natural = np.max(np.abs(np.diff(speech_audio[:loud])))
    assert np.abs(np.diff(chopped)).max() > natural * 1.05


def test_louder_and_quieter_step_the_music_level():
    quieter, reference = Mixer(_bundled()), Mixer(_bundled())
    quieter.music_gain(-6.0)
    a, b = _run(quieter, 2.0), _run(reference, 2.0)
    assert _db(a[MIXER_RATE:]) - _db(b[MIXER_RATE:]) == pytest.approx(-6.0, abs=0.2)
    steps = np.abs(np.diff(a[:, 0] - b[:, 0] * 10 ** (-6 / 20)))
    assert steps.max() < 0.02  # ramped, no zipper noise


def test_chime_is_soft_and_mixed_over_the_music():
    chime = make_chime("ack")
    assert 0.1 < np.max(np.abs(chime)) < 0.2  # about -16 dBFS
    assert np.max(np.abs(chime[:48])) < 0.05  # soft attack
    mixer = Mixer(None)
    mixer.chime("step")
    out = _run(mixer, 1.5)
    assert np.max(np.abs(out)) > 0.1 and not mixer.speaking
    assert mixer.level_db < -60  # rang out


def test_late_blocks_never_wait():
    # With nothing queued the mixer still returns full blocks of (ducked or not) music.
    mixer = Mixer(_bundled())
    block = mixer.mix_block()
    assert block.shape == (BLOCK, 2) and block.dtype == np.float32
    assert np.max(np.abs(block)) > 0


def test_each_utterance_reports_the_frame_its_first_sample_is_mixed_into(speech_audio):
    mixer = Mixer(None)
    started: list[tuple[int, int]] = []
    mixer.on_speech_start = lambda uid, frame: started.append((uid, frame))
    mixer.mix_block()  # a block of silence first
    first = speech_audio[: BLOCK + 100]
    mixer.play_voice(first, 1)
    mixer.play_voice(speech_audio[:BLOCK], 2)
    out = np.concatenate([mixer.mix_block() for _ in range(4)])[:, 0]
    assert started == [(1, BLOCK), (2, 2 * BLOCK + 100)]  # the second right after the first
    # Its first sound is in the output where the frame number says (counting from frame BLOCK).
    assert np.nonzero(out)[0][0] + BLOCK == started[0][1] + np.nonzero(first)[0][0]
