"""Every feed's agency time zone is honoured beyond the planner: closures, offers (server-derived legs), booked
itineraries and feed-swap checks read model seconds on the model's own clock, not Tokyo's. A synthetic feed in
America/New_York (a weekday and the day US daylight saving time ends), and the real CARTA feed when present."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from feeds.closure_json import closure_from_dict
from feeds.feed import Network
from feeds.gtfs import load_feed
from gtfs_builders import minimal_feed_tables, write_gtfs
from maas.booking.offers import parse_itinerary
from maas.disruptions.affected import closure_targets, day_overlaps
from maas.disruptions.closure_masks import build_mask
from maas.itineraries.derive import LegDeriver
from maas.publishing.feed_swap import trip_change
from maas.services import booked_itinerary
from maas.transit import TransitService
from routing.itinerary import ride_leg
from routing.raptor import RideLeg

NY = ZoneInfo("America/New_York")
WEEKDAY = dt.date(2026, 11, 24)  # a Tuesday, EST (-05:00)
DST_END = dt.date(2026, 11, 2)  # a Monday; the day before (Sunday 1 Nov) clocks went back at 02:00


@pytest.fixture(scope="module")
def ny_transit(tmp_path_factory):
    tables = minimal_feed_tables()
    tables["agency"][0]["agency_timezone"] = "America/New_York"
    for stop in tables["stops"]:  # somewhere in Tennessee: the walker's straight lines do not care
        stop["stop_lat"] = str(float(stop["stop_lat"]) - 0.55)
        stop["stop_lon"] = str(float(stop["stop_lon"]) - 225.0)
    transit = TransitService(Network([load_feed(write_gtfs(tmp_path_factory.mktemp("ny") / "f", tables), "ny")]))
    yield transit
    transit.close()


def _planned_leg(model, trip_id: str) -> dict:
    """T1 (08:00 A → 08:05 B → 08:10 C local) as the planner describes the ride A → C."""
    t = model.trip_index(trip_id)
    p = int(model.trip_pattern[t])
    stops = model.pattern_stops[model.pattern_stops_start[p]:]
    off, _ = model.trip_times_offset(t)
    return ride_leg(model, RideLeg(p, t, 0, 2, int(stops[0]), int(stops[2]), int(model.departures_of_trip(t)[0]),
                                   int(model.st_arr[off + 2]))).to_dict()


@pytest.mark.parametrize("day, offset", [(WEEKDAY, "-05:00"), (DST_END, "-05:00"), (dt.date(2026, 10, 27), "-04:00")])
def test_offer_legs_derive_in_the_feeds_zone(ny_transit, day, offset):
    model = ny_transit.model_for(day)
    assert model.timezone == "America/New_York"
    planned = _planned_leg(model, "ny:T1")
    assert planned["departure"] == f"{day.isoformat()}T08:00:00{offset}"
    [leg] = LegDeriver(ny_transit).derive_sync(parse_itinerary({"legs": [planned]}), day).legs
    assert leg.departure == dt.datetime.combine(day, dt.time(8), NY)
    assert leg.arrival == dt.datetime.combine(day, dt.time(8, 10), NY)
    assert (leg.departure.isoformat(), leg.arrival.isoformat()) == (planned["departure"], planned["arrival"])


def test_booked_itinerary_and_feed_swap_read_local_times(ny_transit):
    model = ny_transit.model_for(WEEKDAY)
    planned = _planned_leg(model, "ny:T1")
    legs = [{"mode": planned["mode"], "operator": "ny", "trip_id": "ny:T1", "route_id": "ny:R1",
             "from_stop": "ny:A", "to_stop": "ny:C", "departure": planned["departure"],
             "arrival": planned["arrival"]}]
    it = booked_itinerary(model, legs)
    [mid] = it["legs"][0]["intermediate_stops"]
    assert mid["stop_id"] == "ny:B"
    assert dt.datetime.fromisoformat(mid["arrival"]) == dt.datetime.combine(WEEKDAY, dt.time(8, 5), NY)
    assert mid["arrival"].endswith("-05:00")
    assert trip_change(model, legs[0]) is None  # same times: not "retimed"
    moved = {**legs[0], "departure": dt.datetime.combine(WEEKDAY, dt.time(8, 1), NY).isoformat()}
    assert trip_change(model, moved) == "retimed"


def _closure(stop: str, start: dt.datetime, end: dt.datetime):
    return closure_from_dict({"id": "c1", "targets": {"stops": [stop]}, "start": start.isoformat(),
                              "end": end.isoformat()})


@pytest.mark.parametrize("day", [WEEKDAY, DST_END])
def test_closure_windows_are_model_seconds_on_the_feeds_clock(ny_transit, day):
    """A closure of stop B from 07:50 to 08:30 New York time covers T1 (08:05 at B), not a Tokyo 07:50."""
    model = ny_transit.model_for(day)
    b = model.stop_index("ny:B")
    c = _closure("ny:B", dt.datetime.combine(day, dt.time(7, 50), NY), dt.datetime.combine(day, dt.time(8, 30), NY))
    mask = build_mask(model, [c], day)
    assert (int(mask.stop_from[b]), int(mask.stop_until[b])) == (
        model.seconds_of(dt.datetime.combine(day, dt.time(7, 50), NY)),
        model.seconds_of(dt.datetime.combine(day, dt.time(8, 30), NY)))
    assert int(mask.stop_from[b]) == 7 * 3600 + 50 * 60  # no clock change inside these days before 07:50
    t1 = model.trip_index("ny:T1")
    off, _ = model.trip_times_offset(t1)
    assert mask.stop_from[b] <= model.st_arr[off + 1] < mask.stop_until[b]


def test_closure_targets_use_the_feeds_midnight(ny_transit):
    """A closure from 20:00 to 23:00 New York time on the 23rd ends before the 24th starts there (it is already
    the 24th in Tokyo): it touches no booking of the 24th."""
    model = ny_transit.model_for(WEEKDAY)
    eve = WEEKDAY - dt.timedelta(days=1)
    c = _closure("ny:B", dt.datetime.combine(eve, dt.time(20), NY), dt.datetime.combine(eve, dt.time(23), NY))
    assert day_overlaps([c], WEEKDAY, "America/New_York") == []
    assert closure_targets(model, [c], {"ny:T1"}) == (set(), set())
    morning = _closure("ny:B", dt.datetime.combine(WEEKDAY, dt.time(7), NY),
                       dt.datetime.combine(WEEKDAY, dt.time(9), NY))
    trips, stops = closure_targets(model, [morning], {"ny:T1"})
    assert trips == {"ny:T1"} and stops == {"ny:B"}


def test_carta_rides_derive_and_close_in_new_york_time():
    """The real CARTA feed (Chattanooga, America/New_York): a planned ride derives to the same local times, and
    a closure in local time blocks the ride's boarding stop at that local time."""
    from conftest import shared_file

    feed = load_feed(shared_file("chattanooga-carta-gtfs.zip"), "carta")
    first, _ = feed.service_dates()
    transit = TransitService(Network([feed]))
    try:
        model = None
        for k in range(14):  # a day the feed runs
            day = first + dt.timedelta(days=7 + k)
            model = transit.model_for(day)
            today = [t for t in range(model.n_trips) if model.trip_day_offset[t] == 0]
            if today:
                break
        else:
            pytest.skip("the CARTA feed runs on none of the days tried")
        assert model.timezone == "America/New_York"
        t = today[len(today) // 2]
        p = int(model.trip_pattern[t])
        off, n = model.trip_times_offset(t)
        stops = model.pattern_stops[model.pattern_stops_start[p]:model.pattern_stops_start[p] + n]
        dep = int(model.departures_of_trip(t)[0])
        planned = ride_leg(model, RideLeg(p, t, 0, n - 1, int(stops[0]), int(stops[n - 1]), dep,
                                          int(model.st_arr[off + n - 1]))).to_dict()
        local = dt.datetime.fromisoformat(planned["departure"])
        assert local.utcoffset() in (dt.timedelta(hours=-5), dt.timedelta(hours=-4))
        [leg] = LegDeriver(transit).derive_sync(parse_itinerary({"legs": [planned]}), day).legs
        assert leg.departure == local and leg.departure.isoformat() == planned["departure"]
        c = _closure(model.stop_ids[int(stops[0])], local - dt.timedelta(minutes=5), local + dt.timedelta(minutes=5))
        mask = build_mask(model, [c], day)
        s = int(stops[0])
        assert mask.stop_from[s] <= dep < mask.stop_until[s]
    finally:
        transit.close()


async def test_departures_board_reads_the_feeds_clock(ny_transit):
    """`GET /v1/stops/{id}/departures` at 07:30 New York time lists T1 leaving at 08:00 there, not trips after a
    Tokyo 07:30."""
    from api_support import auth, client_for, services_for

    async with client_for(services_for(ny_transit)) as client:
        r = await client.get("/v1/stops/ny:A/departures", params={"at": "2026-11-24T07:30:00-05:00"},
                             headers=auth("pk-alpha"))
        assert r.status == 200, await r.text()
        rows = (await r.json())["departures"]
    assert rows and dt.datetime.fromisoformat(rows[0]["departure"]) == dt.datetime(2026, 11, 24, 8, 0, tzinfo=NY)
    assert rows[0]["trip_id"] == "ny:T1"


# ---- "today" is the feeds' service day, not Tokyo's date ------------------------------------------------------
# At 10:00 in Tokyo on the 25th it is 20:00 on the 24th in New York: the New York network's today is the 24th.
TOKYO_MORNING = dt.datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
NY_TODAY = dt.date(2026, 11, 24)


def _ny_tables() -> dict:
    tables = minimal_feed_tables()
    tables["agency"][0]["agency_timezone"] = "America/New_York"
    return tables


def _ny_zip(tables: dict) -> bytes:
    import io
    import zipfile

    from gtfs_builders import to_csv

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, rows in tables.items():
            zf.writestr(f"{name}.txt", to_csv(rows))
    return buf.getvalue()


def test_closures_are_checked_against_the_feeds_today(ny_transit):
    """The closure service checks ids against today's model: New York's today, not Tokyo's date."""
    from maas.disruptions.closure_store import MemoryClosureStore
    from maas.platform.settings import Settings
    from maas.services import closure_service

    svc = closure_service(Settings(), ny_transit, store=MemoryClosureStore(), clock=lambda: TOKYO_MORNING)
    assert ny_transit.today(TOKYO_MORNING) == NY_TODAY
    assert svc.model_provider().service_date == NY_TODAY


async def test_feed_swap_builds_the_feeds_today(tmp_path):
    """A publish swaps in the new network with today's model built: New York's today (the 24th), not Tokyo's
    date (the 25th), so the first plan for "now" after the swap waits for no build."""
    from maas.publishing.feed_registry import FeedRegistry
    from maas.publishing.feed_swap import FeedManager

    tables = _ny_tables()
    transit = TransitService(Network([load_feed(write_gtfs(tmp_path / "f", tables), "ny")]))
    try:
        feeds = FeedManager(FeedRegistry(tmp_path / "feeds"), transit, clock=lambda: TOKYO_MORNING)
        out = await feeds.publish("ny", _ny_zip(tables))
        assert out.accepted, out.report
        assert [m.service_date for m in transit.cached_models()] == [NY_TODAY]  # (serving it and the next day)
        assert transit.service_span() == (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    finally:
        await feeds.aclose()
        transit.close()


async def test_booking_offer_on_the_feeds_yesterday(ny_transit):
    """`BookingService.create_offer` derives the ride of New York's yesterday (refused before as "not bookable":
    Tokyo's yesterday was already the 24th)."""
    from maas.booking.offers import BookingError
    from maas.platform.settings import Settings
    from maas.services import booking_service
    from maas.store.embedded import EmbeddedStore

    store = EmbeddedStore(":memory:")
    svc = booking_service(Settings(), ny_transit, store=store, clock=lambda: TOKYO_MORNING)
    planned = _planned_leg(ny_transit.model_for(NY_TODAY - dt.timedelta(days=1)), "ny:T1")
    try:
        await svc.create_offer({"legs": [planned]}, {"adult": 1}, "k-ny-yesterday-0001", "partner")
    except BookingError as err:  # pricing may refuse this bare feed: never for its service date
        assert getattr(err, "code", None) != "service_date_out_of_range", err
    finally:
        await store.aclose()


async def test_trip_defaults_to_the_feeds_today(ny_transit):
    """`GET /v1/trips/{id}` without a date reads New York's today at the services' clock."""
    from api_support import auth, client_for, services_for

    async with client_for(services_for(ny_transit, clock=lambda: TOKYO_MORNING)) as client:
        r = await client.get("/v1/trips/ny:T1", headers=auth("pk-alpha"))
        assert r.status == 200, await r.text()
        assert (await r.json())["service_date"] == NY_TODAY.isoformat()


def test_warnings_on_an_itinerary_compare_times_on_the_feeds_clock(ny_transit):
    """The warnings attached to a New York itinerary: a closure of stop B from 08:03 to 08:07 New York time meets
    T1's call there (08:05), one from 09:00 does not (the windows are compared with the itinerary's own -05:00
    strings, not as Tokyo times)."""
    from maas.disruptions.closure_masks import ClosureIndex
    from maas.disruptions.touches import TouchIndex

    model = ny_transit.model_for(WEEKDAY)
    leg = _planned_leg(model, "ny:T1")
    at = lambda h, m: dt.datetime.combine(WEEKDAY, dt.time(h, m), NY)  # noqa: E731
    for window, hit in (((at(8, 3), at(8, 7)), True), ((at(9, 0), at(9, 30)), False)):
        c = _closure("ny:B", *window)
        it = {"legs": [dict(leg)], "departure": leg["departure"], "arrival": leg["arrival"]}
        TouchIndex.build(ClosureIndex(model), [(c, 1)]).annotate(it)
        assert [w["id"] for w in it["warnings"]] == (["c1"] if hit else [])
