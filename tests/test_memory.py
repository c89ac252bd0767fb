"""What keeps a server process small: kernels compiled in a child when numba's cache is cold (the server only
loads them), numba's target without scipy's BLAS, and the warm-up thread's search buffers dropped. Figures:
benchmarks/bench_memory.py."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from maas.platform import kernels
from routing.raptor.arrays import _trip_of, reversed_timetable, timetable_of
from routing.raptor.pools import _POOL, drop_thread_buffers

ROOT = Path(__file__).resolve().parents[1]

# A module with two cached kernels (one calling the other) and the child targets the tests spawn: a cold cache of
# its own (NUMBA_CACHE_DIR) costs a second to compile, not the planner's minutes.
TINY = textwrap.dedent('''
    import sys
    from numba import njit

    @njit(cache=True, nogil=True)
    def _square(x):
        return x * x

    @njit(cache=True, nogil=True)
    def sum_squares(n):
        s = 0
        for i in range(n):
            s += _square(i)
        return s

    def compile_target(modules):
        assert sum_squares(4) == 14

    def failing_target(modules):
        sys.exit(7)
''')

# Runs in a fresh interpreter: nothing compiled or loaded yet, like a server starting.
PROBE = textwrap.dedent('''
    import json, sys
    from maas.platform import kernels
    import tinykern
    report = kernels.ensure_kernels(("tinykern",), timeout_s=120, target="tinykern:" + sys.argv[1])
    value = tinykern.sum_squares(10)
    print(json.dumps({"cold": report.cold, "child": report.child, "left": report.left, "value": value,
                      "misses": {str(k): v for k, v in tinykern.sum_squares.stats.cache_misses.items()},
                      "hits": {str(k): v for k, v in tinykern.sum_squares.stats.cache_hits.items()},
                      "cold_after": kernels.cold_kernels(("tinykern",), loaded=False)}))
''')


def _probe(tmp_path: Path, target: str, cache: Path) -> dict:
    mod = tmp_path / "mods"
    mod.mkdir(exist_ok=True)
    (mod / "tinykern.py").write_text(TINY)
    # a script without a main guard, as a server's own start script may be: the child must not run it again
    (mod / "probe.py").write_text(PROBE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(mod)]), "NUMBA_CACHE_DIR": str(cache)}
    run = subprocess.run([sys.executable, str(mod / "probe.py"), target], capture_output=True, text=True, env=env,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_cold_kernels_compiled_in_a_child_are_loaded_not_compiled(tmp_path):
    cache = tmp_path / "numba-cache"
    out = _probe(tmp_path, "compile_target", cache)
    assert out["cold"] == ["tinykern._square", "tinykern.sum_squares"]
    assert out["child"] is True and out["left"] == []
    assert out["value"] == 285
    assert out["misses"] == {}  # the parent compiled nothing
    assert sum(out["hits"].values()) == 1  # it loaded the child's code
    assert out["cold_after"] == []
    # a second start finds the cache warm: no child at all
    again = _probe(tmp_path, "compile_target", cache)
    assert again["cold"] == [] and again["child"] is None and again["misses"] == {}


def test_a_failed_child_leaves_the_kernels_to_this_process(tmp_path):
    out = _probe(tmp_path, "failing_target", tmp_path / "numba-cache")
    assert out["cold"] == ["tinykern._square", "tinykern.sum_squares"]
    assert out["child"] is False and out["left"] == out["cold"]
    assert out["value"] == 285  # compiled here, on first use, as without the child
    assert sum(out["misses"].values()) == 1 and out["hits"] == {}


def test_the_child_compile_covers_every_server_kernel():
    """`compile_kernels` (what the child runs) leaves no kernel of KERNEL_MODULES without cached code: a kernel
    the warm-up never reaches would send every start to a child for nothing."""
    assert kernels.compile_kernels() > 0
    assert kernels.cold_kernels(loaded=False) == []
    names = set(kernels.kernels())
    assert "routing.raptor.profile.range_search" in names and "feeds.gtfs_rt_wire.stop_time_rows" in names
    assert not any(n.endswith(("._blk", "._touch", "._heap_push")) for n in names)  # inlined: never cached alone


def test_warm_up_still_warms_when_the_child_fails(sample_transit, monkeypatch):
    monkeypatch.setattr(kernels, "cold_kernels", lambda *a, **k: ["routing.raptor.profile.range_search"])
    monkeypatch.setattr(kernels, "compile_in_child", lambda *a, **k: False)
    sample_transit.warm = False
    sample_transit.warm_up(dt.date(2026, 12, 1))
    assert sample_transit.warm
    assert sample_transit.plan_sync("都庁前", "大門", dt.datetime(2026, 12, 1, 9, 0))


def test_numba_target_without_blas_still_plans():
    """In a fresh interpreter: numba's target initialised without scipy.linalg, a plan on the sample works, and
    scipy.linalg stays importable for code that wants it."""
    code = textwrap.dedent('''
        import datetime as dt, sys, tempfile
        from pathlib import Path
        from maas.platform.kernels import numba_without_blas
        assert numba_without_blas()
        assert numba_without_blas() is False  # once
        from maas.publishing.network import load_network
        from maas.transit import TransitService
        t = TransitService(load_network([], Path(tempfile.mkdtemp()), progress=False), threads=1)
        plans = t.plan_sync("都庁前", "大門", dt.datetime(2026, 12, 1, 9, 0))
        import numba.np.arraymath as am
        print(len(plans), am._HAVE_BLAS, "scipy.linalg" in sys.modules)
        import scipy.linalg
        print(scipy.linalg.norm([3.0, 4.0]))
    ''')
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    first, second = run.stdout.strip().splitlines()[-2:]
    n, have_blas, linalg = first.split()
    assert int(n) > 0 and have_blas == "False" and linalg == "False"
    assert float(second) == 5.0


def _plan_in_thread(transit, pools: list) -> list:
    out: list = []

    def run() -> None:
        out.append(transit.plan_sync("都庁前", "大門", dt.datetime(2026, 12, 1, 9, 0)))
        pools.append(sorted(vars(_POOL)))
        dropped = drop_thread_buffers()
        pools.append((dropped, sorted(vars(_POOL))))
        out.append(transit.plan_sync("都庁前", "大門", dt.datetime(2026, 12, 1, 9, 0)))  # allocates again

    th = threading.Thread(target=run)
    th.start()
    th.join(300)
    return out


def test_drop_thread_buffers_frees_the_pools_and_planning_still_works(sample_transit):
    sample_transit.plan_sync("都庁前", "大門", dt.datetime(2026, 12, 1, 9, 0))  # this thread's own pool
    mine = dict(vars(_POOL))
    pools: list = []
    before, after = _plan_in_thread(sample_transit, pools)
    held, (dropped, left) = pools
    assert {"labels", "out", "seg"} <= set(held)
    assert dropped > 0 and left == []
    assert before and after == before
    # another thread's drop leaves this one's pool alone
    assert mine and set(vars(_POOL)) == set(mine) and all(vars(_POOL)[k] is v for k, v in mine.items())
    assert drop_thread_buffers() > 0 and not vars(_POOL)


def test_warm_up_leaves_no_buffers_on_the_calling_thread(sample_transit):
    """The warm-up's first plan runs on the calling thread, which serves no plan: its pools are dropped; each
    planner thread keeps its own for the first query."""
    got: list = []

    def run() -> None:
        sample_transit.warm_up(dt.date(2026, 12, 1))
        got.append(sorted(vars(_POOL)))

    th = threading.Thread(target=run)
    th.start()
    th.join(600)
    assert got == [[]]
    assert sample_transit.warm
    in_pool = sample_transit.executor.submit(lambda: sorted(vars(_POOL))).result(60)
    assert "labels" in in_pool


def test_packed_stop_times_build_the_same_model(tmp_path):
    """A server keeps its feeds' stop_times, trips, transfers, stops and shapes packed (`Network.pack`, done by
    `TransitService.from_settings`): each read unpacks an equal table, so a service day's model is the same, array
    for array; the packed feed holds a fraction of the bytes and still counts its rows without unpacking."""
    import pickle
    import zlib

    import numpy as np
    import pandas as pd

    from feeds.feed import PACKED, TABLES, PackedTable
    from maas.publishing.network import load_network
    from routing.timetable import PatternColumn, build_model

    assert set(PACKED) == set(TABLES)
    plain = load_network([], tmp_path / "a", progress=False)
    packed = load_network([], tmp_path / "b", progress=False)
    before = packed.nbytes()
    tables = {(f.namespace, name): getattr(f, name) for f in packed.feeds for name in PACKED}
    assert packed.pack() > 0
    assert packed.pack() == 0  # once
    assert packed.nbytes() < before
    for f in packed.feeds:
        for name in PACKED:
            if len(tables[f.namespace, name]):
                assert isinstance(f.__dict__[name], PackedTable), name
                assert f.rows(name) == len(tables[f.namespace, name])
                if name in ("stop_times", "trips"):  # (its "stops" counts boarding stops only)
                    assert f.rows(name) == f.summary()[name]
                pd.testing.assert_frame_equal(getattr(f, name), tables[f.namespace, name])
                assert getattr(f, name) is not getattr(f, name)  # unpacked per read, never kept
    st = tables[packed.feeds[0].namespace, "stop_times"]  # xz: smaller than the zlib level 1 it replaced
    assert len(packed.feeds[0].__dict__["stop_times"].blob) < 0.8 * len(zlib.compress(pickle.dumps(st, 5), 1))
    day = dt.date(2026, 12, 1)
    a, b = build_model(plain, day), build_model(packed, day)
    for name, v in vars(a).items():
        if isinstance(v, (np.ndarray, PatternColumn)):
            v = np.asarray(v)
            assert np.array_equal(v, np.asarray(getattr(b, name)), equal_nan=v.dtype.kind == "f"), name
        elif isinstance(v, list):
            assert v == getattr(b, name), name


def test_server_transit_keeps_stop_times_packed(tmp_path):
    from feeds.feed import PackedTable
    from maas.platform.settings import Settings
    from maas.transit import TransitService

    t = TransitService.from_settings(Settings(feeds=[], data_dir=tmp_path / "d", cache_dir=tmp_path / "c"))
    try:
        assert all(isinstance(f.__dict__["stop_times"], PackedTable) for f in t.network.feeds
                   if f.rows("stop_times"))
        assert t.plan_sync("都庁前", "大門", dt.datetime(2026, 12, 1, 9, 0))
    finally:
        t.close()


def test_forward_and_reversed_timetables_are_one_numba_type(sample_transit):
    """The kernels see one Timetable type forwards and backwards: an array of another dtype, layout or
    writability (pandas hands out read-only views) is another numba type, and every kernel would be loaded
    twice (all-Tokyo: ~10 MiB more per process)."""
    import numba

    model = sample_transit.model_for(dt.date(2026, 12, 1))
    for inseat in (False, True):
        fwd, rev = timetable_of(model, inseat), reversed_timetable(model, inseat)[0]
        assert numba.typeof(fwd) == numba.typeof(rev)


def test_each_clock_holds_its_departures_once_by_position(sample_transit):
    """Departures are kept only by pattern position: the model's (`TransitModel.dep_by_pos`, no trip-major copy),
    which its forward timetables search, and backwards its arrivals negated with trips and stops reversed (no
    trip-major copy of those is made); the reversed timetables with and without in-seat links share one set of
    times, and their `pattern_ordered` (no trip's times go back) is the forward one, checked here on the
    reversed times. `departures_of_trip` reads a trip's departures back from there."""
    import numpy as np

    from routing.raptor.state import Timetable

    m = sample_transit.model_for(dt.date(2026, 12, 1))
    assert "st_dep" not in Timetable._fields and not hasattr(m, "st_dep")
    fwd = timetable_of(m, True)
    (plain, _), (seated, _) = reversed_timetable(m, False), reversed_timetable(m, True)
    assert plain.st_arr is seated.st_arr and plain.dep_by_pos is seated.dep_by_pos
    assert timetable_of(m, False).dep_by_pos is fwd.dep_by_pos is m.dep_by_pos
    pss, pts = np.asarray(m.pattern_stops_start), np.asarray(m.pattern_trips_start)
    for p in range(m.n_patterns):
        L, n, t0 = pss[p + 1] - pss[p], pts[p + 1] - pts[p], int(m.pattern_times_start[p])
        trips = lambda a: np.asarray(a, np.int64)[t0:t0 + n * L].reshape(n, L)  # noqa: E731  (trip j, stop i)
        by_pos = lambda a: np.asarray(a, np.int64)[t0:t0 + n * L].reshape(L, n).T  # noqa: E731  (the same)
        fdep = by_pos(m.dep_by_pos)
        for j in range(n):
            assert np.array_equal(m.departures_of_trip(int(pts[p]) + j), fdep[j])
            assert np.array_equal(m.dep_by_pos[m.departure_index(p, j, np.arange(L))], fdep[j])
        arr, dep = trips(plain.st_arr), by_pos(plain.dep_by_pos)
        assert np.array_equal(dep, -trips(m.st_arr)[::-1, ::-1])
        assert np.array_equal(arr, -fdep[::-1, ::-1])
        assert np.array_equal(trips(plain.st_pickup), trips(m.st_dropoff)[::-1, ::-1])
        assert np.array_equal(trips(plain.st_dropoff), trips(m.st_pickup)[::-1, ::-1])
        ordered = bool((dep >= arr).all() and (arr[:, 1:] >= dep[:, :-1]).all())
        assert plain.pattern_ordered[p] == ordered == fwd.pattern_ordered[p]


def test_feeds_loaded_in_a_child_come_back_packed(tmp_path):
    from feeds.feed import PackedTable
    from maas.publishing.network import load_network

    here = load_network([], tmp_path / "a", progress=False)
    child = load_network([], tmp_path / "b", progress=False, isolate_min_bytes=0, pack=True)
    for a, b in zip(here.feeds, child.feeds):
        if a.rows("stop_times"):
            assert isinstance(b.__dict__["stop_times"], PackedTable)
            assert a.stop_times.equals(b.stop_times), a.namespace


def test_trip_ids_are_one_table_across_models_and_one_table_in_the_realtime_index(tmp_path):
    """Each service day's model holds its trip ids on one table of the network's trip ids (`TripIds`), not
    strings of its own; the realtime operator index and its trip stops hold the feed's trip ids as one `IdTable`
    between them (positions, routes as codes), not strings and dicts, and answer every trip as the feed has it."""
    from feeds.feed import PackedTable
    from maas.disruptions.realtime import OperatorIndex
    from maas.publishing.network import load_network
    from maas.transit import TransitService
    from routing.timetable import IdTable, TripIds

    transit = TransitService(load_network([], tmp_path, progress=False, pack=True), threads=1)
    try:
        a = transit.model_for(dt.date(2026, 12, 1))
        b = transit.model_for(dt.date(2026, 12, 2))
        assert isinstance(a.trip_ids, TripIds) and a.trip_ids.names is b.trip_ids.names
        feed = next(f for f in transit.network.feeds if f.rows("trips"))
        assert isinstance(feed.__dict__["trips"], PackedTable)
        idx = OperatorIndex.from_feed(feed)
        assert isinstance(idx.trip_route.ids, IdTable) and idx.trip_stop.ids is idx.trip_route.ids
        assert not any(isinstance(v, (dict, str)) for v in vars(idx.trip_stop).values())
        route_of = dict(zip(feed.trips["trip_id"], feed.trips["route_id"]))
        assert len(idx.trips) == len(route_of) and set(idx.trips) == set(route_of)
        seqs = feed.stop_times.groupby("trip_id")["stop_sequence"].first()
        checked = 0
        for i, t in enumerate(a.trip_ids):
            if "@" in t or not t.startswith(feed.namespace + ":"):
                continue  # a frequency run's id is made per run
            j = b.trip_index(t, int(a.trip_day_offset[i]) - 1)
            if j is not None:
                assert b.trip_ids[j] == t
            assert t in idx.trips and idx.trip_route[t] == route_of[t]
            assert (t, int(seqs[t])) in idx.trip_stop and (t + "x", int(seqs[t])) not in idx.trip_stop
            checked += 1
        assert checked > 10
    finally:
        transit.close()


def test_the_feed_loading_child_builds_todays_model(tmp_path, monkeypatch):
    """A server whose feeds load in a child (big feeds; here any size) gets today's model and the name index
    from that child too: cached before any plan, the same model array for array as one built here, names that
    answer as an index built here, and the service plans on them."""
    import numpy as np

    from maas.platform.settings import Settings
    from maas.publishing import network as network_mod
    from maas.transit import TransitService
    from routing.names import NameIndex
    from routing.timetable import PatternColumn, build_model

    monkeypatch.setattr(network_mod, "ISOLATE_MIN_BYTES", 0)
    t = TransitService.from_settings(Settings(feeds=[], data_dir=tmp_path / "d", cache_dir=tmp_path / "c"))
    try:
        (model,) = t.cached_models()  # built by the child: nothing was planned yet
        day = model.service_date
        assert t._names is not None
        here = NameIndex.from_network(t.network)
        assert t.names.names_kana == here.names_kana and t.names.romaji == here.romaji
        for q in ("都庁前", "とちょうまえ", "Shinjuku", "shinjku", "新宿西口", "Roppongi"):
            assert t.names.search(q) == here.search(q), q
        got = t.model_for(day)
        _assert_same_model(got, build_model(t.network, day, t.build_settings))
        assert t.planner_for(day).model is got
    finally:
        t.close()


def _assert_same_model(got, want) -> None:
    """``got`` holds ``want``'s arrays and lists, value for value."""
    import numpy as np

    from routing.timetable import PatternColumn, TripIds

    for name, v in vars(want).items():
        if isinstance(v, (np.ndarray, PatternColumn)):
            v = np.asarray(v)
            assert np.array_equal(v, np.asarray(getattr(got, name)), equal_nan=v.dtype.kind == "f"), name
        elif isinstance(v, (list, str, dict, TripIds)) and not name.startswith("_"):
            assert v == getattr(got, name), name


@pytest.mark.parametrize("child_fails", [False, True])
def test_a_big_networks_service_days_are_built_by_a_child(tmp_path, monkeypatch, child_fails):
    """A network at least ``child_model_min_rows`` big (here any size) has each service day's model built by a
    child process: the same model as one built here, its trip ids on the table the other days' models hold,
    and the service plans on it. A child that fails leaves the build to this process."""
    from maas.publishing import network as network_mod
    from maas.publishing.network import load_network
    from maas.transit import TransitService
    from routing.timetable import build_model

    built = []
    real = network_mod.model_in_child
    monkeypatch.setattr(network_mod, "model_in_child", lambda *a: built.append(a[1]) or real(*a))
    if child_fails:
        failing = network_mod.call_in_child
        monkeypatch.setattr(network_mod, "call_in_child",
                            lambda target, *a: failing("routing.timetable:no_such_builder", *a))
    days = [dt.date(2026, 12, 1), dt.date(2026, 12, 3)]  # (the 1st's model serves the 2nd too)
    transit = TransitService(load_network([], tmp_path, progress=False, pack=True), threads=1,
                             child_model_min_rows=0)
    try:
        a, b = (transit.planners_for([d])[0].model for d in days)
        assert built == days
        for day, got in zip(days, (a, b)):
            _assert_same_model(got, build_model(transit.network, day, transit.build_settings))
        assert a.trip_ids.names is b.trip_ids.names  # one table of the network's trip ids, however built
        shared = 0
        for i, t in enumerate(a.trip_ids):
            j = b.trip_index(t, int(a.trip_day_offset[i]) - 1)
            if j is not None and "@" not in t:
                assert b.trip_ids[j] == t
                shared += 1
        assert shared > 10
        assert transit.plan_sync("都庁前", "大門", dt.datetime(2026, 12, 2, 9, 0))
    finally:
        transit.close()


def test_a_service_with_streets_builds_its_own_models(sample_transit):
    """A model built elsewhere has straight-line footpaths: a service walking on OSM streets refuses it."""
    from maas.transit import TransitService

    model = sample_transit.model_for(dt.date(2026, 12, 1))
    other = TransitService(sample_transit.network, osm_path=Path("streets.osm"), threads=1)
    try:
        with pytest.raises(ValueError):
            other.adopt(model)
        assert other.cached_dates() == []
    finally:
        other.close()


def test_a_big_feeds_realtime_index_is_built_by_a_child(tmp_path, monkeypatch):
    """A feed with at least ``child_min_rows`` stop_times rows (here any) has its realtime operator index built by
    a child process: the same answers as one built here, its trip ids the table one built here holds."""
    from maas.disruptions.realtime import NetworkIndexes
    from maas.platform import child as child_mod
    from maas.publishing.network import load_network
    from maas.transit import TransitService

    calls = []
    real = child_mod.call_in_child
    monkeypatch.setattr(child_mod, "call_in_child",
                        lambda target, *a, **k: calls.append(target) or real(target, *a, **k))
    transit = TransitService(load_network([], tmp_path, progress=False, pack=True), threads=1)
    try:
        model = transit.model_for(dt.date(2026, 12, 1))
        feed = next(f for f in transit.network.feeds if f.rows("trips"))
        here = NetworkIndexes(transit, child_min_rows=None)(feed.namespace)
        assert calls == []
        got = NetworkIndexes(transit, child_min_rows=0)(feed.namespace)
        assert calls == ["maas.disruptions.realtime:operator_index"]
        assert set(got.trips) == set(here.trips) and got.trip_route == here.trip_route
        assert dict(got.trip_stop.items()) == dict(here.trip_stop.items())
        assert got.stops == here.stops and got.routes == here.routes
        # one table of trip ids for the index and its trip stops, the one an index built here holds
        assert got.trip_route.ids is here.trip_route.ids and got.trip_stop.ids is got.trip_route.ids
        mine = [t for t in model.trip_ids if t.startswith(feed.namespace + ":") and "@" not in t]
        assert len(mine) > 10
        for t in mine:
            assert got.trip_route[t] == here.trip_route[t]
    finally:
        transit.close()


def test_equal_arrays_are_held_once(sample_transit, tmp_path):
    """Pickup and drop-off flags that are equal (every stop time allows both) are one array in the model, and the
    reversed timetable holds the model's own arrays wherever its own would be equal (flags, symmetric footpaths,
    wheelchair flags): never a copy, never a wrong one (the sample's flags differ: two arrays, reversed as before)."""
    import numpy as np

    from tokyo_mini import DAY, mini_transit

    mini = mini_transit(tmp_path)
    try:
        m = mini.model_for(DAY)
        assert (m.st_pickup == 1).all() and m.st_dropoff is m.st_pickup
        rv, _ = reversed_timetable(m, inseat=True)
        assert rv.st_pickup is m.st_pickup and rv.st_dropoff is m.st_pickup
        assert rv.trip_wheelchair is m.trip_wheelchair
    finally:
        mini.close()
    m = sample_transit.model_for(dt.date(2026, 12, 1))
    assert m.st_dropoff is not m.st_pickup and not np.array_equal(m.st_pickup, m.st_dropoff)
    rv, rev = reversed_timetable(m, inseat=True)
    pss, pts = np.asarray(m.pattern_stops_start), np.asarray(m.pattern_trips_start)
    for p in range(m.n_patterns):  # trip j' of p at position i' is trip n-1-j' at position L-1-i'
        L, n, t0 = pss[p + 1] - pss[p], pts[p + 1] - pts[p], int(m.pattern_times_start[p])
        fwd = lambda a: np.asarray(a)[t0:t0 + n * L].reshape(n, L)[::-1, ::-1]  # noqa: E731
        assert np.array_equal(np.asarray(rv.st_pickup)[t0:t0 + n * L].reshape(n, L), fwd(m.st_dropoff))
        assert np.array_equal(np.asarray(rv.st_dropoff)[t0:t0 + n * L].reshape(n, L), fwd(m.st_pickup))
    assert np.array_equal(rv.trip_wheelchair, np.asarray(m.trip_wheelchair)[[rev.trip(t) for t in range(m.n_trips)]])


def test_reversal_maps_trips_back_from_the_models_own_arrays(sample_transit):
    """A reversed timetable's trip t' of pattern p is the pattern's trips read backwards (trip n-1-j' of p), made
    from the model's own trip patterns and pattern trip ranges per leg (`Reversal.trip`): no trip-indexed array
    kept per model and per direction (all-Tokyo: 0.6 MiB a day)."""
    import numpy as np

    m = sample_transit.model_for(dt.date(2026, 12, 1))
    for inseat in (False, True):
        _, rev = reversed_timetable(m, inseat=inseat)
        assert rev.trip_pattern is m.trip_pattern and rev.pattern_trips_start is m.pattern_trips_start
        pts, tp = np.asarray(m.pattern_trips_start), np.asarray(m.trip_pattern)
        want = [int(pts[tp[t]] + pts[tp[t] + 1] - 1 - t) for t in range(m.n_trips)]
        assert [rev.trip(t) for t in range(m.n_trips)] == want
        assert _trip_of(m.trip_pattern, m.pattern_trips_start).tolist() == want  # (its array form)
        assert sorted(want) == list(range(m.n_trips)) and [want[w] for w in want] == list(range(m.n_trips))
        assert all(tp[w] == tp[t] for t, w in enumerate(want))  # (within each pattern)
    assert not any(isinstance(v, np.ndarray) and v.shape == (m.n_trips,) and v.dtype == np.int32
                   and v.tolist() == want and v is not m.trip_pattern
                   for part in m.__dict__["_reversed_parts"] for v in (part if isinstance(part, tuple) else [part]))


def test_one_valued_arrays_are_the_first_entries_of_the_other_days(tmp_path):
    """A day's array holding one value throughout (flags all 1, seat capacities all -1) is a C-contiguous view of
    the first entries of the other day's when those hold the same values: its bytes, the same values, the same
    numba type; one holding another value, or longer than the other day's, or differing from it, keeps its own."""
    import copy

    import numpy as np
    from numba import typeof

    from routing.raptor.arrays import share_equal_fields
    from tokyo_mini import DAY, mini_transit

    mini = mini_transit(tmp_path)
    try:
        other = mini.model_for(DAY)
        n_st, n_trips = len(other.st_pickup), other.n_trips
        other.st_pickup = other.st_dropoff = np.ones(n_st + 7, np.int8)  # (the other day has more stop times)
        other.trip_seat_capacity = np.full(n_trips + 3, -1, np.int32)
        other.trip_booking = np.zeros(n_trips - 1, np.int8)  # shorter: no view
        other.trip_wheelchair = np.full(n_trips, 2, np.int8)  # another value
        m = copy.copy(other)
        m.st_pickup = m.st_dropoff = np.ones(n_st, np.int8)
        m.trip_seat_capacity = np.full(n_trips, -1, np.int32)
        m.trip_booking = np.zeros(n_trips, np.int8)
        m.trip_wheelchair = np.ones(n_trips, np.int8)
        mixed = m.st_dist = np.arange(n_st, dtype=np.float32)
        shared = share_equal_fields(m, other)
        assert {"st_pickup", "st_dropoff", "trip_seat_capacity"} <= set(shared)
        for name, n in (("st_pickup", n_st), ("st_dropoff", n_st), ("trip_seat_capacity", n_trips)):
            mine, theirs = getattr(m, name), getattr(other, name)
            assert mine.base is theirs and len(mine) == n and mine.flags.c_contiguous
            assert typeof(mine) == typeof(theirs) and (mine == theirs[0]).all()
        assert m.st_pickup is not other.st_pickup
        assert not {"trip_booking", "trip_wheelchair", "st_dist"} & set(shared)
        assert m.trip_booking.base is None and (m.trip_wheelchair == 1).all() and m.st_dist is mixed
    finally:
        mini.close()


def test_trip_texts_are_held_as_codes_and_read_as_lists(sample_transit, tmp_path):
    """Headsigns and booking messages are StringColumns (codes into their distinct strings) that read exactly as
    the lists they replace: by index (negative too), slice, iteration, length, equality; pickled, saved and loaded
    back unchanged."""
    import pickle
    import random

    from routing.timetable import StringColumn, TransitModel

    m = sample_transit.model_for(dt.date(2026, 12, 1))
    for name in ("trip_headsigns", "booking_messages"):
        col = getattr(m, name)
        assert isinstance(col, StringColumn)
        want = list(col)
        assert len(want) == m.n_trips and col == want and not (col != want)
        rng = random.Random(0)
        for i in rng.sample(range(len(want)), 200) + [0, -1, len(want) - 1]:
            assert col[i] == want[i]
        assert col[10:40] == want[10:40] and col[::-7] == want[::-7]
        assert pickle.loads(pickle.dumps(col)) == want
    many = [f"s{i % 70000}" for i in range(140000)]  # more distinct values than 16-bit codes hold
    assert StringColumn.of(many) == many and StringColumn.of(many).codes.typecode == "L"
    assert StringColumn.of([]) == [] and list(StringColumn.of(["a", "", "a"])) == ["a", "", "a"]
    m.save(tmp_path / "m")
    back = TransitModel.load(tmp_path / "m")
    assert back.trip_headsigns == m.trip_headsigns and back.booking_messages == m.booking_messages



def test_trip_ids_are_one_table_and_read_as_the_list_they_replace(sample_transit, tmp_path):
    """A model's trip ids (`TripIds`: positions into one table of the network's raw ids, run starts for frequency
    runs) read exactly as the list of strings they replace: by index (negative too), slice, iteration, ``in``,
    ``index``, equality; pickled they come back equal and, made canonical, on the table already here; saved and
    loaded back unchanged; another day's model holds the same table."""
    import pickle
    import random

    from routing.timetable import IdTable, TransitModel, TripIds

    m = sample_transit.model_for(dt.date(2026, 12, 1))
    ids = m.trip_ids
    assert isinstance(ids, TripIds) and isinstance(ids.names, IdTable)
    want = list(ids)
    assert len(want) == m.n_trips and ids == want and not (ids != want) and ids != want[:-1]
    rng = random.Random(0)
    for i in rng.sample(range(len(want)), 200) + [0, -1, len(want) - 1]:
        assert ids[i] == want[i]
        assert want[i] in ids and ids.index(want[i]) == want.index(want[i])
    assert ids[10:40] == want[10:40] and ids[::-7] == want[::-7]
    assert "nope:nope" not in ids and 3 not in ids
    back = pickle.loads(pickle.dumps(ids))
    assert back == ids and back.names is not ids.names and back.canonical().names is ids.names
    assert sample_transit.model_for(dt.date(2026, 12, 2)).trip_ids.names is ids.names
    m.save(tmp_path / "m")
    assert TransitModel.load(tmp_path / "m").trip_ids == want
    # the booking side's "is there such a trip at all" holds the models' table, not a set of its own
    from maas.itineraries.derive import LegDeriver

    deriver = LegDeriver(sample_transit)
    assert deriver.trip_known(want[0]) and not deriver.trip_known("nope:nope")
    assert deriver._known[1] is ids.names


def test_trip_ids_of_frequency_runs_decode_and_look_up_as_written():
    """Frequency runs are held as their raw id and start, and read back as ``raw@HH:MM:SS``; an id that only looks
    like one (not as a run is written) stays as it is; a raw id that ends like a run still reads and looks up as
    itself; a realtime overlay's added runs extend the ids on the same table when it holds their raw ids."""
    import pickle

    from routing.timetable import TripIds

    ids = ["op:a", "op:é", "op:a@08:00:00", "op:x@01:00:00", "op:a", "op:c@1:00:00", "op:d@100:00:00",
           "op:e@01:60:00", "op:a@08:00:00", "op:f@"]
    got = TripIds.of(ids)
    assert got == ids and list(got) == ids and [got[i] for i in range(-len(ids), 0)] == ids
    assert len(got.names) == 7 and list(got.start) == [-1, -1, 8 * 3600, 3600, -1, -1, 100 * 3600, -1, 8 * 3600, -1]
    assert got.positions("op:a") == [0, 4] and got.positions("op:a@08:00:00") == [2, 8]
    assert got.positions("op:x@01:00:00") == [3] and got.positions("op:c@1:00:00") == [5]
    assert got.positions("op:a@09:00:00") == [] and "op:x" not in got and "op:e@01:60:00" in got
    assert pickle.loads(pickle.dumps(got)) == ids
    more = got.extended(["op:a@09:00:00", "op:a"])
    assert more == ids + ["op:a@09:00:00", "op:a"] and more.names is got.names
    added = got.extended(["op:new", "op:new@02:00:00"])
    assert added == ids + ["op:new", "op:new@02:00:00"] and len(added.names) == len(got.names) + 2
    plain = TripIds.of(["p:1", "p:2"])
    assert plain.start is None and plain == ["p:1", "p:2"] and plain != ["p:1", "p:3"]
    assert TripIds.of([]) == [] and len(TripIds.of([]).names) == 0
    # what a closure may name (`TripIds.knows`): an id, or the raw id of a frequency trip's runs
    assert all(got.knows(t) for t in ids) and got.knows("op:x") and got.knows("op:a")
    assert not got.knows("op:a@09:00:00") and not got.knows("op:zzz") and not got.knows("op:e")
    assert not TripIds.of([]).knows("op:a") and not got.knows("\ud800") and got.names.find("op:\udcff") == []


def test_release_memory_unmaps_llvms_clean_code_pages_and_kernels_still_compile():
    """In a fresh interpreter: after `release_memory` none of libllvmlite's read-only, unchanged pages is resident
    (numba's import maps ~95 MiB of them), its mappings holding private pages (relocated data) keep them, a plan
    still runs on the loaded kernels, and a kernel compiled afterwards (LLVM runs again) gives the right answer."""
    code = textwrap.dedent('''
        import datetime as dt, json, tempfile
        from pathlib import Path
        from maas.platform.memory import _clean_mappings, release_memory
        from maas.publishing.network import load_network
        from maas.transit import TransitService

        def llvm():  # (resident bytes of the clean read-only mappings, of the ones with private pages)
            clean = sum(r for _, _, r in _clean_mappings(("libllvmlite",)))
            private = 0
            path = None
            for line in open("/proc/self/smaps"):
                head = line.split()
                if "-" in head[0] and not head[0].endswith(":"):
                    path = head[-1] if len(head) > 5 else ""
                elif head[0] == "Anonymous:" and "libllvmlite" in path:
                    private += int(head[1]) * 1024
            return clean, private

        t = TransitService(load_network([], Path(tempfile.mkdtemp()), progress=False), threads=1)
        first = t.plan_sync("都庁前", "大門", dt.datetime(2026, 12, 1, 9, 0))
        before = llvm()
        assert release_memory()
        after = llvm()
        again = t.plan_sync("都庁前", "大門", dt.datetime(2026, 12, 1, 9, 0))
        from numba import njit

        @njit
        def triple(x):
            return 3 * x

        print(json.dumps({"before": before, "after": after, "same": again == first, "n": len(first),
                          "triple": triple(14)}))
    ''')
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["before"][0] > 0 and got["after"][0] == 0
    assert got["after"][1] == got["before"][1] > 0  # the relocated pages were left alone
    assert got["n"] > 0 and got["same"] and got["triple"] == 42


def test_drop_clean_pages_leaves_other_libraries_and_unknown_names_alone():
    from maas.platform.memory import _clean_mappings, drop_clean_pages

    assert drop_clean_pages(("no-such-library",)) == 0
    assert drop_clean_pages(()) == 0
    assert all(e > s for s, e, _ in _clean_mappings(("libpython", "libc")))


def test_services_build_the_operators_fares_before_ready(tmp_path, monkeypatch):
    """The fare setups (profile, fare tables, seat rules: read off the packed trips) are built by the warm-up,
    once per feed, not by the first plans on the planner threads."""
    import operators.catalog as catalog
    from maas.platform.settings import Settings
    from maas.pricing.plan_fares import parse_medium, parse_riders
    from maas.services import Services

    built: list[str] = []
    real = catalog.setup_for_feed
    monkeypatch.setattr(catalog, "setup_for_feed", lambda feed, *a: built.append(feed.namespace) or real(feed, *a))
    settings = Settings(feeds=[], data_dir=tmp_path / "d", cache_dir=tmp_path / "c")
    services = Services.build(settings, progress=False)
    try:
        services._warm_fares()
        namespaces = sorted(f.namespace for f in services.transit.network.feeds)
        assert sorted(built) == namespaces
        its = services.transit.plan_sync("都庁前", "大門", dt.datetime(2026, 12, 1, 9, 0))
        services.add_fares(its, parse_riders(None), parse_medium(None))
        assert sorted(built) == namespaces  # nothing built again by a plan
        assert any(it.get("fare") for it in its)
    finally:
        services.transit.close()


def test_entry_kernels_have_no_kernel_calling_them():
    """`drop_linking_ir` frees the IR numba would link into a caller compiled later: no kernel of any module a
    server loads may call one of `kernels.ENTRY_KERNELS` (a new caller would fail to link)."""
    import importlib

    from numba.core.registry import CPUDispatcher

    entries = {name.rpartition(".")[2] for name in kernels.ENTRY_KERNELS}
    assert set(kernels.ENTRY_KERNELS) <= set(kernels.kernels())
    callers = []
    for module in kernels.KERNEL_MODULES + ("routing.streets", "routing.realtime"):
        for attr, v in vars(importlib.import_module(module)).items():
            if isinstance(v, CPUDispatcher):
                code = [v.py_func.__code__]
                while code:  # the function's own names and those of any function defined in it
                    c = code.pop()
                    callers += [f"{module}.{attr} calls {n}" for n in entries & set(c.co_names)]
                    code += [k for k in c.co_consts if hasattr(k, "co_names")]
    assert not callers


def test_dropping_the_entry_kernels_ir_keeps_plans_the_same(sample_transit):
    day = dt.datetime(2026, 12, 1, 9, 0)
    before = sample_transit.plan_sync("都庁前", "大門", day)
    before_arrive = sample_transit.plan_sync("都庁前", "大門", day, arrive_by=True)
    kernels.drop_linking_ir()
    assert kernels.drop_linking_ir() == 0  # nothing left to free
    for name in kernels.ENTRY_KERNELS:
        for cres in kernels.kernels()[name].overloads.values():
            assert cres.library._shared_module is None
    assert sample_transit.plan_sync("都庁前", "大門", day) == before
    assert sample_transit.plan_sync("都庁前", "大門", day, arrive_by=True) == before_arrive
    # the timetable builds' kernels (Python's only) run on after their IR is gone: the same timetables again
    import copy

    import numpy as np

    from routing.raptor.bounds import stop_graph

    m = sample_transit.model_for(day.date())
    fresh = copy.copy(m)
    fresh.__dict__ = {k: v for k, v in vars(m).items() if not k.startswith("_") or k in m.__dataclass_fields__}
    for made, cached in ((timetable_of(fresh), timetable_of(m)), (reversed_timetable(fresh, True)[0],
                                                                  reversed_timetable(m, True)[0])):
        assert made is not cached
        assert all(np.array_equal(a, b) for a, b in zip(made, cached))
        assert all(np.array_equal(a, b) for a, b in zip(stop_graph(made), stop_graph(cached)))


def test_services_warm_up_ends_by_handing_back_the_freed_heap(tmp_path, monkeypatch):
    """The request-path plans of `Services.warm_days` free this thread's labels and their temporaries after the
    transit's own last release: the warm-up ends with `release_memory`, after them and once the labels are
    dropped, and a plan still works."""
    import maas.platform.memory as memory
    from maas.platform.settings import Settings
    from maas.services import Services

    events: list = []
    real = memory.release_memory
    monkeypatch.setattr(memory, "release_memory", lambda: events.append(("release", sorted(vars(_POOL)))) or real())
    settings = Settings(feeds=[], data_dir=tmp_path / "d", cache_dir=tmp_path / "c")
    services = Services.build(settings, progress=False)
    add_fares = services.add_fares
    monkeypatch.setattr(services, "add_fares", lambda its, *a: events.append(("plan", len(its))) or add_fares(its, *a))
    try:
        services.warm_days([dt.date(2026, 12, 1)])
        plans = [i for i, (what, _) in enumerate(events) if what == "plan"]
        assert plans and events[plans[0]][1] > 0  # the request-path plan found itineraries
        assert events[-1] == ("release", [])  # released last, after it, with this thread's pools dropped
        assert not vars(_POOL)
        assert services.transit.plan_sync("都庁前", "大門", dt.datetime(2026, 12, 1, 9, 0))
    finally:
        services.transit.close()


def test_a_network_loaded_by_a_child_serves_without_importing_pandas(tmp_path):
    """A server whose feeds a child loaded (big networks: ISOLATE_MIN_BYTES; its days' models and realtime index
    built by children: CHILD_BUILD_MIN_ROWS) holds packed tables and the facts taken from them (`FeedFacts`):
    started, warmed up, planning, searching stops, listing feeds and operators' profiles (the seated shuttle's
    seat rules), pricing and booking, ingesting a realtime trip update, it never imports pandas (+25 MiB anonymous, +7 MiB of libraries resident a worker). Forced
    through the child path on the built-in sample (thresholds lowered), in a process of its own."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = f"""
import asyncio, datetime as dt, json, sys
from pathlib import Path
import maas.platform.child, maas.publishing.network
maas.platform.child.CHILD_BUILD_MIN_ROWS = 1  # (before maas.disruptions.realtime reads it)
maas.publishing.network.ISOLATE_MIN_BYTES = 0
from aiohttp.test_utils import TestClient, TestServer
from api.app import create_app
from maas.platform.settings import Settings
from maas.services import Services

KEY = "k"

async def main():
    Path({str(tmp_path / "keys.json")!r}).write_text(json.dumps({{KEY: {{"role": "partner", "name": "t"}},
                                                              "op": {{"role": "operator", "operator": "toei-subway"}}}}))
    settings = Settings(feeds=[], data_dir=Path({str(tmp_path / "d")!r}), cache_dir=Path({str(tmp_path / "c")!r}),
                        keys_file=Path({str(tmp_path / "keys.json")!r}))
    services = Services.build(settings)
    h = {{"Authorization": f"Bearer {{KEY}}"}}
    got = {{}}
    async with TestClient(TestServer(create_app(services))) as client:
        for _ in range(1200):  # (ready once the planner is warm)
            got["ready"] = (await client.get("/readyz")).status
            if got["ready"] == 200:
                break
            await asyncio.sleep(0.1)
        got["stops"] = len((await (await client.get("/v1/stops?q=都庁前", headers=h)).json())["stops"])
        day = (dt.datetime.now(dt.timezone(dt.timedelta(hours=9))) + dt.timedelta(days=1)).date()
        plan = await client.get("/v1/plan", headers=h, params={{"from": "toei-subway:P-tochomae",
                                "to": "35.697957,139.707434", "depart_at": f"{{day}}T10:00:00+09:00"}})
        plan = await plan.json()
        got["itineraries"] = len(plan["itineraries"])
        feeds = (await (await client.get("/v1/feeds", headers=h)).json())["feeds"]
        got["feeds"] = sorted(f["operator"] for f in feeds)
        got["profiles"] = {{}}
        for op in got["feeds"]:
            body = await (await client.get(f"/v1/operators/{{op}}/profile", headers=h)).json()
            got["profiles"][op] = body["profile"]["seats"]["inventory"]
        offer = await client.post("/v1/offers", headers=h, json={{"itinerary": plan["itineraries"][0]}})
        got["offer"] = offer.status
        booking = await client.post("/v1/bookings", headers=h, json={{"offer_id": (await offer.json())["id"],
                                    "payment": {{"card_number": "4242424242424242"}}}})
        got["booking"] = booking.status
        trip = next(leg["trip_id"] for it in plan["itineraries"] for leg in it["legs"]
                    if str(leg.get("trip_id")).startswith("toei-subway:"))
        rt = {{"header": {{"gtfs_realtime_version": "2.0", "timestamp": int(dt.datetime.now().timestamp())}},
              "entity": [{{"id": "e1", "trip_update": {{"trip": {{"trip_id": trip.split(":", 1)[1]}},
                                                      "stop_time_update": [{{"stop_sequence": 1,
                                                                            "arrival": {{"delay": 60}}}}]}}}}]}}
        pushed = await client.post("/v1/realtime/toei-subway", json=rt, headers={{"Authorization": "Bearer op"}})
        got["realtime"] = (pushed.status, (await pushed.json()).get("matched_trip_updates"))
        for path in ("/v1/map/network", "/v1/closures", "/v1/realtime", "/v1/vehicles"):
            got[path] = (await client.get(path, headers=h)).status
    got["pandas"] = sorted(m for m in sys.modules if m == "pandas" or m.startswith("pandas."))[:3]
    print(json.dumps(got))

asyncio.run(main())
"""
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["ready"] == 200 and got["stops"] > 0 and got["itineraries"] > 0, got
    assert got["offer"] == 201 and got["booking"] == 201 and got["realtime"] == [200, 1], got
    assert got["profiles"]["shuttle-nishishinjuku"] is True, got  # (its trips' seat_capacity, from FeedFacts)
    assert all(got[p] == 200 for p in ("/v1/map/network", "/v1/closures", "/v1/realtime", "/v1/vehicles")), got
    assert got["pandas"] == [], got
