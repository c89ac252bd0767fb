"""Crash recovery: finish or compensate every booking a dead worker left unfinished.

Run at start (and periodically). A booking whose last logged step is ``capture`` had every ticket
issued and its payment authorized, so it is finished (capture and ledger are idempotent). One that stopped
earlier is compensated (holds released, tickets voided, the authorization — found by reference even when its id
was never recorded — voided) and ends REJECTED with code ``interrupted``. An interrupted cancellation is carried
through. Only bookings untouched for ``stale_after_s`` are taken, and only by a compare-and-set on the booking's
version (``BookingService.take_over``): a worker that was slow rather than dead finds its next write refused and
steps back (see ``maas.booking.bookings``), so the two never both change a booking. A per-booking lock (owned by a random
token, released only by its owner) keeps concurrent passes from several workers apart; recovery never deletes a
lock it does not own.

Every crash window ends with the Idempotency-Key answered or cleared: a booking whose terminal state is logged gets
its key completed (book and cancel keys still ``running`` for it), index updated and leaves the open set; a claim
whose booking or cancellation was never logged is answered ``interrupted`` (book) or cleared (cancel: nothing was
done, the retry runs it).
"""
from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass, field

from maas.booking.bookings import (CANCEL_STARTING, OPEN, SETTLING, STARTING, TERMINAL, BookingService, Clock, Fenced,
                          tokyo_now)
from maas.booking.ledger import Ledger
from maas.booking.offers import BookingError
from maas.booking.payments import PaymentProvider
from maas.store import booking_index
from maas.store.base import Store
from operators.registry import OperatorRegistry


@dataclass
class RecoveryReport:
    finished: list[str] = field(default_factory=list)
    compensated: list[str] = field(default_factory=list)
    cancellations: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # still fresh (a live worker may own them), or taken by another
    fenced: list[str] = field(default_factory=list)  # written by somebody else meanwhile: left to them
    settled: list[str] = field(default_factory=list)  # rolled back earlier by recovery: late effects undone again
    released_claims: list[str] = field(default_factory=list)  # died before the booking record was written

    def to_dict(self) -> dict:
        return self.__dict__.copy()


async def recover(store: Store, operators: OperatorRegistry, payments: PaymentProvider, ledger: Ledger,
                  clock: Clock = tokyo_now, *, stale_after_s: float = 30.0) -> RecoveryReport:
    """One pass over the open bookings in ``store`` (call at start-up and then every few minutes)."""
    return await recover_service(BookingService(store, operators, payments, ledger, clock),
                                 stale_after_s=stale_after_s)


async def recover_service(service: BookingService, *, stale_after_s: float = 30.0) -> RecoveryReport:
    """One pass with an existing service (its operators, provider, ledger and clock)."""
    report = RecoveryReport()
    store = service.store
    await booking_index.ensure_built(store)
    now = service.clock()
    stale = dt.timedelta(seconds=stale_after_s)
    await _release_dead_claims(service, now, stale, report)
    await _release_dead_cancel_claims(service, now, stale, report)
    await _settle_rolled_back(service, now, report)
    for booking_id in sorted(await store.smembers(OPEN)):
        # one pass per booking at a time across workers; staleness decides when to try, the compare-and-set
        # take-over decides who wins against a live (slow) worker
        lock, token = f"lock:recovery:{booking_id}", secrets.token_hex(8)
        if not await store.set(lock, token, ttl_s=120, nx=True):
            report.skipped.append(booking_id)
            continue
        try:
            await _recover_one(service, booking_id, now, stale, report)
        finally:
            await store.delete_if(lock, token)
    return report


async def _recover_one(service: BookingService, booking_id: str, now: dt.datetime, stale: dt.timedelta,
                       report: RecoveryReport) -> None:
    store = service.store
    raw = await store.get(f"booking:{booking_id}")
    if raw is None:
        await store.srem(OPEN, booking_id)
        return
    b = json.loads(raw)
    if now - dt.datetime.fromisoformat(b["updated_at"]) < stale:
        report.skipped.append(booking_id)
        return
    step = b["step"]
    running = [c for c in b["cancellations"] if c["state"] == "running"]
    try:
        await service.take_over(b, "recovery:" + secrets.token_hex(6))
    except Fenced:  # the owner wrote it between our read and now: alive after all
        report.fenced.append(booking_id)
        return
    try:
        if running:
            c = running[-1]
            await service._finish_cancel(b, c["id"])
            if c.get("lock"):  # the dead canceller's lock, by its own token: anybody else's is left alone
                await store.delete_if(f"lock:booking:{booking_id}", c["lock"])
            report.cancellations.append(booking_id)
        elif b["state"] == "PENDING" and step == "capture":
            await service._finish(b)
            report.finished.append(booking_id)
        elif b["state"] == "PENDING" or step == "compensate":
            expired = (b.get("reason") or {}).get("code") == "hold_expired"
            await service._compensate(b, BookingError(
                "the booking was interrupted and has been rolled back; nothing was charged",
                code="interrupted", status=503), "EXPIRED" if expired else "REJECTED")
        else:  # terminal state written, bookkeeping after it interrupted: finish the bookkeeping
            await _complete_terminal(service, b)
            report.finished.append(booking_id)
    except BookingError:
        report.compensated.append(booking_id)
        await store.sadd(SETTLING, booking_id)  # its old worker may still be alive and act late: look again
    except Fenced:  # another pass took it over from us (we were the slow one)
        report.fenced.append(booking_id)


