"""Vosk models: the known-model registry, where models live, finding one, and a safe download.

Reads no environment variable: the CLI passes VOICE_COACH_MODEL / the base-URL override in.
The only network use in the project is `download()`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import UserError
from .model_archive import safe_extract
from .model_graph import graph_output_symbols

DEFAULT_MODEL = "vosk-model-small-en-us-0.15"
OFFICIAL_BASE_URL = "https://alphacephei.com/vosk/models/"


@dataclass(frozen=True)
class ModelInfo:
    name: str  # also the folder name the archive unpacks to
    url: str
    size_bytes: int | None  # None only for a user-supplied model given with --sha256 alone
    sha256: str
    language: str = ""
    summary: str = ""


# Sizes and SHA-256 of the official archives. alphacephei.com publishes no checksums; these
# values agree across several independent projects that pinned the same official files.
KNOWN_MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(DEFAULT_MODEL, OFFICIAL_BASE_URL + DEFAULT_MODEL + ".zip", 41_205_931,
              "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498",
              "en-us", "small US-English model (40 MB, ~300 MB RAM); the recommended one"),
    ModelInfo("vosk-model-en-us-0.22-lgraph",
              OFFICIAL_BASE_URL + "vosk-model-en-us-0.22-lgraph.zip", 130_557_655,
              "d9838b4aaa82a75c4a17f5aca300eaca129aaab2a7cbf951bafbb500eb9c4334",
              "en-us", "larger US-English model (128 MB); more accurate, slower to load"),
)

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 256 * 1024


def list_models() -> list[ModelInfo]:
    """The models `download` knows by name, the recommended one first."""
    return list(KNOWN_MODELS)


def model_info(name: str, sha256: str | None = None, size_bytes: int | None = None,
               url: str | None = None) -> ModelInfo:
    """The registry entry for `name`, or a user-described model when a checksum is given.

    A model outside the registry is only accepted with its SHA-256: we never install
    something we cannot verify."""
    if sha256 is not None:
        sha256 = sha256.strip().lower()
        if not _SHA256_HEX.match(sha256):
            raise UserError(f"--sha256 must be 64 hex digits, got {sha256!r}")
    for info in KNOWN_MODELS:
        if info.name == name:
            if sha256 is not None and sha256 != info.sha256:
                raise UserError(f"--sha256 does not match the known checksum of {name}; "
                                "drop --sha256 to use the known one")
            return info
    if sha256 is None:
        known = ", ".join(m.name for m in KNOWN_MODELS)
        raise UserError(f"unknown model {name!r} (known: {known}); for another Vosk model "
                        "give its --sha256 (and --url)")
    if not _safe_folder_name(name):
        raise UserError(f"model name {name!r} must be a plain folder name (letters, digits, "
                        "'.', '-', '_')")
    return ModelInfo(name, url or OFFICIAL_BASE_URL + name + ".zip", size_bytes, sha256)


def _safe_folder_name(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name)) and ".." not in name


# ---------------------------------------------------------------- where models live

def repo_models_dir() -> Path | None:
    """`models/` beside the package when running from a checkout, else None."""
    root = Path(__file__).resolve().parent.parent
    # An installed package sits in site-packages, which has no pyproject.toml beside it.
    if (root / "pyproject.toml").is_file() and (root / "voice_coach").is_dir():
        return root / "models"
    return None


def user_models_dir() -> Path:
    import platformdirs  # only needed when a path is actually resolved

    return Path(platformdirs.user_data_dir("voice-coach", appauthor=False)) / "models"


def models_dir() -> Path:
    """Where `download` puts models: the checkout's models/ if writable, else the data dir."""
    repo = repo_models_dir()
    if repo is not None and os.access(repo if repo.exists() else repo.parent, os.W_OK):
        return repo
    return user_models_dir()


def search_dirs() -> list[Path]:
    """Folders searched for an installed model, in order."""
    dirs = [d for d in (repo_models_dir(), user_models_dir()) if d is not None]
    return list(dict.fromkeys(dirs))


