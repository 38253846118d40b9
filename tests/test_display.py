"""The live terminal view shows where the session is, the pressure against its cap, the time
left, the microphone level and the last command heard."""

from __future__ import annotations

from rich.console import Console

from voice_coach.display import LiveView
from voice_coach.events import Heard, Start, Tick
from voice_coach.listener import ListenerStatus
from voice_coach.script import load_script
from voice_coach.session import handle, new_session


def render(view: LiveView) -> str:
    console = Console(record=True, width=100, color_system=None)
    console.print(view)
    return console.export_text()


def test_the_view_shows_step_pressure_time_mic_and_last_command():
    state, _ = handle(new_session(load_script("back-rub")), Start())
    for event in (Heard("next", "next"), Heard("harder", "firmer", engine="pocketsphinx"),
                  Tick(30.0)):
        state, _ = handle(state, event)
    status = ListenerStatus(level_db=-32.0, hearing=True)
    view = LiveView(lambda: state, status, "listening with pocketsphinx")
    view.observe(Heard("harder", "firmer", engine="pocketsphinx"), state)
    text = render(view)
    assert "2/10" in text and "Warm the oil" in text
    assert "light (3/10, cap light)" in text  # the oil step is light only
    assert "01:00 in step" in text  # 90 s step, 30 s gone
    assert "-32 dB" in text
    assert "firmer \u2192 harder (pocketsphinx)" in text


def test_the_view_says_when_the_microphone_is_not_heard():
    state, _ = handle(new_session(load_script("quick")), Start())
    view = LiveView(lambda: state, ListenerStatus(hearing=False), "listening")
    assert "not hearing the microphone" in render(view)
    assert "(say next)" in render(view)


def test_a_command_taken_for_the_coachs_own_voice_is_shown_and_printed_as_not_taken():
    import io

    from voice_coach.events import OwnVoice
    from voice_coach.textmode import HeardPrinter

    state, _ = handle(new_session(load_script("quick")), Start())
    ignored = OwnVoice("back", "go back", "the lower back,", "pocketsphinx")
    state_after, effects = handle(state, ignored)
    assert (state_after, effects) == (state, [])  # the session itself does nothing with it
    view = LiveView(lambda: state, ListenerStatus(hearing=True), "listening")
    view.observe(ignored, state)
    assert "go back \u2192 not taken: the coach had just said it" in render(view)
    out = io.StringIO()
    HeardPrinter(out).observe(ignored, state)
    assert "not taken: 'go back' -> back (the coach had just said it; say it again)" in (
        out.getvalue())
