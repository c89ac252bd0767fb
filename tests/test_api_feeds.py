"""Operators publish feeds over the API: validation report, versions, rollback, hot swap under load, ownership,
hostile zips."""
from __future__ import annotations

import asyncio
import datetime as dt
import io
import zipfile

import aiohttp
import pytest

from api_support import DAY, TOKYO, auth, client_for, services_for, tiny_tables, tiny_transit
from gtfs_builders import hms, to_csv
from maas.publishing.feed_registry import FeedRegistry
from maas.publishing.feed_swap import FeedManager

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
OP, OTHER, P, ADMIN = auth("op-test"), auth("op-other"), auth("pk-alpha"), auth("adm-root")
ZIP = {"Content-Type": "application/zip"}
Q = {"from": "test:S", "to": "test:C", "depart_at": "2026-11-24T07:50:00+09:00"}


def feed_zip(first_departure: int = 8 * 3600, *, drop: str | None = None, raw: dict | None = None,
             without_t1: bool = False, end_date: str | None = None) -> bytes:
    """The tiny feed with trip T1 leaving at ``first_departure``; ``drop`` removes a table (an error);
    ``end_date`` (YYYYMMDD): the last day of its services."""
    tables = tiny_tables()
    if end_date:
        for row in tables["calendar"]:
            row["end_date"] = end_date
    if without_t1:
        for name in ("trips", "stop_times"):
            tables[name] = [row for row in tables[name] if row["trip_id"] != "T1"]
    for row in tables["stop_times"]:
        if row["trip_id"] == "T1":
            offset = {"1": 0, "2": 300, "3": 600}[row["stop_sequence"]]
            row["arrival_time"] = row["departure_time"] = hms(first_departure + offset)
    if drop:
        del tables[drop]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, rows in tables.items():
            zf.writestr(f"{name}.txt", to_csv(rows))
        for name, data in (raw or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
async def env(tmp_path):
    transit = tiny_transit(tmp_path)
    clock = lambda: dt.datetime.combine(DAY, dt.time(7, 0), TOKYO)  # noqa: E731
    services = services_for(transit, feeds=FeedManager(FeedRegistry(tmp_path / "feeds"), transit, clock=clock))
    async with client_for(services) as c:
        yield c, services
    transit.close()


async def first_departure(client) -> str:
    r = await client.get("/v1/plan", params=Q, headers=P)
    assert r.status == 200, await r.text()
    return (await r.json())["itineraries"][0]["departure"]


async def publish(client, data: bytes, headers=OP, operator: str = "test"):
    return await client.post(f"/v1/feeds/{operator}", data=data, headers={**headers, **ZIP})


async def test_good_upload_goes_live_and_is_listed(env):
    client, services = env
    assert await first_departure(client) == "2026-11-24T08:00:00+09:00"
    r = await publish(client, feed_zip(8 * 3600 + 1800))
    assert r.status == 201, await r.text()
    body = await r.json()
    assert body["report"]["ok"] and body["report"]["errors"] == 0 and "warnings" in body["report"]
    assert body["version"]["active"] and len(body["version"]["sha256"]) == 64
    assert await first_departure(client) == "2026-11-24T08:30:00+09:00"
    feeds = (await (await client.get("/v1/feeds", headers=P)).json())["feeds"]
    [test] = [f for f in feeds if f["operator"] == "test"]
    assert test["active_version"]["version"] == body["version"]["version"] and test["validation"]["errors"] == 0
    versions = (await (await client.get("/v1/feeds/test/versions", headers=P)).json())["versions"]
    assert [v["version"] for v in versions] == [body["version"]["version"]]


async def test_first_plan_after_a_publish_computes_no_service_window(env, monkeypatch):
    """The service window (pandas over every feed's calendars) of a published network is made by the swap, off the
    event loop: the first plans after the publish only read it, and it is the new network's."""
    from feeds.feed import Feed

    client, services = env
    march = {**Q, "depart_at": "2027-03-02T07:50:00+09:00"}
    r = await client.get("/v1/plan", params=march, headers=P)  # after the configured feed's last day
    assert [n["code"] for n in (await r.json())["notices"]] == ["outside_service_dates"]
    r = await publish(client, feed_zip(8 * 3600 + 1800, end_date="20270630"))
    assert r.status == 201, await r.text()
    computed = []
    real = Feed.service_dates
    monkeypatch.setattr(Feed, "service_dates", lambda self: computed.append(self) or real(self))
    assert await first_departure(client) == "2026-11-24T08:30:00+09:00"
    r = await client.get("/v1/plan", params=march, headers=P)  # inside the published feed's service dates
    assert r.status == 200 and not (await r.json())["notices"], await r.text()
    assert (await r.json())["itineraries"][0]["departure"] == "2027-03-02T08:30:00+09:00"
    r = await client.get("/v1/plan", params={**Q, "depart_at": "2027-08-03T07:50:00+09:00"}, headers=P)
    assert [n["code"] for n in (await r.json())["notices"]] == ["outside_service_dates"]
    assert computed == []


async def test_a_publish_warms_the_kept_days_on_the_new_network_before_it_answers(env, monkeypatch):
    """The installed network's fare setups and kept days are warmed along a request's path (`warm_after_install`)
    before the publish answers: the first plan after it builds none of them."""
    from maas.publishing.day_keeper import wanted_days

    client, services = env
    assert await services.wait_warm(120)  # the start's own warm-up first
    warmed = []
    real = services.warm_days
    monkeypatch.setattr(services, "warm_days", lambda dates: warmed.append((list(dates), services.transit.network))
                        or real(dates))
    before = services.transit.network
    r = await publish(client, feed_zip(8 * 3600 + 1800))
    assert r.status == 201, await r.text()
    assert len(warmed) == 1, warmed
    days, network = warmed[0]
    assert days == wanted_days(services.days.now(), services.days.ahead, services.days.lead)
    assert network is services.transit.network and network is not before  # the new one, installed
    assert set(days) <= set(services.transit.cached_dates())
    assert await first_departure(client) == "2026-11-24T08:30:00+09:00"
    assert (await publish(client, feed_zip(8 * 3600 + 2700))).status == 201
    r = await client.post("/v1/feeds/test/rollback", headers=OP)  # a rollback installs a network too
    assert r.status == 200, await r.text()
    assert len(warmed) == 3 and warmed[2][1] is services.transit.network is not warmed[1][1]
    assert await first_departure(client) == "2026-11-24T08:30:00+09:00"


async def test_multipart_upload_and_first_publish_creates_a_new_operator(env):
    client, services = env
    form = aiohttp.FormData()
    form.add_field("file", feed_zip(), filename="feed.zip", content_type="application/zip")
    r = await client.post("/v1/feeds/kanto-bus", data=form, headers=ADMIN)
    assert r.status == 201, await r.text()
    assert sorted(f.namespace for f in services.transit.network.feeds) == ["kanto-bus", "test"]
    r = await client.get("/v1/plan", params={**Q, "from": "kanto-bus:S", "to": "kanto-bus:C"}, headers=P)
    assert r.status == 200 and (await r.json())["itineraries"]


async def test_broken_feed_rejected_with_report_and_old_one_answers(env):
    client, _ = env
    assert (await publish(client, feed_zip(8 * 3600 + 1800))).status == 201
    r = await publish(client, feed_zip(drop="stops"))
    assert r.status == 422 and r.headers["Content-Type"].startswith("application/problem+json")
    body = await r.json()
    assert body["type"].endswith("invalid-feed") and body["report"]["errors"] >= 1
    assert any(p["file"].startswith("stops") for p in body["report"]["problems"])
    assert await first_departure(client) == "2026-11-24T08:30:00+09:00"
    versions = (await (await client.get("/v1/feeds/test/versions", headers=P)).json())["versions"]
    assert len(versions) == 1


async def test_rollback_returns_to_the_previous_version(env):
    client, _ = env
    v1 = (await (await publish(client, feed_zip(8 * 3600 + 1800))).json())["version"]["version"]
    assert (await publish(client, feed_zip(8 * 3600 + 2700))).status == 201
    assert await first_departure(client) == "2026-11-24T08:45:00+09:00"
    r = await client.post("/v1/feeds/test/rollback", headers=OP)
    assert r.status == 200, await r.text()
    assert (await r.json())["version"]["version"] == v1
    assert await first_departure(client) == "2026-11-24T08:30:00+09:00"
    versions = (await (await client.get("/v1/feeds/test/versions", headers=P)).json())["versions"]
    assert [v["active"] for v in versions] == [False, True]
    assert (await client.post("/v1/feeds/test/rollback", headers=OP)).status == 409


async def test_operator_cannot_publish_for_another(env):
    client, services = env
    before = services.transit.network
    assert (await publish(client, feed_zip(), headers=OTHER)).status == 403
    assert (await publish(client, feed_zip(), headers=P)).status == 403
    assert (await client.post("/v1/feeds/test/rollback", headers=OTHER)).status == 403
    assert services.transit.network is before


async def test_hostile_zips_refused(env):
    client, services = env
    before = services.transit.network
    bomb = feed_zip(raw={"shapes.txt": b"0" * (20 * 1024 * 1024)})
    for data, match in ((bomb, "zip bomb"), (feed_zip(raw={"../x.txt": b"a"}), "leaves"),
                        (feed_zip(raw={"feed_info.txt": "feed_publisher_name\n都営\n".encode("shift_jis")}), "UTF-8"),
                        (b"not a zip", "not a zip")):
        r = await publish(client, data)
        assert r.status == 422, match
        assert match in (await r.json())["detail"]
    r = await client.post("/v1/feeds/test", data=b"{}", headers={**OP, "Content-Type": "application/json"})
    assert r.status == 415
    assert services.transit.network is before
    assert (await client.get("/v1/feeds/test/versions", headers=P)).status == 404


async def test_queries_during_swaps_see_no_errors(env):
    client, services = env
    statuses: list[int] = []
    stop = asyncio.Event()

    async def load() -> None:
        while not stop.is_set():
            r = await client.get("/v1/plan", params=Q, headers=P)
            statuses.append(r.status)
            its = (await r.json())["itineraries"]
            assert its and its[0]["departure"] in ("2026-11-24T08:00:00+09:00", "2026-11-24T08:30:00+09:00",
                                                    "2026-11-24T08:45:00+09:00")

    workers = [asyncio.create_task(load()) for _ in range(4)]
    await asyncio.sleep(0.05)
    for start in (8 * 3600 + 1800, 8 * 3600 + 2700, 8 * 3600 + 1800):
        assert (await publish(client, feed_zip(start))).status == 201
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*workers)
    assert len(statuses) > 10 and set(statuses) == {200}
    assert await first_departure(client) == "2026-11-24T08:30:00+09:00"


