"""`models download` against a real HTTP server on 127.0.0.1 serving archives the test builds:
verification (size, SHA-256), safe unpacking (no absolute path, '..', link), atomicity, the CLI."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import stat
import struct
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from voice_coach import commands, models
from voice_coach.errors import UserError
from voice_coach.models import ModelInfo

ROOT = Path(__file__).resolve().parent.parent
NAME = "vosk-model-test-0.1"
# The files a Vosk model folder holds (current layout, small dynamic-graph model).
MODEL_FILES = {
    "am/final.mdl": b"acoustic model " * 64,
    "conf/model.conf": b"--min-active=200\n--max-active=3000\n",
    "conf/mfcc.conf": b"--use-energy=false\n",
    "graph/HCLr.fst": b"hclr" * 256,
    "graph/Gr.fst": b"",  # filled in below: a graph header whose word list has the commands
    "graph/disambig_tid.int": b"1\n2\n",
    "graph/phones/word_boundary.int": b"1 nonword\n",
    "ivector/final.ie": b"ie" * 100,
    "README": b"a test model\n",
}


def _text(s: bytes) -> bytes:
    return struct.pack("<i", len(s)) + s


def _symbols(words: list[str]) -> bytes:
    """An OpenFst binary symbol table."""
    out = struct.pack("<i", 2125658996) + _text(b"words.txt") + struct.pack("<qq", len(words),
                                                                             len(words))
    return out + b"".join(_text(w.encode()) + struct.pack("<q", i) for i, w in enumerate(words))


def _fst_header(flags: int, fst_type: bytes = b"const", symbols: bytes = b"") -> bytes:
    """An OpenFst binary header as Kaldi writes graphs; flags 1/2 = input/output symbols."""
    return (struct.pack("<i", 2125659606) + _text(fst_type) + _text(b"standard")
            + struct.pack("<ii", 2, flags) + bytes(32) + symbols)


# Small models keep their word list in Gr.fst (an "ngram" fst with input and output symbols).
_WORDS = ["<eps>", "[unk]", *sorted(commands.vocabulary())]
MODEL_FILES["graph/Gr.fst"] = _fst_header(3, b"ngram", _symbols(_WORDS) * 2) + b"arcs"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib name)
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on 127.0.0.1 (any free port) serving files from a folder."""
    root = tmp_path_factory.mktemp("served")
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", root
    finally:
        httpd.shutdown()
        httpd.server_close()


def build_zip(path: Path, top: str | None = NAME,
              extra: Sequence[tuple[zipfile.ZipInfo, bytes]] = ()) -> ModelInfo:
    """Write a model archive (optionally with hostile members); return its true size and hash."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, data in MODEL_FILES.items():
            zf.writestr(f"{top}/{rel}" if top else rel, data)
        for info, data in extra:
            zf.writestr(info, data)
    path.write_bytes(buf.getvalue())
    return ModelInfo(path.stem, "unused", len(buf.getvalue()),
                     hashlib.sha256(buf.getvalue()).hexdigest())


def member(name: str, mode: int = stat.S_IFREG | 0o644) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.filename = name  # ZipInfo() would normalise some separators: keep the hostile name
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_good_download_is_verified_and_unpacked_with_progress(
        server: tuple[str, Path], tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    base, served = server
    info = build_zip(served / f"{NAME}.zip")
    dest = tmp_path / "models"
    target = models.download(NAME, dest, url_override=base, progress=True, info=info)
    assert target == dest / NAME
    assert models.check_model(target) == target
    for rel, data in MODEL_FILES.items():
        assert (target / rel).read_bytes() == data
    assert entries(dest) == [NAME]  # no temporary file or staging folder left behind
    err = capfd.readouterr().err
    assert f"Downloading {NAME}" in err and "━" in err  # the rich progress bar, on stderr

    # Already installed and valid: returned as is, without touching the network.
    assert models.download(NAME, dest, url_override="http://127.0.0.1:9/", info=info) == target


def test_full_zip_url_and_flat_archive(server: tuple[str, Path], tmp_path: Path) -> None:
    base, served = server
    info = build_zip(served / "flat.zip", top=None)  # the model's files at the archive root
    target = models.download(NAME, tmp_path, url_override=base + "flat.zip", progress=False,
                             info=ModelInfo(NAME, "unused", info.size_bytes, info.sha256))
    assert (target / "am" / "final.mdl").read_bytes() == MODEL_FILES["am/final.mdl"]


def test_wrong_sha256_is_refused_and_nothing_is_left(server: tuple[str, Path],
                                                     tmp_path: Path) -> None:
    base, served = server
    info = build_zip(served / f"{NAME}.zip")
    bad = ModelInfo(NAME, "unused", info.size_bytes, "0" * 64)
    with pytest.raises(UserError, match="SHA-256 .* does not match"):
        models.download(NAME, tmp_path / "m", url_override=base, progress=False, info=bad)
    assert entries(tmp_path / "m") == []


def test_known_model_from_a_wrong_server_is_refused(server: tuple[str, Path],
                                                    tmp_path: Path) -> None:
    """The registry's size and checksum protect the default model even via --url."""
    base, served = server
    build_zip(served / f"{models.DEFAULT_MODEL}.zip")  # not the official archive
    with pytest.raises(UserError, match="bytes, expected 41205931"):
        models.download(models.DEFAULT_MODEL, tmp_path, url_override=base, progress=False)
    assert entries(tmp_path) == []


