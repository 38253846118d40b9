"""`voice-coach bench listen`: recall over music, false accepts per hour, delay, speed and memory
of a listening engine on a synthesized test set (or on your own labelled recordings)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import bench_data, commands
from .audio_in import RATE, to_int16
from .bench_opinions import OpinionLog
from .bench_runs import Run, Runs
from .engines.base import Detection
from .listener import maybe_own_voice
from .recent_speech import KEEP_S, WordSpan, word_spans, words_near

SPEECH_DBFS = -20.0  # every clip is levelled to this RMS before the music goes under it
CONDITIONS: tuple[tuple[str, float | None], ...] = (
    ("clean", None), ("music20", 20.0), ("music10", 10.0), ("music0", 0.0))
BARGE_IN_RESIDUAL_DB = 20.0  # the coach's voice left in the mic after echo removal, under a command
MATCH_AFTER_S = 1.0  # a detection up to this long after the phrase ends still counts as a hit


@dataclass
class Stream:
    """Audio plus what is in it: commands [(start_s, end_s, command, voice)] and the spans where
    the coach is talking [(start_s, end_s)]."""

    audio: np.ndarray  # float32
    labels: list[tuple[float, float, str, str]] = field(default_factory=list)
    coach: list[tuple[float, float]] = field(default_factory=list)
    coach_words: list[tuple[float, float, str]] = field(default_factory=list)  # what it said
    coach_timed: list[WordSpan] = field(default_factory=list)  # ... word by word
    spoken: list[tuple[float, float, str]] = field(default_factory=list)  # every clip's words

    def words_before(self, t: float) -> str:
        """The words of the last clip that began before `t` (what a detection was heard in)."""
        return next((text for a, _b, text in reversed(self.spoken) if a <= t), "")

    def coach_said(self, span: tuple[float, float, str], samples: np.ndarray) -> None:
        """The coach says the text of `span` there, with these samples."""
        self.coach_words.append(span)
        self.coach_timed += [(span[0] + a, span[0] + b, w)
                             for a, b, w in word_spans(span[2], samples, RATE)]

    def said_lately(self, t: float) -> str:
        """The coach's words playing at `t` or ended within KEEP_S before it (RecentSpeech)."""
        return " ".join(w for a, b, w in self.coach_words if a <= t and b >= t - KEEP_S)

    def finished_lately(self, t: float) -> str:
        """The coach's words that ended within KEEP_S before `t`."""
        return " ".join(w for a, b, w in self.coach_words if t - KEEP_S <= b <= t)

    def acted_on(self, detections: list[Detection]) -> list[Detection]:
        """The detections the listener would act on, knowing what the coach said and when."""
        def own_voice(d: Detection) -> bool:
            if d.start_s is not None and d.end_s is not None:
                near = words_near(self.coach_timed, d.start_s, d.end_s)
                return maybe_own_voice(d, near, near)
            return maybe_own_voice(d, self.said_lately(d.at_s), self.finished_lately(d.at_s))
        return [d for d in detections if not own_voice(d)]


def _level(x: np.ndarray) -> np.ndarray:
    y = x.astype(np.float32) / 32768.0
    rms = float(np.sqrt(np.mean(y ** 2))) + 1e-9
    return y * (10 ** (SPEECH_DBFS / 20) / rms)


def assemble(clips: list[bench_data.Clip], seed: int, coach_kinds: tuple[str, ...] = ()) -> Stream:
    """Clips in a row with 1.2-2.6 s gaps (long enough that one utterance is one command)."""
    rng = np.random.default_rng(seed)
    parts: list[np.ndarray] = []
    s = Stream(np.zeros(0, np.float32))
    t = 0
    for c in clips:
        gap = np.zeros(int(rng.uniform(1.2, 2.6) * RATE), np.float32)
        x = _level(c.samples)
        parts += [gap, x]
        t += len(gap)
        span = (t / RATE, (t + len(x)) / RATE)
        s.spoken.append((*span, c.text))
        if c.command:
            s.labels.append((*span, c.command, c.voice))
        if c.kind in coach_kinds:
            s.coach.append(span)
            s.coach_said((*span, c.text), x)
        t += len(x)
    parts.append(np.zeros(RATE, np.float32))
    s.audio = np.concatenate(parts)
    return s


