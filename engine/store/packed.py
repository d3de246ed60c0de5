"""Rows of JSON that live in files, with one small int per key in memory.

A 100k-record table held as Python dicts costs ~30 objects and ~1 KB per record (measured:
280 MB of dicts for a 100k-record index), and held as bytes it still costs its full size in
RSS. Here a row stays in the file it was loaded from, and rows written since go, as whole
lines of that file's format, to an unlinked scratch file beside it; a read is one `pread`.

Files are line journals: a later line for a key replaces an earlier one and an empty row
deletes it. So a save needs no per-row work: save_journal copies the old file and the scratch
lines into a new file in big chunks and replaces the old one atomically (the sandbox's tables);
append_journal appends the scratch lines and a CRC line in place (the record index, whose
loader ignores a cut-off append). Only when replaced lines outweigh live ones is a file
rewritten row by row.
"""
from __future__ import annotations

import os
import tempfile
import weakref
import zlib
from collections.abc import Callable, Iterator, MutableMapping
from itertools import chain
from pathlib import Path

import orjson

from .storage import atomic_write_bytes

_LENGTH = (1 << 32) - 1
_IN_SCRATCH = 1
_CHUNK = 1 << 20


def _spot(offset: int, length: int, in_scratch: int) -> int:
    return offset << 33 | length << 1 | in_scratch


class _Fd:
    """A file descriptor closed when replaced or when its table is collected."""

    def __init__(self, owner: object) -> None:
        self.fd: int | None = None
        self._closer: weakref.finalize | None = None
        self._owner = weakref.ref(owner)

    def set(self, fd: int | None) -> None:
        if self._closer is not None:
            self._closer()
        self.fd = fd
        self._closer = weakref.finalize(self._owner(), os.close, fd) if fd is not None else None

    def chunks(self, start: int, end: int) -> Iterator[bytes]:
        while start < end:
            chunk = os.pread(self.fd, min(_CHUNK, end - start), start)
            if not chunk:
                raise OSError(f"file ended {end - start} bytes early")
            start += len(chunk)
            yield chunk


