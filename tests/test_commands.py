"""The command table: phrases people say map to the right command; grammar comes from the table."""

import pytest

from voice_coach import commands


@pytest.mark.parametrize("text, command, pain", [
    ("harder", "harder", False),
    ("a bit firmer please", "harder", False),
    ("More pressure", "harder", False),
    ("softer", "softer", False),
    ("ouch!", "softer", True),
    ("Ow", "softer", True),
    ("that hurts", "softer", True),
    ("that's too hard", "softer", True),  # "too hard" beats "harder"-like words
    ("less pressure", "softer", False),
    ("next step", "next", False),
    ("go on", "next", False),
    ("go back", "back", False),
    ("previous", "back", False),
    ("say that again", "repeat", False),
    ("what was that", "repeat", False),
    ("hold on", "pause", False),
    ("hang on", "pause", False),
    ("one moment please", "pause", False),
    ("just a minute", "pause", False),
    ("Wait 1 second.", "pause", False),  # Whisper writes numbers as digits
    ("ease off", "softer", False),
    ("say it again", "repeat", False),
    ("turn it up", "louder", False),
    ("turn it down", "quieter", False),
    ("it's too loud", "quieter", False),
    ("carry on", "resume", False),
    ("that's enough", "stop", False),
    ("That\u2019s enough", "stop", False),  # curly apostrophe from a phone keyboard
    ("Stop right there.", "stop", False),
    ("How much longer?", "time", False),
    ("how much time is left", "time", False),
    ("music up", "louder", False),
    ("music down", "quieter", False),
    ("slow down", "slower", False),
    ("how long", "time", False),
    ("time left", "time", False),
    ("what can I say", "help", False),
])
def test_phrases_map_to_commands(text, command, pain):
    parsed = commands.parse(text)
    assert parsed is not None, text
    assert (parsed.command, parsed.pain) == (command, pain)


@pytest.mark.parametrize("text", ["", "hello there", "hard", "soft", "text", "neck", "nexus"])
def test_non_commands_are_none(text):
    assert commands.parse(text) is None


def test_the_safer_command_wins_within_one_utterance():
    assert commands.parse("harder no stop").command == "stop"
    assert commands.parse("softer then next").command == "softer"
    assert commands.parse("wait, ouch").command == "pause"


def test_every_phrase_belongs_to_exactly_one_command():
    phrases = commands.phrases()
    assert len(phrases) == len(set(phrases))
    for phrase in phrases:
        assert commands.parse(phrase).command == commands.command_for_phrase(phrase)
    for command in commands.COMMANDS:  # pain and complaint phrases are the command's own
        for phrase in command.understood:
            assert commands.parse(phrase).command == command.name, phrase


def test_vocabulary_covers_all_phrase_words():
    vocab = commands.vocabulary()
    assert {"harder", "softer", "next", "that's", "enough"} <= vocab
    assert all(w == w.lower() for w in vocab)


def test_priority_order_from_the_domain_notes():
    order = sorted(["harder", "resume", "softer", "pause", "stop", "next"], key=commands.priority)
    assert order == ["stop", "pause", "softer", "resume", "harder", "next"]


def test_the_coachs_acknowledgements_hold_no_command_words():
    """What the microphone hears of the coach's acknowledgement must not pass for the person
    saying the command again (a "Softer: ..." heard as a second softer)."""
    from voice_coach import phrasing
    from voice_coach.pressure import Level

    said = [phrasing.pressure_ack(c, level) for c in ("harder", "softer", "set") for level in Level]
    said += [phrasing.pain_ack(level, False) for level in Level]
    for text in said:
        assert not [c for c in commands.NAMES if commands.mentions(text, c)], text


def test_holds_matches_whole_words_only():
    assert commands.holds("Go slowly, and stop at once.", "stop")
    assert commands.holds("When ready, say next.", "next")
    assert not commands.holds("Nonstop strokes.", "stop")
    assert not commands.holds("anything", "")