@pytest.mark.parametrize(("hostile", "why"), [
    (lambda tmp: (member(str(tmp / "outside" / "abs.txt")), b"x"), "absolute path"),
    (lambda tmp: (member(f"{NAME}/../../outside/up.txt"), b"x"), "'..'"),
    (lambda tmp: (member(f"{NAME}/graph/link", stat.S_IFLNK | 0o777),
                  str(tmp / "outside").encode()), "symbolic link"),
    (lambda tmp: (member(f"{NAME}/graph/rel", stat.S_IFLNK | 0o777), b"../../../outside"),
     "symbolic link"),
    (lambda tmp: (member(f"{NAME}\\..\\..\\outside\\win.txt"), b"x"), "backslashes"),
])
def test_unsafe_archives_are_refused(server: tuple[str, Path], tmp_path: Path, hostile: object,
                                     why: str) -> None:
    base, served = server
    (tmp_path / "outside").mkdir()
    info = build_zip(served / f"{NAME}.zip", extra=[hostile(tmp_path)])  # type: ignore[operator]
    dest = tmp_path / "models"
    with pytest.raises(UserError, match=f"refusing unsafe model archive.*{why}"):
        models.download(NAME, dest, url_override=base, progress=False, info=info)
    assert entries(dest) == []  # not even the harmless members
    assert entries(tmp_path / "outside") == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models", "outside"]


def test_zip_bomb_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    build_zip(archive, extra=[(member(f"{NAME}/am/huge.bin"), b"\0" * 60_000_000)])
    with pytest.raises(UserError, match="would unpack to"):
        models.install_archive(archive, tmp_path, NAME)
    assert entries(tmp_path) == ["bomb.zip"]


def test_archive_without_a_model_or_not_a_zip(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"this is not a zip file")
    with pytest.raises(UserError, match="not a valid zip"):
        models.install_archive(junk, tmp_path, NAME)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("photos/cat.jpg", b"meow")
    with pytest.raises(UserError, match="does not contain a Vosk model"):
        models.install_archive(other, tmp_path, NAME)
    assert entries(tmp_path) == ["junk.zip", "other.zip"]


def test_broken_leftover_is_replaced(server: tuple[str, Path], tmp_path: Path) -> None:
    base, served = server
    info = build_zip(served / f"{NAME}.zip")
    (tmp_path / NAME / "am").mkdir(parents=True)  # an earlier copy that never finished
    target = models.download(NAME, tmp_path, url_override=base, progress=False, info=info)
    assert models.check_model(target) == target
    assert entries(tmp_path) == [NAME]


