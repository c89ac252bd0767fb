"""The planner's answer is a function of the query alone (the definition in `routing.planner`'s docstring), not of
how `Planner._ranges` splits the departures into range searches: on random networks (midnight both sides, in-seat
links, closures, mode filter, wheelchair, change times) every window schedule gives the same itineraries by
(departure, arrival, transfers) (of equal ones, the legs recorded may differ: the definition leaves those ties
open), those the brute-force reference's profile gives by the definition, depart-at and arrive-by; and no
itinerary boards, alights, leaves or reaches a stop while it is closed."""
from __future__ import annotations

import datetime as dt
import math

import pytest

from feeds.feed import Network
from raptor_reference import Closures, Reference, plan_horizon
from routing.planner import PlanOptions, Planner, Windows
from routing.timetable import DAY, MODE_NAMES, BuildSettings, build_model, mode_of_route_type
from routing.walking import StraightLineWalker
from test_raptor import closure_mask, random_closures, random_world
from test_timetable import DATE

INF = math.inf
SCHEDULES = [Windows(900), Windows(2700), Windows(6 * 3600), Windows(60, 1.5)]


def reference_profile(ref: Reference, o: str, d: str, lo: int, hi: int, k: int, kw: dict) -> list[tuple]:
    """Every (departure, arrival, transfers) no other journey beats (leaves no earlier, arrives no later, changes
    no more often), over the departures in [lo, hi]: runs latest first, a journey kept when it arrives strictly
    earlier for its rides than every later departure and than fewer rides from the same one."""
    out, best = [], [INF] * (k + 1)
    for tau in ref.departures([(o, 0)], lo, hi, kw["speed"], kw["modes"], kw["wheelchair"], kw["closures"]):
        arr = ref.earliest([(o, tau)], [(d, 0)], k, **kw)
        for r in range(1, k + 1):
            if arr[r] < best[r] and arr[r] < arr[r - 1]:
                out.append((tau, int(arr[r]), r - 1))
        best = [min(b, x) for b, x in zip(best, arr)]
    return out


def reference_answer(ref: Reference, o: str, d: str, t: int, arrive_by: bool, opts: PlanOptions,
                     kw: dict) -> list[tuple]:
    """The definition on the reference's profile: Pareto journeys leaving at or after t (arriving by t); s the
    first (latest arrival); candidates within ``range_window_s`` of s (when fewer than ``num_itineraries``, the first
    ``num_itineraries``); the first ``num_itineraries`` (arrive-by: the latest departures), the last
    giving way to the first fewest-transfer candidate when none of them has the fewest; by departure."""
    k = opts.max_transfers + 1
    if arrive_by:
        prof = [p for p in reference_profile(ref, o, d, -3 * DAY, t, k, kw) if p[1] <= t]
        keyed = sorted((-a, -dp, tr, (dp, a, tr)) for dp, a, tr in prof)
    else:
        prof = reference_profile(ref, o, d, t, 4 * DAY, k, kw)  # (to the model's last day's end)
        keyed = sorted((dp, a, tr, (dp, a, tr)) for dp, a, tr in prof)
    if not keyed:
        return []
    cands = [x for x in keyed if x[0] <= keyed[0][0] + opts.range_window_s]
    if len(cands) < opts.num_itineraries:
        cands = keyed[:opts.num_itineraries]
    if arrive_by:  # (latest departure first, then earliest arrival)
        cands = sorted(cands, key=lambda x: (x[1], -x[0], x[2]))
    chosen = cands[:opts.num_itineraries]
    if len(chosen) >= 2:
        fewest = min(x[2] for x in cands)
        if min(x[2] for x in chosen) > fewest:
            chosen[-1] = min((x for x in cands if x[2] == fewest), key=lambda x: (x[1], -x[0]))
    return sorted(x[3] for x in chosen)


