"""A chime is laid over the blocks already queued for the device, not after them: the player's
callback and mixer, driven block by block as PortAudio would (no device needed)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from voice_coach.echo import Reference
from voice_coach.mixer import BLOCK, Mixer
from voice_coach.player import Player

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
    _play_one(player)  # the request is taken up when the producer mixes its next block
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
    assert frame == 2 * BLOCK and len(head) == 3 * BLOCK
    np.testing.assert_array_equal(head, chime[:3 * BLOCK])


def test_a_chime_on_a_mono_device_is_not_halved() -> None:
    mixer = Mixer(None)
    player = _primed(mixer)
    player._channels = 1
    player.chime("ack")
    _play_one(player, channels=1)
    played = np.concatenate([_play_one(player, channels=1) for _ in range(50)])[:, 0]
    chime = mixer.chime_sound("ack")
    np.testing.assert_allclose(played[:len(chime)], chime, atol=1e-6)


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
