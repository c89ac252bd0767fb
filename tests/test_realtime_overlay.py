"""The realtime overlay (routing/realtime.py) on small synthetic feeds: GTFS-RT delay propagation, skipped stops,
cancelled, duplicated and added trips, overtaking (FIFO kept by moving trips), the day before's trips after
midnight, and the planner on realtime times against a brute-force reference."""
from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest

from feeds.feed import Network
from feeds.gtfs_rt import StopTimeUpdate, TripUpdate
from raptor_reference import Reference, apply_realtime
from routing.raptor import RaptorQuery, RideLeg, range_raptor, run_raptor
from routing.realtime import CANCELLED, MOVED, UPDATED, base_of, build_overlay, realtime_of
from routing.timetable import build_model
from test_timetable import DATE, grid_stops, line_rows, make_feed

JST = dt.timezone(dt.timedelta(hours=9))
MIDNIGHT = int(dt.datetime.combine(DATE, dt.time(), JST).timestamp())


def stu(seq=None, *, arr=None, dep=None, arr_delay=None, dep_delay=None, stop=None, skipped=False, no_data=False):
    """A StopTimeUpdate; ``arr``/``dep`` are model seconds (turned into POSIX times)."""
    return StopTimeUpdate(seq, stop, None if arr is None else MIDNIGHT + arr, arr_delay,
                          None if dep is None else MIDNIGHT + dep, dep_delay, skipped, no_data)


def tu(trip, *stus, rel="SCHEDULED", date=DATE, start_time=None, route=None, delay=None, entity=None):
    tid = trip if not trip or ":" in trip else f"t:{trip}"
    return TripUpdate(entity or trip or "e", tid, f"t:{route}" if route else None, None,
                      date.strftime("%Y%m%d") if date else None, start_time, rel, delay, None, tuple(stus))


H = 3600


@pytest.fixture(scope="module")
def model():
    stops = grid_stops(8)
    routes = [{"id": "R1"}, {"id": "R2"}]
    trips = [{"id": t, "route": "R1"} for t in ("a", "b", "c", "late")] + [{"id": "x", "route": "R2"},
                                                                            {"id": "y", "route": "R2"}]
    rows = (line_rows("a", ["S0", "S1", "S2", "S3"], 8 * H)  # 8:00 8:02/8:02:30 8:04:30/8:05 8:07
            + line_rows("b", ["S0", "S1", "S2", "S3"], 8 * H + 600)
            + line_rows("c", ["S0", "S1", "S2", "S3"], 8 * H + 1200)
            + line_rows("late", ["S0", "S1", "S2", "S3"], 23 * H + 58 * 60)  # past midnight
            + line_rows("x", ["S2", "S5", "S6"], 8 * H + 450)  # leaves S2 at 8:07:30
            + line_rows("y", ["S2", "S5", "S6"], 8 * H + 1800))
    return build_model(Network([make_feed("t", stops, routes, trips, rows)]), DATE)


def times(m, trip_id, day=0):
    t = m.trip_index(trip_id, day)
    off, n = m.trip_times_offset(t)
    return [int(v) for v in m.st_arr[off:off + n]], [int(v) for v in m.departures_of_trip(t)], t


def test_delay_propagates_downstream_until_the_next_update(model):
    # a: S0 dep 8:00:00, S1 8:02:00/8:02:30, S2 8:04:30/8:05:00, S3 8:07:00
    ov = build_overlay(model, [tu("a", stu(2, arr=8 * H + 120 + 180))])  # arrives S1 3 min late, no departure
    arr, dep, t = times(ov.model, "t:a")
    assert arr == [8 * H, 8 * H + 300, 8 * H + 450, 8 * H + 600]  # +180 from S1 on
    assert dep == [8 * H, 8 * H + 330, 8 * H + 480, 8 * H + 600]
    assert ov.trip_state[t] == UPDATED and ov.is_realtime(t)
    # a later update sets a new delay; the one before still holds between them
    ov = build_overlay(model, [tu("a", stu(2, dep_delay=120), stu(4, arr_delay=30))])
    arr, dep, _ = times(ov.model, "t:a")
    assert dep[1] == 8 * H + 150 + 120 and arr[1] == 8 * H + 120 + 120  # a missing arrival: the departure's delay
    assert arr[2] == 8 * H + 270 + 120 and dep[2] == 8 * H + 300 + 120
    assert arr[3] == 8 * H + 420 + 30 + 0 or arr[3] >= dep[2]
    assert arr[3] == max(8 * H + 420 + 30, dep[2])  # clamped: never before the previous departure
    # the base model is untouched, scheduled times are still known
    assert times(model, "t:a")[0] == [8 * H, 8 * H + 120, 8 * H + 270, 8 * H + 420]
    assert ov.scheduled(t, 1) == (8 * H + 120, 8 * H + 150)


