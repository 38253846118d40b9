"""`voice-coach listen --input` and `voice-coach bench listen --data` end to end, as a user runs
them: a real process, a real WAV, the bundled recognizer."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from voice_coach import bench_data
from voice_coach.audio_in import to_int16

pytestmark = pytest.mark.skipif(shutil.which("flite") is None, reason="needs flite (apt)")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voice_coach.cli", *args], capture_output=True,
                          text=True, timeout=300)


def commands_over_music(tmp: Path, phrases: list[str], voice: str) -> tuple[Path, list[float]]:
    """A 44.1 kHz stereo WAV (what a phone or a DAW writes): phrases over the music at 30 dB."""
    parts, ends, t = [np.zeros(16_000, np.float32)], [], 16_000
    for p in phrases:
        x = bench_data.speak(p, voice).astype(np.float32)
        x *= 0.1 / np.sqrt(np.mean(x ** 2))
        parts += [x, np.zeros(28_000, np.float32)]
        ends.append((t + len(x)) / 16_000)
        t += len(x) + 28_000
    audio = np.concatenate(parts)
    audio += bench_data.music(len(audio) / 16_000 + 1)[:len(audio)] * 0.1 * 10 ** (-30 / 20)
    hi = resample_poly(audio, 441, 160)
    stereo = np.stack([hi, 0.8 * hi], axis=1)
    path = tmp / "commands.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44_100)
        w.writeframes(to_int16(stereo.reshape(-1)).tobytes())
    return path, ends


def test_listen_input_json_prints_the_commands_in_order(tmp_path: Path) -> None:
    wav, ends = commands_over_music(tmp_path, ["softer", "next", "that hurts"], "rms")
    r = cli("listen", "--input", str(wav), "--json", "--engine", "pocketsphinx")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["command"] for row in rows] == ["softer", "next", "softer"]
    for row, end in zip(rows, ends, strict=True):
        assert end - 0.4 <= row["t"] <= end + 0.8
        assert row["engine"] == "pocketsphinx" and row["text"] and 0 < row["confidence"] <= 1
    assert "pocketsphinx" in r.stderr  # the CLI says which engine listens


def test_listen_bad_input_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "x.wav").write_text("hello")
    r = cli("listen", "--input", str(tmp_path / "x.wav"))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("voice-coach: error:")
    assert "Traceback" not in r.stderr
    r = cli("listen", "--input", str(tmp_path / "x.wav"), "--engine", "nope")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def labelled_folder(tmp_path: Path, phrases: list[str], voice: str) -> Path:
    """A folder of recordings for `bench listen --data`: `phrases` (each a command's name) over
    music in one WAV, and 20 s of music alone."""
    wav, ends = commands_over_music(tmp_path, phrases, voice)
    data = tmp_path / "data"
    data.mkdir()
    shutil.move(str(wav), data / "take1.wav")
    music = to_int16(bench_data.music(20.0) * 0.1)  # command-free: counts toward false accepts
    with wave.open(str(data / "music.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(music.tobytes())
    (data / "labels.tsv").write_text("".join(
        f"take1.wav\t{end - 0.5:.2f}\t{end:.2f}\t{phrase}\n"
        for phrase, end in zip(phrases, ends, strict=True)))
    return data


def test_bench_listen_on_a_labelled_folder(tmp_path: Path) -> None:
    data = labelled_folder(tmp_path, ["next", "stop"], "rms")
    r = cli("bench", "listen", "--data", str(data))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["recall"]["data"] == 1.0 and result["commands"] == 2
    assert result["false_accepts_per_hour"] == 0.0
    assert 0 < result["rtf"] < 1 and result["peak_rss_mb"] > 0
    assert result["delay_p95_s"] is not None


def test_bench_listen_in_two_worker_processes_decides_as_in_one(tmp_path: Path) -> None:
    """The streams run in worker processes (Whisper on one thread each) hear the same commands
    at the same times, and Whisper decides the same, as one after another in the bench's own
    process (two threads)."""
    data = labelled_folder(tmp_path, ["pause", "softer", "louder"], "slt")
    (data / "music2.wav").write_bytes((data / "music.wav").read_bytes())
    results, opinions = [], []
    for workers in ("1", "2"):
        recorded = tmp_path / f"opinions{workers}.jsonl"
        r = cli("bench", "listen", "--data", str(data), "--workers", workers,
                "--opinions", str(recorded))
        assert r.returncode == 0, r.stderr
        results.append(json.loads(r.stdout.strip().splitlines()[-1]))
        opinions.append([_rounded(json.loads(line)) for line in recorded.read_text().splitlines()])
    assert [r["workers"] for r in results] == [1, 2]
    for key in ("recall", "commands", "false_accepts_per_hour", "delay_p50_s", "delay_p95_s"):
        assert results[0][key] == results[1][key], key
    assert any("hearing" in row for row in opinions[0])  # Whisper was asked
    assert opinions[0] == opinions[1]


def _rounded(row: dict) -> dict:
    """An opinion row with its scores to 2 decimals (int8 arithmetic on one thread and on two
    may differ in the last bits)."""
    hearing = row.get("hearing")
    if hearing:
        for key in ("free_fit", "rival_best"):
            hearing[key] = round(hearing[key], 2)
        hearing["scores"] = {k: round(v, 2) for k, v in hearing["scores"].items()}
    return row


def test_bench_rejects_bad_labels(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(b"")
    (tmp_path / "labels.tsv").write_text("a.wav\t1\t2\tdance\n")
    r = cli("bench", "listen", "--data", str(tmp_path))
    assert r.returncode == 2 and "labels.tsv:1" in r.stderr


def test_two_benches_saving_the_same_test_set_at_once_both_keep_it_whole(tmp_path: Path) -> None:
    """Two benches started together build the same set and save it to the same cache file;
    each writes a whole file of its own and the cache holds one of them (a shared temporary
    name once had one bench rename the other's file away and fail)."""
    import threading

    clips = [bench_data.Clip("command", "stop", "flite:slt",
                             np.arange(i, i + 4000, dtype=np.int16), "stop") for i in range(20)]
    path = tmp_path / "testset.npz"
    failures: list[BaseException] = []

    def save() -> None:
        try:
            for _ in range(5):
                bench_data._save(bench_data.TestSet(list(clips)), path)
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            failures.append(err)

    writers = [threading.Thread(target=save) for _ in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    assert failures == []
    loaded = bench_data._load(path).clips
    assert [c.text for c in loaded] == ["stop"] * 20
    assert all(np.array_equal(a.samples, b.samples) for a, b in zip(loaded, clips, strict=True))
    assert list(tmp_path.iterdir()) == [path]


def test_a_false_accept_is_reported_with_the_words_it_was_heard_in() -> None:
    from voice_coach.bench_listen import assemble

    tone = (np.sin(np.arange(8000) * 0.2) * 8000).astype(np.int16)
    clips = [bench_data.Clip("near", word, "espeak-ng:en-us", tone) for word in ("paws", "sofa")]
    stream = assemble(clips, seed=0)
    (a1, b1, w1), (a2, b2, w2) = stream.spoken
    assert (w1, w2) == ("paws", "sofa") and b1 < a2
    assert stream.words_before(a1 - 0.5) == ""
    assert stream.words_before(b1 + 0.2) == "paws"  # a detection comes just after the words
    assert stream.words_before(b2 + 0.2) == "sofa"