async def _complete_terminal(service: BookingService, b: dict) -> None:
    """Replay records, indexes and the open set for a booking whose final state was logged but not yet answered
    (each only where still missing: a key some later request claimed is never overwritten)."""
    assert b["state"] in TERMINAL
    if b["state"] in ("CONFIRMED", "CANCELLED"):
        await service.idem.complete_if_running(b["owner"], "book", b["idempotency_key"], b["id"],
                                               result=service.public(b))
    elif b.get("reason"):
        r = b["reason"]
        err = BookingError(r["detail"], code=r["code"], status=r.get("status", 409))
        await service.idem.complete_if_running(b["owner"], "book", b["idempotency_key"], b["id"],
                                               error=err.to_dict())
        await service.store.delete_if(f"offer-booked:{b['offer_id']}", b["id"])
    for c in b["cancellations"]:
        if c["state"] == "done":
            await service.idem.complete_if_running(b["owner"], "cancel", c["key"], b["id"],
                                                   result=service.public(b))
    await booking_index.reindex(service.store, b)
    await service.store.srem(OPEN, b["id"])


async def _release_dead_claims(service: BookingService, now: dt.datetime, stale: dt.timedelta,
                               report: RecoveryReport) -> None:
    """A worker that died between claiming an Idempotency-Key and writing the booking record did nothing else
    (no hold, no payment): answer the key with ``interrupted`` and free the offer so the client can retry."""
    store = service.store
    for marker in await store.smembers(STARTING):
        m = json.loads(marker)
        if now - dt.datetime.fromisoformat(m["at"]) < stale:
            continue
        if await store.get(f"booking:{m['id']}") is None:
            rec = await service.idem.peek(m["owner"], "book", m["key"])
            if rec is not None and rec["state"] == "running" and rec["ref"] == m["id"]:
                err = BookingError("the booking was interrupted before it started; nothing was charged",
                                   code="interrupted", status=503)
                await service.idem.complete(m["owner"], "book", m["key"], rec["fp"], m["id"], error=err.to_dict())
            await store.delete_if(f"offer-booked:{m['offer_id']}", m["id"])
            report.released_claims.append(m["id"])
        await store.srem(STARTING, marker)


async def _release_dead_cancel_claims(service: BookingService, now: dt.datetime, stale: dt.timedelta,
                                      report: RecoveryReport) -> None:
    """A worker that died between claiming a cancel's Idempotency-Key and logging the cancellation on the booking
    did nothing: clear the claim so the client's retry runs the cancellation (instead of waiting 24 h)."""
    store = service.store
    for marker in await store.smembers(CANCEL_STARTING):
        m = json.loads(marker)
        if now - dt.datetime.fromisoformat(m["at"]) < stale:
            continue
        raw = await store.get(f"booking:{m['id']}")
        logged = raw is not None and any(c["key"] == m["key"] for c in json.loads(raw)["cancellations"])
        if not logged and await service.idem.release_if_running(m["owner"], "cancel", m["key"], m["id"]):
            report.released_claims.append(m["id"])
        await store.srem(CANCEL_STARTING, marker)


SETTLE_S = 600.0  # how long a booking recovery rolled back is re-undone: far beyond any call a frozen worker resumes


async def _settle_rolled_back(service: BookingService, now: dt.datetime, report: RecoveryReport) -> None:
    """Bookings recovery rolled back over a worker that may only have been frozen: if that worker resumed and was
    killed before undoing what it did late (an authorization, a seat hold), the next passes undo it (every undo is
    idempotent per booking). After ``SETTLE_S`` the booking is left alone."""
    store = service.store
    for booking_id in sorted(await store.smembers(SETTLING)):
        raw = await store.get(f"booking:{booking_id}")
        b = json.loads(raw) if raw else None
        if b is None or b["state"] not in ("REJECTED", "EXPIRED"):
            await store.srem(SETTLING, booking_id)
            continue
        await service._undo(b, now)  # on a copy: the record keeps the rollback as written
        report.settled.append(booking_id)
        if (now - dt.datetime.fromisoformat(b["updated_at"])).total_seconds() > SETTLE_S:
            await store.srem(SETTLING, booking_id)