def test_absolute_departure_without_arrival_and_times_never_decrease(model):
    # the Toei quirk: a departure and no arrival; and an absurd early arrival is clamped
    ov = build_overlay(model, [tu("b", stu(2, dep=8 * H + 600 + 150 + 60), stu(3, arr=8 * H + 600))])
    arr, dep, _ = times(ov.model, "t:b")
    assert dep[1] == 8 * H + 810
    assert arr[1] == 8 * H + 720 + 60  # arrival takes the departure's delay (no upstream delay known)
    assert arr[2] == 8 * H + 810 and dep[2] >= arr[2]  # clamped to the previous departure
    assert all(x <= y for x, y in zip(dep, arr[1:])) and all(a <= d for a, d in zip(arr, dep))


def test_early_train_pulls_earlier_stops_back(model):
    ov = build_overlay(model, [tu("c", stu(2, arr=8 * H + 1200 + 60, dep=8 * H + 1200 + 70))])  # 1 min early
    arr, dep, _ = times(ov.model, "t:c")
    assert dep[0] <= arr[1] == 8 * H + 1260
    assert arr[2] == 8 * H + 1200 + 270 - 80 and dep[1] == 8 * H + 1270


def test_skipped_stop_and_no_data(model):
    ov = build_overlay(model, [tu("a", stu(1, dep_delay=60), stu(2, skipped=True), stu(3, no_data=True))])
    arr, dep, t = times(ov.model, "t:a")
    off, _ = ov.model.trip_times_offset(t)
    assert ov.model.st_pickup[off + 1] == 0 and ov.model.st_dropoff[off + 1] == 0 and ov.skipped[off + 1]
    assert ov.model.st_pickup[off] == 1 and ov.model.st_dropoff[off + 3] == 1
    assert dep[1] == 8 * H + 150 + 60  # the delay goes on through the skipped stop
    assert arr[2] == 8 * H + 270 and arr[3] == 8 * H + 420  # NO_DATA: the schedule again
    assert ov.counts.skipped_stops == 1


def test_cancelled_trip_cannot_be_boarded(model):
    ov = build_overlay(model, [tu("a", rel="CANCELED")])
    t = model.trip_index("t:a")
    assert ov.base_state[t] == CANCELLED and ov.counts.cancelled == 1
    q = RaptorQuery(np.array([model.stop_index("t:S0")]), np.array([8 * H - 60]),
                    np.array([model.stop_index("t:S3")]), np.array([0]), max_rides=2)
    base = run_raptor(model, q).pareto()[0]
    live = run_raptor(ov.model, q).pareto()[0]
    assert base.legs[0].trip == t
    assert ov.model.trip_ids[live.legs[0].trip] == "t:b"  # the next one


