"""The race and idempotency suites across processes: 4 client processes against `maas serve --workers 2 --redis`
(two worker processes sharing one Redis), over HTTP, on the built-in sample's 11-seat shuttle.

* 200 bookings of one seat each on one shuttle trip → exactly 11 confirmed, every other one a 409 sold_out, no
  5xx; one captured authorization per confirmed booking, the rest voided; the ledger balanced and equal to what
  was captured; the trip holds exactly 11 sold seats; nothing left open for recovery.
* The same booking request (one Idempotency-Key) retried concurrently from 4 processes → one booking, one charge.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from api_support_http import get, post, serve, wait_ready
from redis_support import serve_redis_args
from test_api_server import KEYS

ROOT = Path(__file__).resolve().parents[1]
SHUTTLE = "shuttle-nishishinjuku"
JST = dt.timezone(dt.timedelta(hours=9))

# One client process: offers and books ``count`` times (``conc`` at once) with its own keys, or (mode "dup")
# sends the same booking request ``count`` times at once; prints one JSON line of results.
CLIENT = r"""
import asyncio, json, sys, time
import aiohttp

BASE, KEY, MODE, PROC, COUNT, CONC, PAYLOAD = sys.argv[1:8]
COUNT, CONC = int(COUNT), int(CONC)
H = {"Authorization": f"Bearer {KEY}"}
CARD = {"card_number": "4242424242424242"}

async def main():
    sem = asyncio.Semaphore(CONC)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as s:
        async def book_one(i):
            async with sem:
                async with s.post(f"{BASE}/v1/offers", json={"itinerary": json.loads(PAYLOAD)},
                                  headers={**H, "Idempotency-Key": f"o-{PROC}-{i}"}) as r:
                    offer = await r.json()
                    if r.status != 201:
                        return {"status": r.status, "code": offer.get("code"), "stage": "offer"}
                t0 = time.perf_counter()  # the booking request alone: hold, pay, tickets, capture
                async with s.post(f"{BASE}/v1/bookings", json={"offer_id": offer["id"], "payment": CARD},
                                  headers={**H, "Idempotency-Key": f"b-{PROC}-{i}"}) as r:
                    body = await r.json()
                    return {"status": r.status, "code": body.get("code"), "id": body.get("id"),
                            "state": body.get("state"), "total": body.get("total"), "ms": (time.perf_counter() - t0) * 1e3}

        async def dup(i):
            async with s.post(f"{BASE}/v1/bookings", json={"offer_id": PAYLOAD, "payment": CARD},
                              headers={**H, "Idempotency-Key": "the-same-key"}) as r:
                body = await r.json()
                return {"status": r.status, "code": body.get("code"), "id": body.get("id"), "state": body.get("state")}

        fn = book_one if MODE == "book" else dup
        print(json.dumps(await asyncio.gather(*[fn(i) for i in range(COUNT)])), flush=True)