def test_a_phrase_wrapped_in_filler_words_is_still_the_command() -> None:
    assert commands.carried_phrase("A little harder.") == "harder"
    assert commands.carried_phrase("Okay, next.") == "next"
    assert commands.carried_phrase("Go back, please.") == "go back"  # the longer phrase
    assert commands.carried_phrase("Could you go a bit softer?") == "softer"
    assert commands.carried_phrase("a little more pressure") == "more pressure"
    assert commands.carried_phrase("That hurts!") == "that hurts"
    # Other words around it: a sentence, not a command.
    assert commands.carried_phrase("My back is tight.") is None
    assert commands.carried_phrase("Don't stop.") is None
    assert commands.carried_phrase("And then stop.") is None  # a story, not a request
    assert commands.carried_phrase("That's harder than it looks.") is None
    assert commands.carried_phrase("Please.") is None
    assert commands.carried_phrase("Let's carry on.") == "carry on"
    assert commands.carried_phrase("Let's go back.") == "go back"
    assert commands.carried_phrase("Let's talk later.") is None


def test_a_complaint_around_a_pain_word_is_still_pain() -> None:
    assert commands.carried_phrase("That's too hard.") == "too hard"
    assert commands.carried_phrase("Ouch, that hurts!") == "that hurts"
    assert commands.carried_phrase("It is way too much.") == "too much"
    assert commands.carried_phrase("Ugh, that hurts!") == "that hurts"
    assert commands.carried_phrase("out that hurts.") == "that hurts"  # Whisper's "ouch, that.."
    assert commands.carried_phrase("Out!") is None
    # ... but only around pain words: a description is no request.
    assert commands.carried_phrase("It's harder.") is None
    assert commands.carried_phrase("That's too hard to reach.") is None
    assert commands.carried_phrase("My head hurts.") is None
    # "Too loud" is a complaint too, about the music.
    assert commands.carried_phrase("It's way too loud.") == "too loud"
    assert commands.carried_phrase("The music is too loud for me.") is None


def test_any_cry_before_that_hurts_is_pain_but_not_another_command() -> None:
    # How Whisper spelled an "ouch that hurts" and an "ow that hurts" over music.
    assert commands.carried_phrase("Alch, that hurts.") == "that hurts"
    assert commands.carried_phrase("Film, that hurts.") == "that hurts"
    assert commands.carried_phrase("Go, it hurts!") == "it hurts"
    # Only one word, first: more than that is a sentence.
    assert commands.carried_phrase("Now, which of that hurts?") is None
    assert commands.carried_phrase("My back, that hurts.") is None
    # A command said first is not taken for a cry.
    assert commands.carried_phrase("Stop, that hurts.") is None
    assert commands.carried_phrase("Wait, it hurts.") is None
    # Only before the hurt phrases.
    assert commands.carried_phrase("Alch, too much.") is None


def test_the_words_that_complete_a_command_are_the_command() -> None:
    assert commands.carried_phrase("Wait a second.") == "wait"
    assert commands.carried_phrase("Hold on a minute.") == "hold on"
    assert commands.carried_phrase("Hang on a sec.") == "hang on"
    assert commands.carried_phrase("One moment, please.") == "one moment"
    assert commands.carried_phrase("Just a minute.") == "just a minute"
    assert commands.carried_phrase("Next one.") == "next"
    assert commands.carried_phrase("Go back one step.") == "go back"
    assert commands.carried_phrase("Turn the music up.") == "music up"
    assert commands.carried_phrase("Pause for a second.") == "pause"
    assert commands.carried_phrase("Go to the next step.") == "next step"
    assert commands.carried_phrase("Sorry, what was that?") == "what was that"
    # ... for that command only: "one" completes no "harder", "second" no "next".
    assert commands.carried_phrase("Harder one.") is None
    assert commands.carried_phrase("Next second.") is None
    assert commands.carried_phrase("Stop the music.") is None
    assert commands.carried_phrase("Sorry, stop.") is None  # "sorry" asks only to hear again
    assert commands.carried_phrase("Next to the spine.") is None
    # What Whisper wrote for near misses: "stopper", "backpack".
    assert commands.carried_phrase("Stop it.") is None
    assert commands.carried_phrase("Stop there.") is None
    assert commands.carried_phrase("Back back") is None
    assert commands.carried_phrase("Louder music.") is None  # a near miss of the bench's


