"""The planner on other real feeds: a feed in another time zone (CARTA, Chattanooga), coordinate trips on the
Shibuya street extract with the Tokyo Metro feed (a walk between a station's platforms must not hide the ride), and
every rule at once on Toei, Chiibus and CARTA with closures on the answer's own path."""
from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from conftest import shared_file
from feeds.feed import Network
from feeds.gtfs import load_feed
from maas.disruptions.closure_masks import HI
from raptor_reference import plan_horizon
from routing.masks import ClosureMask
from routing.planner import PlanOptions, Planner
from routing.raptor import RaptorQuery, run_raptor
from routing.timetable import build_model
from routing.walking import StraightLineWalker

pytestmark = pytest.mark.shared_data
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def carta():
    net = Network([load_feed(shared_file("chattanooga-carta-gtfs.zip"), "carta")])
    return build_model(net, dt.date(2026, 6, 2))  # a Tuesday inside the feed's calendar


def test_feed_time_zone_is_the_models_clock(carta):
    """CARTA runs on America/New_York: 08:00 there is 08:00 on the model's clock, and answers say -04:00."""
    m = carta
    assert m.timezone == "America/New_York"
    assert m.seconds_of(dt.datetime(2026, 6, 2, 8, 0, tzinfo=NEW_YORK)) == 8 * 3600
    assert m.seconds_of(dt.datetime(2026, 6, 2, 21, 0, tzinfo=ZoneInfo("Asia/Tokyo"))) == 8 * 3600
    planner = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
    rng = random.Random(5)
    checked = 0
    for p in rng.sample(range(m.n_patterns), 10):
        base, L = int(m.pattern_stops_start[p]), m.pattern_len(p)
        a, b = m.stop_ids[int(m.pattern_stops[base])], m.stop_ids[int(m.pattern_stops[base + L - 1])]
        if a == b:
            continue
        its = planner.plan(a, b, dt.datetime(2026, 6, 2, 8, 0, tzinfo=NEW_YORK), options=PlanOptions(max_walk_m=0))
        for it in its:
            d = it.to_dict()
            assert d["departure"].endswith("-04:00")
            dep = dt.datetime.fromisoformat(d["departure"])
            assert dt.datetime(2026, 6, 2, 8, 0, tzinfo=NEW_YORK) <= dep  # not the 21:00 buses (Tokyo's 08:00)
            checked += 1
        if its:
            assert dt.datetime.fromisoformat(its[0].to_dict()["departure"]).hour < 14
    assert checked >= 5


@pytest.fixture(scope="module")
def shibuya(tmp_path_factory):
    from routing.streets import StreetNetwork

    m = build_model(Network([load_feed(shared_file("tokyo-metro-gtfs.zip"), "metro")]), dt.date(2026, 12, 1))
    streets = StreetNetwork.from_osm_xml(shared_file("osm/tokyo-shibuya.osm"), m.stop_lat, m.stop_lon,
                                         cache_dir=tmp_path_factory.mktemp("streets"))
    return m, streets


def test_coordinate_trips_with_transit_get_an_answer(shibuya):
    """Random coordinate pairs in the extract: when the metro connects stops in walking range of both ends, the
    planner answers (it once lost the ride to a walk through a station's platforms, then dropped that walk): with
    a ride, or with the direct walk alone when no ride is faster (leaving at the asked time, the walk is there no
    later than the first ride: every ride leaves then or later and takes as long as the walk or longer)."""
    m, streets = shibuya
    planner = Planner(m, streets)
    opts = PlanOptions()
    lat, lon = streets.graph.node_lat, streets.graph.node_lon
    rng = random.Random(29)
    when = dt.datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    t0 = m.seconds_of(when)
    asked = walked = 0
    for _ in range(40):
        i, j = rng.randrange(len(lat)), rng.randrange(len(lat))
        o, d = f"{lat[i]:.6f},{lon[i]:.6f}", f"{lat[j]:.6f},{lon[j]:.6f}"
        po, pd_ = planner.resolve(o, opts), planner.resolve(d, opts)
        if not len(po.stops) or not len(pd_.stops):
            continue
        q = RaptorQuery(po.stops, t0 + po.seconds, pd_.stops, pd_.seconds, max_rides=opts.max_transfers + 1,
                        report_walks=False)
        rides = [jr.arrival for jr in run_raptor(m, q).journeys if jr.rides > 0]
        its = planner.plan(o, d, when, options=opts)
        if rides:
            asked += 1
            if not any(any(leg.mode != "WALK" for leg in it.legs) for it in its):
                walk = [it for it in its if [leg.mode for leg in it.legs] == ["WALK"]]
                assert walk and walk[0].departure_s == t0 and walk[0].arrival_s <= min(rides), (o, d)
                walked += 1
    assert asked >= 10 and walked < asked


