"""Live playback on the virtual PulseAudio speaker, recorded back from its monitor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import virtual_audio
from virtual_audio import wait_for

from voice_coach.audio_out import AudioOut
from voice_coach.config import Settings
from voice_coach.errors import UserError
from voice_coach.events import DeviceProblem
from voice_coach.player import list_devices, resolve_output_device
from voice_coach.tts import MIXER_RATE, Speech

pytestmark = pytest.mark.audio
LINE = "Place your palms flat on either side of the spine and glide slowly upward."


def _frames_db(x: np.ndarray, frame: int = 4800) -> np.ndarray:
    f = x[: len(x) // frame * frame].reshape(-1, frame)
    return 10 * np.log10(np.mean(f**2, axis=1) + 1e-12)


def _locate(rec: np.ndarray, ref: np.ndarray) -> int:
    """Where `ref` starts in the recording (FFT cross-correlation)."""
    n = 2 * len(rec)
    corr = np.fft.irfft(np.fft.rfft(rec, n) * np.conj(np.fft.rfft(ref, n)))[: len(rec)]
    return int(np.argmax(np.abs(corr)))


def _align(rec: np.ndarray, ref: np.ndarray, start: int, win: int = MIXER_RATE // 2,
           search: int = MIXER_RATE // 20) -> tuple[np.ndarray, np.ndarray]:
    """The recording re-aligned to `ref` window by window (within +-50 ms), so one late block
    on a busy machine (a gap of silence) does not throw off the rest of the comparison."""
    got, want = [], []
    offset = start
    for w0 in range(0, len(ref) - win + 1, win):
        r = ref[w0:w0 + win]
        lo = max(0, offset + w0 - search)
        window = rec[lo:offset + w0 + search + win]
        if len(window) < win:
            break
        if np.dot(r, r) > 1e-6:  # follow the speech; in silence keep the last offset
            lag = int(np.argmax(np.correlate(window, r, mode="valid")))
            offset = lo + lag - w0
        got.append(rec[offset + w0: offset + w0 + win])
        want.append(r)
    return np.concatenate(got), np.concatenate(want)


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


def _speech_match(got: np.ndarray, want: np.ndarray, win: int = MIXER_RATE // 2) -> float:
    """Median similarity over the half-second windows that hold speech: a busy machine may
    spoil one window with a dropped block; the speech itself must be there in the rest."""
    scores = [_similarity(got[i:i + win], want[i:i + win])
              for i in range(0, len(want) - win + 1, win)
              if np.mean(want[i:i + win] ** 2) > 1e-4]
    return float(np.median(scores))


def _level_in_pauses(recorded: np.ndarray, speech: np.ndarray) -> float:
    """dB level of the recording in 10 ms frames where the speech itself is silent."""
    n = min(len(recorded), len(speech)) // 480 * 480
    rec = recorded[:n].reshape(-1, 480)
    ref = speech[:n].reshape(-1, 480)
    quiet = 10 * np.log10(np.mean(ref**2, axis=1) + 1e-12) < -65
    quiet[:25] = False  # the duck is still ramping down in the first 250 ms
    assert quiet.sum() > 20, "no pauses in the speech to listen to the music"
    return float(10 * np.log10(np.mean(rec[quiet] ** 2)))


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
    tapped: list[tuple[np.ndarray, int]] = []
    out.tap(lambda block, first: tapped.append((block.copy(), first)))
    recorder = virtual_audio.MonitorRecorder()
    with out:
        time.sleep(1.5)  # music alone first
        out.say(LINE, 1)
        assert wait_for(lambda: done == [1], 20)
        time.sleep(1.5)  # the music comes back up after the speech
        underruns = out.player.underruns + out.player.starved
    rec = recorder.stop()
    levels = _frames_db(rec)
    playing = np.nonzero(levels > -60)[0]
    assert len(playing), "nothing reached the speaker"
    rec = rec[playing[0] * 4800:]  # from the first sound on
    # Find the speech in the recording: cross-correlate with what we synthesised.
    ref = voice[: 3 * MIXER_RATE]
    start = _locate(rec, ref)
    seg, ref = _align(rec, ref, start)
    gain = float(np.dot(seg, ref) / np.dot(ref, ref))
    assert 0.3 < gain < 1.2  # the voice is there, at about the mixer's voice gain
    assert _speech_match(seg, ref) > 0.8
    music_before = rec[int(0.3 * MIXER_RATE): start - int(0.1 * MIXER_RATE)]
    before_db = 10 * np.log10(np.mean(music_before**2))
    under_db = _level_in_pauses(seg, ref)  # between the words only the music sounds
    assert before_db > -45  # music was playing
    # ...and kept playing under the voice, ducked by about 14 dB.
    assert before_db - 17 < under_db < before_db - 10
    # The tap saw exactly what was played: contiguous blocks that hold the same speech.
    firsts = [first for _, first in tapped]
    assert firsts == list(range(0, len(tapped) * 1024, 1024))
    played = np.concatenate([block for block, _ in tapped]).mean(axis=1)
    at = _locate(played, ref)
    assert _similarity(played[at:at + len(ref)], ref) > 0.95
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
        assert wait_for(lambda: done == [5], 20)
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


@pytest.mark.slow
def test_start_speaks_over_music_on_the_virtual_speaker(tmp_path):
    """The whole app: `voice-coach start quick` plays its greeting over the music bed."""
    from voice_coach.phrasing import GREETING
    from voice_coach.tts import read_wav, resample

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    recorder = virtual_audio.MonitorRecorder()
    # Typed commands only: a recogniser's false alarm on the silent microphone must not cut
    # the greeting short (listening has its own tests).
    app = subprocess.Popen([sys.executable, "-m", "voice_coach.cli", "start", "quick",
                            "--output-device", "spk", "--engine", "keys"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    # The app keeps what it speaks in its speech cache: the greeting is played from there,
    # so once that file exists and sound is coming out, the greeting is (about to be) playing.
    cache = tmp_path / "cache" / "voice-coach" / "speech"
    wav = cache / f"{Speech(cache_dir=tmp_path / 'keys').key(GREETING)}.wav"
    try:
        assert wait_for(lambda: wav.exists(), 90), "the app never synthesised its greeting"
        assert wait_for(lambda: np.max(np.abs(recorder.so_far()), initial=0) > 1e-3, 30)
        samples, rate = read_wav(wav)
        time.sleep(len(samples) / rate + 6)  # slack for a slow start of the speech
        assert app.stdin is not None
        app.stdin.write("stop\n")
        app.stdin.flush()
        out, err = app.communicate(timeout=60)
    finally:
        app.kill()
    rec = recorder.stop()
    assert app.returncode == 0, err[-500:]
    # espeak is not sample-exact run to run, so compare with the very file the app spoke
    # (its cache is keyed like ours: same default voice and rate).
    reference = resample(samples, rate)
    start = _locate(rec, reference[: 2 * MIXER_RATE])
    seg, ref = _align(rec, reference, start)
    corr = _speech_match(seg, ref)
    assert corr > 0.8, f"the greeting is not in what the speaker played; app said: {out[-800:]}"
    # In the pauses between the words only the music sounds: present, and ducked (about
    # -26 dBFS nominal, 14 dB lower while the coach speaks).
    music_db = _level_in_pauses(seg, ref)
    assert -55 < music_db < -33


def test_speaker_loss_is_reported_and_playback_comes_back(tmp_path):
    problems: list[DeviceProblem] = []
    done: list[int] = []
    out = AudioOut(Settings(output_device="spk"), done.append, on_problem=problems.append,
                   speech=Speech(cache_dir=tmp_path))
    base = Path(os.environ["PULSE_RUNTIME_PATH"]).parent  # this test run's own server
    with out:
        time.sleep(0.5)
        virtual_audio.stop(base)  # the sound server dies under the running stream
        try:
            assert wait_for(lambda: any(not p.ok for p in problems), 10)
            assert problems[0] == DeviceProblem("speaker", False, "the sound output stopped")
            # Session time goes on while nobody hears it: speech still finishes.
            out.say("Keep one hand on them at all times.", 3)
            assert wait_for(lambda: done == [3], 15)
        finally:
            assert virtual_audio.start(base) is None
        assert wait_for(lambda: problems[-1].ok, 20), problems
        recorder = virtual_audio.MonitorRecorder()
        time.sleep(3)
        rec = recorder.stop()
    assert out.player.reconnects == 1
    levels = _frames_db(rec)
    assert len(levels) >= 10 and levels[-10:].min() > -45  # the music plays again


def test_cli_lists_voices_and_devices(capsys):
    from voice_coach.cli import main

    assert main(["voices", "--lang", "en-us"]) == 0
    out = capsys.readouterr().out
    assert "gmw/en-us" in out and "gmw/de" not in out
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "spk" in out and "default output" in out


def test_bench_speech_prints_json_last(capsys):
    from voice_coach.cli import main

    assert main(["bench", "speech", "--steps", "2", "--output-device", "spk"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["bench"] == "speech" and result["device"] == "ok"
    assert 0 < result["tts_rtf"] < 1 and result["first_audible_ms_p50"] > 0