def test_overtaking_trip_moves_to_its_own_pattern(model):
    # a is 15 min late: b (8:10) now runs before it; both must stay usable and FIFO must hold everywhere
    ov = build_overlay(model, [tu("a", stu(1, dep_delay=900))])
    rt = ov.model
    t = model.trip_index("t:a")
    assert ov.base_state[t] == MOVED and ov.counts.moved == 1
    new = int(ov.base_trip_rt[t])
    assert new >= model.n_trips and rt.trip_ids[new] == "t:a" and ov.trip_base[new] == t
    assert rt.trip_index("t:a") == new and rt.n_patterns == model.n_patterns + 1
    for p in range(rt.n_patterns):  # every pattern FIFO on departures and arrivals
        L = rt.pattern_len(p)
        a0, n = int(rt.pattern_times_start[p]), int(rt.pattern_trips_start[p + 1] - rt.pattern_trips_start[p])
        D = rt.dep_by_pos[a0:a0 + n * L].reshape(L, n).T
        A = rt.st_arr[a0:a0 + n * L].reshape(n, L)
        assert (np.diff(D, axis=0) >= 0).all() and (np.diff(A, axis=0) >= 0).all()
    q = RaptorQuery(np.array([model.stop_index("t:S0")]), np.array([8 * H - 60]),
                    np.array([model.stop_index("t:S3")]), np.array([0]), max_rides=2)
    live = run_raptor(rt, q).pareto()[0]
    assert rt.trip_ids[live.legs[0].trip] == "t:b" and live.arrival == 8 * H + 600 + 420
    q2 = RaptorQuery(np.array([model.stop_index("t:S0")]), np.array([8 * H + 601]),
                     np.array([model.stop_index("t:S3")]), np.array([0]), max_rides=2)
    j = run_raptor(rt, q2).pareto()[0]  # after b has left: the late a (8:15) still carries you
    assert rt.trip_ids[j.legs[0].trip] == "t:a" and j.legs[0].departure == 8 * H + 900
    # a closure mask of the base model still applies on the new pattern's hops
    from routing.masks import ClosureMask
    hf = np.zeros(model.n_hops, np.int32)
    hu = np.zeros(model.n_hops, np.int32)
    p = int(model.trip_pattern[t])
    hf[model.pattern_stops_start[p]], hu[model.pattern_stops_start[p]] = 0, 2 * 86400
    mask = ClosureMask(np.zeros(model.n_stops, np.int32), np.zeros(model.n_stops, np.int32), hf, hu)
    ext = ov.extend_mask(mask)
    assert len(ext.hop_from) == rt.n_hops and ext.hop_until[rt.pattern_stops_start[rt.trip_pattern[new]]] == 2 * 86400


def test_after_midnight_trip_of_the_day_before(model):
    # "late" of the day before runs 23:58 → past midnight: on this model's clock it is at -120 s
    prev = DATE - dt.timedelta(days=1)
    ov = build_overlay(model, [tu("late", stu(3, arr_delay=300), date=prev)])
    arr, dep, t = times(ov.model, "t:late", -1)
    base_arr, _, _ = times(model, "t:late", -1)
    assert base_arr[2] == -120 + 1200 + 30 + 600 + 0 or base_arr[2] < 86400
    assert arr[2] == base_arr[2] + 300 and arr[3] == base_arr[3] + 300
    assert ov.trip_state[t] == UPDATED
    today = model.trip_index("t:late", 0)
    assert ov.trip_state[today] == 0  # today's run of the same trip is not touched
    # a start_date outside the window is another model's business
    ov = build_overlay(model, [tu("late", stu(3, arr_delay=300), date=DATE + dt.timedelta(days=5))])
    assert ov.counts.other_days == 1 and ov.counts.matched == 0


def test_added_and_duplicated_trips(model):
    added = TripUpdate("e-add", None, "t:R2", None, DATE.strftime("%Y%m%d"), None, "ADDED", None, None,
                       (stu(1, stop="t:S2", dep=9 * H), stu(2, stop="t:S5", arr=9 * H + 300),
                        stu(3, stop="t:S6", arr=9 * H + 500)))
    no_stops = TripUpdate("e-bad", None, "t:R2", None, None, None, "ADDED", None, None, (stu(1, arr=9 * H),))
    dup = tu("x", rel="DUPLICATED", start_time="10:00:00")
    unknown = tu("nope", stu(1, arr_delay=60))
    ov = build_overlay(model, [added, no_stops, dup, unknown])
    assert ov.counts.added == 2 and ov.counts.unplaceable == 1 and ov.counts.unmatched == 1
    rt = ov.model
    q = RaptorQuery(np.array([model.stop_index("t:S2")]), np.array([8 * H + 2000]),
                    np.array([model.stop_index("t:S6")]), np.array([0]), max_rides=1)
    j = run_raptor(rt, q).pareto()[0]
    assert rt.trip_ids[j.legs[0].trip] == "t:added:e-add" and j.arrival == 9 * H + 500
    q = RaptorQuery(np.array([model.stop_index("t:S2")]), np.array([9 * H + 100]),
                    np.array([model.stop_index("t:S6")]), np.array([0]), max_rides=1)
    j = run_raptor(rt, q).pareto()[0]
    assert rt.trip_ids[j.legs[0].trip] == "t:x@10:00:00" and j.legs[0].departure == 10 * H
    assert realtime_of(rt) is ov and base_of(rt) is model and realtime_of(model) is None


