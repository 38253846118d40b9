"""Live playback on the virtual PulseAudio speaker, recorded back from its monitor."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import virtual_audio

from voice_coach.audio_out import AudioOut
from voice_coach.config import Settings
from voice_coach.errors import UserError
from voice_coach.player import list_devices, resolve_output_device
from voice_coach.tts import MIXER_RATE, Speech

pytestmark = pytest.mark.audio
LINE = "Place your palms flat on either side of the spine and glide slowly upward."


def _frames_db(x: np.ndarray, frame: int = 4800) -> np.ndarray:
    f = x[: len(x) // frame * frame].reshape(-1, frame)
    return 10 * np.log10(np.mean(f**2, axis=1) + 1e-12)


def _wait(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_devices_are_listed_and_resolved_by_name_or_index():
    names = {d["name"]: d["index"] for d in list_devices()}
    assert "spk" in names
    assert resolve_output_device("spk") == names["spk"]
    assert resolve_output_device(str(names["spk"])) == names["spk"]
    assert resolve_output_device("SPK") == names["spk"]  # exact name wins over spk_mon
    with pytest.raises(UserError, match="several devices"):
        resolve_output_device("sp")
    with pytest.raises(UserError, match="no output device named 'kitchen'"):
        resolve_output_device("kitchen")
    with pytest.raises(UserError, match="no output device with index 999"):
        resolve_output_device(999)


def test_speech_over_music_reaches_the_speaker(tmp_path):
    speech = Speech(cache_dir=tmp_path)
    voice = speech.render(LINE)
    done: list[int] = []
    out = AudioOut(Settings(output_device="spk"), done.append, speech=speech)
    recorder = virtual_audio.MonitorRecorder()
    with out:
        time.sleep(1.5)  # music alone first
        out.say(LINE, 1)
        assert _wait(lambda: done == [1], 20)
        time.sleep(1.5)  # the music comes back up after the speech
        underruns = out.player.underruns + out.player.starved
    rec = recorder.stop()
    levels = _frames_db(rec)
    playing = np.nonzero(levels > -60)[0]
    assert len(playing), "nothing reached the speaker"
    rec = rec[playing[0] * 4800:]  # from the first sound on
    # Find the speech in the recording: cross-correlate with what we synthesised.
    ref = voice[: 3 * MIXER_RATE]
    corr = np.abs(np.fft.irfft(np.fft.rfft(rec, 2 * len(rec)) *
                               np.conj(np.fft.rfft(ref, 2 * len(rec)))))[: len(rec)]
    start = int(np.argmax(corr))
    seg = rec[start:start + len(ref)]
    gain = float(np.dot(seg, ref) / np.dot(ref, ref))
    residual = seg - gain * ref  # what is left under the voice is the (ducked) music
    assert 0.3 < gain < 1.2  # the voice is there, at about the mixer's voice gain
    assert np.dot(seg, ref) / np.sqrt(np.dot(seg, seg) * np.dot(ref, ref)) > 0.8
    music_before = rec[int(0.3 * MIXER_RATE): start - int(0.1 * MIXER_RATE)]
    under_db = 10 * np.log10(np.mean(residual[MIXER_RATE // 2:] ** 2))
    before_db = 10 * np.log10(np.mean(music_before**2))
    assert before_db > -45  # music was playing
    assert -60 < under_db < before_db - 8  # and kept playing, ducked, under the voice
    print(f"underruns: {underruns}")


def test_cancel_before_audio_arrives_drops_it_and_reports_done(tmp_path):
    done: list[int] = []
    settings = Settings(output_device="spk", no_music=True)
    out = AudioOut(settings, done.append, speech=Speech(cache_dir=tmp_path))
    recorder = virtual_audio.MonitorRecorder()
    with out:
        # Uncached long text: still rendering when the cancel comes.
        out.say(LINE + " " + LINE, 5)
        out.cancel_speech()
        assert _wait(lambda: done == [5], 20)
        time.sleep(0.5)
    rec = recorder.stop()
    assert np.max(np.abs(rec)) < 1e-3  # nothing was played


def test_cancel_mid_sentence_on_the_device_is_click_free(tmp_path):
    done: list[int] = []
    gate = threading.Event()
    speech = Speech(cache_dir=tmp_path)
    speech.render(LINE)
    out = AudioOut(Settings(output_device="spk", no_music=True),
                   lambda uid: (done.append(uid), gate.set()), speech=speech)
    recorder = virtual_audio.MonitorRecorder()
    with out:
        out.say(LINE, 1)
        time.sleep(1.2)
        out.cancel_speech()
        assert gate.wait(5)
        time.sleep(0.5)
    rec = recorder.stop()
    sound = np.nonzero(np.abs(rec) > 1e-3)[0]
    assert len(sound) and done == [1]
    spoken = (sound[-1] - sound[0]) / MIXER_RATE
    assert spoken < 2.5  # cut short (the whole line is ~5 s)
    steps = np.abs(np.diff(rec[sound[0]: sound[-1] + 200]))
    tail = np.abs(np.diff(rec[sound[-1] - 600: sound[-1] + 200]))
    assert tail.max() <= steps.max()  # the end is no steeper than the speech itself


def test_no_portaudio_is_one_clear_line():
    # Run in a fresh interpreter where loading PortAudio fails the way it does without the .so.
    code = (
        "import builtins, sys\n"
        "real = builtins.__import__\n"
        "def fake(name, *a, **k):\n"
        "    if name == 'sounddevice': raise OSError('PortAudio library not found')\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = fake\n"
        "from voice_coach.player import list_devices\n"
        "from voice_coach.errors import UserError\n"
        "try:\n    list_devices()\nexcept UserError as e:\n    print(e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert "libportaudio2" in result.stdout and "render" in result.stdout