def _transfers(it) -> int:
    return max(sum(1 for leg in it.legs if leg.mode != "WALK" and not leg.stay_seated) - 1, 0)


def _case(seed: int):
    feed, rng = random_world(seed)
    net = Network([feed])
    m = build_model(net, DATE, BuildSettings())
    return m, Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon)), Reference(net, DATE), rng


@pytest.mark.parametrize("seeds", [range(i, i + 10) for i in range(0, 60, 10)])
def test_answer_is_the_definitions_for_every_window_schedule(seeds):
    """Each schedule: 15 min then doubling, 45 min, the whole range at once, 1 min growing by half."""
    assert sum(_check(seed) for seed in seeds) >= 10


def _check(seed: int) -> int:
    """Queries on one random network: (every schedule the same itineraries, and the reference's answer); how
    many had an answer."""
    m, planner, ref, rng = _case(seed)
    cl, mask = random_closures(m, rng)
    wheelchair = seed % 5 == 0
    types = {1, 3} if seed % 4 == 0 else None
    modes = None if types is None else sorted({mode_of_route_type(t) for t in types})
    assert modes is None or all(x in MODE_NAMES for x in modes)
    checked = 0
    for _ in range(8):
        a, b = rng.sample(range(m.n_stops), 2)
        arrive_by = rng.random() < 0.4
        t = rng.choice([rng.randint(6 * 3600, 10 * 3600), rng.randint(0, 3600), rng.randint(22 * 3600, DAY),
                        rng.randint(-3600, 0)])
        opts = PlanOptions(max_transfers=rng.choice([1, 2, 3]), num_itineraries=rng.choice([1, 2, 3]), max_walk_m=0,
                           range_window_s=rng.choice([0, 900, 3600, 7200]), wheelchair=wheelchair, modes=modes,
                           min_transfer_s=rng.choice([0, 60, 300]), walk_speed=rng.choice([0.8, 1.2, 1.5]))
        got = _answer(m, planner, ref, cl, mask, m.stop_ids[a], m.stop_ids[b], t, arrive_by, opts, types, seed)
        checked += bool(got)
    return checked


def _answer(m, planner, ref, cl, mask, o: str, d: str, t: int, arrive_by: bool, opts: PlanOptions, types,
            seed: int) -> list[tuple]:
    """(departure, arrival, transfers) of the itineraries, checked the same under every schedule and the
    reference's answer."""
    when = m.datetime_of(t)
    why = (seed, o, d, t, arrive_by, opts)
    answers = []
    for windows in SCHEDULES:
        planner.windows = windows
        its = planner.plan(o, d, when, arrive_by=arrive_by, options=opts, mask=mask)
        _open_where_used(m, cl, its, why)
        answers.append([(it.departure_s, it.arrival_s, _transfers(it)) for it in its])
    got = sorted(answers[0])
    # (the same journeys by (departure, arrival, transfers); of equal ones, which legs a schedule's runs record
    # may differ: the module docstring of `routing.planner`)
    assert all(x == answers[0] for x in answers), (why, answers)
    kw = dict(min_transfer=opts.min_transfer_s, speed=opts.walk_speed, wheelchair=opts.wheelchair, modes=types,
              closures=cl, inseat=True, report_walks=False, horizon=plan_horizon(t), whole=True)
    assert got == reference_answer(ref, o, d, t, arrive_by, opts, kw), why
    return got


def _open_where_used(m, cl: Closures, its, why) -> None:
    """Every stop an itinerary boards, alights, leaves or reaches on foot is open at that moment (the reference's
    closure windows, not the model's mask)."""
    for it in its:
        for leg in it.legs:
            a, b = leg.start.stop_id, leg.end.stop_id
            if a is None or b is None:
                continue
            t0 = m.seconds_of(dt.datetime.fromisoformat(leg.departure))
            t1 = m.seconds_of(dt.datetime.fromisoformat(leg.arrival))
            assert not cl.stop(a, t0) and not cl.stop(b, t1), (why, leg.mode, a, b, t0, t1)


