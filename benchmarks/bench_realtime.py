"""Realtime: time from receiving a full Toei rail TripUpdates message to its effect on queries, and query latency
on realtime times vs the timetable.

The captured TripUpdates file holds 8 of the 118 trips of its moment, so the message here is the full-size one
built the way ODPT sends it: the 118 trips of the VehiclePositions capture of the same moment, every stop with
arrival and departure times (stop_sequence only, no stop_id, no delay field), late by 0–270 s per trip as the
capture is. Each round sends a new message (other delays), so every round really rebuilds.

Figures (medians over the rounds; same-run ratios):
  * receive → effect: `RealtimeService.ingest(protobuf bytes)` (decode, match, store) and its listener (the
    `LiveTimetable` rebuild of the day's overlay, off the event loop) until a query on the new times can run;
    split into decode+apply and overlay build, and the first query's extra cost (the reversed timetable for an
    arrive-by is built lazily, measured separately);
  * query latency: the same random depart-at plans on the timetable and on the realtime model, interleaved.

    .venv/bin/python benchmarks/bench_realtime.py [--rounds 15] [--queries 60]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from google.transit import gtfs_realtime_pb2 as pb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from feeds.feed import Network  # noqa: E402
from feeds.gtfs import load_feed  # noqa: E402
from maas.disruptions.live_timetable import LiveTimetable  # noqa: E402
from maas.disruptions.realtime import NetworkIndexes, RealtimeService  # noqa: E402
from maas.transit import TransitService  # noqa: E402
from routing.raptor import reversed_timetable  # noqa: E402
from routing.realtime import build_overlay  # noqa: E402

JST = dt.timezone(dt.timedelta(hours=9))
SHARED = ROOT.parent / "shared" / "data"
DAY = dt.date(2026, 9, 30)
HEADER_TS = 1790720570
NS = "toei"


def med(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1000:8.2f} ms"


def full_message(model, trip_ids: list[str], ts: int, rng: random.Random) -> bytes:
    """The 118-trip TripUpdates message (see the module docstring), as protobuf."""
    midnight = int(dt.datetime.combine(DAY, dt.time(), JST).timestamp())
    msg = pb.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    msg.header.incrementality = pb.FeedHeader.FULL_DATASET
    msg.header.timestamp = ts
    for raw in trip_ids:
        t = model.trip_index(f"{NS}:{raw}", 0)
        if t is None:
            continue
        off, n = model.trip_times_offset(t)
        delay = rng.randint(0, 270)
        e = msg.entity.add()
        e.id = raw
        tu = e.trip_update
        tu.trip.trip_id, tu.trip.start_date = raw, DAY.strftime("%Y%m%d")
        tu.timestamp = ts - 20
        for k in range(n):
            s = tu.stop_time_update.add()
            s.stop_sequence = int(model.st_seq[off + k])
            s.arrival.time = midnight + int(model.st_arr[off + k]) + delay
            s.departure.time = midnight + int(model.departures_of_trip(t)[k]) + delay
    return msg.SerializeToString()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--queries", type=int, default=60)
    args = ap.parse_args()
    feed_path = SHARED / "toei-train-official-gtfs.zip"
    vehicles = SHARED / "gtfs-rt" / "toei_train_vehicle_20260930-072259.json"
    if not feed_path.exists() or not vehicles.exists():
        print(f"skipped: {feed_path} or {vehicles} not found (../shared/data is absent)")
        return
    trip_ids = [e["vehicle"]["trip"]["tripId"] for e in json.loads(vehicles.read_text())["entity"]]
    transit = TransitService(Network([load_feed(feed_path, NS)]), threads=1)
    planner = transit.planner_for(DAY)
    model = planner.model
    print(model.describe())
    clock = {"now": float(HEADER_TS)}
    realtime = RealtimeService(index_provider=NetworkIndexes(transit), clock=lambda: clock["now"])
    await realtime.start()
    live = LiveTimetable(realtime.snapshot)
    transit.realtime_provider = live.overlay_for
    realtime.add_listener(lambda old, new: live.on_change(transit, old, new))
    rng = random.Random(7)
    planner.warm_up()
    ids = [s for s in model.stop_ids]
    queries = [(rng.choice(ids), rng.choice(ids), dt.datetime(2026, 9, 30, 7, rng.randint(20, 59), tzinfo=JST))
               for _ in range(args.queries)]
    # warm: one message, one realtime plan of each kind
    payload = full_message(model, trip_ids, HEADER_TS, rng)
    await realtime.ingest(payload, "application/x-protobuf", NS)
    await realtime.drain()
    lp = transit.live_planner_for(DAY)
    lp.plan(queries[0][0], queries[0][1], queries[0][2])
    n_trips = len(realtime.snapshot().trip_updates)
    n_stus = sum(len(u.stop_time_updates) for u in realtime.snapshot().trip_updates)

    effect, ingest_s, build_s, first_q, rev_s = [], [], [], [], []
    for r in range(args.rounds):
        clock["now"] = HEADER_TS + 30 * (r + 1)
        payload = full_message(model, trip_ids, int(clock["now"]), rng)
        t0 = time.perf_counter()
        await realtime.ingest(payload, "application/x-protobuf", NS)
        t1 = time.perf_counter()
        await realtime.drain()  # the listener: overlay rebuilt in the transit pool
        t2 = time.perf_counter()
        lp = transit.live_planner_for(DAY)  # cached: the query sees the new times at once
        assert lp.model is not planner.model and transit.overlay_for(DAY).version == realtime.snapshot().version
        t3 = time.perf_counter()
        o, d, when = queries[r % len(queries)]
        lp.plan(o, d, when)
        t4 = time.perf_counter()
        effect.append(t3 - t0)
        ingest_s.append(t1 - t0)
        build_s.append(t2 - t1)
        first_q.append(t4 - t3)
        t5 = time.perf_counter()
        reversed_timetable(lp.model)
        rev_s.append(time.perf_counter() - t5)
    ov = transit.overlay_for(DAY)
    t = time.perf_counter()
    for _ in range(5):
        build_overlay(model, realtime.snapshot().trip_updates)
    pure = (time.perf_counter() - t) / 5
    print(f"message: {n_trips} trips, {n_stus} stop updates, {len(payload)} bytes protobuf; overlay counts "
          f"{ov.counts.to_dict()}")
    print(f"receive → effect on queries  median {med(effect)}   (aim ≤ 100 ms)")
    print(f"  ingest (decode, match, store) {med(ingest_s)}")
    print(f"  listener (overlay rebuild)    {med(build_s)}   build_overlay alone {pure * 1000:.2f} ms")
    print(f"  first realtime plan after it  {med(first_q)}")
    print(f"  reversed timetable (arrive-by, lazily on first use) {med(rev_s)}")

    base_t, live_t = [], []
    lp = transit.live_planner_for(DAY)
    for o, d, when in queries:  # interleaved, same queries
        for pl, acc in ((planner, base_t), (lp, live_t)):
            t = time.perf_counter()
            try:
                pl.plan(o, d, when)
            except ValueError:
                pass
            acc.append(time.perf_counter() - t)
    ratio = statistics.median(np.asarray(live_t) / np.asarray(base_t))
    print(f"query latency: timetable {med(base_t)}   realtime {med(live_t)}   "
          f"median per-query ratio realtime/timetable {ratio:.3f} (aim ≤ 1.10)")
    await realtime.aclose()
    transit.close()


if __name__ == "__main__":
    asyncio.run(main())
