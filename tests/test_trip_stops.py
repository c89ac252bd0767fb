"""TripStops answers exactly as the dict of (trip_id, stop_sequence) → stop_id it replaces (realtime matching)."""
from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from maas.disruptions.trip_stops import TripStops
from tests.conftest import shared_file


def _as_dict(st: pd.DataFrame) -> dict:
    """The former OperatorIndex.trip_stop, written out as it was built."""
    return dict(zip(zip(st["trip_id"].to_numpy(dtype=object).tolist(), st["stop_sequence"].astype("int64").tolist()),
                    st["stop_id"].to_numpy(dtype=object).tolist()))


def _random_stop_times(rng: random.Random, n_trips: int, categorical: bool) -> pd.DataFrame:
    rows = []
    for t in range(n_trips):
        seqs = rng.sample(range(0, 60), rng.randint(1, 12))  # unordered, gaps, not starting at 1
        if rng.random() < 0.2:
            seqs.append(rng.choice(seqs))  # a (trip, sequence) given twice: the dict keeps the last row
        for s in seqs:
            rows.append((f"ns:T{t}", s, f"ns:S{rng.randint(0, 30)}"))
    rng.shuffle(rows)
    st = pd.DataFrame(rows, columns=["trip_id", "stop_sequence", "stop_id"])
    st["stop_sequence"] = st["stop_sequence"].astype(np.int32)
    if categorical:  # as feeds/gtfs.py types them
        st["trip_id"] = st["trip_id"].astype("category")
        st["stop_id"] = st["stop_id"].astype("category")
    return st


@pytest.mark.parametrize("seed", range(6))
def test_same_answers_as_the_dict_on_random_tables(seed):
    rng = random.Random(seed)
    st = _random_stop_times(rng, rng.randint(1, 40), categorical=seed % 2 == 0)
    want = _as_dict(st)
    got = TripStops(st)
    assert len(got) == len(want) and bool(got) == bool(want)
    assert dict(got.items()) == want
    probes = list(want) + [(f"ns:T{rng.randint(0, 50)}", rng.randint(-5, 70)) for _ in range(300)]
    probes += [(k[0], float(k[1])) for k in list(want)[:20]]  # 3.0 is the key 3 in a dict
    probes += [(k[0], np.int64(k[1])) for k in list(want)[:20]]
    probes += [(k[0], k[1] + 0.5) for k in list(want)[:5]] + [("ns:T0", None), ("ns:T0",), "ns:T0", (None, 1)]
    for key in probes:
        assert got.get(key) == want.get(key), key
        assert (key in got) == (key in want), key
        if key in want:
            assert got[key] == want[key]
        else:
            with pytest.raises(KeyError):
                got[key]


def test_empty_and_missing_tables():
    assert not TripStops(None) and len(TripStops(None)) == 0
    empty = pd.DataFrame({"trip_id": [], "stop_sequence": [], "stop_id": []})
    assert not TripStops(empty) and TripStops(empty).get(("t", 1)) is None


def test_same_answers_as_the_dict_on_a_real_feed():
    from feeds.gtfs import load_feed

    feed = load_feed(shared_file("toei-train-official-gtfs.zip"), "toei")
    want = _as_dict(feed.stop_times)
    got = TripStops(feed.stop_times)
    assert len(got) == len(want) > 1000
    rng = random.Random(1)
    keys = rng.sample(list(want), 2000)
    for trip, seq in keys:
        assert got.get((trip, seq)) == want[(trip, seq)]
        assert got.get((trip, seq + 1000)) is None and (trip, seq + 1000) not in got
    assert got.nbytes() < 16 * len(want)  # arrays: a few bytes per stop time, not a tuple key each


@pytest.mark.parametrize("top", [30_000, 70_000, 2 ** 40])
def test_sequences_and_stops_in_the_smallest_type_that_holds_them(top):
    """Sequences in int16 while they fit, else int32 or int64; answers stay the dict's, probes beyond any type
    included."""
    rng = random.Random(top)
    rows = [(f"ns:T{t}", s, f"ns:S{rng.randint(0, 5)}") for t in range(20)
            for s in sorted(rng.sample(range(-3, 40), 5)) + [top - t, -top + t]]
    st = pd.DataFrame(rows, columns=["trip_id", "stop_sequence", "stop_id"]).astype({"stop_sequence": np.int64})
    want = _as_dict(st)
    got = TripStops(st)
    assert got._seq.dtype == (np.int16 if top < 2 ** 15 else np.int32 if top < 2 ** 31 else np.int64)
    assert got._stop.dtype == np.int16
    assert dict(got.items()) == want
    for key in list(want) + [("ns:T3", top + 5), ("ns:T3", 2 ** 70), ("ns:T3", -(2 ** 70)), ("ns:T3", 2 ** 16)]:
        assert got.get(key) == want.get(key), key


