"""Sub-commands for sound out: `voices`, `devices`, `render`, `bench speech`, `bench mix`."""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from .cli_options import add_output_device, add_speech_and_music, settings_from_args
from .errors import UserError
from .pressure import LEVEL_NAMES, Level


def add_commands(sub: argparse._SubParsersAction, bench_sub: argparse._SubParsersAction) -> None:
    voices = sub.add_parser("voices", help="list the speech voices (for --voice)")
    voices.add_argument("--lang", metavar="CODE", help="only voices for this language, e.g. en")
    voices.set_defaults(func=run_voices)

    devices = sub.add_parser("devices", help="list sound devices (for --output-device)")
    devices.set_defaults(func=run_devices)

    render = sub.add_parser("render", help="write a whole narrated session to an audio file",
                            description="Write the session, spoken over music at the script's "
                                        "timings, to a file any phone can play.")
    render.add_argument("script", help="built-in script name (e.g. quick) or a .toml path")
    render.add_argument("-o", "--output", type=Path, required=True, metavar="FILE",
                        help="output file: .mp3, .wav, .ogg or .flac")
    render.add_argument("--pressure", choices=LEVEL_NAMES, default=None,
                        help="the pressure to work up to where it is safe (default: light)")
    add_speech_and_music(render)
    render.set_defaults(func=run_render)

    speech = bench_sub.add_parser("speech", help="TTS real-time factor and time to first "
                                                 "audible speech when a step starts")
    speech.add_argument("--steps", type=int, default=8, help="utterances to time (default 8)")
    add_speech_and_music(speech)
    add_output_device(speech)
    speech.set_defaults(func=run_bench_speech)

    mix = bench_sub.add_parser("mix", help="mixer CPU per second of audio")
    mix.add_argument("--seconds", type=float, default=300.0, help="audio to mix (default 300)")
    mix.set_defaults(func=run_bench_mix)


def run_voices(args: argparse.Namespace) -> int:
    from .tts import list_voices

    lang = (args.lang or "").lower()
    shown = [v for v in list_voices()
             if not lang or any(code.lower().startswith(lang) for code in v.languages)]
    for v in sorted(shown, key=lambda v: v.id):
        print(f"{v.id:<28} {v.name:<40} {', '.join(v.languages)}")
    print(f"\n{len(shown)} voices. Use one with --voice ID; add a variant such as +f3 "
          "(e.g. --voice en-us+f3) for another timbre.")
    return 0


def run_devices(args: argparse.Namespace) -> int:
    from .player import sounddevice

    sd = sounddevice()
    try:
        devices = sd.query_devices()
        default_in, default_out = sd.default.device
    except sd.PortAudioError as err:
        raise UserError(f"cannot list sound devices ({err}); is PulseAudio/ALSA running?") \
            from None
    print(f"{'#':>3}  {'name':<32} {'in':>3} {'out':>3}  rate")
    for d in devices:
        mark = (" <- default output" if d["index"] == default_out else "") + \
               (" <- default input" if d["index"] == default_in else "")
        print(f"{d['index']:>3}  {d['name']:<32} {d['max_input_channels']:>3} "
              f"{d['max_output_channels']:>3}  {d['default_samplerate']:.0f}{mark}")
    print("\nPick a speaker with --output-device NAME|INDEX, a microphone with --input-device.")
    return 0


