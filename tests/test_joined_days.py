"""One model serves two service days (routing/timetable.py ``DAYS``, ``SERVED_DAYS``): today's model answers
tomorrow's plans, trips, bookings and closures exactly as a model of tomorrow alone would (built here with the
four days such a model joined before), and the transit service keeps one model for today and tomorrow."""
from __future__ import annotations

import datetime as dt
import random

import pytest

import routing.timetable as timetable
from api.trips import trip_details
from feeds.closure_json import closure_from_dict
from feeds.feed import Network
from feeds.gtfs import load_feed
from gtfs_builders import minimal_feed_tables, write_gtfs
from maas.disruptions.affected import closure_targets
from maas.itineraries.derive import derive_ride
from maas.booking.offers import RideRequest, StopRef
from maas.publishing.map_layers import network_geojson
from maas.publishing.network import load_network
from maas.transit import TransitService, bases_for
from routing.planner import PlanOptions, Planner
from routing.timetable import build_model
from routing.walking import StraightLineWalker

FRIDAY = dt.date(2026, 11, 27)  # the sample's weekday service, then Saturday's, then Sunday's
ONE = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return load_network([], cache_dir=tmp_path_factory.mktemp("sample"), progress=False)


def _alone(network, date, monkeypatch_days=(-2, -1, 0, 1)):
    """A model of ``date`` joining only the days one that served a single day joined."""
    saved = timetable.DAYS
    timetable.DAYS = monkeypatch_days
    try:
        return build_model(network, date)
    finally:
        timetable.DAYS = saved


@pytest.fixture(scope="module")
def models(sample):
    joined = build_model(sample, FRIDAY)
    alone = _alone(sample, FRIDAY + ONE)
    walker = StraightLineWalker(joined.stop_lat, joined.stop_lon, 1.3)
    return joined, alone, Planner(joined, walker), Planner(alone, walker)


def test_a_model_joins_five_days_and_serves_two(models):
    joined, alone, _, _ = models
    assert set(joined.trip_day_offset.tolist()) == {-2, -1, 0, 1, 2}
    assert joined.serves(FRIDAY) and joined.serves(FRIDAY + ONE)
    assert not joined.serves(FRIDAY - ONE) and not joined.serves(FRIDAY + 2 * ONE)
    # Saturday's trips as tomorrow's in Friday's model are Saturday's own trips in Saturday's model
    sat = {joined.trip_ids[t] for t in range(joined.n_trips) if joined.trip_day_offset[t] == 1}
    own = {alone.trip_ids[t] for t in range(alone.n_trips) if alone.trip_day_offset[t] == 0}
    assert sat == own and sat


