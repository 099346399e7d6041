"""The local spool: audit/usage records that could not reach the database yet.

One JSONL file per process under `settings.CANDELA_SPOOL_DIR`, appended with
flush + fsync so an accepted record survives a crash. Each process holds an
exclusive lock on its own `.lock` file for its whole life; a spool whose lock
can be taken belongs to a dead process, and whoever takes the lock replays it.
Records are plain JSON objects; the caller decides what they mean.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

SUFFIX = ".jsonl"
LOCK_SUFFIX = ".lock"


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    # A crash mid-append can leave a torn last line; everything before it is whole.
    records = []
    for line in data.splitlines():
        if line.strip():
            with contextlib.suppress(orjson.JSONDecodeError):
                records.append(orjson.loads(line))
    return records


def _append(path: Path, records: list[dict[str, Any]]) -> None:
    payload = b"".join(orjson.dumps(record) + b"\n" for record in records)
    with path.open("ab") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


class Spool:
    """This process's spool file, plus adoption of spools left by dead processes."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        stem = f"spool-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        self.path = self.directory / (stem + SUFFIX)
        self._lock_path = self.directory / (stem + LOCK_SUFFIX)
        self._lock_fd: int | None = os.open(self._lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def append(self, records: list[dict[str, Any]]) -> None:
        if records:
            _append(self.path, records)

    def pending(self) -> bool:
        return self.path.exists()

    def read(self) -> list[dict[str, Any]]:
        return _read(self.path)

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def orphans(self) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
        """(spool path, records) of each dead process's spool; the caller deletes the path
        with `discard` once replayed. Locked spools (live processes) are skipped."""
        for lock_path in sorted(self.directory.glob("spool-*" + LOCK_SUFFIX)):
            if lock_path == self._lock_path:
                continue
            try:
                fd = os.open(lock_path, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                spool_path = lock_path.with_suffix(SUFFIX)
                records = _read(spool_path)
                yield spool_path, records
            finally:
                os.close(fd)

    @staticmethod
    def discard(spool_path: Path) -> None:
        """Forget a replayed orphan spool (while its lock is still held by `orphans`)."""
        for path in (spool_path, spool_path.with_suffix(LOCK_SUFFIX)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def reject(self, records: list[dict[str, Any]]) -> Path:
        """Set aside records the database refuses as data (kept for an operator to inspect)."""
        path = self.directory / (self.path.stem + ".rejected" + SUFFIX)
        _append(path, records)
        return path

    def close(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None
            if not self.pending():
                with contextlib.suppress(FileNotFoundError):
                    self._lock_path.unlink()
