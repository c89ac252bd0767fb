"""Offers are made from the timetable, not from what the client says: each finding of issue 10 reproduced (the
29-on-11 shuttle oversell with made-up stop sequences, the 0-metre subway fare, a fabricated trip, a trip on a day
it does not run, a 2**63 stop sequence), plus every other way a leg can disagree with the model of its day. Each
refusal names the leg and field, and leaves the stores as they were."""
from __future__ import annotations

import json

import pytest

from api_support import auth, booking_client, booking_transit  # noqa: F401 (shared fixtures)
from booking_support import (GOOD_CARD, SHUTTLE, SHUTTLE_TRIP, bus_leg, itinerary, make_service, shuttle_leg,
                             subway_leg, walk_leg)
from maas.booking.offers import BookingError

RESOURCE = f"{SHUTTLE}|2026-11-24|{SHUTTLE_TRIP}"
A = auth("pk-alpha")


async def refused(svc, legs: list[dict], pax=None) -> BookingError:
    """The offer is refused and nothing at all was stored."""
    before = sorted(await svc.store.keys(""))
    with pytest.raises(BookingError) as e:
        await svc.create_offer(itinerary(*legs), pax or {"adult": 1}, "offer-key", "mallory")
    assert sorted(await svc.store.keys("")) == before
    return e.value


def spy_on_seats(store) -> list:
    """Record every call that reaches the seat inventory (the Redis Lua script / the SQLite transaction)."""
    calls = []
    real = store.reserve_seats

    async def spy(*args, **kw):
        calls.append(args)
        return await real(*args, **kw)
    store.reserve_seats = spy
    return calls


async def test_made_up_stop_sequences_cannot_oversell_a_shuttle(store):
    """Found: from.sequence=-100, to.sequence=-99 and 9 adults confirmed 29 passengers on an 11-seat trip."""
    svc = make_service(store, seats=11)
    for i, n in enumerate((9, 2)):  # the trip is full: 11 seats sold between S1 and S4
        offer = await svc.create_offer(itinerary(shuttle_leg()), {"adult": n}, f"o{i}", "alice")
        assert (await svc.book(offer["id"], GOOD_CARD, f"b{i}", "alice"))["state"] == "CONFIRMED"
    calls = spy_on_seats(store)
    forged = shuttle_leg()
    forged["from"], forged["to"] = {"sequence": -100}, {"sequence": -99}
    err = await refused(svc, [forged], {"adult": 9})
    assert err.status == 422 and err.field == "itinerary.legs[0].from.sequence"
    for a, b in ((100, 101), (7, 8)):  # positions the trip does not have, however they are spelled
        forged["from"], forged["to"] = {"sequence": a}, {"sequence": b}
        err = await refused(svc, [forged], {"adult": 9})
        assert err.code == "unknown_trip" and err.field == "itinerary.legs[0].from.sequence", err
    assert calls == []
    # a real segment of the full trip: the offer is made, the seats are not there
    offer = await svc.create_offer(itinerary(shuttle_leg(2, 3)), {"adult": 9}, "o-real", "mallory")
    with pytest.raises(BookingError) as e:
        await svc.book(offer["id"], GOOD_CARD, "b-real", "mallory")
    assert e.value.code == "sold_out"
    sold = [h for h in await store.seat_holds(RESOURCE) if h.expires_at == 0]
    assert sum(h.count for h in sold) == 11 and all((h.start, h.end) == (1, 4) for h in sold)


async def test_zero_distance_subway_leg_is_not_priced_cheap(store):
    """Found: a subway leg with distance_m 0 was priced 180 JPY (the 1-4 km band) instead of 220 (6.2 km)."""
    svc = make_service(store)
    err = await refused(svc, [subway_leg(distance_m=0)])
    assert err.status == 409 and err.code == "timetable_mismatch"
    assert err.field == "itinerary.legs[0].distance_m" and "6200 m" in err.detail
    leg = subway_leg()
    del leg["distance_m"]  # no claim: the model's distance is used
    offer = await svc.create_offer(itinerary(leg), {"adult": 1}, "o", "alice")
    [q] = offer["quote"]["legs"]
    assert q["amount"] == 220 and q["basis"] == "distance band 7 km"
    assert q["ride"] == {"trip_id": "toei-subway:A1001", "service_date": "2026-11-24", "route_id": "toei-subway:1",
                         "from": {"stop_id": "toei-subway:101", "sequence": 1},
                         "to": {"stop_id": "toei-subway:110", "sequence": 6},
                         "departure": "2026-11-24T10:00:00+09:00", "arrival": "2026-11-24T10:14:00+09:00",
                         "distance_m": 6200}


