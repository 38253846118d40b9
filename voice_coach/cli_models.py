"""`voice-coach models list|download|path`: see, fetch and locate Vosk speech models."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from . import commands, models
from .errors import UserError

# Read here, in the CLI, and passed down: models.py never reads the environment.
ENV_MODEL = "VOICE_COACH_MODEL"
ENV_MODELS_URL = "VOICE_COACH_MODELS_URL"  # a mirror holding <name>.zip, like --url


def add_commands(sub: argparse._SubParsersAction, bench_sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("models", help="list, download or locate Vosk speech models",
                            description="Vosk models for the 'vosk' listening engine.")
    msub = parser.add_subparsers(dest="models_command", metavar="ACTION",
                                 parser_class=type(parser))
    msub.required = True

    listing = msub.add_parser("list", help="the models 'download' knows, and which are installed")
    listing.set_defaults(func=run_list)

    dl = msub.add_parser("download", help="download, verify (size + SHA-256) and unpack a model")
    dl.add_argument("name", nargs="?", default=models.DEFAULT_MODEL,
                    help=f"model name (default: {models.DEFAULT_MODEL})")
    dl.add_argument("--dest", type=Path, metavar="DIR",
                    help="models folder (default: the checkout's models/ or the user data dir)")
    dl.add_argument("--url", metavar="URL",
                    help=f"download from this .zip URL or mirror folder instead of the official "
                         f"server (also ${ENV_MODELS_URL})")
    dl.add_argument("--sha256", metavar="HEX",
                    help="expected SHA-256, required for a model that is not in 'models list'")
    dl.add_argument("--size", type=int, metavar="BYTES",
                    help="expected size in bytes of a model that is not in 'models list'")
    dl.add_argument("--no-progress", action="store_true", help="no progress bar")
    dl.set_defaults(func=run_download)

    path = msub.add_parser("path", help="print the model the vosk engine would use, and check "
                                        "that it knows every command word")
    path.add_argument("--model", type=Path, metavar="PATH",
                      help=f"a model folder (else ${ENV_MODEL}, else the models folders)")
    path.set_defaults(func=run_path)


def _installed(name: str) -> Path | None:
    for folder in models.search_dirs():
        try:
            return models.check_model(folder / name)
        except UserError:
            continue
    return None


def run_list(args: argparse.Namespace) -> int:
    for info in models.list_models():
        where = _installed(info.name)
        size = f"{info.size_bytes / 1e6:.0f} MB" if info.size_bytes else "?"
        state = f"installed: {where}" if where else "not installed"
        default = " (default)" if info.name == models.DEFAULT_MODEL else ""
        print(f"{info.name}{default}  {info.language}  {size}  {info.summary}  [{state}]")
    print(f"models folder: {models.models_dir()}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    url = args.url or os.environ.get(ENV_MODELS_URL) or None
    info = models.model_info(args.name, sha256=args.sha256, size_bytes=args.size)
    if info.size_bytes is None:
        print(f"note: no --size given for {info.name}: only its SHA-256 will be checked")
    dest = args.dest if args.dest is not None else models.models_dir()
    source = models.archive_url(info, url)
    print(f"{info.name}: from {source}")
    target = models.download(info.name, dest, url_override=url, progress=not args.no_progress,
                             info=info)
    print(f"{info.name}: verified and installed in {target}")
    return 0


def run_path(args: argparse.Namespace) -> int:
    found = models.find_model(args.model, os.environ.get(ENV_MODEL))
    if found is None:
        where = " or ".join(str(d) for d in models.search_dirs())
        raise UserError(f"no Vosk model found in {where}; run 'voice-coach models download' "
                        f"or give --model / ${ENV_MODEL}")
    print(found)
    # Vosk silently drops grammar words its model lacks: say so here, without loading it.
    missing = models.missing_words(found, commands.vocabulary())
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8
                                          else "")
        raise UserError(f"the model in {found} lacks the command words {shown}; use an English "
                        "model ('voice-coach models download')")
    return 0