@pytest.mark.parametrize("seed", range(4))
def test_on_the_index_trip_ids_same_answers_as_the_dict_of_its_trips(seed):
    """Given the index's trip ids (shuffled, with trips without stop times): positions into them, answers the
    dict's for those trips; rows of a trip not there are left out (the index knows no such trip)."""
    from routing.timetable import IdTable

    rng = random.Random(seed)
    st = _random_stop_times(rng, 30, categorical=seed % 2 == 0)
    trips = [f"ns:T{t}" for t in range(40) if t % 7 != 3]  # T3, T10, ... have stop times but are not trips
    rng.shuffle(trips)
    ids = IdTable.of(trips)
    got = TripStops(st, ids)
    assert got.ids is ids and len(got._start) == len(ids) + 1
    want = {k: v for k, v in _as_dict(st).items() if k[0] in set(trips)}
    assert len(want) < len(_as_dict(st)) and dict(got.items()) == want and len(got) == len(want)
    for key in list(_as_dict(st)) + [("ns:T35", 1), ("ns:T3", 1)]:
        assert got.get(key) == want.get(key) and (key in got) == (key in want), key


def test_trip_routes_answers_as_the_dict_and_the_index_shares_one_table():
    """The operator index's trip → route: the dict it replaces (a trip given twice: its last row), its trips a
    set view; the index and its trip stops hold one IdTable, after pickling too (a child's build), and an index
    back from a child takes the equal table already here."""
    import pickle

    from maas.disruptions.realtime import OperatorIndex
    from maas.disruptions.trip_stops import TripRoutes
    from routing.timetable import IdTable

    trips = pd.DataFrame({"trip_id": ["ns:東京1", "ns:A", "ns:B", "ns:A", "ns:C"],
                          "route_id": ["ns:R1", "ns:R1", "ns:R2", "ns:R3", "ns:R2"]})
    st = pd.DataFrame({"trip_id": ["ns:A", "ns:A", "ns:東京1"], "stop_sequence": [1, 2, 5],
                       "stop_id": ["ns:S1", "ns:S2", "ns:S1"]})
    stops = pd.DataFrame({"stop_id": ["ns:S1", "ns:S2"], "stop_lat": [35.0, 35.1], "stop_lon": [139.0, 139.1],
                          "stop_name": ["s1", "s2"]})
    idx = OperatorIndex.from_tables(stops, trips, st)
    want = dict(zip(trips["trip_id"], trips["route_id"]))
    assert isinstance(idx.trip_route, TripRoutes) and dict(idx.trip_route) == want and len(idx.trips) == 4
    assert idx.trips == want.keys() and idx.routes == frozenset({"ns:R1", "ns:R2", "ns:R3"})
    for probe in ["ns:X", "ns:", "", None, 5, "ns:\ud800", ("ns:A",)]:
        assert probe not in idx.trips and idx.trip_route.get(probe) is None, probe
    assert idx.trip_stop.ids is idx.trip_route.ids and idx.trip_stop[("ns:東京1", 5)] == "ns:S1"
    assert idx.trip_stop.get(("ns:A", 2)) == "ns:S2" and ("ns:B", 1) not in idx.trip_stop
    bare = OperatorIndex.from_tables(stops, trips)  # no stop_times (the Toei bus feed): no array per trip
    assert not bare.trip_stop and bare.trip_stop._start.nbytes <= 8 and ("ns:A", 1) not in bare.trip_stop
    assert bare.trip_stop.row(bare.trip_route.position("ns:A"), 1) == -1 and dict(bare.trip_route) == want

    back = pickle.loads(pickle.dumps(idx))
    assert back.trip_stop.ids is back.trip_route.ids and back.trip_route.ids is not idx.trip_route.ids
    shared = back.with_shared_ids()
    assert shared.trip_route.ids is idx.trip_route.ids and shared.trip_stop.ids is idx.trip_route.ids
    assert dict(shared.trip_route) == want and dict(shared.trip_stop.items()) == dict(idx.trip_stop.items())
    assert IdTable.of(list(idx.trips)).canonical() is idx.trip_route.ids  # a model's equal table is this one


@pytest.mark.parametrize("child_min_rows", [None, 0])
def test_a_one_feed_networks_index_holds_the_models_trip_id_table(tmp_path, child_min_rows):
    """A network of one feed (all-Tokyo rail): its realtime index's trip ids are the very table its models hold
    (`IdTable.canonical`), built here or by a child; and still answer the feed's trips and routes."""
    from maas.disruptions.realtime import NetworkIndexes
    from tests.api_support import DAY, tiny_transit

    transit = tiny_transit(tmp_path)
    try:
        model = transit.model_for(DAY)
        feed = transit.network.feeds[0]
        idx = NetworkIndexes(transit, child_min_rows=child_min_rows)(feed.namespace)
        assert idx.trip_route.ids is model.trip_ids.names and idx.trip_stop.ids is model.trip_ids.names
        assert dict(idx.trip_route) == dict(zip(feed.trips["trip_id"], feed.trips["route_id"])) != {}
    finally:
        transit.close()
