"""Rendering whole sessions to files: the core in simulated time, real speech, real music."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest
from pydub import AudioSegment

from voice_coach.cli import main
from voice_coach.config import Settings
from voice_coach.errors import UserError
from voice_coach.render import PREP_GRACE_S, TAIL_S, check_output, render_session
from voice_coach.script import load_script, parse_script
from voice_coach.tts import Speech

TINY = """
[script]
id = "tiny"
title = "Tiny"

[[steps]]
id = "prep"
title = "Get ready"
zone = "prep"
duration_s = 5
wait_for_next = true
say = "Towels and oil ready? Say next."

[[steps]]
id = "glide"
title = "Glide"
zone = "back"
duration_s = 20
say = "Glide your palms up the back."

  [[steps.cues]]
  at_s = 12
  say = "Slowly now."
"""


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Speech:
    return Speech(cache_dir=tmp_path_factory.mktemp("speech"))


def _levels(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    mono = data.mean(axis=1) / 32768
    frames = mono[: len(mono) // (rate // 10) * (rate // 10)].reshape(-1, rate // 10)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12), rate


def test_tiny_session_follows_the_script_timings(tmp_path, speech):
    seen: list[float] = []
    result = render_session(parse_script(TINY), tmp_path / "tiny.wav",
                            Settings(no_music=True), speech=speech,
                            progress=lambda at, total, title: seen.append(at))
    levels, _ = _levels(result.path)
    said = {text: at for at, _kind, text in result.timeline}
    # The step starts only after the checklist was said and a quiet grace period passed.
    checklist = said["Towels and oil ready? Say next."]
    step = said["Glide your palms up the back."]
    assert step >= checklist + PREP_GRACE_S
    assert said["Slowly now."] == pytest.approx(step + 12, abs=0.05)  # the cue's at_s
    closing = max(result.timeline)[0]
    assert closing == pytest.approx(step + 20, abs=0.05)  # the step ran its 20 s
    # And the audio agrees: speech sounds right where each utterance was placed...
    for at in (step, said["Slowly now."], closing):
        assert levels[int(at * 10): int(at * 10) + 10].max() > -40
    # ...and the grace period before the step is silent (no music in this render).
    assert levels[int((step - PREP_GRACE_S + 3) * 10): int(step * 10) - 2].max() < -60
    assert result.duration_s == pytest.approx(len(levels) / 10, abs=0.2)
    assert seen and seen[-1] == pytest.approx(result.duration_s)
    assert levels[-int((TAIL_S - 1) * 10):].max() < -60  # the tail is quiet without music


def test_quick_render_to_mp3_decodes_back_to_the_right_length(tmp_path, speech):
    script = load_script("quick")
    out = tmp_path / "quick.mp3"
    result = render_session(script, out, Settings(), speech=speech)
    decoded = AudioSegment.from_file(str(out))
    assert decoded.channels == 2
    # mp3 adds at most an encoder frame or two of padding.
    assert abs(len(decoded) / 1000 - result.duration_s) < 0.1
    # About the script's length: its steps, the closing words and the music tail.
    assert script.total_duration_s < result.duration_s < script.total_duration_s + 30
    samples = np.array(decoded.get_array_of_samples()).reshape(-1, 2) / 32768
    assert 0.02 < np.sqrt(np.mean(samples**2)) < 0.3  # music all along, nothing clipped hard
    assert np.mean(np.abs(samples) > 0.99) < 1e-4


def test_cli_render_writes_the_file_and_reports(tmp_path, capsys):
    out = tmp_path / "s.wav"
    script = tmp_path / "tiny.toml"
    script.write_text(TINY)
    code = main(["render", str(script), "-o", str(out), "--no-music", "--pressure", "medium"])
    assert code == 0 and out.stat().st_size > 100_000
    assert "Wrote" in capsys.readouterr().out


def test_bad_output_names_are_user_errors(tmp_path, capsys):
    with pytest.raises(UserError, match=".mp3, .wav"):
        check_output(tmp_path / "session.docx")
    with pytest.raises(UserError, match="does not exist"):
        check_output(tmp_path / "missing" / "session.mp3")
    assert main(["render", "quick", "-o", str(tmp_path / "x.docx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err


def test_bench_mix_prints_json_last(capsys):
    assert main(["bench", "mix", "--seconds", "20"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(last)
    assert result["bench"] == "mix" and result["cpu_percent_of_one_core"] > 0


@pytest.mark.parametrize("suffix", [".ogg", ".flac"])
def test_other_formats_decode_back_to_the_same_length(tmp_path, speech, suffix):
    result = render_session(parse_script(TINY), tmp_path / f"tiny{suffix}", Settings(),
                            speech=speech)
    decoded = AudioSegment.from_file(str(result.path))
    assert abs(len(decoded) / 1000 - result.duration_s) < 0.05