def mix(stream: Stream, snr_db: float | None, seed: int) -> np.ndarray:
    """Music under the speech at snr_db (speech RMS over music RMS); None = a faint room hiss."""
    n = len(stream.audio)
    if snr_db is None:
        bed = np.random.default_rng(seed).standard_normal(n).astype(np.float32) * 10 ** (-65 / 20)
    else:
        bed = bench_data.music(n / RATE + 1, seed)[:n] * 10 ** ((SPEECH_DBFS - snr_db) / 20)
    return to_int16(stream.audio + bed)


@dataclass
class Score:
    hits: int = 0
    total: int = 0
    wrong: int = 0  # a different command during a labelled phrase
    extra: int = 0  # detections where no command was spoken
    delays: list[float] = field(default_factory=list)
    by_voice: dict[str, list[int]] = field(default_factory=dict)
    by_phrase: dict[str, list[int]] = field(default_factory=dict)  # [hits, said]


def score(run: Run, labels: list[tuple[float, float, str, str]], sc: Score,
          phrases: list[str] | None = None) -> None:
    """Count `run`'s hits, wrong and extra commands against `labels` (`phrases`: the words
    of each, to count by phrase too)."""
    used: set[int] = set()
    for k, (start, end, cmd, voice) in enumerate(labels):
        sc.total += 1
        hv = sc.by_voice.setdefault(voice, [0, 0])
        hv[1] += 1
        hp = sc.by_phrase.setdefault(phrases[k], [0, 0]) if phrases else [0, 0]
        hp[1] += 1
        found = [i for i, d in enumerate(run.detections)
                 if i not in used and start <= d.at_s <= end + MATCH_AFTER_S]
        right = [i for i in found if run.detections[i].command == cmd]
        if right:
            sc.hits += 1
            hv[0] += 1
            hp[0] += 1
            sc.delays.append(run.detections[right[0]].at_s - end)
        elif found:
            sc.wrong += 1
        used.update(found)
    sc.extra += len(run.detections) - len(used)


def _noted(opinions: OpinionLog | None, name: str, st: Stream, run: Run) -> None:
    """Give the opinion log the stream's Whisper decisions and what the stream held."""
    if opinions is not None:
        opinions.add(name, st.spoken, st.labels, run.judged)


def pct(xs: list[float], q: float) -> float | None:
    return round(float(np.percentile(xs, q)), 3) if xs else None