def test_transfer_broken_by_a_delay_is_not_offered(model):
    # a reaches S2 at 8:04:30, x leaves S2 at 8:07:30: a change of 3 min. a 4 min late → take b, then y
    q = RaptorQuery(np.array([model.stop_index("t:S0")]), np.array([8 * H - 60]),
                    np.array([model.stop_index("t:S6")]), np.array([0]), max_rides=3)
    base = run_raptor(model, q).pareto()[0]
    assert [model.trip_ids[leg.trip] for leg in base.legs if isinstance(leg, RideLeg)] == ["t:a", "t:x"]
    ov = build_overlay(model, [tu("a", stu(2, dep_delay=240))])
    live = run_raptor(ov.model, q).pareto()[0]
    trips = [ov.model.trip_ids[leg.trip] for leg in live.legs if isinstance(leg, RideLeg)]
    assert "t:x" not in trips and trips[-1] == "t:y"


# ---- the planner on realtime times against the brute-force reference ------------------------------------
def random_updates(model, rng) -> tuple[list, dict]:
    """Random trip updates (delays on some stops, skipped stops, cancellations), and the expected rows per run
    key ``trip#day`` computed here independently: (arrival, departure, can board, can alight) per stop, None
    for a cancelled run."""
    out, expect = [], {}
    for t in range(model.n_trips):
        if "@" in model.trip_ids[t] or rng.random() < 0.5:
            continue
        day = int(model.trip_day_offset[t])
        off, L = model.trip_times_offset(t)
        tid = model.trip_ids[t]
        date = DATE + dt.timedelta(days=day)
        key = f"{model.trip_ids[t]}#{day}"
        if rng.random() < 0.15:
            out.append(tu(tid, rel="CANCELED", date=date))
            expect[key] = None
            continue
        sa = [int(v) for v in model.st_arr[off:off + L]]
        sd = [int(v) for v in model.departures_of_trip(t)]
        seqs = [int(v) for v in model.st_seq[off:off + L]]
        stus, arr, dep, skip = [], [], [], set()
        delay = 0
        for k in range(L):
            if k == 0 or rng.random() < 0.3:
                if k > 0 and rng.random() < 0.2:
                    stus.append(stu(seqs[k], skipped=True))
                    skip.add(k)
                else:  # a departure delay only: the arrival keeps the delay in force upstream
                    new = rng.choice([0, 60, 180, 600, 1500, 3600, 7200])
                    stus.append(stu(seqs[k], dep_delay=new))
                    arr.append(min(sa[k] + (delay if k else new), sd[k] + new))
                    dep.append(sd[k] + new)
                    delay = new
                    continue
            arr.append(sa[k] + delay)
            dep.append(sd[k] + delay)
        for k in range(1, L):
            arr[k] = max(arr[k], dep[k - 1])
            dep[k] = max(dep[k], arr[k])
        out.append(tu(tid, *stus, date=date))
        expect[key] = [(arr[k], dep[k], k not in skip, k not in skip) for k in range(L)]
    return out, expect


@pytest.mark.parametrize("seed", range(20))
def test_planner_on_realtime_matches_brute_force(seed):
    _brute_force(seed, inseat=False)


@pytest.mark.parametrize("seed", range(12))
def test_inseat_links_on_realtime_match_brute_force(seed):
    """With in-seat links (transfers.txt type 4): a moved trip keeps its links, a cancelled one loses them."""
    _brute_force(seed, inseat=True)


