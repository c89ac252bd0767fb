"""Crash safety: a real worker process is killed (SIGKILL) between two steps of a booking or a cancellation;
the recovery pass must leave no charge without a booking and no booking without payment."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from booking_support import START, SHUTTLE, SHUTTLE_TRIP, Clock, drop_test_store, make_service, open_test_store
from maas.booking.bookings import OPEN, STARTING
from maas.booking.offers import BookingError
from maas.booking.recovery import recover, recover_service

TESTS = Path(__file__).resolve().parent
RESOURCE = f"{SHUTTLE}|2026-11-24|{SHUTTLE_TRIP}"

# The worker: books (and optionally cancels) against the store named on the command line and, at the step named
# by CRASH_AT, announces it and sleeps so the test can kill it there. "after-X" stops right after the payment
# provider or the shuttle operator answered X, before the answer is recorded.
WORKER = r"""
import asyncio, os, sys
sys.path.insert(0, sys.argv[1])
from booking_support import GOOD_CARD, itinerary, make_service, open_test_store
from maas.booking.payments import SandboxProvider

CRASH_AT, KIND, WHERE, CARD = os.environ["CRASH_AT"], sys.argv[2], sys.argv[3], sys.argv[4]
PAUSE = os.environ.get("PAUSE") == "1"  # stop (SIGSTOP) instead of waiting to be killed, then carry on

async def stop(step):
    print("AT", step, flush=True)
    if PAUSE:
        import signal
        os.kill(os.getpid(), signal.SIGSTOP)  # a worker frozen mid-step: GC pause, swapped out, VM stalled
        return
    await asyncio.sleep(3600)

class Provider(SandboxProvider):
    async def authorize(self, *a, **kw):
        out = await super().authorize(*a, **kw)
        if CRASH_AT == "after-authorize":
            await stop(CRASH_AT)
        return out
    async def capture(self, *a, **kw):
        out = await super().capture(*a, **kw)
        if CRASH_AT == "after-capture":
            await stop(CRASH_AT)
        return out

def crash_after(adapter, method, name):
    orig = getattr(adapter, method)
    async def wrapped(*a, **kw):
        out = await orig(*a, **kw)
        if CRASH_AT == name:
            await stop(name)
        return out
    setattr(adapter, method, wrapped)

async def main():
    if KIND == "redis":
        from maas.store.redis_store import RedisStore
        url, prefix = WHERE.split("|")
        store = RedisStore.from_url(url, prefix=prefix)
    else:
        store = await open_test_store("embedded", sqlite_path=WHERE)
    async def hook(step, booking):
        if step.split(":")[0] == CRASH_AT:
            await stop(step)
    svc = make_service(store, on_step=hook)
    svc.payments = Provider(store)
    shuttle = svc.operators.get("shuttle-nishishinjuku")  # its answer is in; the booking record does not know
    crash_after(shuttle, "hold", "after-hold")
    crash_after(shuttle, "confirm", "after-confirm")
    offer = await svc.create_offer(itinerary(), {"adult": 2}, "offer-1", "alice")
    try:
        b = await svc.book(offer["id"], {"token": CARD}, "book-1", "alice")
    except Exception as err:
        print("ERR", getattr(err, "code", err), flush=True)
        return
    print("BOOKED", b["state"], flush=True)
    await svc.cancel(b["id"], 3, "cancel-1", "alice")
    print("DONE", flush=True)

asyncio.run(main())
"""


def _await_stop(proc) -> str:
    """The worker's "AT step" line (after any progress lines it printed first)."""
    seen = []
    while True:
        line = proc.stdout.readline().strip()
        seen.append(line)
        if line.startswith("AT ") or not line:
            break
    assert line.startswith("AT "), (seen, proc.stderr.read() if proc.poll() is not None else "")
    return line


