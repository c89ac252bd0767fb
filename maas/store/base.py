"""The storage interface every service uses: one contract, two engines (embedded SQLite, Redis).

Why these primitives and nothing more:
* **KV with TTL** (`get/set/delete/keys`): offers, bookings, holds, tickets. ``set(nx=True)`` is the
  compare-and-set the idempotency and single-use checks need; TTLs only collect garbage — business expiry
  (offer validity, hold expiry) is decided by the service's clock from timestamps in the value.
* **Compare-and-set** (`replace_if`, `replace_versioned`): replace a value only when it is still the one the
  caller read (an idempotency record) or when the JSON record's ``version`` is still the caller's (a booking: the
  fencing that keeps a slow worker and the recovery pass from both changing it).
* **Sets** (`sadd/srem/smembers/sunion`): indexes such as the open bookings the recovery pass must visit, or the
  bookings on one trip of one service day.
* **Ordered sets** (`zadd_lex/zrem_lex/zrange_lex`): members kept in byte order, read a page at a time after a
  cursor (a partner's bookings by creation time).
* **Seat holds** (`reserve_seats/commit_seats/release_seats/seat_holds`): per *resource* (one trip on one
  service date) a list of holds, each over a stop-sequence range ``[start, end)`` — a seat is free again where
  the passenger gets off. Reserving checks that every segment of the range has ``count`` free seats and adds the
  hold in one atomic step (a Lua script in Redis, a lock + transaction in SQLite). Holds carry an expiry; an
  expired hold no longer counts and is purged on the next reservation, so nothing leaks.
* **Ledger** (`ledger_append/ledger_entries`): append-only journal of balanced transactions, idempotent per
  transaction id so a recovered step never posts twice.
* **Counters and blobs** (`incr`, `put_blob/get_blob/has_blob`): the published-feed registry's generation
  counter and its content-addressed feed zips (stored in chunks, manifest last, checksum verified on read).
* **Pub/sub** (`publish/subscribe`): fire-and-forget events (booking status, closures) for SSE streams.
* **Durability** (`durable()`): called after writes that must survive a crash (confirmed bookings, ledger).

All methods are coroutines and safe to call concurrently from one event loop.
"""
from __future__ import annotations

import abc
import base64
import hashlib
import json
import math
from dataclasses import dataclass
from typing import AsyncIterator


@dataclass(frozen=True)
class SeatHold:
    """One hold on a resource: ``count`` seats over stop sequences ``[start, end)``; ``expires_at`` 0 = confirmed."""

    hold_id: str
    start: int
    end: int
    count: int
    expires_at: float

    def active(self, now: float) -> bool:
        return self.expires_at == 0 or self.expires_at > now


@dataclass(frozen=True)
class ReserveResult:
    ok: bool
    available: int  # fewest free seats over the requested range (before this hold when it failed)
    already: bool = False  # the hold id was already present (an idempotent retry)


def cancel_if_swallowed() -> None:
    """Raise CancelledError when the current task was asked to stop but a time-out swallowed the request.

    redis-py's ``get_message(timeout=…)`` (and Python 3.11's ``wait_for``) can turn a cancel landing as the
    time-out fires into the time-out: the task stays "cancelling" yet its loop goes on, and shutdown's
    ``await task`` waits forever. Every `Subscription.get` calls this after its wait (`redis_conn.next_message`)."""
    import asyncio

    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Subscription(abc.ABC):
    """Messages published on the subscribed channels, in order; ``aclose`` ends it. ``get`` honours a cancel even
    when it lands as the time-out fires (see `cancel_if_swallowed`), so a loop around it stops when cancelled."""

    @abc.abstractmethod
    async def get(self, timeout: float | None = None) -> tuple[str, str] | None:
        """Next ``(channel, message)``, or None after ``timeout`` seconds."""

    @abc.abstractmethod
    async def aclose(self) -> None: ...

    def __aiter__(self) -> AsyncIterator[tuple[str, str]]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[tuple[str, str]]:
        while True:
            item = await self.get()
            if item is not None:
                yield item

    async def __aenter__(self) -> "Subscription":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


MAX_SEAT_POSITION = 2**31 - 1  # stop sequences as the model keeps them (int32)
MAX_SEATS = 10_000