async def test_fabricated_trip_is_refused(store):
    svc = make_service(store)
    leg = {**subway_leg(), "trip_id": "toei-subway:FABRICATED"}
    err = await refused(svc, [walk_leg(), leg])
    assert (err.status, err.code, err.field) == (422, "unknown_trip", "itinerary.legs[1].trip_id")


async def test_leg_on_a_day_the_trip_does_not_run_is_refused(store):
    """A1001 runs on weekdays; 2026-11-28 is a Saturday."""
    svc = make_service(store)
    leg = {**subway_leg(), "service_date": "2026-11-28", "departure": "2026-11-28T10:00:00+09:00",
           "arrival": "2026-11-28T10:14:00+09:00"}
    err = await refused(svc, [leg])
    assert (err.status, err.code, err.field) == (409, "trip_not_running", "itinerary.legs[0].service_date")


@pytest.mark.parametrize("where", ["from", "to"])
@pytest.mark.parametrize("seq", [2**63, -(2**63), 2**31, -1, 2**64 + 5])
async def test_huge_stop_sequence_never_reaches_the_store(store, where, seq):
    """Found: sequence 2**63 poisoned a shuttle trip on Redis (a float the Lua script could not read back: 500s
    for a minute) and left a PENDING booking on the embedded store."""
    svc = make_service(store)
    calls = spy_on_seats(store)
    leg = shuttle_leg()
    leg[where] = {**leg[where], "sequence": seq}
    err = await refused(svc, [leg])
    assert err.status == 422 and err.field == f"itinerary.legs[0].{where}.sequence"
    assert calls == [] and await store.seat_holds(RESOURCE) == []
    offer, booking = await _book_one(svc)  # the trip still sells normally
    assert booking["state"] == "CONFIRMED"


async def _book_one(svc):
    offer = await svc.create_offer(itinerary(shuttle_leg()), {"adult": 1}, "ok-offer", "alice")
    return offer, await svc.book(offer["id"], GOOD_CARD, "ok-book", "alice")


def _with(leg: dict, **changes) -> dict:
    out = {**leg}
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".")
            out[outer] = {**out[outer], inner: value}
        else:
            out[key] = value
    return out


MISMATCHES = [  # (legs, index of the bad leg, field, status, code)
    ([_with(subway_leg(), departure="2026-11-24T09:58:00+09:00")], 0, "departure", 409, "timetable_mismatch"),
    ([_with(subway_leg(), arrival="2026-11-24T10:30:00+09:00")], 0, "arrival", 409, "timetable_mismatch"),
    ([_with(subway_leg(), operator="toei-bus")], 0, "operator", 409, "timetable_mismatch"),
    ([_with(subway_leg(), mode="BUS")], 0, "mode", 409, "timetable_mismatch"),
    ([_with(subway_leg(), route={"id": "toei-subway:2"})], 0, "route.id", 409, "timetable_mismatch"),
    ([_with(subway_leg(), **{"from.stop_id": "toei-subway:102"})], 0, "from.stop_id", 409, "timetable_mismatch"),
    ([_with(subway_leg(), **{"to.sequence": 99})], 0, "to.sequence", 422, "unknown_trip"),
    ([_with(subway_leg(), **{"from.sequence": 6, "from.stop_id": "toei-subway:110", "to.sequence": 1,
                             "to.stop_id": "toei-subway:101"})], 0, "to.sequence", 422, "unknown_trip"),
    ([_with(subway_leg(), **{"to.sequence": 1, "to.stop_id": "toei-subway:101"})], 0, "to.sequence", 422,
     "unknown_trip"),  # boarding and alighting at the same position is no ride
    ([_with(subway_leg(), service_date="2029-01-01")], 0, "service_date", 422, "service_date_out_of_range"),
    ([_with(subway_leg(), service_date="2026-11-20")], 0, "service_date", 422, "service_date_out_of_range"),
    ([_with(subway_leg(), service_date="9999-12-31")], 0, "service_date", 422, "invalid_itinerary"),
    ([_with(subway_leg(), departure="0001-01-01T00:00:00+09:00")], 0, "departure", 422, "invalid_itinerary"),
    ([_with(bus_leg(), **{"from.sequence": 2, "from.stop_id": "toei-bus:b02"}, departure=None)], 0,
     "from.sequence", 422, "unknown_trip"),  # sequence 2 only sets down
    ([_with(bus_leg(), **{"to.sequence": 8, "to.stop_id": "toei-bus:b08"}, arrival=None)], 0,
     "to.sequence", 422, "unknown_trip"),  # sequence 8 only picks up
    # the bus leaves 0001_01 at 10:20, the subway reaches 110 (100 m away) at 10:14: fine; the other way round not
    ([bus_leg(), _with(subway_leg(), service_date="2026-11-24")], 1, "departure", 409, "impossible_transfer"),
]


