"""Embedded in-process store: SQLite (a file for durability, ":memory:" otherwise) behind an asyncio lock.

The default for `make run` — no server to start. Every call is one short SQLite transaction done under a single
``asyncio.Lock``, so concurrent coroutines see each operation as atomic (the seat check-and-add included). With a
file, WAL + ``synchronous=FULL`` makes each committed write survive a killed process or power loss. Pub/sub is
in-process only (one worker), which is what `make run` serves. Several processes may open the same file (every
write is one SQLite statement or transaction, so atomic across them); they see each other's writes but not each
other's pub/sub messages, so what follows changes (the feed registry) also polls a counter.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from pathlib import Path

from maas.store.base import (ReserveResult, SeatHold, Store, Subscription, check_seat_request, checked_blob,
                             free_seats)
from maas.store.sqlite import open_sqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL);
CREATE TABLE IF NOT EXISTS sets (key TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (key, member));
CREATE TABLE IF NOT EXISTS zlex (key TEXT NOT NULL, member BLOB NOT NULL, PRIMARY KEY (key, member)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seats (resource TEXT NOT NULL, hold_id TEXT NOT NULL, start INTEGER NOT NULL,
    "end" INTEGER NOT NULL, count INTEGER NOT NULL, expires_at REAL NOT NULL, PRIMARY KEY (resource, hold_id));
CREATE TABLE IF NOT EXISTS ledger_txn (txn_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS ledger (seq INTEGER PRIMARY KEY AUTOINCREMENT, txn_id TEXT NOT NULL, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (key TEXT PRIMARY KEY, data BLOB NOT NULL, sha256 TEXT NOT NULL);
"""


class _LocalSubscription(Subscription):
    """``channels`` are exact names; a name ending in ``*`` (prefix subscriptions) matches every channel it
    starts."""

    def __init__(self, hub: dict[str, set[asyncio.Queue]], channels: tuple[str, ...]):
        self._hub, self._channels = hub, channels
        self._queue: asyncio.Queue = asyncio.Queue()
        for ch in channels:
            hub.setdefault(ch, set()).add(self._queue)

    async def get(self, timeout: float | None = None) -> tuple[str, str] | None:
        try:  # asyncio.timeout, not wait_for: Python 3.11's wait_for can turn a task's cancel into its time-out
            async with asyncio.timeout(timeout):
                return await self._queue.get()
        except TimeoutError:
            return None

    async def aclose(self) -> None:
        for ch in self._channels:
            self._hub.get(ch, set()).discard(self._queue)


