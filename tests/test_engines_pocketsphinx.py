"""The bundled pocketsphinx engine on real synthesized speech over the project's music."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from voice_coach import bench_data, commands
from voice_coach.audio_in import chunks, read_wav, to_int16
from voice_coach.engines import ps_model, whisper_judge
from voice_coach.engines.base import Detection
from voice_coach.engines.pocketsphinx_engine import PocketsphinxEngine, _Candidate

pytestmark = pytest.mark.skipif(shutil.which("flite") is None, reason="needs flite (apt)")


def scene(phrases: list[str], voice: str, snr_db: float | None = 30.0) -> tuple[np.ndarray,
                                                                              list[float]]:
    """Phrases 1.5 s apart at -20 dBFS over the music bed; returns audio and phrase end times.
    These tests check the machinery at a music level the bundled model handles; `voice-coach
    bench listen` measures accuracy at 20, 10 and 0 dB."""
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
        # Where the words were: the utterance that holds the phrase (a spoken word is 0.3-1 s).
        assert d.start_s is not None and d.end_s is not None
        assert end - 1.2 < d.start_s < end - 0.2 and end - 0.25 < d.end_s < end + 0.25


def test_one_utterance_gives_one_command() -> None:
    audio, _ = scene(["go back"], "awb")
    dets, engine = decode(audio)
    assert [d.command for d in dets] == ["back"]  # "go back" and "back" both spotted: once


def test_pain_words_mean_softer() -> None:
    audio, _ = scene(["that hurts", "ouch"], "rms")
    dets, _ = decode(audio)
    assert [d.command for d in dets] == ["softer", "softer"]


CHATTER = ["that feels nice", "my sister called this morning", "the towel is a bit scratchy",
           "i could fall asleep like this", "we should do this more often"]
NEAR_MISSES = ["hard", "soft", "loud", "stopper", "text"]


def test_ordinary_speech_is_turned_down_by_the_verifier() -> None:
    """On ordinary sentences the lenient spotter proposes commands all the time; the verifier
    must turn down at least 90 % of those proposals (the bench measures the resulting rate)."""
    proposals = accepted = 0
    for voice in ("slt", "rms"):
        audio, _ = scene(CHATTER, voice)
        dets, engine = decode(audio)
        proposals += len(engine.verdicts)
        accepted += len(dets)
    assert proposals >= 8, "the spotter proposed too little to exercise the verifier"
    assert accepted <= 0.1 * proposals, (accepted, proposals)


@pytest.mark.xfail(strict=True, reason="known gap (bench near_miss): an isolated 'soft', 'loud' "
                   "or 'text' over music can pass for softer/louder/next")
def test_isolated_near_miss_words_map_to_nothing() -> None:
    audio, _ = scene(NEAR_MISSES, "slt")
    dets, _ = decode(audio)
    assert dets == []


def test_music_alone_gives_nothing() -> None:
    music = to_int16(bench_data.music(30.0) * 0.1)
    dets, _ = decode(music)
    assert dets == []


def test_coach_narration_with_command_words_is_not_obeyed() -> None:
    """The coach's own sentences hold "harder or softer", "say next", "stop at the edge": with
    the engine told the coach is speaking, they must not become commands."""
    audio, _ = scene(list(bench_data.NARRATION[:6]), "slt")
    dets, engine = decode(audio, coach=True)
    assert len(engine.verdicts) >= 10  # the spotter did propose command words in it
    assert dets == []


def test_coach_speaking_is_judged_by_what_played_under_the_words() -> None:
    """A command said in a pause, with the coach starting its next sentence before the verdict
    comes out, is judged as said in the pause; one said over the coach is marked so."""
    audio, ends = scene(["louder"], "rms")
    starts_talking = int((ends[0] + 0.05) * 16_000)  # just after the word, before the verdict
    engine = PocketsphinxEngine()
    dets: list[Detection] = []
    for at in range(0, len(audio), 1600):
        engine.set_coach_speaking(at >= starts_talking)
        dets += engine.feed(audio[at:at + 1600])
    assert [(d.command, d.during_coach) for d in dets] == [("louder", False)]
    assert all(d.at_s * 16_000 > starts_talking for d in dets)  # decided after it started

    over, _ = decode(scene(["stop"], "rms")[0], coach=True)
    assert [(d.command, d.during_coach) for d in over] == [("stop", True)]


def test_recogniser_process_traces_its_verdicts(verdict_trace) -> None:
    """VOICE_COACH_TRACE_VERDICTS: what the live recogniser weighed, one JSON line each, with
    the stream time it was decided at; how a command missed in a session is looked into."""
    import json

    from voice_coach.engines.process_engine import ProcessEngine

    trace = verdict_trace
    audio, ends = scene(["stop"], "rms")
    engine = ProcessEngine("pocketsphinx", None)
    heard: list[Detection] = []
    try:
        for c in chunks(audio):
            heard += engine.feed(c)
        heard += engine.flush()
    finally:
        engine.close()
    rows = [json.loads(line) for line in trace.read_text().splitlines()]
    accepted = [r for r in rows if r["command"] == "stop"]
    assert [d.command for d in heard] == ["stop"] and len(accepted) == 1
    assert accepted[0]["reason"] == "ok" and ends[0] <= accepted[0]["at_s"] <= ends[0] + 1.0
    # Beside it, the audio it was fed, to decode again offline (`listen --input`).
    fed = read_wav(trace.with_suffix(".wav"))
    assert np.array_equal(fed, audio)


# (and nothing else: no "Exception ignored" traceback when the half-made file is collected)
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_audio_that_cannot_be_traced_is_said_once_and_listening_goes_on(tmp_path, capsys):
    from voice_coach.engines.process_engine import _AudioTrace

    trace = _AudioTrace(str(tmp_path / "no such folder" / "verdicts.jsonl"))
    trace.write(np.zeros(1600, np.int16))
    trace.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write the heard audio" in err[0]


def test_the_recogniser_process_hands_over_a_command_without_waiting_for_more_audio() -> None:
    """Read only with the next block fed, a command waited up to a block in the pipe: a tenth
    of the 300 ms the acknowledgement has. A receiver gets it the moment it is decided."""
    import threading

    from voice_coach.engines.process_engine import ProcessEngine

    audio, ends = scene(["stop"], "rms")
    engine = ProcessEngine("pocketsphinx", None)
    arrived = threading.Event()
    heard: list[Detection] = []
    engine.deliver_to(lambda detections: (heard.extend(detections), arrived.set()))
    try:
        returned = [d for c in chunks(audio) for d in engine.feed(c)]
        assert arrived.wait(30.0), "no command arrived without a further block or a flush"
        assert [d.command for d in heard] == ["stop"] and returned == []
        assert engine.flush() == []
    finally:
        engine.close()
    with pytest.raises(RuntimeError, match="ended"):
        engine.feed(audio[:1600])


@pytest.mark.skipif(not whisper_judge.available(), reason="faster-whisper or its model missing")
def test_a_command_whisper_confirms_is_handed_over_when_it_answers() -> None:
    """In the recogniser's process Whisper answers beside the stream; its command is handed
    over when the answer comes, not with the next block (none is fed here) or a flush."""
    import threading

    from voice_coach.engines.process_engine import ProcessEngine

    audio, _ = scene(["slower"], "slt")  # not one of the commands that skip confirmation
    engine = ProcessEngine("pocketsphinx", None)
    arrived = threading.Event()
    heard: list[Detection] = []
    engine.deliver_to(lambda detections: (heard.extend(detections), arrived.set()))
    try:
        for c in chunks(audio):
            engine.feed(c)
        assert arrived.wait(60.0), "the confirmed command waited for more audio"
        assert [d.command for d in heard] == ["slower"]
    finally:
        engine.close()


def test_a_receiver_that_fails_is_reported_by_the_next_block_not_lost_silently() -> None:
    """The listener rebuilds a recogniser whose feed() raises; a receiver that failed must not
    leave one that takes blocks and never hears anything again."""
    import time

    from voice_coach.engines.process_engine import ProcessEngine

    def broken(detections: list[Detection]) -> None:
        raise ValueError("receiver bug")

    audio, _ = scene(["stop"], "rms")
    engine = ProcessEngine("pocketsphinx", None)
    engine.deliver_to(broken)
    try:
        with pytest.raises(RuntimeError, match="lost a detection .*receiver bug"):
            deadline = time.monotonic() + 30.0
            while time.monotonic() < deadline:
                for c in chunks(audio):
                    engine.feed(c)
                time.sleep(0.1)
    finally:
        engine.close()


def test_a_trace_file_that_cannot_be_written_stops_the_trace_not_the_listening(tmp_path,
                                                                               capsys) -> None:
    from voice_coach.engines.process_engine import _VerdictTrace

    engine = PocketsphinxEngine()
    trace = _VerdictTrace(engine, str(tmp_path / "no such folder" / "verdicts.jsonl"))
    audio, _ = scene(["stop"], "rms")
    for c in chunks(audio):
        engine.feed(c)
        trace.write_new()  # would raise on every block
    assert engine.verdicts and "not tracing" in capsys.readouterr().err


def test_a_proposal_inside_an_utterance_already_judged_leaves_a_verdict() -> None:
    # Said as the tail of what was already judged: no second verdict on it, but a trace row
    # that says so (a command that seemed to vanish left no trace before).
    audio, _ = scene(["next"], "rms")
    engine = PocketsphinxEngine()
    engine._verified_until = len(audio)  # as if all of it had been judged already
    dets = [d for c in chunks(audio) for d in engine.feed(c)] + engine.flush()
    assert dets == []
    assert "part of an utterance already judged" in [v.reason for v in engine.verdicts]


def test_a_word_said_just_after_an_utterance_already_judged_is_judged_on_its_own() -> None:
    # Live, over the room's echo, a bump of the echo's residue was judged and a "back" said
    # just after it was lost at every run: read against the background before the word, the
    # two bridged into one utterance that began inside what was judged, so the word counted
    # as its tail. A burst ends 0.14 s before the word here, and is taken as judged already.
    audio, _ = scene(["next"], "rms")
    level = np.abs(audio[16_000:].astype(np.float32))
    word_start = 16_000 + int(np.argmax(level > 0.1 * level.max()))
    burst_end = word_start - int(0.14 * 16_000)
    rng = np.random.default_rng(3)
    audio[burst_end - 1_600:burst_end] = to_int16(rng.normal(0, 0.1, 1_600).astype(np.float32))
    engine = PocketsphinxEngine()
    engine._verified_until = burst_end
    dets = [d for c in chunks(audio) for d in engine.feed(c)] + engine.flush()
    assert [d.command for d in dets] == ["next"], [v.reason for v in engine.verdicts]
    assert dets[0].start_s >= burst_end / 16_000


def test_a_word_spotted_late_just_after_it_ends_is_still_found() -> None:
    # Over music the spotter sometimes puts a word it found in the bed right after the word
    # (an "ouch" of espeak's f3 at 10 dB: all its proposals began where the word ended).
    audio, _ = scene(["ouch"], "rms", snr_db=10)
    word = bench_data.speak("ouch", "rms")
    voiced = np.nonzero(np.abs(word) > 0.05 * np.abs(word).max())[0]
    start, end = 16_000 + voiced[0], 16_000 + voiced[-1]  # the scene says it 1 s in
    engine = PocketsphinxEngine()
    for c in chunks(audio):
        engine._append(c)  # the audio only: the late proposal is made by hand
    utt = engine._utterance(_Candidate("ouch", end + 160, end + 4_800))
    assert utt is not None
    assert abs(utt.start - start) < 1_600 and abs(utt.end - end) < 1_600, (utt, start, end)


def test_the_decoders_know_every_pronunciation_of_the_words_listened_for(tmp_path) -> None:
    # They load a dictionary of the command words and decoys only (the whole one costs each
    # decoder ~27 MB); a word or variant lost on the way would silently weaken a search.
    from pocketsphinx import Decoder

    from voice_coach import commands
    from voice_coach.engines import ps_model

    model = ps_model.model_dir()
    full = Decoder(hmm=str(model / "en-us"), dict=str(model / "cmudict-en-us.dict"),
                   loglevel="FATAL", lm=None)
    small = ps_model.new_decoder(tmp_path)
    words = sorted({*commands.vocabulary(), *ps_model.DECOYS})
    assert sum(len(ps_model.pronunciations(small, w)) for w in words) > len(words)  # variants
    for word in words:
        assert ({v: small.lookup_word(v) for v in ps_model.pronunciations(small, word)}
                == {v: full.lookup_word(v) for v in ps_model.pronunciations(full, word)}), word
    assert small.lookup_word("banana") is None  # and no more than those


def test_commands_that_sound_alike_are_weighed_against_each_other_both_ways() -> None:
    """A "quieter" taken for "lighter" (live) is confirmed against "quieter" too, though
    "quieter" is more than half of "lighter"'s phones away from it."""
    folder = ps_model.scratch_dir()
    try:
        decoder = ps_model.new_decoder(folder, cmn="batch")
        ps_model.add_merger_variants(decoder)  # as the engine's verifier
        mixups = ps_model.command_mixups(decoder, commands.phrases())
    finally:
        ps_model.remove_dir(folder)
    assert "quieter" in mixups["lighter"] and "lighter" in mixups["quieter"]
    assert all(phrase in mixups[other] for phrase, others in mixups.items() for other in others)