def _brute_force(seed: int, inseat: bool):
    from test_raptor import random_feed, random_world

    feed, rng = random_world(seed) if inseat else random_feed(seed)
    net = Network([feed])
    model = build_model(net, DATE)
    ref = Reference(net, DATE)
    updates, expect = random_updates(model, rng)
    ov = build_overlay(model, updates)
    apply_realtime(ref, expect)  # the reference's runs now run on the realtime times
    ids = list(model.stop_ids)
    for _ in range(6):
        src, dst = rng.sample(ids, 2)
        t0 = rng.choice([7 * H, 8 * H, 23 * H, 5 * H, -H])
        want = ref.earliest([(src, t0)], [(dst, 0)], 4, inseat=inseat)
        q = RaptorQuery(np.array([model.stop_index(src)]), np.array([t0]), np.array([model.stop_index(dst)]),
                        np.array([0]), max_rides=4, inseat=inseat)
        got = run_raptor(ov.model, q).res_t
        for k in range(5):
            w = want[k]
            g = int(got[k])
            assert (g >= 1 << 39 and w == float("inf")) or g == w, (seed, src, dst, t0, k, g, w)



def test_planner_depart_at_and_arrive_by_on_realtime_times(model):
    """The planner (range searches forward and on the reversed timetable) on a realtime model with an overtaken
    trip: legs show realtime and scheduled times, and arrive-by finds the late train."""
    from routing.planner import Planner
    from routing.walking import StraightLineWalker

    ov = build_overlay(model, [tu("a", stu(1, dep_delay=900))])  # a now leaves S0 at 8:15, after b (8:10)
    planner = ov.planner(Planner(model, StraightLineWalker(model.stop_lat, model.stop_lon)))
    assert planner.model is ov.model
    at = dt.datetime.combine(DATE, dt.time(8, 11), JST)
    it = planner.plan("t:S0", "t:S3", at)[0].to_dict()
    ride = [leg for leg in it["legs"] if leg["mode"] != "WALK"][0]
    assert ride["trip_id"] == "t:a" and ride["departure"].endswith("08:15:00+09:00")
    assert ride["scheduled_departure"].endswith("08:00:00+09:00") and ride["delay_s"] == 900
    assert ride["realtime"] is True and ride["arrival_delay_s"] == 900
    by = dt.datetime.combine(DATE, dt.time(8, 23), JST)  # a arrives S3 at 8:22; b at 8:17, c at 8:27
    its = planner.plan("t:S0", "t:S3", by, arrive_by=True)
    last = [leg for leg in its[-1].to_dict()["legs"] if leg["mode"] != "WALK"][0]
    assert last["trip_id"] == "t:a" and last["arrival"].endswith("08:22:00+09:00")


@pytest.mark.parametrize("seed", range(25))
def test_kernel_follows_the_rule_as_written(seed):
    """build_overlay computes every updated trip in one numba kernel; `trip_times` is the rule as written in
    Python: on random updates of every kind (times, delays, missing ends, SKIPPED, NO_DATA, by stop_sequence or
    by stop_id, unknown stops, out of order, trip-level delay) both give the same times and skipped stops."""
    from test_raptor import random_feed
    from routing.realtime import trip_times

    feed, rng = random_feed(seed)
    model = build_model(Network([feed]), DATE)
    updates, expected = [], {}
    for t in range(model.n_trips):
        if rng.random() < 0.4:
            continue
        off, L = model.trip_times_offset(t)
        p = int(model.trip_pattern[t])
        stops = [model.stop_ids[s] for s in model.pattern_stops[model.pattern_stops_start[p]:
                                                                model.pattern_stops_start[p] + L]]
        seqs = [int(v) for v in model.st_seq[off:off + L]]
        sa, sd = [int(v) for v in model.st_arr[off:off + L]], [int(v) for v in model.departures_of_trip(t)]
        stus = []
        for k in sorted(rng.sample(range(L), rng.randint(1, L))):
            by_id = rng.random() < 0.2
            seq, sid = (None, stops[k]) if by_id else (seqs[k], stops[k] if rng.random() < 0.2 else None)
            kind = rng.choice(["abs", "delay", "dep", "arr", "none", "skip", "nodata", "mixed"])
            d = rng.choice([-300, -60, 0, 45, 300, 900])
            stus.append(stu(seq, stop=sid, skipped=kind == "skip", no_data=kind == "nodata",
                            arr=sa[k] + d if kind in ("abs", "arr") else None,
                            dep=sd[k] + d + 30 if kind in ("abs", "dep") else None,
                            arr_delay=d if kind in ("delay", "mixed") else None,
                            dep_delay=d if kind == "delay" else None))
        if rng.random() < 0.15:
            stus.append(stu(9999, dep_delay=60))
        if rng.random() < 0.1:
            stus.append(stu(None, stop="r:nowhere", dep_delay=60))
        if rng.random() < 0.2:
            rng.shuffle(stus)
        day = int(model.trip_day_offset[t])
        trip_delay = rng.choice([None, None, 120, -60])
        u = tu(model.trip_ids[t], *stus, date=DATE + dt.timedelta(days=day), delay=trip_delay)
        if "@" in model.trip_ids[t]:
            continue
        updates.append(u)
        expected[t] = trip_times(model.st_arr[off:off + L], model.departures_of_trip(t), model.st_seq[off:off + L],
                                 stops, stus, MIDNIGHT, trip_delay)
    ov = build_overlay(model, updates)
    for t, (a, d, sk, _) in expected.items():
        r = int(ov.base_trip_rt[t])
        off, L = ov.model.trip_times_offset(r)
        assert ov.model.st_arr[off:off + L].tolist() == a.tolist(), (seed, t)
        assert ov.model.departures_of_trip(r).tolist() == d.tolist(), (seed, t)
        assert ov.skipped[off:off + L].tolist() == sk.tolist(), (seed, t)