def check_model(path: Path) -> Path:
    """`path` if it looks like a Vosk model folder, else UserError saying what to do.

    Vosk accepts two layouts: the current one (am/final.mdl, conf/, graph/) and the old flat
    one (final.mdl, mfcc.conf and the graph beside them). Either way it needs an acoustic model
    and a decoding graph: HCLG.fst, or HCLr.fst + Gr.fst for the small dynamic-graph models."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"model folder {path} not found; give the folder that holds am/, conf/ "
                        "and graph/, or run 'voice-coach models download'")
    if not path.is_dir():
        raise UserError(f"model path {path} is a file, not a folder; unzip the model and give "
                        "the unzipped folder")
    if (path / "am" / "final.mdl").exists():
        mdl, conf, graph = path / "am" / "final.mdl", path / "conf" / "model.conf", path / "graph"
        required = [mdl, conf, path / "conf" / "mfcc.conf"]
    else:
        mdl, graph = path / "final.mdl", path
        required = [mdl, path / "mfcc.conf"]
    has_graph = (graph / "HCLG.fst").is_file() or (
        (graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file())
    missing = [p.relative_to(path).as_posix() for p in required if not p.is_file()]
    if not has_graph:
        missing.append(f"{graph.relative_to(path).as_posix()}/HCLG.fst (or HCLr.fst + Gr.fst)"
                       .lstrip("./"))
    empty = [p.relative_to(path).as_posix() for p in required if p.is_file()
             and p.stat().st_size == 0]
    if missing or empty:
        what = ", ".join(missing + [f"{e} (empty)" for e in empty])
        raise UserError(f"{path} is corrupt or not a Vosk model (missing {what}); "
                        "download it again with 'voice-coach models download'")
    return path


def find_model(explicit: Path | None, env_value: str | None = None,
               dirs: Iterable[Path] | None = None) -> Path | None:
    """The model to use: --model PATH, then $VOICE_COACH_MODEL (passed in by the CLI), then
    the first valid model in models/ and the data dir (the recommended model first).
    An explicitly named model that is missing or broken is an error, never skipped."""
    for given in (explicit, Path(env_value).expanduser() if env_value else None):
        if given is not None:
            return check_model(Path(given))
    for folder in (search_dirs() if dirs is None else dirs):
        if not folder.is_dir():
            continue
        candidates = sorted((p for p in folder.iterdir() if p.is_dir()
                             and not p.name.startswith(".")),
                            key=lambda p: (p.name != DEFAULT_MODEL, p.name))
        for candidate in candidates:
            try:
                return check_model(candidate)
            except UserError:
                continue  # a half-copied folder next to a good model must not block it
    return None


# ---------------------------------------------------------------- vocabulary

def model_vocabulary(path: Path) -> frozenset[str]:
    """The words a model can recognise, read from its files without loading it (a model takes
    seconds and hundreds of MB to load). Same sources, same order as Vosk: the output symbols
    of graph/HCLG.fst, else of graph/Gr.fst (where small models keep them), else words.txt."""
    path = check_model(Path(path))
    graph = path / "graph" if (path / "am" / "final.mdl").exists() else path
    try:
        # A model with HCLG.fst is decoded with it alone; Gr.fst is only used without one.
        fst = graph / "HCLG.fst" if (graph / "HCLG.fst").is_file() else graph / "Gr.fst"
        words = graph_output_symbols(fst)
        if words is not None:
            return frozenset(words)
        text = (graph / "words.txt").read_text(encoding="utf-8")
        return frozenset(line.split()[0] for line in text.splitlines() if line.strip())
    except (OSError, ValueError, struct.error, IndexError) as err:
        raise UserError(f"cannot read the word list of the model in {path} ({err}): it is "
                        "corrupt or incomplete; download it again") from None


def missing_words(path: Path, words: Iterable[str]) -> list[str]:
    """The words (e.g. commands.vocabulary()) the model at `path` does not know, sorted."""
    vocabulary = model_vocabulary(path)
    return sorted(w for w in set(words) if w not in vocabulary)


# ---------------------------------------------------------------- download

def archive_url(info: ModelInfo, url_override: str | None) -> str:
    """The official URL, or the override: a full .zip URL, or a base URL (mirror) that holds
    `<name>.zip`."""
    url = url_override or info.url
    if url_override and not urllib.parse.urlparse(url_override).path.endswith(".zip"):
        url = url_override.rstrip("/") + "/" + info.name + ".zip"
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https"):
        raise UserError(f"model URL must start with https:// or http://, got {url!r}")
    return url


def download(name: str, dest_dir: Path, url_override: str | None = None, progress: bool = True,
             *, info: ModelInfo | None = None, timeout_s: float = 30.0) -> Path:
    """Fetch model `name` into dest_dir/<name>, verified and unpacked safely; return its path.

    Streams to a temporary file in dest_dir, checks size and SHA-256, unpacks into a temporary
    folder and renames it into place, so an interrupted or refused download leaves nothing
    behind. An already installed, valid model is returned as is."""
    info = info or model_info(name)
    dest_dir = Path(dest_dir)
    target = dest_dir / info.name
    if target.exists():
        try:
            return check_model(target)
        except UserError:
            pass  # broken leftover: replace it below
    url = archive_url(info, url_override)
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the models folder {dest_dir}: {err.strerror}; "
                        "choose another with --dest") from None
    fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=f".{info.name}-", suffix=".zip.part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _fetch(url, out, info, progress, timeout_s)
        got = tmp.stat().st_size
        if info.size_bytes is not None and got != info.size_bytes:
            raise UserError(f"download of {info.name} is {got} bytes, expected "
                            f"{info.size_bytes}: incomplete or not the official file; try again")
        if digest != info.sha256:
            raise UserError(f"SHA-256 of the {info.name} download does not match (got "
                            f"{digest[:12]}…, expected {info.sha256[:12]}…); refusing to install "
                            "it — try again, or check --url")
        return install_archive(tmp, dest_dir, info.name)
    finally:
        tmp.unlink(missing_ok=True)


def _fetch(url: str, out: BinaryIO, info: ModelInfo, progress: bool, timeout_s: float) -> str:
    """Stream `url` into `out`; return the hex SHA-256. Stops early once the file is larger
    than the expected size, so a wrong URL cannot fill the disk."""
    sha = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "voice-coach"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)  # noqa: S310 (scheme checked)
    except urllib.error.HTTPError as err:
        raise UserError(f"cannot download {url}: HTTP {err.code} {err.reason}; check the model "
                        "name or --url") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise UserError(f"cannot download {url}: {reason}; check your connection or --url") \
            from None
    with response:
        length = response.headers.get("Content-Length")
        total = info.size_bytes or (int(length) if length and length.isdigit() else None)
        bar = _progress_bar(info.name, total) if progress else None
        received = 0
        try:
            while chunk := response.read(_CHUNK):
                received += len(chunk)
                if info.size_bytes is not None and received > info.size_bytes:
                    raise UserError(f"download of {info.name} is larger than the expected "
                                    f"{info.size_bytes} bytes: not the official file; check --url")
                sha.update(chunk)
                try:
                    out.write(chunk)
                except OSError as err:
                    raise UserError(f"cannot save the download of {info.name}: {err.strerror}; "
                                    "free some space or choose another --dest") from None
                if bar is not None:
                    bar.advance(len(chunk))
        except (TimeoutError, OSError) as err:
            raise UserError(f"download of {info.name} broke off after {received} bytes ({err}); "
                            "try again") from None
        finally:
            if bar is not None:
                bar.close()
    return sha.hexdigest()


class _Bar:
    """A rich progress bar on stderr (stdout stays clean for scripts)."""

    def __init__(self, name: str, total: int | None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                  TransferSpeedColumn(), TimeRemainingColumn(),
                                  console=Console(stderr=True))
        self._task = self._progress.add_task(f"Downloading {name}", total=total)
        self._progress.start()

    def advance(self, n: int) -> None:
        self._progress.advance(self._task, n)

    def close(self) -> None:
        self._progress.stop()


def _progress_bar(name: str, total: int | None) -> _Bar:
    return _Bar(name, total)


# ---------------------------------------------------------------- safe unpacking

def install_archive(archive: Path, dest_dir: Path, name: str) -> Path:
    """Unpack a model zip into dest_dir/<name> atomically; refuse unsafe or non-model archives.

    The archive usually holds one top folder (the model); a zip of the model's contents works
    too. Nothing is written outside dest_dir, and dest_dir/<name> appears complete or not at
    all."""
    if not _safe_folder_name(name):
        raise UserError(f"model name {name!r} must be a plain folder name")
    dest_dir = Path(dest_dir)
    target = dest_dir / name
    staging = Path(tempfile.mkdtemp(dir=dest_dir, prefix=f".{name}-unpack-"))
    try:
        safe_extract(archive, staging)
        root = _model_root(staging, name)
        if target.exists():
            # Replace a broken leftover; move it aside first so the swap is two renames.
            old = Path(tempfile.mkdtemp(dir=dest_dir, prefix=f".{name}-old-"))
            target.rename(old / name)
        try:
            root.rename(target)
        except OSError:
            # Another download of the same model finished first: keep theirs if it is whole.
            return check_model(target)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        for old in dest_dir.glob(f".{name}-old-*"):
            shutil.rmtree(old, ignore_errors=True)


def _model_root(staging: Path, name: str) -> Path:
    entries = [p for p in staging.iterdir() if not p.name.startswith("__MACOSX")]
    roots = [staging] + ([entries[0]] if len(entries) == 1 and entries[0].is_dir() else [])
    for root in reversed(roots):
        try:
            return check_model(root)
        except UserError:
            continue
    raise UserError(f"the archive for {name} does not contain a Vosk model (no am/, conf/, "
                    "graph/); check the model name or --url")