def test_tomorrows_plans_are_those_of_tomorrows_own_model(models):
    """Random stop pairs and times over Saturday, late evening (into Sunday) and early morning (arrive-by back
    into Friday) included, with the sample's modes, wheelchair and transfer rules varied."""
    joined, alone, pj, pa = models
    rng = random.Random(7)
    stops = [s for s in joined.stop_ids]
    tz = dt.timezone(dt.timedelta(hours=9))
    asked = answered = 0
    for _ in range(60):
        a, b = rng.sample(stops, 2)
        minute = rng.choice([rng.randrange(0, 24 * 60), rng.randrange(22 * 60, 24 * 60), rng.randrange(0, 120)])
        when = dt.datetime.combine(FRIDAY + ONE, dt.time(minute // 60, minute % 60), tz)
        opts = dict(max_transfers=rng.choice([1, 3, 5]), wheelchair=rng.random() < 0.2,
                    modes=rng.choice([None, ["SUBWAY"], ["BUS"], ["SUBWAY", "BUS"]]))
        arrive_by = rng.random() < 0.4
        got = [i.to_dict() for i in pj.plan(a, b, when, arrive_by, PlanOptions(**opts))]
        want = [i.to_dict() for i in pa.plan(a, b, when, arrive_by, PlanOptions(**opts))]
        assert got == want, (a, b, when, arrive_by, opts)
        asked += 1
        answered += bool(want)
    assert answered >= asked // 3  # the comparison compared journeys, not only empty answers


def test_tomorrows_trips_bookings_and_closures_are_the_same(models, sample):
    joined, alone, _, _ = models
    day = FRIDAY + ONE
    ids = sorted({alone.trip_ids[t] for t in range(alone.n_trips) if alone.trip_day_offset[t] == 0})
    for trip_id in random.Random(3).sample(ids, 25):
        tj, ta = joined.trip_on(trip_id, day), alone.trip_on(trip_id, day)
        assert tj is not None and ta is not None
        assert trip_details(joined, tj) == trip_details(alone, ta)
        stops = trip_details(alone, ta)["stops"]
        ride = RideRequest(index=0, trip_id=trip_id, service_date=day, board=StopRef(stops[0]["stop_id"], None),
                           alight=StopRef(stops[-1]["stop_id"], None))
        rj, ra = derive_ride(joined, ride), derive_ride(alone, ride)
        assert rj.leg == ra.leg
    assert joined.trip_on(ids[0], day + 3 * ONE) is None  # a day the model does not join
    stop = trip_details(alone, alone.trip_on(ids[0], day))["stops"][1]["stop_id"]
    start = timetable.local_midnight(day, "Asia/Tokyo") + dt.timedelta(hours=8)
    closure = closure_from_dict({"id": "c1", "targets": {"stops": [stop]}, "start": start.isoformat(),
                                 "end": (start + dt.timedelta(hours=3)).isoformat()})
    booked = set(ids)
    trips, stops = closure_targets(alone, [closure], booked)
    assert trips and closure_targets(joined, [closure], booked, day) == (trips, stops)
    assert network_geojson(joined, date=day) == network_geojson(alone)


def test_one_model_for_today_and_tomorrow(tmp_path):
    tables = minimal_feed_tables()
    transit = TransitService(Network([load_feed(write_gtfs(tmp_path / "feed", tables), "tiny")]), threads=1)
    built: list[dt.date] = []
    real = transit._build
    transit._build = lambda network, date, walker: (built.append(date), real(network, date, walker))[1]
    try:
        today = dt.date(2026, 11, 24)
        transit.keep([today, today + ONE])
        transit.warm_days([today, today + ONE])
        assert built == [today] and transit.cached_dates() == [today, today + ONE]
        assert transit.model_for(today + ONE) is transit.model_for(today)
        assert transit.planner_for(today + ONE) is transit.planner_for(today)
        # the hour before midnight: tomorrow's model joins, serving tomorrow and the day after
        transit.keep([today, today + ONE, today + 2 * ONE])
        transit.warm_days([today, today + ONE, today + 2 * ONE])
        assert built == [today, today + ONE]
        assert transit.planner_for(today + ONE).model.service_date == today  # still today's (the same trips)
        assert transit.planner_for(today + 2 * ONE).model.service_date == today + ONE
        # past midnight: yesterday's model is dropped at once; yesterday's trips are still found in today's
        transit.keep([today + ONE, today + 2 * ONE])
        assert transit.cached_dates() == [today + ONE, today + 2 * ONE]
        assert transit.planner_for(today + ONE).model.service_date == today + ONE
        yesterday = transit.model_for(today)
        assert yesterday.service_date == today + ONE and yesterday.day_of(today) == -1
        assert built == [today, today + ONE]
        # a day no cached model serves builds its own
        transit.planner_for(today + 5 * ONE)
        assert built[-1] == today + 5 * ONE
    finally:
        transit.close()


def test_bases_for():
    d = dt.date(2026, 12, 3)
    assert bases_for([d, d + ONE]) == [d]
    assert bases_for([d, d + ONE, d + 2 * ONE]) == [d, d + ONE]
    assert bases_for([d + 2 * ONE]) == [d + 2 * ONE]
    assert bases_for([d, d + 3 * ONE]) == [d, d + 3 * ONE]
    assert bases_for([]) == []


def test_a_plan_is_the_same_whichever_model_serves_its_day(tmp_path):
    """A sparse feed (weekdays 08:00 and 09:00, Saturdays 10:00): a day's plans answered by the model of the day
    before or by the day's own, which joins one day further, are the same, because a plan looks as far as its
    `horizon` (rides from the midnight starting the day before to the one ending the day after), not as far as
    the model it runs on holds trips."""
    tables = minimal_feed_tables()
    tables["calendar"][1]["sunday"] = "0"
    network = Network([load_feed(write_gtfs(tmp_path / "feed", tables), "tiny")])
    saturday = dt.date(2026, 11, 28)
    models = {d: build_model(network, d) for d in (saturday - ONE, saturday, saturday + ONE, saturday + 2 * ONE)}
    walker = StraightLineWalker(models[saturday].stop_lat, models[saturday].stop_lon, 1.3)
    tz = dt.timezone(dt.timedelta(hours=9))
    cases = [  # (day, hour, arrive_by, the departure wanted or None)
        (saturday, 23, False, None),  # Monday 08:00 is beyond Sunday's midnight: not found by either model
        (saturday, 7, False, dt.datetime(2026, 11, 28, 10, tzinfo=tz)),
        (saturday + 2 * ONE, 7, True, None),  # Saturday 10:00 is before Sunday's midnight
        (saturday + ONE, 12, True, dt.datetime(2026, 11, 28, 10, tzinfo=tz)),
        (saturday + ONE, 20, False, dt.datetime(2026, 11, 30, 8, tzinfo=tz)),
    ]
    for day, hour, arrive_by, wanted in cases:
        when = dt.datetime.combine(day, dt.time(hour), tz)
        answers = []
        for m in (models[day - ONE], models[day]):
            assert m.serves(day)
            its = Planner(m, walker).plan("tiny:A", "tiny:C", when, arrive_by, PlanOptions(max_walk_m=0))
            answers.append([i.to_dict() for i in its])
        assert answers[0] == answers[1], (day, hour, arrive_by)
        got = [dt.datetime.fromisoformat(i["legs"][0]["departure"]) for i in answers[0]]
        assert (got[0] if got else None) == wanted, (day, hour, arrive_by, got)