@pytest.fixture(scope="module")
def tokyo():
    m = build_model(Network([load_feed(shared_file("tokyo-rail-gtfs.zip"), "tokyo-rail")]), dt.date(2026, 12, 1))
    return m, Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))


def _could_leave_later(m, planner, it, origin: str, destination: str, opts: PlanOptions, mask=None) -> bool:
    """Whether leaving a second after ``it`` still arrives by its arrival with no more changes, under the same
    options and closures: one plain earliest-arrival run of the kernel (not a range search, not
    `Planner._ranges`)."""
    po, pd_ = planner.resolve(origin, opts), planner.resolve(destination, opts)
    q = RaptorQuery(po.stops, it.departure_s + 1 + po.seconds, pd_.stops, pd_.seconds,
                    max_rides=opts.max_transfers + 1, min_transfer_s=opts.min_transfer_s, inseat=opts.stay_seated,
                    wheelchair=opts.wheelchair, walk_speed=opts.walk_speed,
                    pattern_allowed=planner.pattern_mask(opts.modes), mask=mask, report_walks=False)
    rides = sum(1 for leg in it.legs if leg.mode != "WALK" and not leg.stay_seated)
    return any(j.arrival <= it.arrival_s and j.transfers + 1 <= rides for j in run_raptor(m, q).journeys)


def test_itineraries_leave_as_late_as_they_can_on_all_tokyo(tokyo):
    """TWR Kokusai-Tenjijo → Seibu-Chichibu at 05:56:41: the planner answered 06:41 → 08:59 while the 06:44 makes
    the same arrival with the same changes (its latest departure was more than 900 s after the first journey the
    windows' last run found, beyond the single late search). No itinerary may leave later and arrive as early."""
    m, planner = tokyo
    a, b = "tokyo-rail:P:TWR.Rinkai.KokusaiTenjijo", "tokyo-rail:P:Seibu.SeibuChichibu.SeibuChichibu"
    opts = PlanOptions()
    when = dt.datetime(2026, 12, 1, 5, 56, 41, tzinfo=ZoneInfo("Asia/Tokyo"))
    its = [it for it in planner.plan(a, b, when, options=opts) if any(leg.mode != "WALK" for leg in it.legs)]
    times = [(m.datetime_of(it.departure_s).strftime("%H:%M"), m.datetime_of(it.arrival_s).strftime("%H:%M"))
             for it in its]
    assert ("06:41", "08:59") not in times and ("06:44", "08:59") in times, times
    for it in its:
        assert not _could_leave_later(m, planner, it, a, b, opts), times


# (feed, namespace, a service day inside its calendar, its time zone)
REAL_FEEDS = [("toei-rail-gtfs.zip", "toei", dt.date(2026, 12, 1), "Asia/Tokyo"),
              ("chiibus-minato-gtfs.zip", "chiibus", dt.date(2026, 12, 7), "Asia/Tokyo"),
              ("chattanooga-carta-gtfs.zip", "carta", dt.date(2026, 6, 2), "America/New_York")]