@pytest.mark.parametrize("legs, bad, field, status, code", MISMATCHES)
async def test_leg_disagreeing_with_the_timetable_is_refused(store, legs, bad, field, status, code):
    svc = make_service(store)
    err = await refused(svc, legs)
    assert (err.status, err.code, err.field) == (status, code, f"itinerary.legs[{bad}].{field}"), err.detail


async def test_a_leg_named_by_stop_ids_only_is_derived_in_full(store):
    svc = make_service(store)
    leg = {"mode": "SUBWAY", "trip_id": "toei-subway:A1001", "service_date": "2026-11-24",
           "from": {"stop_id": "toei-subway:101"}, "to": {"stop_id": "toei-subway:110"}}
    offer = await svc.create_offer(itinerary(leg), {"adult": 1}, "o", "alice")
    b = await svc.book(offer["id"], GOOD_CARD, "b", "alice")
    booked = json.loads(await svc.store.get(f"booking:{b['id']}"))["legs"][0]["leg"]
    assert (booked["from_seq"], booked["to_seq"], booked["distance_m"], booked["operator"]) == \
        (1, 6, 6200, "toei-subway")
    assert b["legs"][0]["departure"] == "2026-11-24T10:00:00+09:00"


async def test_api_names_the_leg_and_field_in_problem_json(booking_client):
    forged = shuttle_leg()
    forged["from"], forged["to"] = {"sequence": -100}, {"sequence": -99}
    cases = [(forged, 422, "from.sequence"), (subway_leg(distance_m=0), 409, "distance_m"),
             ({**subway_leg(), "trip_id": "toei-subway:FABRICATED"}, 422, "trip_id"),
             ({**shuttle_leg(), "to": {"sequence": 2**63}}, 422, "to.sequence")]
    for leg, status, field in cases:
        r = await booking_client.post("/v1/offers", json={"itinerary": itinerary(walk_leg(), leg),
                                                          "passengers": {"adult": 9}}, headers=A)
        body = await r.json(content_type=None)
        assert r.status == status and r.content_type == "application/problem+json", body
        assert body["field"] == f"itinerary.legs[1].{field}" and body["detail"], body


# -- feeds published at run time, every operator kind ---------------------------------------------------------------
def _zip_folder(folder) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f.name)
    return buf.getvalue()


@pytest.fixture
async def published(tmp_path):
    """A live API on the tiny feed with bookings of every live operator (by its profile), and a way to publish."""
    import datetime as dt

    from api_support import TOKYO, client_for, services_for, tiny_transit
    from booking_support import Clock
    from maas.publishing.feed_registry import FeedRegistry
    from maas.publishing.feed_swap import FeedManager
    from maas.services import operator_catalog
    from maas.store.embedded import EmbeddedStore
    from operators.registry import OperatorRegistry

    transit = tiny_transit(tmp_path)
    store = EmbeddedStore(":memory:")
    clock = Clock(dt.datetime(2026, 11, 24, 7, 0, tzinfo=TOKYO))
    services = services_for(transit, clock=clock)
    services.settings.data_dir = tmp_path
    registry = OperatorRegistry(store, operator_catalog(services.settings, transit))  # profiles come with feeds
    bookings = make_service(store, clock, registry=registry, transit=transit)
    services.bookings = bookings
    services.feeds = FeedManager(FeedRegistry(tmp_path / "feeds"), transit, bookings, clock=clock)
    async with client_for(services) as client:
        async def publish(operator: str, data: bytes) -> None:
            r = await client.post(f"/v1/feeds/{operator}", data=data,
                                  headers={**auth("adm-root"), "Content-Type": "application/zip"})
            assert r.status == 201, await r.text()
        yield client, services, publish
    await store.aclose()
    transit.close()


