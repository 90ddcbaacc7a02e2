"""Durable state: a SQLite journal of acknowledged mutations, with snapshots.

Every mutation is an *operation* (a JSON-able dict, see ``state.py``) with a sequence number.
A handler applies it to the in-memory state, then awaits :meth:`Journal.commit`; the RPC
returns only after the operation's transaction is durable. Commits are grouped: a writer thread
takes every operation queued since its last commit and writes them in one transaction, so the
cost of ``fsync`` is shared by all concurrent calls (group commit) and one slow disk does not
serialize the event loop.

Durability: WAL mode with ``synchronous=FULL`` by default: each commit fsyncs the WAL, so an
acknowledged operation survives a process crash *and* a power loss. ``--journal-sync normal``
(``synchronous=NORMAL``) still survives a crash of the process, but may lose the last commits
on power loss; it fsyncs only at checkpoints. SQLite checkpoints the WAL into the main file on its own
(``wal_autocheckpoint``) and on close.

Compaction: :meth:`Journal.snapshot` stores the state's snapshot at sequence ``seq`` and, in the
same transaction, deletes the operations up to ``seq`` and older snapshots. Recovery
(:meth:`Journal.load`) returns the latest snapshot and the operations after it, in order.
Operations are committed in sequence order, so what survives a crash is always a prefix of the
acknowledged history plus possibly some unacknowledged suffix, never a hole.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuplane.daemon.config import JOURNAL_SYNC_MODES
from gpuplane.errors import Unavailable

log = logging.getLogger("gpuplane.daemon")

SCHEMA = """
CREATE TABLE IF NOT EXISTS ops (seq INTEGER PRIMARY KEY, op TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (
    seq INTEGER PRIMARY KEY, state BLOB NOT NULL, created REAL NOT NULL
);
"""
MAX_GROUP = 8192


@dataclass(frozen=True)
class Recovered:
    """What :meth:`Journal.load` found: the latest snapshot (or None) and later operations."""

    snapshot_seq: int
    snapshot: bytes | None
    ops: list[tuple[int, dict[str, Any]]]

    @property
    def last_seq(self) -> int:
        """The highest sequence number recovered."""
        return self.ops[-1][0] if self.ops else self.snapshot_seq


@dataclass
class _Pending:
    """One queued write: an operation (``op``) or a snapshot (``state``), and who awaits it."""

    seq: int
    op: dict[str, Any] | None
    state: bytes | None
    future: asyncio.Future[None] | None


def connect(path: Path, sync: str = "full") -> sqlite3.Connection:
    """Opens (creating) the journal database in WAL mode with ``synchronous=FULL`` (or
    ``NORMAL``, see :data:`JOURNAL_SYNC_MODES`)."""
    if sync not in JOURNAL_SYNC_MODES:
        raise ValueError(f"journal_sync: must be one of {', '.join(JOURNAL_SYNC_MODES)}, got {sync!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise Unavailable(f"{path}: cannot switch SQLite to WAL mode (got {mode})")
    db.execute(f"PRAGMA synchronous={sync.upper()}")
    db.executescript(SCHEMA)
    return db


class Journal:
    """The write-ahead journal of one daemon. Not shared between processes."""

    def __init__(self, path: Path, sync: str = "full"):
        self.path = Path(path)
        self._db = connect(self.path, sync)
        self._queue: queue.SimpleQueue[list[_Pending] | None] = queue.SimpleQueue()
        self._handing: list[_Pending] = []  # submitted during this turn of the event loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._failed: BaseException | None = None
        self.commits = 0

    def load(self) -> Recovered:
        """The latest snapshot and the operations after it (call before :meth:`start`)."""
        row = self._db.execute("SELECT seq, state FROM snapshots ORDER BY seq DESC LIMIT 1").fetchone()
        seq, state = (row[0], bytes(row[1])) if row else (0, None)
        rows = self._db.execute("SELECT seq, op FROM ops WHERE seq > ? ORDER BY seq", (seq,)).fetchall()
        return Recovered(seq, state, [(s, json.loads(op)) for s, op in rows])

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Starts the writer thread; futures are resolved on ``loop``."""
        self._loop = loop
        self._thread = threading.Thread(target=self._writer, name="gpuplane-journal", daemon=True)
        self._thread.start()

    @property
    def failed(self) -> BaseException | None:
        """The error that stopped the writer, if any."""
        return self._failed

    def submit(self, seq: int, op: dict[str, Any]) -> asyncio.Future[None]:
        """Queues an operation; the returned future completes once it is durable."""
        if self._failed is not None:
            raise Unavailable(f"journal unavailable: {self._failed}")
        assert self._loop is not None, "Journal.start() was not called"
        future = self._loop.create_future()
        self._hand(_Pending(seq, op, None, future))
        return future

    def _hand(self, pending: _Pending) -> None:
        """Adds a write to what this turn of the loop hands the writer, in one wake-up."""
        if not self._handing:
            assert self._loop is not None
            self._loop.call_soon(self._hand_over)
        self._handing.append(pending)

    def _hand_over(self) -> None:
        if self._handing:
            self._queue.put(self._handing)
            self._handing = []

    async def commit(self, seq: int, op: dict[str, Any]) -> None:
        """Queues an operation and waits until it is durable."""
        await self.submit(seq, op)

    def snapshot(self, seq: int, state: bytes) -> asyncio.Future[None]:
        """Queues a snapshot taken after operation ``seq``; older operations are then dropped."""
        assert self._loop is not None
        future = self._loop.create_future()
        self._hand(_Pending(seq, None, state, future))
        return future

    def write_now(self, seq: int, op: dict[str, Any] | None = None, state: bytes | None = None) -> None:
        """Writes synchronously (start-up, before the writer runs)."""
        self._write([_Pending(seq, op, state, None)])

    def close(self) -> None:
        """Flushes everything queued, stops the writer and checkpoints the WAL."""
        if self._thread is not None:
            self._hand_over()
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._db.close()

    def _take_group(self, first: list[_Pending]) -> tuple[list[_Pending], bool]:
        group, stop = list(first), False
        while len(group) < MAX_GROUP:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                stop = True
                break
            group += item
        return group, stop

    def _writer(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, stop = self._take_group(first)
            error: BaseException | None = None
            try:
                self._write(group)
                self.commits += 1
            except sqlite3.Error as e:
                log.critical("journal write failed: %s", e)
                self._failed = error = e
            self._resolve(group, error)
            if stop or error is not None:
                return

    def _write(self, group: list[_Pending]) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            ops = [(p.seq, json.dumps(p.op, separators=(",", ":"))) for p in group if p.op is not None]
            if ops:
                db.executemany("INSERT INTO ops (seq, op) VALUES (?, ?)", ops)
            for p in group:
                if p.state is not None:
                    db.execute(
                        "INSERT OR REPLACE INTO snapshots (seq, state, created) VALUES (?, ?, ?)",
                        (p.seq, p.state, time.time()),
                    )
                    db.execute("DELETE FROM ops WHERE seq <= ?", (p.seq,))
                    db.execute("DELETE FROM snapshots WHERE seq < ?", (p.seq,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _resolve(self, group: list[_Pending], error: BaseException | None) -> None:
        futures = [p.future for p in group if p.future is not None]
        if futures and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed at shutdown: nobody awaits these
                self._loop.call_soon_threadsafe(_settle, futures, error)


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    """Completes each still-pending future (a cancelled call's future is skipped)."""
    for f in futures:
        if f.done():
            continue
        if error is None:
            f.set_result(None)
        else:
            f.set_exception(Unavailable(f"journal write failed: {error}"))
