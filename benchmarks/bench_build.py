"""Transit model build time and peak memory on real feeds, against a naive per-row Python build of the patterns.

    .venv/bin/python benchmarks/bench_build.py [--skip-tokyo]

Per feed: load_feed time (not ours, for context), build_model time, tracemalloc peak during the build, process
peak RSS, save/load time of the model, and the naive baseline: grouping trips into stop-sequence patterns and
sorting their times with Python loops over every stop_times row (the core of the build), with the ratio.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("MAAS_SHARED_DATA", ROOT.parent / "shared" / "data"))
DATE = dt.date(2026, 12, 1)

from feeds.feed import Network  # noqa: E402
from feeds.gtfs import load_feed  # noqa: E402
from routing.timetable import TransitModel, build_model  # noqa: E402


def naive_patterns(network: Network, date: dt.date) -> int:
    """The textbook build: dict of trips from row-by-row iteration, then patterns by stop tuple, sorted."""
    active = network.service_ids_on(date)
    trips = {t.trip_id: t.route_id for t in network.table("trips").itertuples() if t.service_id in active}
    seqs: dict[str, list[tuple[int, str, int, int]]] = {}
    for r in network.table("stop_times").itertuples():
        if r.trip_id in trips:
            seqs.setdefault(r.trip_id, []).append((r.stop_sequence, r.stop_id, r.arrival, r.departure))
    patterns: dict[tuple, list[list[tuple[int, int]]]] = {}
    for tid, rows in seqs.items():
        rows.sort()
        key = (trips[tid],) + tuple(r[1] for r in rows)
        patterns.setdefault(key, []).append([(r[2], r[3]) for r in rows])
    for times in patterns.values():
        times.sort(key=lambda t: t[0][1])
    return len(patterns)


def bench(name: str, path: Path, namespace: str) -> None:
    print(f"\n== {name} ({path.name}) ==")
    t = time.perf_counter()
    net = Network([load_feed(path, namespace)])
    print(f"load_feed (context)      {time.perf_counter() - t:7.2f} s, "
          f"{len(net.table('stop_times')):,} stop_times rows")
    build_model(net, DATE)  # warm pandas/numpy code paths
    t = time.perf_counter()
    model = build_model(net, DATE)
    build_s = time.perf_counter() - t
    tracemalloc.start()
    build_model(net, DATE)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"build_model              {build_s:7.2f} s   {model.describe()}")
    print(f"build peak (tracemalloc) {peak / 2**20:7.0f} MiB; process peak RSS so far "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        model.save(Path(tmp) / "m")
        save_s = time.perf_counter() - t
        t = time.perf_counter()
        TransitModel.load(Path(tmp) / "m")
        print(f"save {save_s:.2f} s, load {time.perf_counter() - t:.3f} s "
              f"({sum(f.stat().st_size for f in (Path(tmp) / 'm').iterdir()) / 2**20:.0f} MiB on disk)")
    t = time.perf_counter()
    n = naive_patterns(net, DATE)
    naive_s = time.perf_counter() - t
    print(f"naive Python patterns    {naive_s:7.2f} s ({n} stop-sequence patterns, today's trips only, "
          f"no FIFO split, no footpaths)")
    print(f"ratio naive / build_model: {naive_s / build_s:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-tokyo", action="store_true")
    args = ap.parse_args()
    bench("Toei rail", DATA / "toei-rail-gtfs.zip", "toei-subway")
    if not args.skip_tokyo:
        bench("all-Tokyo rail", DATA / "tokyo-rail-gtfs.zip", "tokyo")


if __name__ == "__main__":
    main()