class PackedRows:
    """key -> JSON bytes. `head(key)` is what precedes a row on its line in the table's file format;
    `folder` holds the scratch file (the data's own disk, not a tmpfs)."""

    def __init__(self, folder: Path | None, head: Callable[[str], bytes]) -> None:
        self._folder, self._head = folder, head
        self._where: dict[str, int] = {}  # key -> offset << 33 | length << 1 | in scratch
        self._base = _Fd(self)  # the saved file the other rows are in
        self._base_length = 0  # bytes of row lines in it
        self._scratch = _Fd(self)
        self._flushed = 0  # scratch bytes on disk; later ones are still in _pending
        self._pending = bytearray()
        self._removed: set[str] = set()  # keys whose base row needs a deleting line at the next save
        self.garbage = 0  # bytes of replaced rows, in the base file and the scratch

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, key: object) -> bool:
        return key in self._where

    def keys(self) -> list[str]:
        return list(self._where)

    def get(self, key: str) -> bytes | None:
        spot = self._where.get(key)
        if spot is None:
            return None
        offset, length = spot >> 33, spot >> 1 & _LENGTH
        if not spot & _IN_SCRATCH:
            return os.pread(self._base.fd, length, offset)
        if offset >= self._flushed:
            return bytes(self._pending[offset - self._flushed: offset - self._flushed + length])
        return os.pread(self._scratch.fd, length, offset)

    def put(self, key: str, row: bytes) -> None:
        self.pop(key)
        head = self._head(key)
        self._where[key] = _spot(self._flushed + len(self._pending) + len(head), len(row), _IN_SCRATCH)
        self._pending += head
        self._pending += row
        self._pending += b"\n"
        if len(self._pending) >= _CHUNK:
            self._flush()

    def pop(self, key: str) -> None:
        spot = self._where.pop(key, None)
        if spot is not None:
            self.garbage += spot >> 1 & _LENGTH
            if not spot & _IN_SCRATCH:
                self._removed.add(key)

    def items(self) -> Iterator[tuple[str, bytes]]:
        """Over a snapshot of the keys, so rows may be replaced while iterating. Keys are in the order
        their rows were written (a replaced row's key moves to the end), so reads go forward through
        each file and are served from 1 MB windows instead of one `pread` per row."""
        windows = {0: (0, b""), _IN_SCRATCH: (0, b"")}
        for key in self.keys():
            spot = self._where.get(key)
            if spot is None:
                continue
            offset, length, place = spot >> 33, spot >> 1 & _LENGTH, spot & _IN_SCRATCH
            if place and offset >= self._flushed:
                yield key, self.get(key)
                continue
            start, window = windows[place]
            if not start <= offset <= offset + length <= start + len(window):
                start, window = offset, os.pread(self._scratch.fd if place else self._base.fd,
                                                 max(length, _CHUNK), offset)
                windows[place] = start, window
            yield key, window[offset - start: offset - start + length]

    def _flush(self) -> None:
        if self._scratch.fd is None:
            if self._folder is not None:
                self._folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self._folder, prefix=f".rows.{os.getpid()}.", suffix=".tmp")
            os.unlink(name)
            self._scratch.set(fd)
        os.pwrite(self._scratch.fd, self._pending, self._flushed)
        self._flushed += len(self._pending)
        self._pending = bytearray()

    # the saved file ---------------------------------------------------------------------
    def note_base_row(self, key: str, offset: int, length: int) -> None:
        """A line of a saved file, as a loader scans it (then use_base); an empty row deletes."""
        spot = self._where.pop(key, None)
        if spot is not None:
            self.garbage += spot >> 1 & _LENGTH
        if length:
            self._where[key] = _spot(offset, length, 0)

    def use_base(self, path: Path, length: int) -> None:
        """Rows noted so far are read from `path`, whose first `length` bytes are kept by the next save."""
        self._base.set(os.open(path, os.O_RDONLY))
        self._base_length = length

    @property
    def base_length(self) -> int:
        return self._base_length

    def wants_rewrite(self) -> bool:
        """Replaced rows outweigh live ones: a row-by-row rewrite is due instead of a copy or an append."""
        return self.garbage > (8 << 20) and self.garbage * 2 > self._base_length + self._flushed + len(self._pending)

    def base_chunks(self) -> Iterator[bytes]:
        return self._base.chunks(0, self._base_length) if self._base.fd is not None else iter(())

    def deleting_lines(self) -> Iterator[bytes]:
        """One empty-row line per base row removed since the last save."""
        if self._removed:
            yield b"".join(self._head(key) + b"\n" for key in sorted(self._removed))

    def scratch_chunks(self) -> Iterator[bytes]:
        if self._pending:
            self._flush()
        return self._scratch.chunks(0, self._flushed)

    def saved(self, path: Path, scratch_at: int, length: int) -> None:
        """The file at `path` now holds the base rows where they were and the scratch lines from
        `scratch_at`; read from it from now on."""
        self.use_base(path, length)
        for key, spot in self._where.items():
            if spot & _IN_SCRATCH:
                self._where[key] = spot - _IN_SCRATCH + (scratch_at << 33)
        self._scratch.set(None)
        self._flushed, self._pending, self._removed = 0, bytearray(), set()

    def key_map(self) -> dict[str, int]:
        """Where each row lies; right after a save every row is in the saved file, so this map (kept
        beside it) lets a later load skip scanning the file."""
        return self._where

    def adopt(self, path: Path, length: int, where: dict[str, int], garbage: int) -> None:
        self._where, self.garbage = where, garbage
        self.use_base(path, length)

    def rewritten(self, path: Path, spots: dict[str, int], length: int) -> None:
        """After a row-by-row rewrite: every row is in `path` at `spots`; nothing is garbage."""
        self.use_base(path, length)
        self._scratch.set(None)
        self._where, self._flushed, self._pending, self._removed, self.garbage = spots, 0, bytearray(), set(), 0


class Checksum:
    """The running CRC-32 and line count that a journal's `#<TAB>crc32<TAB>lines` line states."""

    def __init__(self, crc: int = 0, lines: int = 0) -> None:
        self.crc, self.lines = crc, lines

    @classmethod
    def after(cls, trailer: bytes) -> "Checksum":
        """Continues past an earlier checksum line, which becomes one more line of the file."""
        _, crc, lines = trailer.split(b"\t")
        return cls(zlib.crc32(trailer, int(crc)), int(lines) + 1)

    def feed(self, chunk: bytes) -> bytes:
        self.crc, self.lines = zlib.crc32(chunk, self.crc), self.lines + chunk.count(b"\n")
        return chunk

    def line(self) -> bytes:
        return b"#\t%d\t%d\n" % (self.crc, self.lines)


def _checksummed(chunks: Iterator[bytes], total: Checksum, checksum: bool) -> Iterator[bytes]:
    """The chunks, fed to `total`; then, with `checksum`, the checksum line over them."""
    for chunk in chunks:
        yield total.feed(chunk)
    if checksum:
        yield total.line()


def _changes(tables: list[PackedRows], offset: int, starts: list[int]) -> Iterator[bytes]:
    """Each table's deleting lines and scratch lines, for a file position `offset`; notes in `starts`
    where each table's scratch lines begin."""
    for table in tables:
        for chunk in table.deleting_lines():
            offset += len(chunk)
            yield chunk
        starts.append(offset)
        for chunk in table.scratch_chunks():
            offset += len(chunk)
            yield chunk


