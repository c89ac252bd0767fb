"""Any operator sells through the platform with no code change, all over HTTP: publish the real Chii Bus feed
(flat fare) and a new shuttle feed (seats, booking rules, a cancellation policy in operator.json); plan (prices
shown), offer, book, pay, cancel with the policy's refund, read each operator's settlement."""
from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest

from api_support import DAY, TOKYO, auth, client_for, services_for, tiny_transit
from booking_support import GOOD_CARD, Clock, make_service
from conftest import shared_file
from gtfs_builders import to_csv
from maas.publishing.feed_registry import FeedRegistry
from maas.publishing.feed_swap import FeedManager
from maas.publishing.profiles import ProfileStore
from maas.services import operator_catalog
from maas.store.embedded import EmbeddedStore
from operators.registry import OperatorRegistry

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
ADMIN, PARTNER, OP_TEST = auth("adm-root"), auth("pk-alpha"), auth("op-test")
ZIP = {"Content-Type": "application/zip"}
SH = "shuttle-kiyosumi"
PROFILE = {"names": {"ja": "清澄自動運転シャトル", "en": "Kiyosumi Autonomous Shuttle"},
           "fares": {"source": "flat", "flat": 300, "flat_child": 150},
           "seats": {"inventory": True},
           "ticket": {"kind": "qr"},
           "cancellation": {"windows": [{"min_before_departure": 120, "refund_percent": 100},
                                        {"min_before_departure": 30, "refund_percent": 50}]},
           "settlement": {"account": "acct-kiyosumi", "legal_name": "清澄モビリティ株式会社"}}
CHII_PROFILE = {"names": {"ja": "ちぃばす", "en": "Chii Bus"},
                "fares": {"source": "feed", "feed_prices": "ticket", "child": {"percent": 100}},
                "settlement": {"account": "acct-fujiexpress", "legal_name": "株式会社フジエクスプレス"}}