class EmbeddedStore(Store):
    """SQLite-backed store for one process. ``path`` ":memory:" keeps everything in RAM (tests, `make run`)."""

    def __init__(self, path: str | Path = ":memory:", *, wall_clock=time.time):
        self.path = str(path)
        self._db = open_sqlite(self.path, busy_timeout_ms=5000)
        self._db.executescript(SCHEMA)
        self._lock = asyncio.Lock()
        self._hub: dict[str, set[asyncio.Queue]] = {}
        self._now = wall_clock

    # -- KV -------------------------------------------------------------------------------------------------------
    async def get(self, key: str) -> str | None:
        async with self._lock:
            row = self._db.execute("SELECT value, expires_at FROM kv WHERE key=?", (key,)).fetchone()
        if row is None or (row[1] is not None and row[1] <= self._now()):
            return None
        return row[0]

    async def set(self, key: str, value: str, *, ttl_s: float | None = None, nx: bool = False) -> bool:
        expires = self._now() + ttl_s if ttl_s else None
        async with self._lock:
            if nx:
                row = self._db.execute("SELECT expires_at FROM kv WHERE key=?", (key,)).fetchone()
                if row is not None and (row[0] is None or row[0] > self._now()):
                    return False
            self._db.execute("INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?,?,?)",
                             (key, value, expires))
        return True

    async def delete(self, key: str) -> bool:
        async with self._lock:
            return self._db.execute("DELETE FROM kv WHERE key=?", (key,)).rowcount > 0

    async def delete_if(self, key: str, value: str) -> bool:
        async with self._lock:
            return self._db.execute("DELETE FROM kv WHERE key=? AND value=?", (key, value)).rowcount > 0

    async def keys(self, prefix: str) -> list[str]:
        hi = prefix + "\U0010ffff"
        async with self._lock:
            rows = self._db.execute(
                "SELECT key FROM kv WHERE key >= ? AND key < ? AND (expires_at IS NULL OR expires_at > ?)",
                (prefix, hi, self._now())).fetchall()
        return [r[0] for r in rows]

    async def replace_if(self, key: str, expected: str, value: str, *, ttl_s: float | None = None) -> bool:
        expires = self._now() + ttl_s if ttl_s else None
        async with self._lock:
            return self._db.execute(
                "UPDATE kv SET value=?, expires_at=? WHERE key=? AND value=? AND (expires_at IS NULL OR expires_at>?)",
                (value, expires, key, expected, self._now())).rowcount > 0

    async def replace_versioned(self, key: str, value: str, expected_version: int) -> bool:
        """A conditional UPDATE (or INSERT when new): atomic across processes sharing the SQLite file too."""
        async with self._lock:
            if expected_version == 0 and self._db.execute(
                    "INSERT OR IGNORE INTO kv (key, value, expires_at) VALUES (?,?,NULL)", (key, value)).rowcount:
                return True
            return self._db.execute(
                "UPDATE kv SET value=? WHERE key=? AND (CASE WHEN json_valid(value) THEN CASE WHEN "
                "json_type(value)='object' THEN COALESCE(json_extract(value, '$.version'), 0) END END)=?",
                (value, key, expected_version)).rowcount > 0

    # -- sets -----------------------------------------------------------------------------------------------------
    async def sadd(self, key: str, member: str) -> None:
        async with self._lock:
            self._db.execute("INSERT OR IGNORE INTO sets VALUES (?,?)", (key, member))

    async def srem(self, key: str, member: str) -> None:
        async with self._lock:
            self._db.execute("DELETE FROM sets WHERE key=? AND member=?", (key, member))

    async def smembers(self, key: str) -> set[str]:
        async with self._lock:
            return {r[0] for r in self._db.execute("SELECT member FROM sets WHERE key=?", (key,))}

    async def sets_update(self, add: list[tuple[str, str]] = (), remove: list[tuple[str, str]] = ()) -> None:
        async with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR IGNORE INTO sets VALUES (?,?)", list(add))
                self._db.executemany("DELETE FROM sets WHERE key=? AND member=?", list(remove))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    async def sunion(self, keys: list[str]) -> set[str]:
        out: set[str] = set()
        async with self._lock:
            for i in range(0, len(keys), 500):  # SQLite's bound-parameter limit
                chunk = keys[i:i + 500]
                marks = ",".join("?" * len(chunk))
                out.update(r[0] for r in self._db.execute(f"SELECT member FROM sets WHERE key IN ({marks})", chunk))
        return out

    # -- ordered sets ---------------------------------------------------------------------------------------------
    async def zadd_lex(self, key: str, member: str) -> None:
        async with self._lock:
            self._db.execute("INSERT OR IGNORE INTO zlex VALUES (?,?)", (key, member.encode()))

    async def zrem_lex(self, key: str, member: str) -> None:
        async with self._lock:
            self._db.execute("DELETE FROM zlex WHERE key=? AND member=?", (key, member.encode()))

    async def zrange_lex(self, key: str, after: str = "", limit: int = 100) -> list[str]:
        async with self._lock:  # BLOB compares bytewise (memcmp), as Redis orders members of equal score
            rows = self._db.execute("SELECT member FROM zlex WHERE key=? AND member>? ORDER BY member LIMIT ?",
                                    (key, after.encode(), max(0, int(limit)))).fetchall()
        return [bytes(r[0]).decode() for r in rows]

    # -- seats ----------------------------------------------------------------------------------------------------
    def _holds(self, resource: str) -> list[SeatHold]:
        rows = self._db.execute('SELECT hold_id, start, "end", count, expires_at FROM seats WHERE resource=?',
                                (resource,)).fetchall()
        return [SeatHold(*r) for r in rows]

    async def reserve_seats(self, resource: str, capacity: int, start: int, end: int, count: int,
                            hold_id: str, expires_at: float, now: float) -> ReserveResult:
        check_seat_request(capacity, start, end, count, expires_at, now)
        async with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM seats WHERE resource=? AND expires_at>0 AND expires_at<=?",
                                 (resource, now))
                holds = self._holds(resource)
                mine = next((h for h in holds if h.hold_id == hold_id), None)
                if mine is not None:
                    self._db.execute("COMMIT")
                    return ReserveResult(ok=True, available=free_seats(holds, capacity, start, end, now),
                                         already=True)
                available = free_seats(holds, capacity, start, end, now)
                if available < count:
                    self._db.execute("COMMIT")
                    return ReserveResult(ok=False, available=max(available, 0))
                self._db.execute("INSERT INTO seats VALUES (?,?,?,?,?,?)",
                                 (resource, hold_id, start, end, count, expires_at))
                self._db.execute("COMMIT")
                return ReserveResult(ok=True, available=available - count)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    async def commit_seats(self, resource: str, hold_id: str, now: float) -> bool:
        async with self._lock:
            cur = self._db.execute(
                "UPDATE seats SET expires_at=0 WHERE resource=? AND hold_id=? AND (expires_at=0 OR expires_at>?)",
                (resource, hold_id, now))
            if cur.rowcount == 0:  # gone or expired: an expired hold is dropped, as in Redis
                self._db.execute("DELETE FROM seats WHERE resource=? AND hold_id=?", (resource, hold_id))
            return cur.rowcount > 0

    async def release_seats(self, resource: str, hold_id: str) -> bool:
        async with self._lock:
            return self._db.execute("DELETE FROM seats WHERE resource=? AND hold_id=?",
                                    (resource, hold_id)).rowcount > 0

    async def seat_holds(self, resource: str) -> list[SeatHold]:
        async with self._lock:
            return self._holds(resource)

    async def purge_expired_seats(self, resource: str, now: float) -> int:
        async with self._lock:
            return self._db.execute("DELETE FROM seats WHERE resource=? AND expires_at>0 AND expires_at<=?",
                                    (resource, now)).rowcount

    # -- ledger ---------------------------------------------------------------------------------------------------
    async def ledger_append(self, txn_id: str, entries: list[dict]) -> bool:
        async with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self._db.execute("SELECT 1 FROM ledger_txn WHERE txn_id=?", (txn_id,)).fetchone():
                    self._db.execute("COMMIT")
                    return False
                self._db.execute("INSERT INTO ledger_txn VALUES (?)", (txn_id,))
                self._db.executemany("INSERT INTO ledger (txn_id, entry) VALUES (?,?)",
                                     [(txn_id, json.dumps(e, sort_keys=True)) for e in entries])
                self._db.execute("COMMIT")
                return True
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    async def ledger_entries(self) -> list[dict]:
        async with self._lock:
            return [json.loads(r[0]) for r in self._db.execute("SELECT entry FROM ledger ORDER BY seq")]

    # -- counters and blobs ---------------------------------------------------------------------------------------
    async def incr(self, key: str) -> int:
        async with self._lock:  # one statement: atomic across processes sharing the file too
            row = self._db.execute(
                "INSERT INTO kv (key, value, expires_at) VALUES (?, '1', NULL) ON CONFLICT(key) DO UPDATE SET "
                "value = CAST(value AS INTEGER) + 1 RETURNING value", (key,)).fetchone()
        return int(row[0])

    async def put_blob(self, key: str, data: bytes) -> None:
        """One row (SQLite holds up to 1 GB a value); written in a thread, the commit's fsync off the loop."""
        sha = hashlib.sha256(data).hexdigest()
        async with self._lock:
            await asyncio.to_thread(self._db.execute, "INSERT OR REPLACE INTO blobs VALUES (?,?,?)",
                                    (key, sqlite3.Binary(data), sha))

    async def get_blob(self, key: str) -> bytes | None:
        async with self._lock:
            row = await asyncio.to_thread(
                lambda: self._db.execute("SELECT data, sha256 FROM blobs WHERE key=?", (key,)).fetchone())
        if row is None:
            return None
        data = bytes(row[0])
        return checked_blob(data, {"size": len(data), "sha256": row[1]})

    async def has_blob(self, key: str) -> bool:
        async with self._lock:
            return self._db.execute("SELECT 1 FROM blobs WHERE key=?", (key,)).fetchone() is not None

    async def delete_blob(self, key: str) -> None:
        async with self._lock:
            self._db.execute("DELETE FROM blobs WHERE key=?", (key,))

    # -- pub/sub --------------------------------------------------------------------------------------------------
    async def publish(self, channel: str, message: str) -> None:
        for q in list(self._hub.get(channel, ())):
            q.put_nowait((channel, message))
        for pattern, queues in list(self._hub.items()):
            if pattern.endswith("*") and channel.startswith(pattern[:-1]):
                for q in list(queues):
                    q.put_nowait((channel, message))

    async def subscribe(self, *channels: str) -> Subscription:
        return _LocalSubscription(self._hub, channels)

    async def subscribe_prefix(self, prefix: str) -> Subscription:
        return _LocalSubscription(self._hub, (prefix + "*",))

    async def aclose(self) -> None:
        self._db.close()