asyncio.run(main())
"""


def run_clients(base: str, mode: str, payload: str, *, procs: int = 4, count: int = 50, conc: int = 16,
                key: str = "pk-key") -> list[dict]:
    """``procs`` client processes at once; every result of every process (see CLIENT)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ps = [subprocess.Popen([sys.executable, "-c", CLIENT, base, key, mode, str(p), str(count), str(conc),
                            payload], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for p in range(procs)]
    out = []
    for p in ps:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr[-3000:]
        out += json.loads(stdout.strip().splitlines()[-1])
    return out


def departure_window(now: dt.datetime) -> dt.datetime:
    """A time the sample shuttle runs (10:00-17:40) and takes bookings for (10 min to 24 h ahead)."""
    t = (now + dt.timedelta(hours=1)).replace(second=0, microsecond=0)
    if t.time() < dt.time(10, 0):
        t = t.replace(hour=10, minute=0)
    elif t.time() > dt.time(17, 0):
        t = (t + dt.timedelta(days=1)).replace(hour=10, minute=0)
    return t


@pytest.fixture
def prefix(monkeypatch):
    p = f"test:{uuid.uuid4().hex}:"
    monkeypatch.setenv("MAAS_REDIS_PREFIX", p)  # the server's booking keys, apart from any other run
    return p


@pytest.fixture
def server(tmp_path, redis_url, prefix):
    keys = {**KEYS, "pk-key": {"role": "partner", "name": "p", "rate": 100000, "burst": 100000}}
    served = serve(tmp_path, ["--workers", "2", *serve_redis_args(redis_url)], keys)
    try:
        wait_ready(served, timeout=300, pids=2)  # two workers warm their planners: slow on a loaded machine
        yield served.proc, served.base
    finally:
        served.stop()


def _shuttle_itinerary(base: str) -> dict:
    when = departure_window(dt.datetime.now(JST)).isoformat().replace("+", "%2B")
    status, body = get(f"{base}/v1/plan?from={SHUTTLE}:NS-01&to={SHUTTLE}:NS-05&depart_at={when}&num=3", "pk-key")
    assert status == 200, body
    rides = [it for it in body["itineraries"] if any(leg["mode"] == "SHUTTLE" for leg in it["legs"])]
    assert rides, body
    return rides[0]


async def _store_state(redis_url: str, prefix: str, resource: str) -> dict:
    from maas.booking.ledger import Ledger
    from maas.booking.payments import SandboxProvider
    from maas.store.redis_store import RedisStore

    store = RedisStore.from_url(redis_url, prefix=prefix)
    try:
        ledger = Ledger(store)
        await ledger.check_balanced()
        auths = await SandboxProvider(store).authorizations()
        return {"auths": auths, "cash": (await ledger.balances()).get("psp_clearing", 0),
                "holds": await store.seat_holds(resource), "open": await store.smembers("bookings:open")}
    finally:
        keys = [k async for k in store.r.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await store.r.delete(*keys)
        await store.aclose()


def test_200_bookings_for_11_seats_from_4_processes_on_2_workers(server, redis_url, prefix):
    proc, base = server
    it = _shuttle_itinerary(base)
    leg = next(leg for leg in it["legs"] if leg["mode"] == "SHUTTLE")
    capacity = 11
    results = run_clients(base, "book", json.dumps(it), procs=4, count=50, conc=16)
    assert len(results) == 200 and not [r for r in results if r["status"] >= 500], results
    ok = [r for r in results if r["status"] == 201]
    assert len(ok) == capacity and {r["state"] for r in ok} == {"CONFIRMED"}
    assert {(r["status"], r["code"]) for r in results if r["status"] != 201} == {(409, "sold_out")}
    assert len({r["id"] for r in ok}) == capacity
    # what the partner sees: exactly the confirmed ones, through the paged listing
    listed, cursor = [], None
    while True:
        status, page = get(f"{base}/v1/bookings?status=CONFIRMED&limit=4" + (f"&cursor={cursor}" if cursor else ""),
                           "pk-key")
        assert status == 200, page
        listed += [b["id"] for b in page["bookings"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(listed) == sorted(r["id"] for r in ok)
    resource = f"{SHUTTLE}|{leg['service_date']}|{leg['trip_id']}"
    st = asyncio.run(_store_state(redis_url, prefix, resource))
    captured = [a for a in st["auths"] if a.status == "captured"]
    assert len(captured) == capacity and all(a.status in ("captured", "voided") for a in st["auths"])
    assert st["cash"] == sum(a.captured for a in captured) == sum(r["total"] for r in ok)
    sold = [h for h in st["holds"] if h.expires_at == 0]
    assert sum(h.count for h in sold) == capacity
    assert st["open"] == set()


def test_one_key_retried_from_4_processes_books_and_charges_once(server, redis_url, prefix):
    proc, base = server
    it = _shuttle_itinerary(base)
    status, offer = post(f"{base}/v1/offers", {"itinerary": it}, "pk-key", uuid.uuid4().hex)
    assert status == 201, offer
    results = run_clients(base, "dup", offer["id"], procs=4, count=5)
    assert {r["status"] for r in results} == {201}, results
    assert len({r["id"] for r in results}) == 1 and {r["state"] for r in results} == {"CONFIRMED"}
    st = asyncio.run(_store_state(redis_url, prefix, "none"))
    assert [a.status for a in st["auths"]] == ["captured"]
    assert st["open"] == set()