def test_live_timetable_caches_per_version_and_reuses_when_only_vehicles_move(model):
    from maas.disruptions.live_timetable import LiveTimetable
    from maas.disruptions.realtime import RealtimeSnapshot

    box = {"snap": RealtimeSnapshot(1, (tu("a", stu(2, dep_delay=60)),), (), {}, frozenset())}
    live = LiveTimetable(lambda: box["snap"])
    first = live.overlay_for(model)
    assert first is not None and live.overlay_for(first.model) is first and live.builds == 1
    box["snap"] = RealtimeSnapshot(2, box["snap"].trip_updates, ("a vehicle",), {}, frozenset())
    assert live.overlay_for(model) is first and live.builds == 1  # vehicles only: nothing rebuilt
    assert live.peek(model) is first
    box["snap"] = RealtimeSnapshot(3, (tu("a", stu(2, dep_delay=120)),), (), {}, frozenset())
    assert live.peek(model) is None  # not built for this version yet: peek never builds
    second = live.overlay_for(model)
    assert second is not first and live.builds == 2
    assert times(second.model, "t:a")[1][1] == 8 * H + 150 + 120
    box["snap"] = RealtimeSnapshot(4, (tu("nope", stu(1, dep_delay=60)),), (), {}, frozenset())
    assert live.overlay_for(model) is None  # nothing of this model's: the timetable is the live model


def _rt_world(seed: int):
    from test_raptor import random_world

    feed, rng = random_world(seed)
    net = Network([feed])
    model = build_model(net, DATE)
    updates, expect = random_updates(model, rng)
    return build_overlay(model, updates).model, apply_realtime(Reference(net, DATE), expect), rng


@pytest.mark.parametrize("seed", range(12))
def test_range_search_on_realtime_matches_brute_force_profile(seed):
    """Depart-at over a window on realtime times (the planner's search): exactly the reference's profile."""
    rt, ref, rng = _rt_world(seed)
    ids = rt.stop_ids
    for _ in range(3):
        o, d = rng.sample(range(rt.n_stops), 2)
        t0 = rng.choice([7 * H, 8 * H, 23 * H, -H])
        window, K = rng.choice([1800, 3600, 2 * 3600]), rng.randint(1, 3)
        q = RaptorQuery(np.array([o]), np.array([0]), np.array([d]), np.array([0]), max_rides=K, inseat=True,
                        report_walks=False)
        got = sorted({(j.start, j.rides, j.arrival) for j in range_raptor(rt, q, t0, window).journeys})
        taus = ref.departures([(ids[o], 0)], t0, t0 + window)
        if t0 not in taus:
            taus.append(t0)
        want, best = [], [float("inf")] * (K + 1)
        for tau in sorted(taus, reverse=True):
            arr = ref.earliest([(ids[o], tau)], [(ids[d], 0)], K, report_walks=False)
            for k in range(K + 1):
                if arr[k] < best[k] and (k == 0 or arr[k] < arr[k - 1]):
                    want.append((tau, k, arr[k]))
                best[k] = min(best[k], arr[k])
        assert got == sorted(want), (seed, o, d, t0, window)


