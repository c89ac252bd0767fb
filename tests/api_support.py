"""Shared set-up for the API tests: a tiny real feed, a key ring with every role, and a live test client."""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from feeds.feed import Network
from feeds.gtfs import load_feed
from gtfs_builders import minimal_feed_tables, write_gtfs
from maas.platform.auth import KeyRing
from maas.platform.ratelimit import MemoryRateLimiter, RateLimit
from maas.services import Services
from maas.platform.settings import Settings
from maas.transit import TransitService

TOKYO = dt.timezone(dt.timedelta(hours=9), "JST")
DAY = dt.date(2026, 11, 24)  # a Tuesday: the tiny feed's weekday service runs

KEYS = {
    "pk-alpha": {"role": "partner", "name": "alpha"},
    "pk-beta": {"role": "partner", "name": "beta"},
    "pk-slow": {"role": "partner", "name": "slow", "rate": 0.5, "burst": 2},
    "op-test": {"role": "operator", "operator": "test"},
    "op-other": {"role": "operator", "operator": "toei-bus"},
    "dis-jma": {"role": "disaster", "name": "jma"},
    "adm-root": {"role": "admin", "name": "root"},
}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def tiny_tables() -> dict:
    """The builders' minimal feed plus English and kana names (translations.txt), for name search."""
    tables = minimal_feed_tables()
    tables["translations"] = [
        {"table_name": "stops", "field_name": "stop_name", "language": lang, "translation": text, "record_id": sid}
        for sid, en, kana in (("S", "Eki", "えき"), ("B", "Chūō", "チュウオウ"), ("C", "Shuten", "しゅうてん"))
        for lang, text in (("en", en), ("ja-Hrkt", kana))
    ]
    # one flat fare (no fare_rules: it applies to every ride), so plans and offers are priced
    tables["fare_attributes"] = [{"fare_id": "F", "price": "150", "currency_type": "JPY", "payment_method": "0",
                                  "transfers": ""}]
    return tables


def tiny_transit(tmp: Path, namespace: str = "test", tables: dict | None = None) -> TransitService:
    """A transit service on the tiny feed (or ``tables``, e.g. the tiny feed's with more added), its day planned."""
    feed = load_feed(write_gtfs(tmp / "tiny", tables or tiny_tables()), namespace)
    transit = TransitService(Network([feed]), threads=2)
    transit.planner_for(DAY)
    return transit


def services_for(transit: TransitService, **kw) -> Services:
    return Services(settings=Settings(), transit=transit, keys=KeyRing.from_mapping(KEYS),
                    limiter=MemoryRateLimiter(), rate_limit=RateLimit(rate=1000, burst=1000), **kw)


@contextlib.asynccontextmanager
async def client_for(services: Services):
    app = create_app(services, close_services=False)
    async with TestClient(TestServer(app)) as client:
        yield client


@contextlib.contextmanager
def live_server(app):
    """Serve ``app`` on 127.0.0.1 (a free port) from a background thread; yields the base URL."""
    import asyncio
    import threading

    from aiohttp import web

    ready, box = threading.Event(), {}

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        box["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
        box["stop"] = asyncio.Event()
        ready.set()
        await box["stop"].wait()
        await runner.cleanup()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the live server did not start")
    try:
        yield box["url"]
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(10)
        loop.close()


async def read_events(resp, n: int, timeout: float = 5.0) -> list[tuple[str, dict]]:
    """The next ``n`` SSE events (name, data) from a streaming response."""
    out, name, data = [], None, []
    async with asyncio.timeout(timeout):
        while len(out) < n:
            line = (await resp.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and name:
                out.append((name, json.loads("\n".join(data))))
                name, data = None, []
    return out


async def subscribe(client, key: str):
    resp = await client.get("/v1/events", headers=auth(key))
    assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
    assert (await resp.content.readline()) == b"retry: 3000\n"
    assert (await resp.content.readline()) == b": subscribed\n"
    return resp


@pytest.fixture(scope="module")
def booking_transit():
    """The transit service the booking helpers' legs ride on (tests/booking_support.py), shared by a module."""
    from booking_support import booking_transit as shared

    return shared()


@pytest.fixture
async def booking_client(booking_transit):
    """A test client whose services book on a fresh in-memory store with a fixed clock."""
    from booking_support import Clock, make_service
    from maas.store.embedded import EmbeddedStore

    store = EmbeddedStore(":memory:")
    services = services_for(booking_transit, bookings=make_service(store, Clock(), transit=booking_transit))
    async with client_for(services) as c:
        yield c
    await store.aclose()
