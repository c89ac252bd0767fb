"""Idempotency records (the Stripe model): the first result of a request, success or error, replayed for every
retry with the same key; a different request body under the same key is a conflict.

A record is claimed with SET NX before the work starts, so concurrent retries cannot both run it; a retry that
finds the record still ``running`` waits for the outcome (the crash-recovery pass completes records whose worker
died). The record names what it created (``ref``: the booking id, drawn at random, never derived from the key), so
a key reused after its record expired is a new request that cannot reach the old booking, and recovery completes
or clears a record only while it still points at the booking recovery is finishing (compare-and-set).
"""
from __future__ import annotations

import asyncio
import hashlib
import json

from maas.store.base import Store

TTL_S = 24 * 3600.0


def fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class IdempotencyConflictError(Exception):
    pass


class IdempotencyStore:
    def __init__(self, store: Store, ttl_s: float = TTL_S):
        self.store, self.ttl_s = store, ttl_s

    @staticmethod
    def key(owner: str, op: str, key: str) -> str:
        return f"idem:{op}:{owner}:{key}"

    async def lookup(self, owner: str, op: str, key: str, fp: str) -> dict | None:
        raw = await self.store.get(self.key(owner, op, key))
        if raw is None:
            return None
        rec = json.loads(raw)
        if rec["fp"] != fp:
            raise IdempotencyConflictError(f"Idempotency-Key {key!r} was already used for a different request")
        return rec

    async def peek(self, owner: str, op: str, key: str) -> dict | None:
        """The record whatever its fingerprint (recovery)."""
        raw = await self.store.get(self.key(owner, op, key))
        return json.loads(raw) if raw else None

    async def claim(self, owner: str, op: str, key: str, fp: str, ref: str, ttl_s: float | None = None) -> bool:
        """Claim the key for one run; ``ttl_s`` bounds how long a claim whose worker died blocks retries."""
        rec = {"fp": fp, "state": "running", "ref": ref}
        return await self.store.set(self.key(owner, op, key), json.dumps(rec), ttl_s=ttl_s or self.ttl_s, nx=True)

    async def complete(self, owner: str, op: str, key: str, fp: str, ref: str, *, result: dict | None = None,
                       error: dict | None = None) -> None:
        rec = {"fp": fp, "state": "done", "ref": ref, "result": result, "error": error}
        await self.store.set(self.key(owner, op, key), json.dumps(rec), ttl_s=self.ttl_s)

    async def complete_if_running(self, owner: str, op: str, key: str, ref: str, *, result: dict | None = None,
                                  error: dict | None = None) -> bool:
        """Recovery: answer a record still ``running`` for ``ref`` (never one a later request claimed)."""
        raw = await self.store.get(self.key(owner, op, key))
        rec = json.loads(raw) if raw else None
        if rec is None or rec["state"] != "running" or rec["ref"] != ref:
            return False
        done = {"fp": rec["fp"], "state": "done", "ref": ref, "result": result, "error": error}
        return await self.store.replace_if(self.key(owner, op, key), raw, json.dumps(done), ttl_s=self.ttl_s)

    async def release_if_running(self, owner: str, op: str, key: str, ref: str) -> bool:
        """Recovery: forget a claim for ``ref`` whose work never started, so the client's retry runs it."""
        raw = await self.store.get(self.key(owner, op, key))
        rec = json.loads(raw) if raw else None
        if rec is None or rec["state"] != "running" or rec["ref"] != ref:
            return False
        return await self.store.delete_if(self.key(owner, op, key), raw)

    async def release(self, owner: str, op: str, key: str) -> None:
        """Forget a claim whose work stored nothing (validation failed after claiming)."""
        await self.store.delete(self.key(owner, op, key))

    async def wait(self, owner: str, op: str, key: str, fp: str, timeout_s: float = 30.0,
                   poll_s: float = 0.02) -> dict | None:
        """The finished record, polling while another request runs it; None on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            rec = await self.lookup(owner, op, key, fp)
            if rec is None or rec["state"] == "done":
                return rec
            if loop.time() >= deadline:
                return rec
            await asyncio.sleep(poll_s)
            poll_s = min(poll_s * 1.5, 0.25)