def _same_as_planner(planned: dict, derived) -> None:
    """A derived leg says exactly what the planner said about the ride."""
    assert (derived.operator, derived.mode, derived.trip_id, derived.route_id, derived.service_date) == (
        planned["operator"], planned["mode"], planned["trip_id"], planned["route"]["id"], planned["service_date"])
    assert (derived.from_stop, derived.from_seq, derived.to_stop, derived.to_seq) == (
        planned["from"]["stop_id"], planned["from"]["sequence"], planned["to"]["stop_id"], planned["to"]["sequence"])
    assert (derived.departure.isoformat(), derived.arrival.isoformat(), derived.distance_m) == (
        planned["departure"], planned["arrival"], planned["distance_m"])


async def test_published_bus_feed_rides_derive_exactly_as_planned(published):
    """Chii Bus (real GTFS-JP with shapes) published over the API: every ride the planner returns derives to
    exactly the leg the planner described (times, stop sequences, shape distance, operator, route)."""
    import datetime as dt

    import numpy as np

    from conftest import shared_file
    from maas.booking.offers import parse_itinerary

    data = shared_file("chiibus-minato-gtfs.zip").read_bytes()
    client, services, publish = published
    await publish("chiibus", data)
    deriver = services.bookings.timetable
    day = dt.date(2026, 11, 24)
    model = services.transit.model_for(day)
    rng = np.random.default_rng(7)
    trips = [t for t in range(model.n_trips) if model.trip_ids[t].startswith("chiibus:")]
    planned = 0
    for t in rng.choice(trips, 6, replace=False).tolist():
        off, n = model.trip_times_offset(int(t))
        p = int(model.trip_pattern[t])
        stops = model.pattern_stops[model.pattern_stops_start[p]:model.pattern_stops_start[p] + n]
        b, a = 1, min(n - 1, 6)
        when = dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone(dt.timedelta(hours=9))) + \
            dt.timedelta(seconds=int(model.departures_of_trip(t)[b]) - 60)
        r = await client.get("/v1/plan", headers=A, params={
            "from": model.stop_ids[int(stops[b])], "to": model.stop_ids[int(stops[a])],
            "depart_at": when.isoformat(), "num": "3"})
        assert r.status == 200, await r.text()
        for it in (await r.json())["itineraries"]:
            rides = [leg for leg in it["legs"] if leg["mode"] != "WALK"]
            if not rides:
                continue
            derived = deriver.derive_sync(parse_itinerary(it), day).legs
            assert len(derived) == len(rides)
            for leg, d in zip(rides, derived):
                _same_as_planner(leg, d)
                planned += 1
    assert planned >= 6


async def test_published_shuttle_feed_books_seats_on_real_stop_sequences(published):
    """The example shuttle feed published at run time: planned, offered, booked; the seat hold covers the trip's
    real stop sequences, and a forged sequence is refused."""
    from pathlib import Path

    client, services, publish = published
    await publish("shuttle-minami-osawa", _zip_folder(Path(__file__).parents[1] / "examples" / "shuttle-minami-osawa"))
    r = await client.get("/v1/plan", headers=A, params={
        "from": "shuttle-minami-osawa:MOS-1", "to": "shuttle-minami-osawa:TMU-GATE",
        "depart_at": "2026-11-24T07:55:00+09:00", "num": "1"})
    assert r.status == 200, await r.text()
    it = next(it for it in (await r.json())["itineraries"] if any(leg["mode"] == "SHUTTLE" for leg in it["legs"]))
    [ride] = [leg for leg in it["legs"] if leg["mode"] != "WALK"]
    assert ride["mode"] == "SHUTTLE"
    forged = {**ride, "from": {**ride["from"], "sequence": -100}}
    r = await client.post("/v1/offers", json={"itinerary": {"legs": [forged]}, "passengers": {"adult": 3}},
                          headers=A)
    assert r.status == 422 and (await r.json(content_type=None))["field"] == "itinerary.legs[0].from.sequence"
    r = await client.post("/v1/offers", json={"itinerary": it, "passengers": {"adult": 3}}, headers=A)
    assert r.status == 201, await r.text()
    offer = await r.json()
    r = await client.post("/v1/bookings", json={"offer_id": offer["id"], "payment": GOOD_CARD}, headers=A)
    assert r.status == 201, await r.text()
    resource = f"shuttle-minami-osawa|2026-11-24|{ride['trip_id']}"
    [hold] = await services.bookings.store.seat_holds(resource)
    assert (hold.start, hold.end, hold.count) == (ride["from"]["sequence"], ride["to"]["sequence"], 3)


