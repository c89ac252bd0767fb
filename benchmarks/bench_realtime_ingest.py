"""GTFS-Realtime ingest throughput: decode + match + store of the full Toei rail TripUpdates feed (118 trains).

The shared capture holds 8 of the 118 trip updates of 2026-09-30 07:22:50 JST (README-live: the published file is
1 MB). The full message is rebuilt in the capture's shape: the 8 real entities as they are, and one entity for each
of the other 110 trains of the vehicle capture (same moment), with every stop of its trip from the official
timetable by stop_sequence only (no stop_id, no delay: Toei's quirks), times = schedule + a delay drawn from the
capture's range (-2 .. +4.5 min), arrival = departure for stops ahead. Each run re-stamps the header one second
later, so every message is accepted (none is out of order).

Figures, per store (memory = the baseline, embedded SQLite, Redis when a URL is given): median time per message
for `RealtimeService.ingest` (decode, match against the feed, msgpack, atomic store write, snapshot swap), and
updates/s (trip updates per second) and stop updates/s; the decode alone as a same-run reference (and the
decode through the protobuf objects, without the numba wire walk), and the ratio of each store to memory. Also the 562-bus VehiclePositions capture.

    .venv/bin/python benchmarks/bench_realtime_ingest.py [--runs 30] [--redis redis://127.0.0.1:6379/11]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from google.transit import gtfs_realtime_pb2 as pb  # noqa: E402

from feeds.gtfs import load_feed  # noqa: E402
from feeds.gtfs_rt import decode, from_feed_message  # noqa: E402
from maas.disruptions.realtime import OperatorIndex, RealtimeService  # noqa: E402
from maas.disruptions.realtime_store import (MemoryRealtimeStore, RedisRealtimeStore,  # noqa: E402
                                             SqliteRealtimeStore)

SHARED = ROOT.parent / "shared" / "data"
RT = SHARED / "gtfs-rt"
TS = 1790720570
MIDNIGHT_JST = 1790694000  # 2026-09-30 00:00 JST


def full_trip_updates(feed) -> pb.FeedMessage:
    """The 118-train message: 8 real entities + 110 rebuilt from the timetable (see the module docstring)."""
    real = pb.FeedMessage()
    real.ParseFromString((RT / "toei_train_trip_update_20260930-072259.subset8.pb").read_bytes())
    vehicles = pb.FeedMessage()
    vehicles.ParseFromString((RT / "toei_train_vehicle_20260930-072259.pb").read_bytes())
    have = {e.id for e in real.entity}
    st = feed.stop_times
    by_trip = {t: g for t, g in st.groupby("trip_id", sort=False)}
    rng = random.Random(13)
    out = pb.FeedMessage()
    out.CopyFrom(real)
    for v in vehicles.entity:
        if v.id in have:
            continue
        rows = by_trip[f"toei:{v.vehicle.trip.trip_id}"].sort_values("stop_sequence")
        delay = rng.randint(-120, 270)
        e = out.entity.add()
        e.id = v.id
        tu = e.trip_update
        tu.trip.trip_id, tu.trip.start_date = v.vehicle.trip.trip_id, "20260930"
        tu.trip.schedule_relationship = pb.TripDescriptor.SCHEDULED
        tu.timestamp = TS - 17
        current = v.vehicle.current_stop_sequence
        for seq, arr, dep in zip(rows["stop_sequence"], rows["arrival"], rows["departure"]):
            s = tu.stop_time_update.add()
            s.stop_sequence = int(seq)
            if int(seq) < current:  # passed: recorded times with dwell
                s.arrival.time, s.arrival.uncertainty = MIDNIGHT_JST + int(arr) + delay, 30
                s.departure.time, s.departure.uncertainty = MIDNIGHT_JST + int(dep) + delay, 30
            else:  # predicted: arrival = departure
                s.arrival.time = s.departure.time = MIDNIGHT_JST + int(dep) + delay
                s.arrival.uncertainty = s.departure.uncertainty = 60
    return out


def stamped(msg: pb.FeedMessage, n: int) -> list[bytes]:
    out = []
    for i in range(n):
        msg.header.timestamp = TS + i
        out.append(msg.SerializeToString())
    return out


async def run_store(name: str, store, idx: OperatorIndex, payloads: list[bytes], per_msg: tuple[int, int],
                    op: str) -> float:
    clock = [float(TS)]
    svc = RealtimeService(store, index_provider=lambda o: idx if o == op else None, clock=lambda: clock[0])
    await svc.start()
    times = []
    try:
        for i, body in enumerate(payloads):
            clock[0] = TS + i
            t = time.perf_counter()
            r = await svc.ingest(body, "application/x-protobuf", op)
            times.append(time.perf_counter() - t)
            assert r.accepted, r
    finally:
        await svc.aclose()
    med = statistics.median(times[1:] or times)
    n, stops = per_msg
    print(f"  {name:9s} {med * 1000:8.2f} ms/message   {n / med:9.0f} updates/s   {stops / med:10.0f} stop updates/s")
    return med


async def propagation(url: str, prefix: str, idx: OperatorIndex, payloads: list[bytes], op: str) -> None:
    """Two workers on one Redis: from worker a's `ingest` call until worker b's listener has the new state (the
    change channel, with the 1 s version poll behind it). tests/test_realtime.py only checks that it arrives."""
    clock = [float(TS)]

    def svc():
        return RealtimeService(RedisRealtimeStore(url, prefix), index_provider=lambda o: idx if o == op else None,
                               clock=lambda: clock[0])

    a, b = svc(), svc()
    await a.start()
    await b.start()
    got = asyncio.Event()

    async def on_b(old, new):
        got.set()

    b.add_listener(on_b)
    lag = []
    try:
        for i, body in enumerate(payloads):
            clock[0] = TS + i
            got.clear()
            t = time.perf_counter()
            await a.ingest(body, "application/x-protobuf", op)
            await asyncio.wait_for(got.wait(), 30)
            lag.append(time.perf_counter() - t)
    finally:
        await a.aclose()
        await b.aclose()
    lag.sort()
    print(f"  a worker's message seen by another: median {statistics.median(lag) * 1000:.1f} ms, "
          f"max {lag[-1] * 1000:.1f} ms over {len(lag)} messages (ingest + publish + reload)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--redis", default=os.environ.get("MAAS_TEST_REDIS_URL"))
    args = ap.parse_args()
    if not (SHARED / "toei-train-official-gtfs.zip").exists() or not RT.is_dir():
        print(f"skipped: the Toei feed and captures are not in {SHARED}")
        return 0
    feed = load_feed(SHARED / "toei-train-official-gtfs.zip", "toei")
    t = time.perf_counter()
    idx = OperatorIndex.from_feed(feed)
    print(f"operator index (5600 trips, {len(idx.trip_stop)} stop times): {(time.perf_counter() - t) * 1000:.0f} ms")
    msg = full_trip_updates(feed)
    payloads = stamped(msg, args.runs)
    n_tu = len(msg.entity)
    n_st = sum(len(e.trip_update.stop_time_update) for e in msg.entity)
    print(f"TripUpdates: {n_tu} trains, {n_st} stop updates, {len(payloads[0])} bytes protobuf; "
          f"median of {args.runs} messages")
    dec = []
    for i, body in enumerate(payloads):
        t = time.perf_counter()
        decode(body, "application/x-protobuf", "toei", now=TS + i)
        dec.append(time.perf_counter() - t)
    d = statistics.median(dec)
    print(f"  decode    {d * 1000:8.2f} ms/message   {n_tu / d:9.0f} updates/s   (reference: decode only)")
    objs = []  # the same decode reading every stop update through the protobuf objects (no wire walk)
    for i, body in enumerate(payloads):
        t = time.perf_counter()
        m = pb.FeedMessage()
        m.ParseFromString(body)
        from_feed_message(m, "toei", now=TS + i)
        objs.append(time.perf_counter() - t)
    o = statistics.median(objs)
    print(f"  objects   {o * 1000:8.2f} ms/message   {n_tu / o:9.0f} updates/s   (decode through the protobuf "
          f"objects: the wire walk is {o / d:.1f}x faster)")

    async def all_stores(payloads, per_msg, op, index):
        out = {"memory": await run_store("memory", MemoryRealtimeStore(), index, payloads, per_msg, op)}
        with tempfile.TemporaryDirectory() as tmp:
            out["embedded"] = await run_store("embedded", SqliteRealtimeStore(Path(tmp) / "rt.sqlite3"), index,
                                              payloads, per_msg, op)
        if args.redis:
            prefix = f"bench-rt-{os.getpid()}:"
            store = RedisRealtimeStore(args.redis, prefix)
            try:
                out["redis"] = await run_store("redis", store, index, payloads, per_msg, op)
                await propagation(args.redis, prefix + "p:", index, payloads[:10], op)
            finally:
                import redis.asyncio as aioredis

                r = aioredis.from_url(args.redis)
                async for k in r.scan_iter(match=f"{prefix}*"):
                    await r.delete(k)
                await r.aclose()
        else:
            print("  redis     (skipped: give --redis URL or MAAS_TEST_REDIS_URL)")
        base = out["memory"]
        print("  ratio to memory: " + ", ".join(f"{k} {v / base:.2f}x" for k, v in out.items() if k != "memory"))

    asyncio.run(all_stores(payloads, (n_tu, n_st), "toei", idx))

    bus = pb.FeedMessage()
    bus.ParseFromString((RT / "toei_bus_vehicle_20260928-070610.pb").read_bytes())
    bus_payloads = []
    for i in range(args.runs):
        bus.header.timestamp = TS + i
        bus_payloads.append(bus.SerializeToString())
    from feeds.feed import Network  # noqa: F401  (the bus feed has no stop_times: index from its tables)
    sys.path.insert(0, str(ROOT / "tests"))
    os.environ.setdefault("MAAS_SHARED_DATA", str(SHARED))
    from realtime_support import toei_bus_index

    bidx = toei_bus_index("toei-bus")
    # the bus capture's vehicle timestamps are 2 days older than the rail header used here: stamp them too
    for e in bus.entity:
        e.vehicle.timestamp = TS - 30
    bus_payloads = stamped(bus, args.runs)
    print(f"VehiclePositions: {len(bus.entity)} buses, {len(bus_payloads[0])} bytes protobuf")
    asyncio.run(all_stores(bus_payloads, (len(bus.entity), 0), "toei-bus", bidx))
    return 0


if __name__ == "__main__":
    sys.exit(main())
