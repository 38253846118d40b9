"""`voice-coach history [NAME]`: past sessions with a pressure timeline per zone; `--plot`."""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path
from typing import Any

from . import history, profiles, storage
from .errors import UserError
from .pressure import Level

COLUMNS = 48  # sparkline width: fits an 80-column terminal beside the zone names
BARS = "▁▂▃▄▅▆▇█"
LOW, HIGH = Level.LIGHT.scale, Level.DEEP.scale  # 3..7, the lay scale
PLOT_SUFFIXES = (".png", ".svg", ".pdf")
_LABEL = {level.scale: level.label for level in Level}
_COLOUR = {"completed": "green", "stopped": "yellow", history.INTERRUPTED: "red"}


def add_commands(sub: argparse._SubParsersAction, bench_sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("history", help="list past sessions with their pressure timeline",
                         description="List past sessions (oldest first): script, person, "
                                     "duration, how it ended, commands heard, and the pressure "
                                     "per zone over the session (3 light ... 7 deep).")
    cmd.add_argument("name", nargs="?", metavar="NAME",
                     help="only sessions given --for NAME, with what is remembered for them")
    cmd.add_argument("--last", type=_positive_int, default=10, metavar="N",
                     help="show the last N sessions (default 10)")
    cmd.add_argument("--plot", type=Path, metavar="FILE.png",
                     help="also draw pressure over time for those sessions into an image")
    cmd.add_argument("--data-dir", type=Path, metavar="DIR",
                     help="where profiles and history are kept (default: the user data folder)")
    cmd.set_defaults(func=run_history)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return value


def run_history(args: argparse.Namespace) -> int:
    from rich.console import Console

    if args.plot is not None:
        _check_plot_path(args.plot)
    data = storage.data_dir(args.data_dir)
    name = profiles.check_name(args.name) if args.name is not None else None
    sessions, warnings = history.list_sessions(data, name)
    console = Console(highlight=False)
    for warning in warnings:
        print(f"voice-coach: warning: {warning}", file=sys.stderr)
    if name is not None:
        _explain_person(console, data, name, sessions)
    if not sessions:
        if name is None:
            console.print(f"No sessions saved yet (in {history.sessions_dir(data)}). "
                          "They are saved when a session ends: voice-coach start --for NAME")
        if args.plot is not None:
            raise UserError("there are no sessions to plot yet; run a session first")
        return 0
    shown = sessions[-args.last:]
    if len(shown) < len(sessions):
        console.print(f"[dim]{len(sessions) - len(shown)} earlier sessions not shown "
                      "(--last N shows more)[/dim]")
    for summary in shown:
        _print_session(console, summary)
    console.print(f"[dim]pressure: {BARS[0]} light 3 · {_bar(5)} medium 5 · {_bar(6)} firm 6 · "
                  f"{BARS[-1]} deep 7[/dim]")
    if args.plot is not None:
        _plot(shown, args.plot)
        console.print(f"Drew {len(shown)} session{'s' if len(shown) != 1 else ''} "
                      f"into {args.plot}.")
    return 0


def _explain_person(console: Any, data: Path, name: str,
                    sessions: list[dict[str, Any]]) -> None:
    preferred, warning = profiles.load_profile(data, name)
    if warning:
        print(f"voice-coach: warning: {warning}", file=sys.stderr)
    if preferred:
        said = ", ".join(f"{z.replace('_', ' ')} {lv.label}" for z, lv in preferred.items())
        shown = sessions[-1]["person"] if sessions else name  # as it was spelt at --for
        console.print(f"Remembered for {shown}: {said}.")
    if sessions or preferred:
        return
    everyone, _ = history.list_sessions(data)
    people = sorted({s["person"] for s in everyone if isinstance(s.get("person"), str)},
                    key=str.casefold)
    if people:
        raise UserError(f"no sessions for {name!r}; sessions were saved for: "
                        f"{', '.join(people)} (check the spelling)")
    console.print(f"Nothing saved for {name} yet. Run: voice-coach start --for {name}")


def _print_session(console: Any, summary: dict[str, Any]) -> None:
    when = time.strftime("%a %d %b %Y %H:%M", time.localtime(summary["started_at_s"]))
    title = summary["script"].get("title") or summary["script"].get("id") or "?"
    who = summary.get("person") or "—"
    reason = str(summary.get("finish_reason") or "?")
    colour = _COLOUR.get(reason, "white")
    commands = len(summary["commands"])
    console.print(f"[bold]{when}[/bold]  {title}  for {who}  "
                  f"{summary['total_s'] / 60:.1f} min  [{colour}]{reason}[/{colour}]  "
                  f"{commands} command{'s' if commands != 1 else ''}", soft_wrap=True)
    for zone, values in history.zone_timelines(summary, COLUMNS).items():
        line = "".join(" " if v is None else _bar(v) for v in values)
        last = next((v for v in reversed(values) if v is not None), None)
        end = _LABEL.get(last, str(last)) if last is not None else ""
        console.print(f"  {zone.replace('_', ' '):<11} [cyan]{line}[/cyan] {end}",
                      soft_wrap=True)


def _bar(value: int) -> str:
    frac = (min(max(value, LOW), HIGH) - LOW) / (HIGH - LOW)
    return BARS[round(frac * (len(BARS) - 1))]


def _check_plot_path(path: Path) -> None:
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise UserError(f"--plot {path}: use a file name ending in "
                        f"{', '.join(PLOT_SUFFIXES)}, e.g. --plot pressure.png")
    if not path.parent.is_dir():
        raise UserError(f"--plot {path}: the folder {path.parent} does not exist; create it "
                        "or choose another path")


def _series(summary: dict[str, Any]) -> tuple[list[float], list[int]]:
    """Pressure as a step function of session minutes, from the start to the end."""
    points = sorted((p for p in summary["pressure"] if isinstance(p, list) and len(p) == 3),
                    key=lambda p: p[0])
    ts = [p[0] / 60 for p in points]
    vs = [int(p[2]) for p in points]
    if vs:
        ts.append(max(summary["total_s"] / 60, ts[-1]))
        vs.append(vs[-1])
    return ts, vs


def _plot(sessions: list[dict[str, Any]], path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        raise UserError("--plot needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")  # files only: no display needed, works over ssh and in CI
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(len(sessions), 1, figsize=(9, 2.4 * len(sessions)),
                             squeeze=False)
    zone_colours: dict[str, Any] = {}
    palette = plt.get_cmap("tab10")
    for ax, summary in zip(axes[:, 0], sessions, strict=True):
        for step in summary["steps"]:
            zone = step.get("zone")
            if zone == "prep" or not isinstance(zone, str):
                continue
            colour = zone_colours.setdefault(zone, palette(len(zone_colours) % 10))
            ax.axvspan(step["t_s"] / 60, (step["t_s"] + step["duration_s"]) / 60,
                       color=colour, alpha=0.18, lw=0, label=zone.replace("_", " "))
        ts, vs = _series(summary)
        ax.step(ts, vs, where="post", color="black", lw=1.8)
        for command in summary["commands"]:
            ax.axvline(command["t_s"] / 60, color="grey", lw=0.6, ls=":")
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(summary["started_at_s"]))
        who = f" for {summary['person']}" if summary.get("person") else ""
        ax.set_title(f"{when}  {summary['script'].get('title', '')}{who} "
                     f"({summary.get('finish_reason', '?')})", fontsize=9, loc="left")
        ax.set_ylim(LOW - 0.5, HIGH + 0.5)
        ax.set_yticks([lv.scale for lv in Level], [f"{lv.label} {lv.scale}" for lv in Level])
        ax.set_xlim(0, max(summary["total_s"] / 60, 0.1))
        ax.set_xlabel("minutes", fontsize=8)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        if unique:
            ax.legend(unique.values(), unique.keys(), fontsize=7, loc="upper right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lower().lstrip("."), dpi=100)
    plt.close(fig)
    storage.write_atomic(path, buffer.getvalue())