def run_and_kill(crash_at: str, kind: str, where: str, card: str = "tok_visa") -> str:
    """Start the worker, wait until it reaches ``crash_at``, SIGKILL it. Returns the line it printed last."""
    env = {**os.environ, "CRASH_AT": crash_at}
    proc = subprocess.Popen([sys.executable, "-c", WORKER, str(TESTS), kind, where, card], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = _await_stop(proc)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        return line
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def assert_invariants(store, expect: str | None, card: str = "tok_visa") -> dict:
    """Recover, then: terminal state, money matches tickets, seats match, ledger balanced, replay consistent."""
    clock = Clock(START.replace(minute=5))  # minutes later: the dead worker's booking is stale
    svc = make_service(store, clock)
    report = await recover(store, svc.operators, svc.payments, svc.ledger, clock, stale_after_s=30)
    assert await store.smembers(OPEN) == set() and await store.smembers(STARTING) == set(), report
    keys = await store.keys("booking:")
    assert len(keys) == 1
    b = json.loads(await store.get(keys[0]))
    auths = await svc.payments.authorizations()
    captured = sum(a.captured - a.refunded for a in auths)
    seats = await store.seat_holds(RESOURCE)
    await svc.ledger.check_balanced()
    ledger_cash = (await svc.ledger.balances()).get("psp_clearing", 0)
    assert ledger_cash == captured  # the ledger agrees with the provider
    if b["state"] in ("CONFIRMED", "CANCELLED"):
        live = [leg for leg in b["legs"] if leg["state"] == "confirmed"]
        refunded = sum(leg["refund"]["amount"] for leg in b["legs"] if leg["refund"])
        assert captured == b["total"] - refunded
        for leg in b["legs"]:
            status = await svc.operators.get(leg["operator"]).ticket_status(leg["ticket"]["ticket_id"])
            assert status == ("valid" if leg in live else "cancelled")
        shuttle_live = any(leg["operator"] == SHUTTLE for leg in live)
        assert [(h.count, h.expires_at) for h in seats] == ([(2, 0.0)] if shuttle_live else [])
    else:
        assert b["state"] in ("REJECTED", "EXPIRED")
        assert captured == 0 and all(a.status == "voided" for a in auths)
        assert seats == [] and await svc.ledger.entries() == []
        for leg in b["legs"]:
            for key in await store.keys(f"ticket:{leg['operator']}:{leg['hold_id']}"):
                t = json.loads(await store.get(key))
                assert await svc.operators.get(leg["operator"]).ticket_status(t["ticket_id"]) == "cancelled"
    if expect:
        assert b["state"] == expect, b["reason"]
    # the client's retry gets the recovered outcome, never a second booking or charge
    offer_id = b["offer_id"]
    try:
        again = await svc.book(offer_id, {"token": card}, "book-1", "alice")
        assert again["id"] == b["id"] and b["state"] in ("CONFIRMED", "CANCELLED")
    except BookingError as err:
        assert b["state"] in ("REJECTED", "EXPIRED") and err.code == b["reason"]["code"]
    assert len(await svc.payments.authorizations()) == len(auths)
    return b


# step the worker dies at → the state recovery must reach
BOOK_STEPS = [("created", "REJECTED"), ("hold", "REJECTED"), ("after-hold", "REJECTED"),
              ("authorize", "REJECTED"), ("after-authorize", "REJECTED"), ("confirm", "REJECTED"),
              ("after-confirm", "REJECTED"), ("capture", "CONFIRMED"), ("after-capture", "CONFIRMED"),
              ("cancel", "CONFIRMED"), ("refund", "CONFIRMED")]


@pytest.mark.parametrize("crash_at,expect", BOOK_STEPS)
async def test_kill_worker_embedded_sqlite(tmp_path, crash_at, expect):
    path = str(tmp_path / "store.sqlite3")
    run_and_kill(crash_at, "embedded", path)
    store = await open_test_store("embedded", sqlite_path=path)
    b = await assert_invariants(store, expect)
    if crash_at in ("cancel", "refund"):  # the interrupted cancellation was carried through
        assert b["legs"][-1]["state"] == "cancelled" and b["payment"]["refunded"] == 400
    await store.aclose()


async def test_kill_after_claiming_the_key(tmp_path):
    """Died holding the Idempotency-Key and the offer, before any booking record: both are freed."""
    path = str(tmp_path / "store.sqlite3")
    run_and_kill("claimed", "embedded", path)
    store = await open_test_store("embedded", sqlite_path=path)
    clock = Clock(START.replace(minute=2))  # stale for recovery, the offer still valid
    svc = make_service(store, clock)
    report = await recover_service(svc, stale_after_s=30)
    assert len(report.released_claims) == 1 and await store.smembers(STARTING) == set()
    offer_id = (await store.keys("offer:"))[0].split(":", 1)[1]
    with pytest.raises(BookingError) as e:  # the key answers, instead of hanging "in progress"
        await svc.book(offer_id, {"token": "tok_visa"}, "book-1", "alice")
    assert e.value.code == "interrupted"
    b = await svc.book(offer_id, {"token": "tok_visa"}, "book-2", "alice")  # offer is free again
    assert b["state"] == "CONFIRMED" and len(await svc.payments.authorizations()) == 1
    await store.aclose()


async def test_kill_during_compensation_of_a_declined_card(tmp_path):
    path = str(tmp_path / "store.sqlite3")
    run_and_kill("compensate", "embedded", path, card="tok_captureDeclined")  # capture declined → compensating
    store = await open_test_store("embedded", sqlite_path=path)
    b = await assert_invariants(store, "REJECTED", card="tok_captureDeclined")
    assert b["reason"]["code"] == "payment_declined"
    await store.aclose()


@pytest.mark.parametrize("crash_at,expect", [("after-hold", "REJECTED"), ("after-authorize", "REJECTED"),
                                             ("after-confirm", "REJECTED"), ("after-capture", "CONFIRMED")])
async def test_kill_worker_redis(any_redis_url, crash_at, expect):
    redis_url = any_redis_url  # one server, then the cluster (recovery scans every master)
    store = await open_test_store("redis", redis_url)
    try:
        run_and_kill(crash_at, "redis", f"{redis_url}|{store.prefix}")
        await assert_invariants(store, expect)
    finally:
        await drop_test_store(store)


async def test_recovery_leaves_fresh_bookings_to_their_worker(tmp_path):
    path = str(tmp_path / "store.sqlite3")
    run_and_kill("confirm", "embedded", path)
    store = await open_test_store("embedded", sqlite_path=path)
    svc = make_service(store, Clock(START))  # same instant as the worker: it might still be alive
    report = await recover_service(svc, stale_after_s=30)
    assert report.skipped and not report.compensated
    assert (await store.smembers(OPEN)) == set(report.skipped)
    await store.aclose()


def test_worker_completes_without_crash(tmp_path):
    """Control: with no crash the worker books and cancels the shuttle leg."""
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-c", WORKER, str(TESTS), "embedded", str(tmp_path / "s.sqlite3"),
                          "tok_visa"], env={**os.environ, "CRASH_AT": "never"}, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip().endswith("DONE"), out.stderr
    assert time.monotonic() - start < 30


