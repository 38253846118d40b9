"""A chime, and the cut of the coach's voice, are laid over the blocks already queued for the
device, not after them: the player's callback and mixer, driven block by block as PortAudio
would (no device needed), on real speech."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from voice_coach.echo import Reference
from voice_coach.mixer import BLOCK, Mixer
from voice_coach.player import Player
from voice_coach.tts import MIXER_RATE, Speech

OK = SimpleNamespace(output_underflow=False)


def _primed(mixer: Mixer, depth: int = 4) -> Player:
    """A player as `start()` leaves it, with `depth` blocks mixed and queued."""
    player = Player(mixer, queue_blocks=depth)
    for _ in range(depth):
        player._space.acquire()
        player._blocks.put(player._mix())
    return player


def _play_one(player: Player, channels: int = 2) -> np.ndarray:
    """One device callback, then the producer refills the queue (as its thread would)."""
    out = np.zeros((BLOCK, channels), np.float32)
    player._callback(out, BLOCK, None, OK)
    assert player._space.acquire(timeout=1)
    player._blocks.put(player._mix())
    return out


def test_a_chime_sounds_in_the_next_block_and_continues_seamlessly_from_the_mixer() -> None:
    mixer = Mixer(None)
    player = _primed(mixer)
    amended: list[tuple[np.ndarray, int]] = []
    player.amend_taps.append(lambda sound, frame: amended.append((sound.copy(), frame)))
    _play_one(player)
    player.chime("ack")
    player._take_requests()  # as the producer does, woken by the request
    played = np.concatenate([_play_one(player) for _ in range(60)])
    chime = mixer.chime_sound("ack")
    # The first block after the request starts the chime: 4 queued blocks did not delay it.
    assert np.max(np.abs(played[:BLOCK])) > 0.05
    # Head (callback) and tail (mixer) join exactly: the whole chime, once, in both channels.
    np.testing.assert_allclose(played[:len(chime), 0], chime, atol=1e-6)
    np.testing.assert_allclose(played[:len(chime), 1], chime, atol=1e-6)
    assert np.max(np.abs(played[len(chime):])) == 0.0
    # The reference is told of the head: the frames that were queued when it was asked for.
    ((head, frame),) = amended
    assert frame == BLOCK and len(head) == 4 * BLOCK
    np.testing.assert_array_equal(head, chime[:4 * BLOCK])


def test_a_chime_on_a_mono_device_is_not_halved() -> None:
    mixer = Mixer(None)
    player = _primed(mixer)
    player.chime("ack")
    player._take_requests()
    played = np.concatenate([_play_one(player, channels=1) for _ in range(50)])[:, 0]
    chime = mixer.chime_sound("ack")
    np.testing.assert_allclose(played[:len(chime)], chime, atol=1e-6)


@pytest.fixture(scope="module")
def speech_audio(tmp_path_factory) -> np.ndarray:
    speech = Speech(cache_dir=tmp_path_factory.mktemp("speech"))
    return speech.render("Lean in with your body weight rather than pushing with your arms.")


def test_a_cut_silences_the_voice_from_the_next_block_without_a_click(speech_audio) -> None:
    mixer = Mixer(None)
    done: list[int] = []
    mixer.on_speech_done = done.append
    mixer.play_voice(speech_audio, 1)
    player = _primed(mixer)
    amended: list[tuple[np.ndarray, int]] = []
    player.amend_taps.append(lambda sound, frame: amended.append((sound.copy(), frame)))
    before = np.concatenate([_play_one(player) for _ in range(12)])[:, 0]
    # As AudioOut cancels (the mixer drops the voice from its next block, the player fades it
    # out of the queued ones); then the acknowledgement is said, and must play whole.
    player.cut_speech()
    player._take_requests()  # as the producer does, woken by the request
    mixer.play_voice(speech_audio[:BLOCK * 10], 2)
    after = np.concatenate([_play_one(player) for _ in range(30)])[:, 0]
    fade = int(0.006 * MIXER_RATE)
    assert np.max(np.abs(before[-BLOCK:])) > 0.05  # it was speaking
    # Gone within the fade, from the first block the device takes after the cut...
    assert np.max(np.abs(after[fade:4 * BLOCK])) == 0.0
    # ...without a click: no step steeper than the speech's own.
    natural = np.max(np.abs(np.diff(before)))
    assert np.max(np.abs(np.diff(np.concatenate([before, after[:fade + 10]])))) <= natural
    assert done == [1, 2]  # the first dropped at the cut, the second played to its end
    # The next utterance plays whole, from the first block mixed after the cut.
    np.testing.assert_allclose(after[4 * BLOCK:14 * BLOCK],
                               speech_audio[:BLOCK * 10] * mixer.voice_gain, atol=1e-6)
    # The reference learns what was taken out.
    ((removed, frame),) = amended
    assert frame == 12 * BLOCK and np.max(np.abs(removed)) > 0.05


def test_a_sound_added_to_the_reference_joins_what_was_played_there() -> None:
    ref = Reference(16000, seconds=2.0)
    music = np.full(8000, 0.1, np.float32)
    ref.write(music, 10.0)
    ref.add(np.full(1000, 0.2, np.float32), 10.25)
    got = ref.read(10.0, 8000)
    np.testing.assert_allclose(got[4000:5000], 0.3, atol=1e-6)
    np.testing.assert_allclose(got[:4000], 0.1, atol=1e-6)
    np.testing.assert_allclose(got[5000:], 0.1, atol=1e-6)
    assert ref.coach_between(10.26, 10.3) and not ref.coach_between(10.0, 10.2)
    ref.add(np.full(1000, 0.5, np.float32), 10.45)  # runs past what was written: cut there
    np.testing.assert_allclose(ref.read(10.45, 1000)[:500], 0.6, atol=1e-6)
    np.testing.assert_allclose(ref.read(10.5, 500), 0.0, atol=1e-6)
