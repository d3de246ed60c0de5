"""Crash-safe, two-process TinyDB storage (reference/tinydb.md §3.3–3.4).

Every write serialises with orjson, goes to a temp file, is fsynced and atomically
replaces the old file; readers see a whole old file or a whole new one. The cache is
reloaded when another process replaced the file (stat signature changes), and
`SyncTable` forgets its cached next id and query cache when that happens.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import orjson
from filelock import FileLock
from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document, Table


class StoreCorrupt(Exception):
    """A store file could not be parsed; it has been moved aside."""

    def __init__(self, path: Path, moved_to: Path, reason: str) -> None:
        super().__init__(f"{path} was unreadable ({reason}); moved to {moved_to}")
        self.path, self.moved_to, self.reason = path, moved_to, reason


def atomic_write_bytes(path: Path, payload: bytes | Iterable[bytes], mode: int = 0o600) -> None:
    """Write via temp file + fsync + os.replace + directory fsync. `payload` may be a stream of
    chunks, so a 100 MB file never has to exist as one bytes object."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
            if isinstance(payload, (bytes, bytearray, memoryview)):
                handle.write(payload)
            else:
                for chunk in payload:
                    handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_json_file(path: Path) -> dict | None:
    """Parse a JSON file; a missing file is None, an unreadable one is moved aside."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    if not raw:
        return None
    try:
        data = orjson.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("top level is not an object")
        return data
    except ValueError as exc:
        raise move_aside(path, str(exc).splitlines()[0]) from None


def move_aside(path: Path, reason: str) -> StoreCorrupt:
    """Keep an unreadable file for inspection under a dated name; the caller raises what this returns."""
    moved = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
    os.replace(path, moved)
    return StoreCorrupt(path, moved, reason)


def file_signature(path: Path) -> tuple[int, int, int] | None:
    """Changes whenever another process replaces or rewrites the file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class AtomicJSONStorage(Storage):
    """orjson + atomic replace + stat-checked cache; see module docstring."""

    def __init__(self, path: str | Path, **_: object) -> None:
        self.path = Path(path)
        self._cache: dict | None = None
        self._signature: tuple[int, int, int] | None = None
        self._loaded = False
        self.generation = 0

    def read(self) -> dict | None:
        signature = file_signature(self.path)
        if not self._loaded or signature != self._signature:
            self._cache = read_json_file(self.path) if signature else None
            self._signature = signature
            self._loaded = True
            self.generation += 1
        return self._cache

    def write(self, data: dict) -> None:
        atomic_write_bytes(self.path, orjson.dumps(data))
        self._cache, self._signature, self._loaded = data, file_signature(self.path), True

    def close(self) -> None:
        self._cache = None
        self._loaded = False


class SyncTable(Table):
    """A Table that notices another process's writes and offers one-write bulk operations."""

    _seen_generation = -1

    def _read_table(self) -> dict:
        storage = self._storage
        data = storage.read()
        if storage.generation != self._seen_generation:
            self._seen_generation = storage.generation
            self._next_id = None
            self.clear_cache()
        return (data or {}).get(self.name, {})

    def _get_next_id(self) -> int:
        self._read_table()
        return super()._get_next_id()

    def bulk_upsert(self, docs_by_id: dict[int, dict]) -> None:
        """Insert or replace many documents by doc_id in one read and one write."""
        if not docs_by_id:
            return

        def updater(table: dict) -> None:
            for doc_id, doc in docs_by_id.items():
                table[doc_id] = dict(doc)

        self._update_table(updater)

    def bulk_remove(self, doc_ids: list[int]) -> None:
        """Remove many documents by id in one write, ignoring ids already gone."""
        if not doc_ids:
            return

        def updater(table: dict) -> None:
            for doc_id in doc_ids:
                table.pop(doc_id, None)

        self._update_table(updater)

    def doc(self, doc_id: int) -> Document | None:
        return self.get(doc_id=doc_id)


class SyncDB(TinyDB):
    table_class = SyncTable
    default_storage_class = AtomicJSONStorage


def writer_lock(path: Path, lock_dir: Path) -> FileLock:
    """The lock a store file's writers share (kept apart from the data, which is replaced atomically)."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(lock_dir / f"{'-'.join(path.parts[-3:])}.lock")


class LockedFile:
    """A TinyDB file with its own writer lock; readers take no lock."""

    def __init__(self, path: Path, lock_dir: Path) -> None:
        self.path = path
        self.lock = writer_lock(path, lock_dir)
        self.db = SyncDB(path, storage=AtomicJSONStorage)

    def table(self, name: str) -> SyncTable:
        return self.db.table(name)  # type: ignore[return-value]

    @contextmanager
    def writing(self) -> Iterator[SyncDB]:
        """Hold the file's lock for one read-modify-write; never across network calls."""
        with self.lock:
            yield self.db


def remove_stale_temp_files(root: Path, older_than_s: float = 60.0) -> list[Path]:
    """Temp files left by a writer that died between write and replace: its process is gone
    (the pid is in the name), or the file is older than any write takes."""
    removed = []
    cutoff = time.time() - older_than_s
    for tmp in root.rglob(".*.tmp"):
        try:
            if not _writer_alive(tmp.name) or tmp.stat().st_mtime < cutoff:
                tmp.unlink()
                removed.append(tmp)
        except FileNotFoundError:
            pass
    return removed


def _writer_alive(name: str) -> bool:
    parts = name.split(".")
    pid = next((int(p) for p in reversed(parts[:-2]) if p.isdigit()), None)
    if pid is None or pid == os.getpid():
        return pid == os.getpid()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