def check_seat_request(capacity: int, start: int, end: int, count: int, expires_at: float, now: float) -> None:
    """Refuse what no derived leg can ask for, before SQLite or the Lua script sees it (a 2**63 sequence once
    became a float the script could not read back, and every booking on the trip failed for a minute). Callers
    get legs from ``maas.itineraries``, so this only ever fires on a bug: loudly, with nothing stored."""
    ints = (capacity, start, end, count)
    if any(isinstance(v, bool) or not isinstance(v, int) for v in ints):
        raise ValueError(f"seat request needs integers, got {ints!r}")
    if not (0 <= start < end <= MAX_SEAT_POSITION and 1 <= count <= MAX_SEATS and 0 <= capacity <= MAX_SEATS):
        raise ValueError(f"seat request out of range: stops {start}..{end}, {count} of {capacity} seats")
    if not (math.isfinite(expires_at) and math.isfinite(now) and 0 <= now and 0 <= expires_at < 2**53):
        raise ValueError(f"seat request times out of range: expires_at={expires_at!r}, now={now!r}")


def free_seats(holds: list[SeatHold], capacity: int, start: int, end: int, now: float) -> int:
    """Fewest free seats on any segment of ``[start, end)`` given the active holds (the reference algorithm the
    Lua script mirrors): occupancy only changes where a hold starts, so checking ``start`` and every hold start
    inside the range is enough."""
    live = [h for h in holds if h.active(now) and h.start < end and h.end > start]
    points = {start} | {h.start for h in live if start < h.start < end}
    worst = 0
    for p in points:
        worst = max(worst, sum(h.count for h in live if h.start <= p < h.end))
    return capacity - worst