async def test_booking_an_offer_whose_trip_a_new_feed_dropped_is_refused(published):
    """An offer is priced at one moment; if the operator publishes a feed without the trip before the booking,
    the booking is refused (409 timetable_changed) and nothing is held or charged."""
    import io
    import zipfile
    from pathlib import Path

    client, services, publish = published
    folder = Path(__file__).parents[1] / "examples" / "shuttle-minami-osawa"
    original = _zip_folder(folder)
    await publish("shuttle-minami-osawa", original)
    r = await client.get("/v1/plan", headers=A, params={
        "from": "shuttle-minami-osawa:MOS-1", "to": "shuttle-minami-osawa:TMU-GATE",
        "depart_at": "2026-11-24T07:55:00+09:00", "num": "1"})
    it = next(it for it in (await r.json())["itineraries"] if any(leg["mode"] == "SHUTTLE" for leg in it["legs"]))
    trip = next(leg["trip_id"] for leg in it["legs"] if leg["mode"] == "SHUTTLE").split(":", 1)[1]
    r = await client.post("/v1/offers", json={"itinerary": it}, headers=A)
    assert r.status == 201, await r.text()
    offer = await r.json()
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as src, zipfile.ZipFile(buf, "w") as dst:
        for name in src.namelist():
            lines = src.read(name).decode("utf-8").splitlines(keepends=True)
            if name in ("trips.txt", "stop_times.txt"):
                lines = [line for line in lines if f",{trip}," not in f",{line}"]
            dst.writestr(name, "".join(lines))
    await publish("shuttle-minami-osawa", buf.getvalue())
    store = services.bookings.store
    before = sorted(await store.keys(""))
    r = await client.post("/v1/bookings", json={"offer_id": offer["id"], "payment": GOOD_CARD}, headers=A)
    body = await r.json(content_type=None)
    assert r.status == 409 and body["code"] == "timetable_changed" and body["field"] == "offer_id", body
    assert sorted(await store.keys("")) == before


def test_stay_seated_rides_derive_only_along_an_in_seat_link():
    """A planner itinerary that stays seated (transfers.txt type 4) derives with no walk; claiming to stay
    seated between trips the timetable does not link is refused."""
    import datetime as dt

    from feeds.feed import Network
    from maas.itineraries.derive import derive_itinerary
    from maas.booking.offers import parse_itinerary
    from routing.planner import PlanOptions, Planner
    from routing.timetable import build_model
    from routing.walking import StraightLineWalker
    from test_inseat import JST, LINK_AB, small_feed
    from test_timetable import DATE

    m = build_model(Network([small_feed([LINK_AB])]), DATE)
    its = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon)).plan(
        "t:S", "t:Y1", dt.datetime.combine(DATE, dt.time(9, 40), JST), options=PlanOptions(stay_seated=True))
    it = its[0].to_dict()
    rides = parse_itinerary(it)
    assert [r.stay_seated for r in rides] == [False, True]
    derived = derive_itinerary(lambda day: m, rides, DATE)
    assert [t.distance_m for t in derived.transfers] == [0]
    for planned, leg in zip([leg for leg in it["legs"] if leg["mode"] != "WALK"], derived.legs):
        _same_as_planner(planned, leg)
    unlinked = build_model(Network([small_feed([])]), DATE)  # the same trips, no in-seat link
    with pytest.raises(BookingError) as e:
        derive_itinerary(lambda day: unlinked, rides, DATE)
    assert (e.value.status, e.value.field) == (409, "itinerary.legs[1].stay_seated")