def run_render(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .render import check_output, render_session
    from .script import load_script

    script = load_script(args.script)
    check_output(args.output)  # a bad file name fails before any synthesis
    settings = settings_from_args(args)
    pressure = Level.parse(args.pressure) if args.pressure else None
    columns = (TextColumn("{task.description:<28}"), BarColumn(),
               TextColumn("{task.fields[at]}"), TimeElapsedColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("Rendering", total=script.total_duration_s, at="0:00")

        def progress(at_s: float, total_s: float, title: str) -> None:
            bar.update(task, completed=at_s, total=max(total_s, at_s), description=title[:28],
                       at=f"{int(at_s // 60)}:{int(at_s % 60):02d}")

        result = render_session(script, args.output, settings, pressure=pressure,
                                progress=progress)
    minutes, seconds = divmod(round(result.duration_s), 60)
    print(f"Wrote {result.path} ({minutes}:{seconds:02d}, {result.utterances} spoken parts).")
    return 0


# ---------------------------------------------------------------- benchmarks

BENCH_TEXTS = (
    "Warm a little oil between your hands and spread it over the back.",
    "Glide your flat palms from the bottom of the back up to the shoulders, out to the sides, "
    "and back down, with the spine between your thumbs.",
    "Lean in with your body weight rather than pushing with your arms.",
    "Work on the muscles on either side of the spine, never on the spine or any bone.",
    "Slow down at the shoulders, where most tension sits.",
    "Rotate your hands outward and let your thumbs slide across the shoulder muscles.",
    "Ask them: more or less pressure here?",
    "Finish with long, light strokes and rest a hand on their back for a moment.",
    "Keep one hand on them at all times.",
    "Towel off any excess oil, gently.",
)


def run_bench_speech(args: argparse.Namespace) -> int:
    from .audio_out import AudioOut
    from .tts import MIXER_RATE, Speech

    settings = settings_from_args(args)
    texts = [BENCH_TEXTS[i % len(BENCH_TEXTS)] + ("" if i < len(BENCH_TEXTS) else f" ({i})")
             for i in range(max(1, args.steps))]
    with tempfile.TemporaryDirectory() as cache:
        speech = Speech(voice=settings.voice, rate_wpm=settings.rate_wpm, cache_dir=Path(cache))
        speech.render("Warming up.")  # engine start-up is paid once per session, not per step
        synth_s = audio_s = 0.0
        for text in texts:
            t0 = time.perf_counter()
            samples = speech.render(text)
            synth_s += time.perf_counter() - t0
            audio_s += len(samples) / MIXER_RATE
        # Live: pre-render, then time say() -> the first voice sample at the speaker.
        live_settings = replace(settings, cache_dir=None)
        cold_speech = Speech(voice=settings.voice, rate_wpm=settings.rate_wpm,
                             cache_dir=Path(cache) / "live")
        delays, cold_ms, device_note, latency_ms = [], None, "ok", 0.0
        try:
            out = AudioOut(live_settings, lambda uid: None, speech=cold_speech)
            out.start()
        except UserError as err:
            out, device_note = None, f"no device: {err}"
        if out is not None:
            try:
                cold_ms = _first_audible_ms(out, "A sentence that was not pre-rendered.", 999)
                out.prerender(texts)
                for text in texts:
                    cold_speech.render(text)  # waits until each pre-render is done
                for uid, text in enumerate(texts, start=1):
                    delays.append(_first_audible_ms(out, text, uid))
                underruns = out.player.underruns + out.player.starved
                latency_ms = out.player.latency_s * 1000
            finally:
                out.close()
    result = {
        "bench": "speech",
        "backend": speech.backend,
        "utterances": len(texts),
        "audio_s": round(audio_s, 2),
        "synth_s": round(synth_s, 3),
        "tts_rtf": round(synth_s / audio_s, 4),
        "first_audible_ms_p50": round(statistics.median(delays), 1) if delays else None,
        "first_audible_ms_max": round(max(delays), 1) if delays else None,
        "first_audible_ms_not_prerendered": round(cold_ms, 1) if cold_ms else None,
        "output_latency_ms": round(latency_ms, 1) if out else None,
        "underruns": underruns if out else None,
        "device": device_note,
    }
    print(f"TTS real-time factor {result['tts_rtf']} ({audio_s:.1f} s of speech in "
          f"{synth_s:.2f} s); first audible speech p50 {result['first_audible_ms_p50']} ms, "
          f"max {result['first_audible_ms_max']} ms")
    print(json.dumps(result))
    return 0


def _first_audible_ms(out: object, text: str, uid: int) -> float:
    """say() at t0 -> when the first voice frame reaches the device, plus its output latency."""
    from .audio_out import AudioOut

    assert isinstance(out, AudioOut)
    out.mixer.first_voice_frame = None
    out.player.voice_out_time = None
    t0 = time.perf_counter()
    out.say(text, uid, "step")
    deadline = t0 + 30
    while out.player.voice_out_time is None and time.perf_counter() < deadline:
        time.sleep(0.001)
    reached = out.player.voice_out_time
    out.cancel_speech()
    time.sleep(0.1)  # let the fade finish before the next step starts
    if reached is None:
        raise UserError("speech never reached the output device; check 'voice-coach devices'")
    return (reached - t0 + out.player.latency_s) * 1000


def run_bench_mix(args: argparse.Namespace) -> int:
    import numpy as np

    from .mixer import Mixer
    from .music import OFFLINE_WAIT_S, MusicSource, find_tracks
    from .tts import MIXER_RATE

    music = MusicSource(find_tracks(None), wait_s=OFFLINE_WAIT_S)  # as fast as it can go
    mixer = Mixer(music)
    rng = np.random.default_rng(1)
    voice = (0.3 * rng.standard_normal(4 * MIXER_RATE)).astype(np.float32)  # 4 s "speech"
    blocks = int(args.seconds * MIXER_RATE / mixer.block)
    every = int(10 * MIXER_RATE / mixer.block)  # every 10 s: an utterance, a chime, a cancel
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(blocks):
        if i % every == 0:
            mixer.play_voice(voice, i)
            mixer.chime("ack")
        elif i % every == every // 4:
            mixer.cancel_speech()
            mixer.music_gain(-3.0 if (i // every) % 2 else 0.0)
        mixer.mix_block()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    audio_s = blocks * mixer.block / MIXER_RATE
    result = {"bench": "mix", "audio_s": round(audio_s, 1), "cpu_s": round(cpu, 3),
              "cpu_percent_of_one_core": round(100 * cpu / audio_s, 3),
              "wall_s": round(wall, 3), "block": mixer.block, "rate": MIXER_RATE}
    print(f"mixer: {result['cpu_percent_of_one_core']} % of one core "
          f"({audio_s:.0f} s of audio in {cpu:.2f} s CPU)")
    print(json.dumps(result))
    return 0
