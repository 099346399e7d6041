"""The never-lost event writer.

Requests hand their finished context to `record()` (a list append, no I/O). A
background task writes batches every `CANDELA_AUDIT_FLUSH_SECONDS` or every
`RECORDER_BATCH_SIZE` records, in one transaction per batch on its own thread.
When the database is down a batch goes to the local spool (audit/spool.py) and
is replayed, in order, before the next batch; spools of dead processes are
replayed at startup. Shutdown drains the queue.

Durable grant balances (`Grant.remaining_usd`) are not updated here: the counter
store tracks grant spend and the ledger holds every charge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connections,
)

from audit.live import publish_events
from audit.spool import Spool
from gateway.config import GatewayConfig
from gateway.context import RequestContext
from gateway.ledger import already_written, write_records
from gateway.records import to_record

log = logging.getLogger(__name__)

DATABASE_DOWN = (OperationalError, InterfaceError)


class _Writer:
    """Runs on the recorder's single thread: database writes, spooling, replays."""

    def __init__(self, spool: Spool, batch_size: int) -> None:
        self.spool = spool
        self.batch_size = batch_size
        self.spool_pending = spool.pending()

    def write(self, batch: list[RequestContext]) -> list[dict[str, Any]]:
        """Write the batch; returns the audit events written (none when it was spooled)."""
        records = [to_record(ctx) for ctx in batch]
        close_old_connections()
        try:
            if self.spool_pending:
                self._replay_own()
            self._write(records, replay=False)
        except DATABASE_DOWN as exc:
            log.warning("database unavailable, spooling %d records: %s", len(records), exc)
            self.spool.append(records)
            self.spool_pending = self.spool_pending or bool(records)
            return []
        return [record["event"] for record in records]

    def _replay_own(self) -> None:
        records = self.spool.read()
        self._write(records, replay=True)
        self.spool.clear()
        self.spool_pending = False
        log.info("replayed %d spooled records", len(records))

    def replay_orphans(self) -> None:
        close_old_connections()
        for path, records in self.spool.orphans():
            try:
                self._write(records, replay=True)
            except DATABASE_DOWN as exc:
                log.warning("database unavailable, spool %s left for later: %s", path, exc)
                return
            Spool.discard(path)
            log.info("replayed %d records from %s", len(records), path)

    def _write(self, records: list[dict[str, Any]], *, replay: bool) -> None:
        for start in range(0, len(records), self.batch_size):
            chunk = records[start : start + self.batch_size]
            if replay:
                done = already_written(chunk)
                chunk = [r for r in chunk if r["usage"]["request_id"] not in done]
            self._write_or_isolate(chunk)

    def _write_or_isolate(self, records: list[dict[str, Any]]) -> None:
        try:
            write_records(records)
        except DATABASE_DOWN:
            raise
        except DatabaseError:
            # The data itself is refused: write one by one, set the refused ones aside.
            for record in records:
                try:
                    write_records([record])
                except DATABASE_DOWN:
                    raise
                except DatabaseError as exc:
                    path = self.spool.reject([record])
                    log.error(
                        "record %s refused (%s); kept in %s",
                        record["usage"]["request_id"],
                        exc,
                        path,
                    )

    def close(self) -> None:
        connections.close_all()


class Recorder:
    def __init__(self, config: GatewayConfig) -> None:
        self._config = config
        self._pending: list[RequestContext] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._writer: _Writer | None = None

    def record(self, ctx: RequestContext) -> None:
        self._pending.append(ctx)
        if self._wake is not None and len(self._pending) >= self._config.recorder_batch_size:
            self._wake.set()

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="candela-recorder")
        loop = asyncio.get_running_loop()
        spool = await loop.run_in_executor(self._executor, Spool, self._config.spool_dir)
        self._writer = _Writer(spool, self._config.recorder_batch_size)
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="candela-recorder")

    async def _run(self) -> None:
        assert self._wake is not None and self._writer is not None
        loop = asyncio.get_running_loop()
        try:
            # Spools left by dead processes first (on the writer thread: no startup delay).
            await loop.run_in_executor(self._executor, self._writer.replay_orphans)
        except Exception:
            log.exception("replaying orphaned spools failed; they stay on disk")
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._config.audit_flush_seconds)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                # Keep the writer alive whatever happened; the batch is logged as lost.
                log.exception("recorder flush failed")

    async def flush(self) -> None:
        writer = self._writer
        if writer is None or not (self._pending or writer.spool_pending):
            return
        batch, self._pending = self._pending, []
        loop = asyncio.get_running_loop()
        written = await loop.run_in_executor(self._executor, writer.write, batch)
        # On this loop: the embedded in-memory channel layer only reaches its own loop.
        await publish_events(written)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._writer is not None and self._executor is not None:
            await self.flush()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, self._writer.close)
            self._writer.spool.close()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