def save_journal(path: Path, tables: list[PackedRows], checksum: bool = False) -> bytes:
    """Write the tables (which share one file) to a new file replacing `path` atomically: the old
    file and the changes copied in big chunks, or every row anew when replaced rows outweigh live ones.
    With `checksum`, ends with the line `#<TAB>crc32<TAB>lines` (over every byte before it), returned."""
    if any(t.wants_rewrite() for t in tables):
        return rewrite_journal(path, tables, checksum)
    starts: list[int] = []
    total = Checksum()
    changes = _changes(tables, tables[0].base_length, starts)
    atomic_write_bytes(path, _checksummed(chain(tables[0].base_chunks(), changes), total, checksum))
    for table, start in zip(tables, starts):
        table.saved(path, start, path.stat().st_size)
    return total.line()


def append_journal(path: Path, tables: list[PackedRows], last_trailer: bytes | None) -> bytes:
    """Append the changes to `path` in place, then a line `#<TAB>crc32<TAB>lines` over every byte
    before it, and fsync: a checkpoint costs what changed, not the whole file. A crash mid-append
    leaves a tail after the last whole trailer, which loaders ignore and this cuts off first.
    With no file yet, or a rewrite due, saves a new file instead. Returns the new trailer."""
    if last_trailer is None or tables[0]._base.fd is None or any(t.wants_rewrite() for t in tables):
        return save_journal(path, tables, checksum=True)
    total, length = Checksum.after(last_trailer), tables[0].base_length
    starts: list[int] = []
    with path.open("r+b") as handle:
        handle.truncate(length)
        handle.seek(length)
        for chunk in _checksummed(_changes(tables, length, starts), total, checksum=True):
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
        end = handle.tell()
    for table, start in zip(tables, starts):
        table.saved(path, start, end)
    return total.line()


def rewrite_journal(path: Path, tables: list[PackedRows], checksum: bool) -> bytes:
    """Every live row anew, into a new file replacing `path` atomically; nothing is garbage after."""
    spots: list[dict[str, int]] = []

    def lines() -> Iterator[bytes]:
        length = 0
        for table in tables:
            found: dict[str, int] = {}
            spots.append(found)
            for key, row in table.items():
                head = table._head(key)
                found[key] = _spot(length + len(head), len(row), 0)
                line = head + row + b"\n"
                length += len(line)
                yield line

    total = Checksum()
    atomic_write_bytes(path, _checksummed(lines(), total, checksum))
    for table, found in zip(tables, spots):
        table.rewritten(path, found, path.stat().st_size)
    return total.line()


def scan_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(offset, line) for each line of a file, read in buffered chunks."""
    offset = 0
    with path.open("rb") as handle:
        for line in handle:
            yield offset, line
            offset += len(line)


def _plain_head(key: str) -> bytes:
    return key.encode() + b"\t"


class JsonTable(MutableMapping):
    """A mapping of str -> dict over PackedRows: reading a key decodes a fresh dict, and a change
    counts only when assigned back. Saved as `key<TAB>json` lines."""

    def __init__(self, rows: dict[str, dict] | None = None, folder: Path | None = None) -> None:
        self.rows = PackedRows(folder, _plain_head)
        for key, value in (rows or {}).items():
            self.rows.put(key, orjson.dumps(value))
        self.dirty = True  # built tables must be saved; loaded ones start clean

    def __getitem__(self, key: str) -> dict:
        row = self.rows.get(key)
        if row is None:
            raise KeyError(key)
        return orjson.loads(row)

    def get(self, key: str, default: dict | None = None) -> dict | None:  # type: ignore[override]
        """Without the KeyError the mapping's own raises and catches for every new key."""
        row = self.rows.get(key)
        return default if row is None else orjson.loads(row)

    def __setitem__(self, key: str, value: dict) -> None:
        self.rows.put(key, orjson.dumps(value))
        self.dirty = True

    def __delitem__(self, key: str) -> None:
        if key not in self.rows:
            raise KeyError(key)
        self.rows.pop(key)
        self.dirty = True

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows.keys())

    def items(self) -> Iterator[tuple[str, dict]]:  # type: ignore[override]
        """Decoded rows in file order, read in big windows (the mapping's own would pread each row)."""
        for key, row in self.rows.items():
            yield key, orjson.loads(row)

    def values(self) -> Iterator[dict]:  # type: ignore[override]
        for _, value in self.items():
            yield value

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, key: object) -> bool:
        return key in self.rows

    def save(self, path: Path) -> None:
        """Unchanged tables are not rewritten."""
        if self.dirty or not path.exists():
            save_journal(path, [self.rows])
            self.dirty = False

    @classmethod
    def load(cls, path: Path) -> "JsonTable":
        table = cls(folder=path.parent)
        try:
            for offset, line in scan_lines(path):
                tab = line.find(b"\t")
                if tab > 0:
                    table.rows.note_base_row(line[:tab].decode(), offset + tab + 1, len(line.rstrip(b"\n")) - tab - 1)
            table.rows.use_base(path, path.stat().st_size)
        except FileNotFoundError:
            pass
        table.dirty = False
        return table