async def test_two_workers_recovering_at_once(tmp_path):
    """Every worker runs recovery at start: two passes at once must handle each booking once."""
    import asyncio

    path = str(tmp_path / "store.sqlite3")
    run_and_kill("after-confirm", "embedded", path)
    store = await open_test_store("embedded", sqlite_path=path)
    clock = Clock(START.replace(minute=5))
    a, b = make_service(store, clock), make_service(store, clock)
    reports = await asyncio.gather(recover_service(a), recover_service(b))
    assert sorted(len(r.compensated) for r in reports) == [0, 1]
    await assert_invariants(store, "REJECTED")
    await store.aclose()


def _stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


# step the worker is frozen at → the outcome the one winner reaches
PAUSE_STEPS = [("hold", "REJECTED"), ("after-authorize", "REJECTED"), ("confirm", "REJECTED"),
               ("after-confirm", "REJECTED"), ("capture", "CONFIRMED"), ("cancel", "CONFIRMED")]


async def _pause_recover_resume(store, kind: str, where: str, step: str, expect: str) -> None:
    """Freeze a real worker (SIGSTOP) at ``step``, let recovery run past the staleness age, resume it (SIGCONT):
    exactly one of them changes the booking from the takeover on, the worker answers with the winner's outcome,
    money, tickets, seats and ledger agree."""
    env = {**os.environ, "CRASH_AT": step, "PAUSE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", WORKER, str(TESTS), kind, where, "tok_visa"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        before = _await_stop(proc)
        deadline = time.monotonic() + 10
        while not _stopped(proc.pid):
            assert time.monotonic() < deadline, "the worker did not stop"
            time.sleep(0.01)
        clock = Clock(START.replace(minute=5))  # the frozen worker's booking looks dead to recovery
        report = await recover_service(make_service(store, clock), stale_after_s=30)
        assert report.finished or report.compensated or report.cancellations, report
        os.kill(proc.pid, signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    b = await assert_invariants(store, expect)
    hist = b["history"]
    k = next(i for i, h in enumerate(hist) if h.get("taken_over_by"))
    owner = hist[k]["taken_over_by"]
    end = next(i for i in range(k + 1, len(hist)) if hist[i]["step"] == "done")
    assert {h["by"] for h in hist[k + 1:end + 1]} == {owner}  # after the takeover only recovery wrote
    if expect == "REJECTED":  # the worker stood down and reported recovery's outcome
        assert out.split()[-2:] == ["ERR", "interrupted"], out
    else:
        assert out.strip().endswith("DONE"), out
        assert "BOOKED CONFIRMED" in out if step != "cancel" else before == "AT cancel:" + b["cancellations"][0]["id"]


@pytest.mark.parametrize("step,expect", PAUSE_STEPS)
async def test_paused_worker_and_recovery_never_both_act_embedded(tmp_path, step, expect):
    path = str(tmp_path / "store.sqlite3")
    store = await open_test_store("embedded", sqlite_path=path)
    try:
        await _pause_recover_resume(store, "embedded", path, step, expect)
    finally:
        await store.aclose()


@pytest.mark.parametrize("step,expect", [("after-authorize", "REJECTED"), ("capture", "CONFIRMED"),
                                         ("cancel", "CONFIRMED")])
async def test_paused_worker_and_recovery_never_both_act_redis(any_redis_url, step, expect):
    redis_url = any_redis_url
    store = await open_test_store("redis", redis_url)
    try:
        await _pause_recover_resume(store, "redis", f"{redis_url}|{store.prefix}", step, expect)
    finally:
        await drop_test_store(store)