@pytest.mark.parametrize("feed", REAL_FEEDS, ids=[f[1] for f in REAL_FEEDS])
def test_random_options_and_a_closure_on_the_answers_path(feed):
    """Real feeds, every rule at once: random pairs and times (late night and early morning too), depart-at and
    arrive-by, random transfer limits, change times, wheelchair and in-seat settings; then one or two stops of a
    ride of the answer closed around when it used them (for a while or with no end), and the same plan again. No
    itinerary with a ride boards, alights, passes, leaves or reaches a stop while it is closed, each keeps to its
    side of the asked time and inside the plan's horizon (`raptor_reference.plan_horizon`), and none could
    leave later and arrive as early with no more rides (one plain earliest-arrival run of the kernel from a second
    after it, with the same options and closures: not the planner's windows, proofs or choice)."""
    fname, ns, day, zone = feed
    m = build_model(Network([load_feed(shared_file(fname), ns)]), day)
    planner = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
    tz = ZoneInfo(zone)
    rng = random.Random(11)
    stations = list(m.station_ids)

    def seconds(iso: str) -> int:
        return m.seconds_of(dt.datetime.fromisoformat(iso))

    closed_plans = 0
    for _ in range(30):
        a, b = rng.sample(stations, 2)
        hour = rng.choice([rng.randint(5, 22), 0, 23])
        when = dt.datetime(day.year, day.month, day.day, hour, rng.randint(0, 59), rng.randint(0, 59), tzinfo=tz)
        arrive = rng.random() < 0.4
        opts = PlanOptions(max_transfers=rng.choice([8, 8, 3]), wheelchair=rng.random() < 0.15,
                           min_transfer_s=rng.choice([60, 60, 0, 300]), stay_seated=rng.random() < 0.8,
                           walk_speed=rng.choice([1.2, 1.2, 0.8, 1.6]))
        its = planner.plan(a, b, when, arrive_by=arrive, options=opts)
        rides = [leg for it in its for leg in it.legs if leg.mode != "WALK"]
        if not rides:
            continue
        leg = rng.choice(rides)
        on_ride = [leg.start.stop_id, leg.end.stop_id, *(s["stop_id"] for s in leg.intermediate_stops)]
        sf, su = np.zeros(m.n_stops, np.int32), np.zeros(m.n_stops, np.int32)
        for sid in rng.sample(on_ride, rng.choice([1, 1, 2])):
            s = m.stop_index(sid)
            sf[s] = seconds(leg.departure) - rng.choice([0, 600, 1800])
            # (or with no end: `closure_masks.model_window` clips it to the model's reach)
            su[s] = rng.choice([sf[s] + rng.choice([600, 1800, 3600, 3 * 3600]), HI])
        mask = ClosureMask(sf, su, np.zeros(m.n_hops, np.int32), np.zeros(m.n_hops, np.int32))
        closed_plans += 1
        t = m.seconds_of(when)
        since, until = plan_horizon(t)
        for it in planner.plan(a, b, when, arrive_by=arrive, options=opts, mask=mask):
            assert it.arrival_s <= t if arrive else it.departure_s >= t, (a, b, when, arrive)
            assert since <= it.departure_s and it.arrival_s <= until, (a, b, when, arrive, it.departure_s,
                                                                       it.arrival_s)
            if all(lg.mode == "WALK" for lg in it.legs):
                continue  # (the direct walk goes between the places, not through their stops: its streets are
                # what closes it, `Planner.walker_for`; a closed stop is closed to service, not to its street)
            for lg in it.legs:
                used = [(lg.start.stop_id, seconds(lg.departure)), (lg.end.stop_id, seconds(lg.arrival))]
                used += [(st["stop_id"], seconds(st[k])) for st in lg.intermediate_stops for k in ("arrival",
                                                                                                  "departure")]
                for sid, x in used:
                    s = _stop_or_none(m, sid)
                    assert s is None or not (sf[s] <= x < su[s]), (a, b, when, arrive, lg.mode, sid, x)
            assert not _could_leave_later(m, planner, it, a, b, opts, mask), (a, b, when, arrive, opts,
                                                                              it.departure_s, it.arrival_s)
    assert closed_plans >= 15


def _stop_or_none(m, sid: str) -> int | None:
    """The stop's index; None for a station (a walk leg's end at the place asked for)."""
    try:
        return m.stop_index(sid)
    except KeyError:
        return None