def test_the_words_around_a_misheard_command_word_are_found() -> None:
    """Whisper may write the words around a command right and the command's own word wrong
    ("Post, please!" for "pause please"): the judge refits the phrase in those words."""
    assert commands.context_around("Post, please!", "pause") == ([], ["please"])
    assert commands.context_around("Pass for a moment.", "pause") == ([], ["for", "a", "moment"])
    assert commands.context_around("Eat off a bit.", "ease off") == ([], ["a", "bit"])
    assert commands.context_around("Please slow town.", "slow down") == (["please"], [])
    # Nothing around the word, the phrase itself written, two stretches of other words, a
    # stretch longer than the phrase, or words that may not surround this phrase: none.
    assert commands.context_around("BOSS!", "pause") is None
    assert commands.context_around("Pause, please.", "pause") is None
    assert commands.context_around("Boss for the movement.", "pause") is None
    assert commands.context_around("Pass me the salt, please.", "pause") is None
    assert commands.context_around("Post for a moment.", "next") is None  # "moment": pause's
    assert commands.context_around("Please.", "pause") is None


def test_the_ways_people_ask_that_only_whisper_writes() -> None:
    assert commands.carried_phrase("More gently, please.") == "more gently"
    assert commands.carried_phrase("Just give me a second.") == "give me a second"
    assert commands.carried_phrase("Ugh, the music is too loud.") == "music is too loud"
    assert commands.carried_phrase("That's a bit much.") == "a bit much"
    assert commands.carried_phrase("It's too fast.") == "too fast"
    assert commands.carried_phrase("Skip this one.") == "skip"
    assert commands.carried_phrase("Help me.") == "help"
    assert commands.carried_phrase("She moved gently.") is None
    assert commands.carried_phrase("The music is nice.") is None
    assert commands.carried_phrase("Give me the towel.") is None
    # ... and the coach saying one is its own voice, heard back (listener.maybe_own_voice).
    assert commands.mentions("Glide gently up the back.", "softer")


def test_what_a_grammar_heard_is_read_by_its_own_phrases_only() -> None:
    """A grammar's sound-alikes include "less" and "more": to the verifier those are no
    command, though "less" written by Whisper is one ("A little less.")."""
    assert commands.parse("A little less.").command == "softer"
    assert commands.parse("less", written=False) is None
    assert commands.parse("less pressure", written=False).command == "softer"


def test_pain_said_plainly_is_pain_and_a_stop_for_a_moment_is_a_pause() -> None:
    assert commands.parse("You're hurting me!").pain
    assert commands.carried_phrase("It's sore.") == "sore"
    assert commands.carried_phrase("My back is sore.") is None  # typed, it is pain (parse)
    assert commands.parse("Back off.").command == "softer"
    assert commands.parse("Stop for a second.").command == "pause"
    assert commands.parse("Stop, that's painful.").command == "stop"


def test_contrary_commands_pair_up_both_ways() -> None:
    assert commands.CONTRARY["harder"] == "softer" and commands.CONTRARY["softer"] == "harder"
    assert all(commands.CONTRARY[b] == a for a, b in commands.CONTRARY.items())
    assert set(commands.CONTRARY) <= set(commands.NAMES)


def test_typed_phrasings_of_the_bench_name_their_command() -> None:
    """What the listening bench's phrasings mean, typed: each one parses to the command it is
    labelled with, and holds nothing but that command's phrase with the words allowed around
    it (what Whisper writes for them is read the same way); "stop" takes no words around it
    but fillers (CARRIERS says why), so "stop right there" is a phrase of its own."""
    from voice_coach.bench_data import EVERYDAY, PHRASINGS

    # ... but "a little more": more of what? Not a harder on the words alone.
    for text, command in (*PHRASINGS, *(e for e in EVERYDAY if e[0] != "a little more")):
        parsed = commands.parse(text)
        assert parsed is not None and parsed.command == command, (text, parsed)
        carried = commands.command_for_phrase(commands.carried_phrase(text) or "")
        assert carried == command, text


def test_phrases_taken_only_when_written_stay_out_of_the_grammars() -> None:
    """"how much longer" is read in typed text and Whisper's writing, with the words people
    say around it, but no recogniser grammar holds it (pocketsphinx's drew other speech to
    it)."""
    assert "how much longer" not in commands.phrases()
    assert commands.carried_phrase("How much time is left?") == "how much time"
    assert commands.command_for_phrase("how much longer") == "time"
    assert commands.carried_phrase("How long have we been here?") is None
    assert commands.carried_phrase("How much is left?") == "how much is left"
    for asked in ("What did you say?", "Come again?", "Pardon?", "Pardon me?"):
        assert commands.command_for_phrase(commands.carried_phrase(asked) or "") == "repeat"
        assert commands.carried_phrase(asked) not in commands.phrases()
    assert commands.carried_phrase("What did you say to him?") is None