def test_arrive_by_waits_out_a_closure_on_its_last_walk():
    """Arrive-by 00:35 at S6, whose last journeys before it end with a bus to S5 and a walk to S6, while S5 was
    closed 23:00-23:30 the day before. A backward search that leaves S6 in that half hour (a window's run; which
    ones do depends on the schedule) reaches S5 before it closed, as the destination itself is, rather than
    dropping the walk: it then finds the 06:02 → 06:15 journey, not only an earlier one, and every schedule gives
    the reference's answer."""
    m, planner, ref, _ = _case(38)
    cl = Closures()
    cl.stops["r:S5"] = (-3600, -1800)
    opts = PlanOptions(max_transfers=2, num_itineraries=3, max_walk_m=0, range_window_s=7200, min_transfer_s=300,
                       walk_speed=0.8)
    got = _answer(m, planner, ref, cl, closure_mask(m, cl), "r:S11", "r:S6", 2108, True, opts, None, 38)
    assert (-64639, -63889, 0) in got


_CLOSED = {  # the closures `random_closures` drew for these seeds (stops numbered in feed order), by id
    109: ({"r:S4": (28800, 29400), "r:S5": (82800, 93600), "r:S0": (0, 1800)},
          {("r:R0", "r:S9", "r:S2"): (25200, 25800), ("r:R0", "r:S7", "r:S1"): (0, 3600),
           ("r:R1", "r:S4", "r:S9"): (28800, 32400)}),
    137: ({"r:S2": (25200, 25800)}, {("r:R1", "r:S3", "r:S0"): (0, 14400)}),
    91: ({"r:S4": (0, 10800), "r:S6": (82800, 93600)},
         {("r:R2", "r:S1", "r:S3"): (28800, 32400), ("r:R4", "r:S4", "r:S6"): (82800, 83400),
          ("r:R2", "r:S4", "r:S6"): (82800, 86400)}),
}


@pytest.mark.parametrize("seed, o, d, t, arrive_by, opts, want", [
    # the origin S5 closes 23:00-02:00: the last ride of the day leaves S5's neighbour at 23:18, so the traveller
    # leaves S5 the second before it closes and waits there (not at 23:08, inside the closure)
    (109, "r:S5", "r:S1", 35120, False, PlanOptions(max_transfers=1, num_itineraries=1, max_walk_m=0,
                                                    range_window_s=0, min_transfer_s=300, walk_speed=1.5),
     (82799, 84235, 0)),
    # 00:57 from S4: the run at a window's start, whose walk would reach a stop while it is closed, waits for
    # it rather than losing the 07:19 journey
    (137, "r:S4", "r:S3", 3459, False, PlanOptions(max_transfers=2, num_itineraries=3, max_walk_m=0,
                                                   range_window_s=7200, min_transfer_s=0, walk_speed=1.2),
     (26341, 27226, 0)),
    # arrive-by 00:36 at S5: the one-change journey leaving at 23:43 the day before, arriving 00:05
    (91, "r:S0", "r:S5", 2207, True, PlanOptions(max_transfers=2, num_itineraries=3, max_walk_m=0,
                                                 range_window_s=3600, min_transfer_s=0, walk_speed=1.2),
     (-1022, 300, 1)),
])
def test_walks_wait_out_closures_under_every_schedule(seed, o, d, t, arrive_by, opts, want):
    """A walk neither leaves nor reaches a stop while it is closed, and waits beside it instead (so leaving
    later never arrives earlier): the three cases on the random networks' closures that failed while a walk to
    a closed stop was dropped, each the reference's answer under every window schedule."""
    m, planner, ref, _ = _case(seed)
    cl = Closures(*_CLOSED[seed])
    assert want in _answer(m, planner, ref, cl, closure_mask(m, cl), o, d, t, arrive_by, opts, None, seed)