@pytest.mark.parametrize("seed", range(12))
def test_arrive_by_on_realtime_finds_the_latest_departure(seed):
    """Arrive-by (the reversed realtime timetable): per number of rides, the reference's latest departure."""
    from test_raptor import check_feasible

    rt, ref, rng = _rt_world(seed)
    ids = rt.stop_ids
    for _ in range(3):
        o, d = rng.sample(range(rt.n_stops), 2)
        limit = rng.choice([8 * H, 9 * H, 24 * H, 10 * H + 1800])
        K = rng.randint(1, 3)
        q = RaptorQuery(np.array([d]), np.array([0]), np.array([o]), np.array([0]), max_rides=K,
                        report_walks=False)
        got = {}
        for j in range_raptor(rt, q, limit, 0, backward=True).journeys:
            assert j.arrival <= limit
            got[j.rides] = max(got.get(j.rides, -float("inf")), j.first_departure)
            check_feasible(rt, ref, j, [(o, j.first_departure)], [(d, 0)], 60, 1.2)
        taus = ref.departures([(ids[o], 0)], -86400, limit)
        want = {}
        for k in range(1, K + 1):
            for tau in taus:
                if ref.earliest([(ids[o], tau)], [(ids[d], 0)], k, report_walks=False, inseat=False)[k] <= limit:
                    want[k] = tau
                    break
        best = {k: max([got[r] for r in got if r <= k], default=None) for k in range(1, K + 1)}
        assert {k: v for k, v in best.items() if v is not None} == want, (seed, o, d, limit)


def test_realtime_itineraries_share_the_base_tables_yet_show_realtime_times(model):
    """A realtime model's itinerary tables are its base model's (stops, times, shapes, walks, and the patterns
    and trips the base has), not built again per realtime version; its legs still read the realtime times, its
    answers are those of tables of its own, and the base's answers stay the scheduled ones."""
    from routing.itinerary import _Tables, _tables
    from routing.planner import Planner
    from routing.walking import StraightLineWalker

    base_planner = Planner(model, StraightLineWalker(model.stop_lat, model.stop_lon))
    at = dt.datetime.combine(DATE, dt.time(7, 55), JST)
    base_its = [it.to_dict() for it in base_planner.plan("t:S0", "t:S3", at)]
    a = model.trip_index("t:a")
    base = _tables(model)
    assert base.rides[a] is not None  # the scheduled plan rode trip a
    # a delayed trip that stays in its slot; one that overtakes b and so moves to a pattern appended to the model
    for updates in ([tu("a", stu(2, dep_delay=60))], [tu("a", stu(1, dep_delay=900))]):
        ov = build_overlay(model, updates)
        planner = ov.planner(base_planner)
        its = [it.to_dict() for it in planner.plan("t:S0", "t:S3", at)]
        tab = _tables(ov.model)
        assert tab is not base
        assert all(getattr(tab, k) is getattr(base, k) for k in ("stops", "routes", "isos", "shapes", "walks"))
        assert tab.rides[a] is base.rides[a] and len(tab.rides) == ov.model.n_trips
        moved = ov.model.n_trips > model.n_trips
        assert (tab.patterns is base.patterns) is not moved and len(tab.patterns) == ov.model.n_patterns
        ride = next(leg for it in its for leg in it["legs"] if leg.get("trip_id") == "t:a")
        assert ride["realtime"] is True and ride["delay_s"] + ride["arrival_delay_s"] > 0
        rt_times = [(s["arrival"], s["departure"]) for s in ride["intermediate_stops"]]
        sched = next(leg for it in base_its for leg in it["legs"] if leg.get("trip_id") == "t:a")
        assert rt_times != [(s["arrival"], s["departure"]) for s in sched["intermediate_stops"]]
        # the same answers as the realtime model's own tables would give
        ov.model.__dict__["_itinerary_tables"] = _Tables(ov.model)
        assert [it.to_dict() for it in planner.plan("t:S0", "t:S3", at)] == its
    assert [it.to_dict() for it in base_planner.plan("t:S0", "t:S3", at)] == base_its