def bench(runs: Runs, engine_name: str, cache: Path, quick: bool, data: Path | None,
          log: Callable[[str], None], opinions: OpinionLog | None = None) -> dict:
    """Every stream is handed to `runs` first, then each is scored when its run is in (in the
    order handed over, so the log and the opinions come out the same with any workers)."""
    t0 = time.time()
    cpu = audio_s = 0.0
    result: dict = {"bench": "listen", "engine": engine_name, "quick": quick,
                    "workers": runs.workers}
    if data is not None:
        streams = [(name, Stream(x.astype(np.float32) / 32768.0,
                                 [(a, b, c, name) for a, b, c in labs],
                                 [(0.0, len(x) / RATE)] if name.startswith("coach") else []))
                   for name, x, labs in bench_data.read_folder(data)]
        pending = [(name, st, runs.submit(to_int16(st.audio), st.coach)) for name, st in streams]
        sc, fa_s, fa = Score(), 0.0, 0
        for name, st, ran in pending:
            run = ran()
            _noted(opinions, name, st, run)
            cpu, audio_s = cpu + run.cpu_s, audio_s + run.audio_s
            before = sc.extra
            score(run, st.labels, sc)
            if not st.labels:
                fa_s += run.audio_s
                fa += sc.extra - before
            log(f"{name}: {len(run.detections)} detections")
        result["recall"] = {"data": round(sc.hits / sc.total, 3) if sc.total else None}
        result["commands"] = sc.total
        result["false_accepts_per_hour"] = round(fa / fa_s * 3600, 2) if fa_s else None
        result["delay_p50_s"], result["delay_p95_s"] = pct(sc.delays, 50), pct(sc.delays, 95)
    else:
        ts = bench_data.build(cache, quick)
        log(f"test set: {len(ts.clips)} clips ({time.time() - t0:.1f} s to build/load)")
        by_voice: dict[str, list[bench_data.Clip]] = {}
        for c in ts.clips:
            if c.kind == "command":
                by_voice.setdefault(c.voice, []).append(c)
        # The longest streams first, so that no worker is left with one at the end.
        phrasings_ran = everyday_ran = None
        if not quick:
            everyday_ran = _phrasings(runs, cache, log, opinions, "everyday")
            phrasings_ran = _phrasings(runs, cache, log, opinions)
        over_ran = _over_coach(runs, ts, log, opinions)
        fa_ran = _false_accepts(runs, ts, quick, log, opinions)
        voice_streams = [assemble(clips, seed=k)
                         for k, (_voice, clips) in enumerate(sorted(by_voice.items()))]
        condition_runs = [[(st, runs.submit(mix(st, snr, seed=k), []))
                           for k, st in enumerate(voice_streams)] for _cond, snr in CONDITIONS]
        recall: dict[str, float] = {}
        delays: list[float] = []
        per_voice: dict[str, dict[str, float]] = {}
        by_phrase: dict[str, float] = {}
        wrong = extra = 0
        for (cond, _snr), ran_streams in zip(CONDITIONS, condition_runs, strict=True):
            sc = Score()
            for st, ran in ran_streams:
                run = ran()
                _noted(opinions, cond, st, run)
                cpu, audio_s = cpu + run.cpu_s, audio_s + run.audio_s
                score(run, st.labels, sc, [st.words_before(a) for a, *_ in st.labels])
            recall[cond] = round(sc.hits / max(sc.total, 1), 3)
            delays += sc.delays
            wrong += sc.wrong
            extra += sc.extra
            for v, (h, n) in sc.by_voice.items():
                per_voice.setdefault(v, {})[cond] = round(h / n, 2)
            log(f"{cond}: recall {recall[cond]} ({sc.hits}/{sc.total}), wrong {sc.wrong}, "
                f"extra {sc.extra}")
            if cond == "music10":  # where the target is: which phrases it loses
                by_phrase = {p: round(h / n, 2) for p, (h, n) in sorted(sc.by_phrase.items())}
                log("  fewest heard: " + _fewest_heard(sc, 8))
        phrasings = everyday = None
        if phrasings_ran is not None and everyday_ran is not None:
            phrasings, ph_s, ph_cpu = phrasings_ran()
            everyday, ev_s, ev_cpu = everyday_ran()
            cpu, audio_s = cpu + ph_cpu + ev_cpu, audio_s + ph_s + ev_s
        over, barge_s, barge_cpu = over_ran()
        cpu, audio_s = cpu + barge_cpu, audio_s + barge_s
        fa, (free_s, free_cpu), fa_by = fa_ran()
        cpu += free_cpu
        audio_s += free_s + fa_by["narration"]["audio_s"]
        held = [v for v in per_voice if tuple(v.split(":", 1)) in bench_data.HELD_OUT]
        result.update({
            "recall": recall,
            "recall_held_out_voices_music10": (
                round(float(np.mean([per_voice[v]["music10"] for v in held])), 3)
                if held else None),
            "recall_by_voice": per_voice,
            "recall_by_phrase_music10": by_phrase,
            "recall_phrasings_music10": phrasings,
            "recall_everyday_music10": everyday,
            "recall_barge_in_over_coach": over["barge_in"],
            "recall_any_over_coach": over["any"],
            "commands_per_condition": sum(len(v) for v in by_voice.values()),
            "wrong_command": wrong,
            "extra_in_command_streams": extra,
            "false_accepts_per_hour": round(fa / free_s * 3600, 2),
            "false_accepts_by_kind": fa_by,
            "command_free_audio_s": round(free_s, 1),
            "delay_p50_s": pct(delays, 50), "delay_p95_s": pct(delays, 95),
        })
    result["rtf"] = round(cpu / max(audio_s, 1e-9), 4)
    result["audio_s"] = round(audio_s, 1)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["engine_alone_peak_rss_mb"] = engine_alone_rss_mb(engine_name)
    result["wall_s"] = round(time.time() - t0, 1)
    return result