def test_network_and_name_errors_are_one_line(server: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = server
    info = ModelInfo(NAME, "unused", 10, "0" * 64)
    with pytest.raises(UserError, match="HTTP 404"):
        models.download("absent", tmp_path, url_override=base, progress=False,
                        info=ModelInfo("absent", "unused", 10, "0" * 64))
    with pytest.raises(UserError, match="https:// or http://"):
        models.download(NAME, tmp_path, url_override="file:///etc/passwd.zip", info=info)
    with pytest.raises(UserError, match="unknown model 'vosk-model-nope'"):
        models.model_info("vosk-model-nope")
    with pytest.raises(UserError, match="64 hex digits"):
        models.model_info("vosk-model-nope", sha256="abc")
    with pytest.raises(UserError, match="plain folder name"):
        models.model_info("../evil", sha256="0" * 64)
    assert entries(tmp_path) == []


def test_registry_has_verified_sizes_and_checksums() -> None:
    names = [m.name for m in models.list_models()]
    assert names[0] == models.DEFAULT_MODEL
    for info in models.list_models():
        assert info.url == models.OFFICIAL_BASE_URL + info.name + ".zip"
        assert info.size_bytes and len(info.sha256) == 64


def _write_model(folder: Path) -> Path:
    for rel, data in MODEL_FILES.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder


def test_find_model_order(tmp_path: Path) -> None:
    explicit = _write_model(tmp_path / "mine")
    env = _write_model(tmp_path / "from-env")
    shelf = tmp_path / "shelf"
    _write_model(shelf / "a-model")
    _write_model(shelf / models.DEFAULT_MODEL)
    (shelf / "0-half-copied" / "am").mkdir(parents=True)
    assert models.find_model(explicit, str(env), [shelf]) == explicit
    assert models.find_model(None, str(env), [shelf]) == env
    assert models.find_model(None, None, [tmp_path / "none", shelf]) == \
        shelf / models.DEFAULT_MODEL
    (shelf / models.DEFAULT_MODEL / "am" / "final.mdl").unlink()
    assert models.find_model(None, None, [shelf]) == shelf / "a-model"  # broken ones skipped
    assert models.find_model(None, None, [tmp_path / "none"]) is None
    with pytest.raises(UserError, match="not found"):
        models.find_model(tmp_path / "typo", None, [shelf])  # named explicitly: never skipped
    with pytest.raises(UserError, match="corrupt or not a Vosk model"):
        models.find_model(None, str(shelf / "0-half-copied"), [shelf])


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voice_coach.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_cli_download_end_to_end(server: tuple[str, Path], tmp_path: Path) -> None:
    base, served = server
    info = build_zip(served / f"{NAME}.zip")
    dest = tmp_path / "models"
    done = _cli("models", "download", NAME, "--url", base, "--sha256", info.sha256,
                "--size", str(info.size_bytes), "--dest", str(dest))
    assert done.returncode == 0, done.stderr
    assert f"verified and installed in {dest / NAME}" in done.stdout
    assert f"Downloading {NAME}" in done.stderr
    assert models.check_model(dest / NAME)

    found = _cli("models", "path", env={"VOICE_COACH_MODEL": str(dest / NAME)})
    assert found.returncode == 0 and found.stdout.strip() == str(dest / NAME)

    # The mirror can come from the environment too; a bad checksum is one line, exit 2.
    refused = _cli("models", "download", "vosk-model-other", "--sha256", "f" * 64,
                   "--dest", str(dest), "--no-progress",
                   env={"VOICE_COACH_MODELS_URL": base + f"{NAME}.zip"})
    assert refused.returncode == 2
    assert refused.stderr.startswith("voice-coach: error: SHA-256 of the vosk-model-other")
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    assert entries(dest) == [NAME]

    listed = _cli("models", "list")
    assert listed.returncode == 0 and models.DEFAULT_MODEL in listed.stdout


def test_vocabulary_from_words_txt_and_corrupt_graphs(tmp_path: Path) -> None:
    small = _write_model(tmp_path / "small")
    assert models.model_vocabulary(small) == set(_WORDS)
    assert models.missing_words(small, commands.vocabulary()) == []
    model = _write_model(tmp_path / "big")
    (model / "graph" / "HCLG.fst").write_bytes(_fst_header(flags=0) + b"arcs...")
    (model / "graph" / "words.txt").write_text("<eps> 0\n[unk] 1\nharder 2\nsofter 3\n")
    assert models.model_vocabulary(model) == {"<eps>", "[unk]", "harder", "softer"}
    assert models.missing_words(model, ["harder", "next"]) == ["next"]
    # A header promising a symbol table that is not there; a graph that is no graph at all.
    (model / "graph" / "HCLG.fst").write_bytes(_fst_header(flags=2) + b"\x00" * 4)
    with pytest.raises(UserError, match="cannot read the word list"):
        models.model_vocabulary(model)
    (model / "graph" / "HCLG.fst").unlink()
    (model / "graph" / "Gr.fst").write_bytes(b"gr" * 256)
    with pytest.raises(UserError, match="cannot read the word list"):
        models.model_vocabulary(model)