def blob_manifest(data: bytes, chunks: int) -> str:
    return json.dumps({"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "chunks": chunks})


def checked_blob(data: bytes, meta: dict) -> bytes | None:
    """``data`` when it has the manifest's size and checksum, else None (a damaged or half-written blob)."""
    if len(data) != int(meta["size"]) or hashlib.sha256(data).hexdigest() != meta["sha256"]:
        return None
    return data


class Store(abc.ABC):
    """Async storage contract (see module docstring). Keys are plain strings; engines add their own prefix."""

    # -- KV -----------------------------------------------------------------------------------------------------
    @abc.abstractmethod
    async def get(self, key: str) -> str | None: ...

    @abc.abstractmethod
    async def set(self, key: str, value: str, *, ttl_s: float | None = None, nx: bool = False) -> bool:
        """Store ``value``; with ``nx`` only when the key is absent. True when written."""

    @abc.abstractmethod
    async def delete(self, key: str) -> bool: ...

    @abc.abstractmethod
    async def delete_if(self, key: str, value: str) -> bool:
        """Delete only when the key still holds ``value`` (releasing a lock we own)."""

    @abc.abstractmethod
    async def keys(self, prefix: str) -> list[str]:
        """Live keys starting with ``prefix`` (unordered). Meant for small namespaces and admin tools."""

    @abc.abstractmethod
    async def replace_if(self, key: str, expected: str, value: str, *, ttl_s: float | None = None) -> bool:
        """Write ``value`` only when the key still holds exactly ``expected``. True when written."""

    @abc.abstractmethod
    async def replace_versioned(self, key: str, value: str, expected_version: int) -> bool:
        """Write the JSON object ``value`` only when the JSON object stored at ``key`` has ``"version"`` equal to
        ``expected_version`` (0: the key is absent, or holds an object without a version — written before versions
        existed). One atomic step: the compare-and-set fencing bookings."""

    # -- sets -----------------------------------------------------------------------------------------------------
    @abc.abstractmethod
    async def sadd(self, key: str, member: str) -> None: ...

    @abc.abstractmethod
    async def srem(self, key: str, member: str) -> None: ...

    @abc.abstractmethod
    async def smembers(self, key: str) -> set[str]: ...

    async def sets_update(self, add: list[tuple[str, str]] = (), remove: list[tuple[str, str]] = ()) -> None:
        """Many (set, member) additions and removals in one round trip where the engine can (index upkeep)."""
        for key, m in add:
            await self.sadd(key, m)
        for key, m in remove:
            await self.srem(key, m)

    @abc.abstractmethod
    async def sunion(self, keys: list[str]) -> set[str]:
        """Members of all the sets (one round trip however many keys)."""

    # -- ordered sets ---------------------------------------------------------------------------------------------
    @abc.abstractmethod
    async def zadd_lex(self, key: str, member: str) -> None: ...

    @abc.abstractmethod
    async def zrem_lex(self, key: str, member: str) -> None: ...

    @abc.abstractmethod
    async def zrange_lex(self, key: str, after: str = "", limit: int = 100) -> list[str]:
        """Up to ``limit`` members greater than ``after`` (byte order), smallest first."""

    # -- seat holds -----------------------------------------------------------------------------------------------
    @abc.abstractmethod
    async def reserve_seats(self, resource: str, capacity: int, start: int, end: int, count: int,
                            hold_id: str, expires_at: float, now: float) -> ReserveResult:
        """Atomically add a hold when every segment of ``[start, end)`` has ``count`` free seats."""

    @abc.abstractmethod
    async def commit_seats(self, resource: str, hold_id: str, now: float) -> bool:
        """Make a live hold permanent (a sold seat). False when the hold is gone or expired."""

    @abc.abstractmethod
    async def release_seats(self, resource: str, hold_id: str) -> bool:
        """Remove a hold (held or sold). True when it existed."""

    @abc.abstractmethod
    async def seat_holds(self, resource: str) -> list[SeatHold]:
        """Every hold stored on the resource, expired ones included (until purged)."""

    @abc.abstractmethod
    async def purge_expired_seats(self, resource: str, now: float) -> int:
        """Drop expired holds; returns how many."""

    # -- ledger ---------------------------------------------------------------------------------------------------
    @abc.abstractmethod
    async def ledger_append(self, txn_id: str, entries: list[dict]) -> bool:
        """Append one transaction's entries atomically; False (and nothing written) when ``txn_id`` exists."""

    @abc.abstractmethod
    async def ledger_entries(self) -> list[dict]:
        """All entries in append order."""

    # -- counters and blobs ---------------------------------------------------------------------------------------
    BLOB_CHUNK = 4 * 1024 * 1024  # bytes per stored piece: no single huge value blocks Redis or a slot migration

    async def incr(self, key: str) -> int:
        """Add one to the integer at ``key`` (absent: 0) and return the new value; atomic (here a compare-and-set
        loop over the KV primitives, INCR or one UPDATE in the engines)."""
        while True:
            cur = await self.get(key)
            new = str(int(cur or 0) + 1)
            if await (self.set(key, new, nx=True) if cur is None else self.replace_if(key, cur, new)):
                return int(new)

    async def put_blob(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` in pieces of ``BLOB_CHUNK`` (the pieces under ``{key}:chunk:{i}``, so they
        share the key's hash tag), the manifest (size, sha256, pieces) written last: a reader sees the whole
        blob or none. Callers address blobs by content, so a key is never rewritten with other bytes."""
        pieces = [data[i:i + self.BLOB_CHUNK] for i in range(0, len(data), self.BLOB_CHUNK)] or [b""]
        for i, piece in enumerate(pieces):
            await self.set(f"{key}:chunk:{i}", base64.b64encode(piece).decode("ascii"))
        await self.set(key, blob_manifest(data, len(pieces)))

    async def get_blob(self, key: str) -> bytes | None:
        """The bytes under ``key``; None when absent or damaged (a piece missing, the checksum wrong)."""
        manifest = await self.get(key)
        if manifest is None:
            return None
        meta = json.loads(manifest)
        pieces = []
        for i in range(int(meta["chunks"])):
            piece = await self.get(f"{key}:chunk:{i}")
            if piece is None:
                return None
            pieces.append(base64.b64decode(piece))
        return checked_blob(b"".join(pieces), meta)

    async def has_blob(self, key: str) -> bool:
        return await self.get(key) is not None

    async def delete_blob(self, key: str) -> None:
        """Remove a blob: the manifest first (readers then see none), then its pieces."""
        manifest = await self.get(key)
        if manifest is None:
            return
        await self.delete(key)
        for i in range(int(json.loads(manifest)["chunks"])):
            await self.delete(f"{key}:chunk:{i}")

    # -- pub/sub --------------------------------------------------------------------------------------------------
    @abc.abstractmethod
    async def publish(self, channel: str, message: str) -> None: ...

    @abc.abstractmethod
    async def subscribe(self, *channels: str) -> Subscription: ...

    async def subscribe_prefix(self, prefix: str) -> Subscription:
        """Messages of every channel whose name starts with ``prefix``: one subscription a worker can fan out to
        many listeners (SSE streams) instead of one store connection per listener."""
        raise NotImplementedError(f"{type(self).__name__} has no prefix subscriptions")

    # -- lifecycle ------------------------------------------------------------------------------------------------
    async def ping(self) -> None:
        """Raise when the store cannot be reached (readiness probes)."""

    async def durable(self) -> None:
        """Make preceding writes crash-safe (no-op when every write already is)."""

    @abc.abstractmethod
    async def aclose(self) -> None: ...
