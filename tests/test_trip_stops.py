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