def _phrasings(runs: Runs, cache: Path, log: Callable[[str], None],
               opinions: OpinionLog | None, name: str = "phrasings"
               ) -> Callable[[], tuple[float, float, float]]:
    """What gives (recall, audio s, CPU s) of commands said with more words than the table's
    phrase (bench_data.PHRASINGS; "everyday": bench_data.EVERYDAY), every voice, music 10 dB
    under them."""
    everyday = name == "everyday"
    clips = bench_data.build_phrasings(
        cache, bench_data.EVERYDAY if everyday else bench_data.PHRASINGS)
    seed = 402 if everyday else 400
    st = assemble(clips, seed=seed)
    ran = runs.submit(mix(st, 10.0, seed=seed), [])

    def scored() -> tuple[float, float, float]:
        run = ran()
        _noted(opinions, name, st, run)
        sc = Score()
        score(run, st.labels, sc, [st.words_before(a) for a, *_ in st.labels])
        recall = round(sc.hits / max(sc.total, 1), 3)
        log(f"{name}, music10: recall {recall} ({sc.hits}/{sc.total}), wrong {sc.wrong}; "
            "fewest heard: " + _fewest_heard(sc, 6))
        return recall, run.audio_s, run.cpu_s
    return scored


def _fewest_heard(sc: Score, k: int) -> str:
    """The k phrases heard least often, as "'phrase' hits/said"."""
    worst = sorted((h / n, p, h, n) for p, (h, n) in sc.by_phrase.items())[:k]
    return ", ".join(f"{p!r} {h}/{n}" for _r, p, h, n in worst)


def _over_coach(runs: Runs, ts: bench_data.TestSet, log: Callable[[str], None],
                opinions: OpinionLog | None
                ) -> Callable[[], tuple[dict[str, float], float, float]]:
    """What gives ({"barge_in": recall, "any": recall}, audio s, CPU s) of commands said while
    the coach talks: music 10 dB under them, the engine told the coach is speaking throughout,
    and the coach's narration running under them BARGE_IN_RESIDUAL_DB down (what echo removal
    leaves of it). "barge_in": stop, pause, softer (pain words too) and next, which always cut
    in; "any": every command, counted as the listener acts on them (not one the narration
    running under it had just said)."""
    clips = [c for c in ts.clips if c.kind == "command" and c.command]
    st = assemble(clips, seed=300)
    st.audio = st.audio + _narration_under(st, ts) * np.float32(
        10 ** (-BARGE_IN_RESIDUAL_DB / 20))
    ran = runs.submit(mix(st, 10.0, seed=300), [(0.0, len(st.audio) / RATE)])

    def scored() -> tuple[dict[str, float], float, float]:
        run = ran()
        _noted(opinions, "over the coach", st, run)
        run.detections = st.acted_on(run.detections)
        recall = {}
        for name, barge_in in (("barge_in", True), ("any", False)):
            labels = [lab for lab, c in zip(st.labels, clips, strict=True)
                      if not barge_in or commands.is_barge_in(c.command or "", c.text)]
            sc = Score()
            score(run, labels, sc)
            recall[name] = round(sc.hits / max(sc.total, 1), 3)
            log(f"over the coach ({name}): recall {recall[name]} ({sc.hits}/{sc.total}), "
                f"wrong {sc.wrong}")
        return recall, run.audio_s, run.cpu_s
    return scored


def _narration_under(st: Stream, ts: bench_data.TestSet) -> np.ndarray:
    """The coach's narration, clip after clip, as long as the stream; its words go to
    st.coach_said."""
    out = np.zeros(len(st.audio), np.float32)
    narration = [c for c in ts.clips if c.kind == "narration"]
    pos, i = 0, 0
    while narration and pos < len(out):
        c = narration[i % len(narration)]
        x = _level(c.samples)
        st.coach_said((pos / RATE, (pos + len(x)) / RATE, c.text), x)  # the last one runs over
        x = x[: len(out) - pos]
        out[pos:pos + len(x)] = x
        pos, i = pos + len(x), i + 1
    return out