async def test_booking_on_a_removed_trip_gets_disrupted_with_an_alternative(tmp_path):
    """Book the 08:00 bus; the operator retimes it, then publishes a feed without it: each time the owner's stream
    gets `disrupted` (as for a closure), the last with the 09:00 bus as the alternative; another partner hears
    nothing."""
    from api_support import read_events, subscribe
    from booking_support import GOOD_CARD, Clock, make_service
    from maas.store.embedded import EmbeddedStore
    from operators.catalog import FeedCatalog
    from operators.registry import OperatorRegistry

    ns = "shuttle-tiny"  # a shuttle namespace, so the registry books it with a default seat count
    transit = tiny_transit(tmp_path, ns)
    store = EmbeddedStore(":memory:")
    registry = OperatorRegistry(store, FeedCatalog(lambda: transit.network.feeds))
    clock = Clock()
    bookings = make_service(store, clock, registry=registry, transit=transit)
    services = services_for(transit, bookings=bookings, clock=clock,
                            feeds=FeedManager(FeedRegistry(tmp_path / "feeds"), transit, bookings, clock=clock))
    try:
        async with client_for(services) as client:
            q = {"from": f"{ns}:S", "to": f"{ns}:C", "depart_at": "2026-11-25T07:50:00+09:00", "num": "1"}
            it = (await (await client.get("/v1/plan", params=q, headers=P)).json())["itineraries"][0]
            o = await (await client.post("/v1/offers", json={"itinerary": it}, headers=P)).json()
            r = await client.post("/v1/bookings", json={"offer_id": o["id"], "payment": GOOD_CARD}, headers=P)
            booking = await r.json()
            assert r.status == 201, booking
            alpha, beta = await subscribe(client, "pk-alpha"), await subscribe(client, "pk-beta")
            r = await client.post(f"/v1/feeds/{ns}", data=feed_zip(8 * 3600), headers={**ADMIN, **ZIP})
            assert r.status == 201 and (await r.json())["disrupted"] == 0  # same times: nobody is told
            r = await client.post(f"/v1/feeds/{ns}", data=feed_zip(8 * 3600 + 600), headers={**ADMIN, **ZIP})
            assert r.status == 201 and (await r.json())["disrupted"] == 1  # the booked bus now leaves 10 min later
            [(name, ev)] = await read_events(alpha, 1, timeout=10)
            assert name == "disrupted" and ev["booking_id"] == booking["id"] and ev["reason"] == "trip retimed"
            r = await client.post(f"/v1/feeds/{ns}", data=feed_zip(without_t1=True), headers={**ADMIN, **ZIP})
            assert r.status == 201, await r.text()
            assert (await r.json())["disrupted"] == 1
            [(name, ev)] = await read_events(alpha, 1, timeout=10)
            assert name == "disrupted" and ev["booking_id"] == booking["id"]
            assert ev["reason"] == "trip removed" and ev["closure"]["id"].startswith(f"feed:{ns}:")
            rides = [leg for leg in ev["alternative"]["legs"] if leg["mode"] != "WALK"]
            assert rides and rides[0]["departure"] == "2026-11-25T09:00:00+09:00"
            with pytest.raises(TimeoutError):
                await read_events(beta, 1, timeout=0.8)
            alpha.close()
            beta.close()
    finally:
        transit.close()
        await store.aclose()