def test_a_ride_past_midnight_derives_from_its_own_service_day(tmp_path):
    """The planner on 2026-11-25 returns yesterday's 23:55 trip (service_date 2026-11-24, leaving 00:05 today):
    it derives from the model of 2026-11-24, with the same times; named on the 25th it does not run."""
    import datetime as dt

    from feeds.feed import Network
    from feeds.gtfs import load_feed
    from gtfs_builders import hms, minimal_feed_tables, write_gtfs
    from maas.itineraries.derive import LegDeriver
    from maas.booking.offers import parse_itinerary
    from maas.transit import TransitService
    from routing.itinerary import ride_leg
    from routing.raptor import RideLeg

    tables = minimal_feed_tables()
    for row in tables["stop_times"]:
        if row["trip_id"] == "T2":
            offset = {"1": 0, "2": 600, "3": 1200}[row["stop_sequence"]]
            row["arrival_time"] = row["departure_time"] = hms(23 * 3600 + 55 * 60 + offset)
    transit = TransitService(Network([load_feed(write_gtfs(tmp_path / "night", tables), "night")]))
    try:
        day = dt.date(2026, 11, 25)
        model = transit.model_for(day)
        t = model.trip_index("night:T2", -1)  # the run of the 24th, still on its way on the 25th
        p = int(model.trip_pattern[t])
        stops = model.pattern_stops[model.pattern_stops_start[p]:]
        off, _ = model.trip_times_offset(t)
        planned = ride_leg(model, RideLeg(p, t, 1, 2, int(stops[1]), int(stops[2]), int(model.departures_of_trip(t)[1]),
                                          int(model.st_arr[off + 2]))).to_dict()
        assert planned["service_date"] == "2026-11-24" and planned["departure"] == "2026-11-25T00:05:00+09:00"
        [leg] = LegDeriver(transit).derive_sync(parse_itinerary({"legs": [planned]}), day).legs
        _same_as_planner(planned, leg)
        with pytest.raises(BookingError) as e:  # on the 25th, T2 (weekday service) leaves at 23:55 again
            LegDeriver(transit).derive_sync(parse_itinerary({"legs": [{**planned, "service_date": "2026-11-25"}]}),
                                            day)
        assert e.value.field in ("itinerary.legs[0].departure", "itinerary.legs[0].service_date")
    finally:
        transit.close()


@pytest.mark.parametrize("start, end, count", [(2**63, 2**63 + 1, 1), (-100, -99, 9), (0, 2**31, 1), (3, 3, 1),
                                               (1, 4, 0), (1, 4, 10**6), (1.5, 4, 1), (True, 4, 1)])
async def test_store_refuses_seat_requests_no_leg_can_make(store, start, end, count):
    """Defence in depth below the derivation: the seat inventory itself (SQLite transaction, Redis Lua script)
    never receives a position or count outside what a derived leg can hold, and the trip keeps selling."""
    resource = "shuttle-x|2026-11-24|shuttle-x:T1"
    with pytest.raises(ValueError):
        await store.reserve_seats(resource, 11, start, end, count, "h-bad", 2e9, 1.79e9)
    assert await store.seat_holds(resource) == []
    ok = await store.reserve_seats(resource, 11, 1, 4, 11, "h-ok", 2e9, 1.79e9)
    assert ok.ok and [(h.start, h.end, h.count) for h in await store.seat_holds(resource)] == [(1, 4, 11)]


def test_every_mode_name_parses():
    """Mode names with an underscore (CABLE_CAR) are modes; digits and symbols are not."""
    from maas.booking.offers import parse_itinerary
    from routing.timetable import MODE_NAMES

    for mode in MODE_NAMES:
        leg = {"mode": mode.lower(), "trip_id": "x:1", "service_date": "2026-11-24", "from": {"sequence": 1},
               "to": {"sequence": 2}}
        assert parse_itinerary({"legs": [leg, {**leg, "mode": "BUS"}]})[-1].mode == "BUS"
    for bad in ("0", "BUS!", "", "X" * 21):
        with pytest.raises(BookingError) as e:
            parse_itinerary({"legs": [{"mode": bad}]})
        assert e.value.field == "itinerary.legs[0].mode"