def _false_accepts(runs: Runs, ts: bench_data.TestSet, quick: bool,
                   log: Callable[[str], None], opinions: OpinionLog | None
                   ) -> Callable[[], tuple[int, tuple[float, float], dict]]:
    """What gives the false accepts on command-free audio: near misses and chatter from the
    receiver, real read speech, and music alone, all over music at 10 dB (the headline rate);
    plus the coach's narration, which holds command words, with the engine told the coach is
    speaking, counted as the listener acts on them (it knows what the coach said; reported on
    its own)."""
    def free(c: bench_data.Clip) -> bool:  # truly command-free: no command phrase in it at all
        return commands.parse(c.text) is None

    groups = {
        "near_miss": ([c for c in ts.clips if c.kind == "near" and free(c)], ()),
        "chatter": ([c for c in ts.clips if c.kind in ("chatter", "human") and free(c)], ()),
        "narration": ([c for c in ts.clips if c.kind == "narration"], ("narration",)),
    }
    streams = [assemble(clips, seed=100 + k, coach_kinds=coach_kinds)
               for k, (clips, coach_kinds) in enumerate(groups.values())]
    ran_groups = [runs.submit(mix(st, 10.0, seed=100 + k), st.coach)
                  for k, st in enumerate(streams)]
    music_s = 60.0 if quick else 300.0
    only = Stream(np.zeros(int(music_s * RATE), np.float32))
    ran_music = runs.submit(mix(only, 0.0, seed=200), [])

    def counted() -> tuple[int, tuple[float, float], dict]:
        total, audio_s, cpu = 0, 0.0, 0.0
        by: dict[str, dict[str, float]] = {}
        for kind, st, ran in zip(groups, streams, ran_groups, strict=True):
            run = ran()
            _noted(opinions, kind, st, run)
            cpu += run.cpu_s
            if kind == "narration":  # what the listener acts on: not what the coach just said
                log(f"narration: the engine heard {[(d.command, d.text) for d in run.detections]}")
                run.detections = st.acted_on(run.detections)
            by[kind] = {"false_accepts": len(run.detections), "audio_s": round(run.audio_s, 1),
                        "per_hour": round(len(run.detections) / run.audio_s * 3600, 1)}
            if kind != "narration":  # the coach's own voice is reported on its own
                total += len(run.detections)
                audio_s += run.audio_s
            # The words said, with what was heard in them: a near miss that sounds exactly like
            # a command ("paws") is told apart from one a listener could have turned down
            # ("sofa").
            log(f"{kind}: {len(run.detections)} false accepts in {run.audio_s:.0f} s"
                + "".join(f"\n  {st.words_before(d.at_s)!r} heard as {d.command} ({d.text!r})"
                          for d in run.detections))
        run = ran_music()
        _noted(opinions, "music only", only, run)
        total += len(run.detections)
        audio_s, cpu = audio_s + run.audio_s, cpu + run.cpu_s
        by["music_only"] = {"false_accepts": len(run.detections), "audio_s": music_s,
                            "per_hour": round(len(run.detections) / music_s * 3600, 1)}
        log(f"music only: {len(run.detections)} false accepts in {music_s:.0f} s")
        return total, (audio_s, cpu), by
    return counted


def engine_alone_rss_mb(engine_name: str) -> float | None:
    """Peak memory of a process that only loads the engine and decodes 20 s of audio: what the
    listener costs in the app, without the bench's own test set and music in memory."""
    code = ("import resource, numpy as np\n"
            "from voice_coach.engines.factory import make_engine\n"
            f"e = make_engine({engine_name!r}, None)\n"
            "x = (np.random.default_rng(0).standard_normal(16000 * 20) * 300).astype(np.int16)\n"
            "[e.feed(x[i:i + 1600]) for i in range(0, len(x), 1600)]\n"
            # VmHWM, not ru_maxrss: the latter keeps the parent's peak across fork+exec.
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
            "print(int(hwm[0].split()[1]) / 1024 if hwm else\n"
            "      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=300, check=True).stdout
        return round(float(out.strip().splitlines()[-1]), 1)
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None


def to_json_line(result: dict) -> str:
    return json.dumps(result, sort_keys=False)