def test_cli_publish_prints_the_report_and_exits_by_outcome(tmp_path, capsys):
    from api.app import create_app
    from api_support import live_server
    from maas.cli import main

    transit = tiny_transit(tmp_path)
    clock = lambda: dt.datetime.combine(DAY, dt.time(7, 0), TOKYO)  # noqa: E731
    services = services_for(transit, feeds=FeedManager(FeedRegistry(tmp_path / "feeds"), transit, clock=clock))
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    good.write_bytes(feed_zip(8 * 3600 + 1800))
    bad.write_bytes(feed_zip(drop="stops"))
    try:
        with live_server(create_app(services, close_services=False)) as url:
            assert main(["feeds", "publish", "test", str(good), "--url", url, "--key", "op-test"]) == 0
            assert "published test version" in capsys.readouterr().out
            assert main(["feeds", "publish", "test", str(bad), "--url", url, "--key", "op-test"]) == 1
            out = capsys.readouterr().out
            assert out.startswith("REJECTED (422)") and "ERROR" in out and "stops" in out
            assert main(["feeds", "publish", "test", str(good), "--url", url, "--key", "op-other"]) == 1
            assert "REJECTED (403)" in capsys.readouterr().out
    finally:
        transit.close()


async def test_other_workers_follow_a_publish_and_a_rollback(env, tmp_path):
    """A second worker sharing the data folder switches to what the first published, without notifying twice."""
    client, services = env
    other = tiny_transit(tmp_path / "w2")
    follower = FeedManager(FeedRegistry(tmp_path / "feeds"), other, clock=services.feeds.clock)
    try:
        task = asyncio.create_task(follower.follow(period_s=0.05))
        assert (await publish(client, feed_zip(8 * 3600 + 1800))).status == 201
        assert (await publish(client, feed_zip(8 * 3600 + 2700))).status == 201
        when = dt.datetime.combine(DAY, dt.time(7, 50), TOKYO)
        for _ in range(100):
            if other.plan_sync("test:S", "test:C", when)[0]["departure"].startswith("2026-11-24T08:45"):
                break
            await asyncio.sleep(0.05)
        assert other.plan_sync("test:S", "test:C", when)[0]["departure"] == "2026-11-24T08:45:00+09:00"
        assert (await client.post("/v1/feeds/test/rollback", headers=OP)).status == 200
        task.cancel()
        assert await follower.sync() == ["test"]
        assert other.plan_sync("test:S", "test:C", when)[0]["departure"] == "2026-11-24T08:30:00+09:00"
        assert await follower.sync() == []
    finally:
        other.close()