def shuttle_zip(profile: dict | None = PROFILE, seats: str = "4") -> bytes:
    """A new operator's feed: one route K1→K4, trips every 30 min from 10:00, 4 seats, booking 30 min ahead."""
    stops = [{"stop_id": f"K{i}", "stop_name": f"清澄{i}", "stop_lat": f"{35.680 + i * 0.004:.4f}",
              "stop_lon": f"{139.800 + i * 0.002:.4f}"} for i in range(1, 5)]
    trips, times = [], []
    for n, start in enumerate((10 * 60, 10 * 60 + 30), start=1):
        trips.append({"route_id": "KR", "service_id": "ALL", "trip_id": f"KT{n}", "seat_capacity": seats})
        for seq in range(1, 5):
            t = start + (seq - 1) * 4
            hhmm = f"{t // 60:02d}:{t % 60:02d}:00"
            times.append({"trip_id": f"KT{n}", "arrival_time": hhmm, "departure_time": hhmm, "stop_id": f"K{seq}",
                          "stop_sequence": str(seq), "pickup_type": "2", "drop_off_type": "0",
                          "pickup_booking_rule_id": "seat"})
    tables = {
        "agency": [{"agency_id": "k", "agency_name": "清澄シャトル", "agency_url": "https://example.org",
                    "agency_timezone": "Asia/Tokyo", "agency_lang": "ja"}],
        "stops": stops,
        "routes": [{"route_id": "KR", "agency_id": "k", "route_short_name": "K", "route_type": "3"}],
        "trips": trips, "stop_times": times,
        "calendar": [{"service_id": "ALL", **{d: "1" for d in ("monday", "tuesday", "wednesday", "thursday",
                                                               "friday", "saturday", "sunday")},
                      "start_date": "20260101", "end_date": "20261231"}],
        "booking_rules": [{"booking_rule_id": "seat", "booking_type": "1", "prior_notice_duration_min": "30",
                           "message": "要予約"}],
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, rows in tables.items():
            zf.writestr(f"{name}.txt", to_csv(rows))
        if profile is not None:
            zf.writestr("operator.json", json.dumps(profile, ensure_ascii=False))
    return buf.getvalue()


@pytest.fixture
async def env(tmp_path):
    transit = tiny_transit(tmp_path)
    clock = Clock(dt.datetime.combine(DAY, dt.time(7, 0), TOKYO))
    store = EmbeddedStore(":memory:")
    services = services_for(transit, clock=clock)
    services.settings.data_dir = tmp_path
    bookings = make_service(store, clock, registry=OperatorRegistry(store, operator_catalog(services.settings,
                                                                                            transit)),
                            transit=transit)
    services.bookings = bookings
    services.feeds = FeedManager(FeedRegistry(tmp_path / "feeds"), transit, bookings, clock=clock)
    async with client_for(services) as c:
        yield c, services, clock
    transit.close()


def plan_params(frm: str, to: str, at: str, **kw) -> dict:
    return {"from": frm, "to": to, "depart_at": f"{DAY.isoformat()}T{at}:00+09:00", **kw}


async def book(client, itinerary: dict, passengers: dict, key: str, medium: str = "ic") -> dict:
    r = await client.post("/v1/offers", json={"itinerary": itinerary, "passengers": passengers, "medium": medium},
                          headers={**PARTNER, "Idempotency-Key": f"o-{key}"})
    assert r.status == 201, await r.text()
    offer = await r.json()
    r = await client.post("/v1/bookings", json={"offer_id": offer["id"], "payment": GOOD_CARD},
                          headers={**PARTNER, "Idempotency-Key": f"b-{key}"})
    return {"offer": offer, "status": r.status, "body": await r.json()}


async def test_publish_plan_book_cancel_settle_with_no_code_change(env):
    client, services, clock = env
    # -- Chii Bus: the real feed as published by its operator, then its profile
    chii = open(shared_file("chiibus-minato-gtfs.zip"), "rb").read()
    r = await client.post("/v1/feeds/chiibus-minato", data=chii, headers={**ADMIN, **ZIP})
    assert r.status == 201, await r.text()
    r = await client.put("/v1/operators/chiibus-minato/profile", json=CHII_PROFILE, headers=OP_TEST)
    assert r.status == 403  # another operator's key
    r = await client.put("/v1/operators/chiibus-minato/profile", json=CHII_PROFILE, headers=ADMIN)
    assert r.status == 200, await r.text()
    assert (await r.json())["profile"]["names"]["en"] == "Chii Bus"

    r = await client.get("/v1/plan", params=plan_params("chiibus-minato:2653_01", "chiibus-minato:2679_01", "09:55",
                                                        riders="adult:1,child:1", fare_media="ticket"),
                         headers=PARTNER)
    assert r.status == 200, await r.text()
    rides = [it for it in (await r.json())["itineraries"] if any(x["mode"] == "BUS" for x in it["legs"])]
    assert rides, "a Chii Bus ride is planned"
    it = rides[0]
    assert it["fare"]["total"] == 200 and it["fare"]["per_operator"] == {"chiibus-minato": 200}
    assert it["fare"]["legs"][0]["basis"].startswith("feed fare_rules")
    chii_booking = await book(client, it, {"adult": 1, "child": 1}, "chii", medium="ticket")
    assert chii_booking["status"] == 201 and chii_booking["body"]["total"] == 200

    # -- a new shuttle operator: feed + operator.json in one zip
    r = await client.post(f"/v1/feeds/{SH}", data=shuttle_zip(), headers={**ADMIN, **ZIP})
    assert r.status == 201, await r.text()
    r = await client.get("/v1/plan", params=plan_params(f"{SH}:K1", f"{SH}:K3", "09:00", riders="adult:2"),
                         headers=PARTNER)
    it = next(i for i in (await r.json())["itineraries"] if any(x.get("operator") == SH for x in i["legs"]))
    assert it["fare"]["total"] == 600 and it["fare"]["medium"] == "ic"
    assert any(x.get("booking_required") for x in it["legs"])
    first = await book(client, it, {"adult": 2}, "sh1")
    assert first["status"] == 201 and first["body"]["state"] == "CONFIRMED", first
    assert first["offer"]["quote"]["total"] == 600
    sold_out = await book(client, it, {"adult": 3}, "sh2")  # 4 seats, 2 taken
    assert sold_out["status"] == 409 and sold_out["body"]["type"].endswith("sold_out")

    clock.now = dt.datetime.combine(DAY, dt.time(9, 15), TOKYO)  # 45 min before 10:00: the 50 % window
    bid = first["body"]["id"]
    r = await client.post(f"/v1/bookings/{bid}/cancel", json={}, headers={**PARTNER, "Idempotency-Key": "c1"})
    assert r.status == 200, await r.text()
    cancelled = await r.json()
    assert cancelled["payment"]["refunded"] == 300, cancelled
    assert "50% refund" in cancelled["legs"][0]["refund"]["rule"]

    r = await client.get(f"/v1/operators/{SH}/settlement", params={"date": DAY.isoformat()}, headers=ADMIN)
    s = await r.json()
    assert r.status == 200 and (s["sales"], s["refunds"]) == (600, 300), s
    assert s["payee"]["account"] == "acct-kiyosumi"
    r = await client.get("/v1/operators/chiibus-minato/settlement", params={"date": DAY.isoformat()},
                         headers=ADMIN)
    s = await r.json()
    assert (s["sales"], s["refunds"], s["payee"]["account"]) == (200, 0, "acct-fujiexpress"), s


async def test_bad_profiles_and_unsellable_feeds_are_refused_with_located_errors(env):
    client, services, _ = env
    bad = {**PROFILE, "cancellation": {"windows": [{"min_before_departure": 30, "refund_percent": 150}]},
           "fares": {"source": "flat"}}
    r = await client.post(f"/v1/feeds/{SH}", data=shuttle_zip(bad), headers={**ADMIN, **ZIP})
    assert r.status == 422
    problems = (await r.json())["report"]["problems"]
    fields = {(p["file"], p["field"]) for p in problems if p["severity"] == "error"}
    assert ("operator.json", "cancellation.windows[0].refund_percent") in fields
    assert ("operator.json", "fares.flat") in fields

    r = await client.post(f"/v1/feeds/{SH}", data=shuttle_zip(seats=""), headers={**ADMIN, **ZIP})
    assert r.status == 422
    errors = [p for p in (await r.json())["report"]["problems"] if p["severity"] == "error"]
    assert errors and all(p["field"] == "seat_capacity" and p["row"] for p in errors)

    r = await client.put(f"/v1/operators/{SH}/profile", json={"names": {"ja": "x"}, "fare": {}}, headers=ADMIN)
    body = await r.json()
    assert r.status == 422 and body["type"].endswith("invalid-profile")
    assert {e["field"] for e in body["errors"]} == {"names", "fare"}
    assert ProfileStore(services.settings.data_dir / "feeds").get(SH) is None  # nothing stored


async def test_plan_fare_unknown_and_bad_rider_parameters(env):
    client, _, _ = env
    r = await client.post(f"/v1/feeds/{SH}", data=shuttle_zip(profile=None), headers={**ADMIN, **ZIP})
    assert r.status == 201, await r.text()
    r = await client.get("/v1/plan", params=plan_params(f"{SH}:K1", f"{SH}:K3", "09:00"), headers=PARTNER)
    it = next(i for i in (await r.json())["itineraries"] if any(x.get("operator") == SH for x in i["legs"]))
    assert it["fare"] is None and "no fare files" in it["fare_unknown"]
    o = await client.post("/v1/offers", json={"itinerary": it}, headers={**PARTNER, "Idempotency-Key": "u"})
    body = await o.json()
    assert o.status == 422 and body["type"].endswith("fare_unknown"), body  # offers use the same computation
    for params, field in (({"riders": "teen:1"}, "riders"), ({"riders": "adult:x"}, "riders"),
                          ({"riders": "adult:12"}, "riders"), ({"fare_media": "cash"}, "fare_media")):
        r = await client.get("/v1/plan", params={**plan_params(f"{SH}:K1", f"{SH}:K3", "09:00"), **params},
                             headers=PARTNER)
        assert r.status == 422 and (await r.json())["field"] == field, params


async def test_a_republished_profile_prices_the_next_plan(env):
    """The catalog's profile reads are cached (no file call per plan) yet a PUT is priced by the very next plan."""
    client, _, _ = env
    r = await client.post(f"/v1/feeds/{SH}", data=shuttle_zip(), headers={**ADMIN, **ZIP})
    assert r.status == 201, await r.text()

    async def total() -> int:
        r = await client.get("/v1/plan", params=plan_params(f"{SH}:K1", f"{SH}:K3", "09:00", riders="adult:2"),
                             headers=PARTNER)
        it = next(i for i in (await r.json())["itineraries"] if any(x.get("operator") == SH for x in i["legs"]))
        return it["fare"]["total"]

    assert await total() == 600  # operator.json's flat 300
    for flat in (350, 400, 350):
        r = await client.put(f"/v1/operators/{SH}/profile", json={**PROFILE, "fares": {"source": "flat", "flat": flat}},
                             headers=ADMIN)
        assert r.status == 200, await r.text()
        assert await total() == 2 * flat


def test_a_profile_written_by_another_process_is_read_after_a_change_is_heard_or_the_recheck_time(tmp_path):
    """Another worker on this host rewrites the shared cache file: this process's cached answer stands until its
    follower hears of the change (`ProfileStore.changed`) or ``RECHECK_S`` has passed, never longer."""
    import subprocess
    import sys
    from pathlib import Path

    from maas.publishing.profiles import RECHECK_S

    root = tmp_path / "feeds"
    now = [0.0]
    reader = ProfileStore(root, clock=lambda: now[0])

    def publish(flat: int, version: int) -> None:  # as another worker's PUT: the registry's cache file
        code = (f"from pathlib import Path; from maas.publishing.feed_registry import FeedRegistry; "
                f"FeedRegistry(Path({str(root)!r})).write_profile_cache({SH!r}, "
                f"{{'version': {version}, 'data': {{**{PROFILE!r}, 'fares': {{'source': 'flat', 'flat': {flat}}}}}}})")
        repo = Path(__file__).resolve().parent.parent
        subprocess.run([sys.executable, "-c", code], check=True, cwd=repo, env={"PYTHONPATH": str(repo)})

    def flat() -> int | None:
        p = reader.get(SH)
        return None if p is None else p.fares.flat["ic"]

    assert flat() is None  # no profile yet (that answer is cached too)
    publish(350, 1)
    assert flat() is None
    now[0] += RECHECK_S
    assert flat() == 350
    publish(400, 2)
    now[0] += RECHECK_S / 2
    assert flat() == 350
    ProfileStore.changed()  # this process's follower heard of version 2
    assert flat() == 400
