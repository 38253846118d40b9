"""Reads the word list stored in a Vosk model's decoding graph (an OpenFst binary file)."""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

_FST_MAGIC = 2125659606  # OpenFst binary header
_SYMBOLS_MAGIC = 2125658996  # OpenFst binary symbol table


class _Reader:
    """Little-endian fields from an OpenFst binary file (what Vosk's graphs are)."""

    def __init__(self, buf: mmap.mmap) -> None:
        self.buf, self.pos = buf, 0

    def _unpack(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def i32(self) -> int:
        return self._unpack("<i")

    def i64(self) -> int:
        return self._unpack("<q")

    def string(self) -> bytes:
        n = self.i32()
        if not 0 <= n <= 1 << 20 or self.pos + n > len(self.buf):
            raise ValueError("bad string length")
        self.pos += n
        return bytes(self.buf[self.pos - n:self.pos])

    def symbols(self) -> list[str]:
        if self.i32() != _SYMBOLS_MAGIC:
            raise ValueError("not a symbol table")
        self.string()  # the table's name
        self.i64()  # next free key
        size = self.i64()
        if not 0 <= size <= 1 << 27:
            raise ValueError("bad symbol count")
        # Hundreds of thousands of entries: a tight loop, not a method call per field.
        buf, pos, unpack, words = self.buf, self.pos, struct.unpack_from, []
        for _ in range(size):
            (n,) = unpack("<i", buf, pos)
            if n < 0:
                raise ValueError("corrupt symbol table")
            words.append(buf[pos + 4:pos + 4 + n])
            pos += 12 + n  # length, text, 64-bit key
        if pos > len(buf):
            raise ValueError("truncated symbol table")
        self.pos = pos
        return [w.decode("utf-8", "replace") for w in words]


def graph_output_symbols(fst: Path) -> list[str] | None:
    """The word list stored in a graph's header, or None if it stores none."""
    with open(fst, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        r = _Reader(buf)
        if r.i32() != _FST_MAGIC:
            raise ValueError("not an OpenFst file")
        r.string()  # fst type ("vector", "const", "ngram", "olabel_lookahead")
        r.string()  # arc type
        r.i32()  # version
        flags = r.i32()
        r.pos += 8 * 4  # properties, start state, number of states, number of arcs
        if flags & 1:
            r.symbols()  # input symbols come first; Vosk uses the output ones
        return r.symbols() if flags & 2 else None