async def test_closures_stay_applied_after_a_swap(tmp_path):
    from maas.disruptions.closure_store import MemoryClosureStore
    from maas.services import closure_service
    from maas.platform.settings import Settings

    transit = tiny_transit(tmp_path)
    clock = lambda: dt.datetime.combine(DAY, dt.time(7, 0), TOKYO)  # noqa: E731
    services = services_for(transit, clock=clock,
                            closures=closure_service(Settings(), transit, store=MemoryClosureStore(), clock=clock),
                            feeds=FeedManager(FeedRegistry(tmp_path / "feeds"), transit, clock=clock))
    try:
        async with client_for(services) as client:
            closure = {"id": "b-closed", "start": "2026-11-24T07:00:00+09:00", "end": "2026-11-24T08:40:00+09:00",
                       "targets": {"stops": ["test:B"]}, "message": {"en": "fire"}}
            assert (await client.post("/v1/closures", json=closure, headers=auth("dis-jma"))).status == 201
            assert await first_departure(client) == "2026-11-24T09:00:00+09:00"  # 08:00 passes the closed stop
            assert (await publish(client, feed_zip(8 * 3600 + 1800))).status == 201  # 08:30 is still closed
            assert await first_departure(client) == "2026-11-24T09:00:00+09:00"
            assert (await publish(client, feed_zip(8 * 3600 + 2700))).status == 201  # 08:50 passes B after 08:40
            assert await first_departure(client) == "2026-11-24T08:45:00+09:00"
    finally:
        transit.mask_provider = None
        transit.close()
