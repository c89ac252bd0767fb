"""Two replicas ("hosts": separate processes, data folders and models) on one store: the time from a publish on A to
B answering on the new version.

Per run, A publishes the other of two variants of the feed (the same timetable, every time one minute later in the
second), and B's planner is asked a fixed query every 10 ms until its answer shows the new variant. Figures (median
and max over the runs): A's publish (upload → 201), A's 201 → B answering, and publish start → B answering; B
follows through the store's pub/sub message (Redis) or its 0.5 s generation poll (the embedded store shared by two
processes, where pub/sub does not cross processes).

    .venv/bin/python benchmarks/bench_replicas.py [--feed tiny|toei-rail] [--runs 5] [--redis URL] [--no-embedded]

``--redis`` defaults to MAAS_TEST_REDIS_URL; without either only the embedded store is measured.

Part 2 (``--cluster-only`` runs just this, ``--no-cluster`` skips it): on a private Redis Cluster (3 masters + 3
replicas, AOF always, scripts/ensure-redis-cluster.sh), /v1/plan and booking throughput with 1 and then 2 replicas
(`maas serve` processes with separate data folders, one worker each, clients spread round-robin), and the
failover window: kill -9 one master under booking load on both replicas, then how long until its replica is
promoted, how many bookings were refused (503) and the longest time without a confirmed booking.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import io
import os
import statistics
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from feeds.feed import Network  # noqa: E402
from feeds.gtfs import load_feed  # noqa: E402
from maas.publishing.feed_registry import FeedRegistry  # noqa: E402
from maas.publishing.feed_swap import FeedManager  # noqa: E402
from maas.transit import TOKYO, TransitService  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
DAY = dt.date(2026, 11, 24)


def shifted(data: bytes, seconds: int) -> bytes:
    """The zip with every stop time ``seconds`` later (a new version with a visible difference)."""
    def hms(t: str) -> str:
        if not t.strip():
            return t
        h, m, s = (int(x) for x in t.strip().split(":"))
        n = h * 3600 + m * 60 + s + seconds
        return f"{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}"

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = zin.read(info)
            if info.filename.endswith("stop_times.txt"):
                rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
                for r in rows:
                    r["arrival_time"], r["departure_time"] = hms(r["arrival_time"]), hms(r["departure_time"])
                buf = io.StringIO()
                w = csv.DictWriter(buf, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
                body = buf.getvalue().encode()
            zout.writestr(info.filename, body)
    return out.getvalue()


def feed_bytes(name: str, tmp: Path) -> tuple[str, bytes]:
    if name == "tiny":
        from gtfs_builders import minimal_feed_tables, write_gtfs

        return "test", write_gtfs(tmp / "tiny.zip", minimal_feed_tables(), zip=True).read_bytes()
    path = SHARED / "toei-rail-gtfs.zip"
    if not path.exists():
        raise SystemExit(f"{path} is missing (see /work/shared/data/README.md)")
    return "toei", path.read_bytes()


def probe(transit: TransitService, ns: str) -> tuple[str, str]:
    """A station pair the first trip of the morning serves (its first and third call)."""
    model = transit.model_for(DAY)
    when = dt.datetime.combine(DAY, dt.time(7, 30), TOKYO)
    for t in range(len(model.trip_ids)):
        off, n = model.trip_times_offset(t)
        if n < 3 or not 6 * 3600 < model.departures_of_trip(t)[0] < 20 * 3600:
            continue
        p = int(model.trip_pattern[t])
        start = model.pattern_stops_start[p]
        a, b = model.stop_ids[model.pattern_stops[start]], model.stop_ids[model.pattern_stops[start + 2]]
        if transit.plan_sync(a, b, when):
            return a, b
    raise SystemExit("no plannable pair in the feed")


def open_store(kind: str, where: str):
    if kind == "redis":
        from maas.store.redis_store import RedisStore

        url, prefix = where.split(" ", 1)
        return RedisStore.from_url(url, prefix=prefix)
    from maas.store.embedded import EmbeddedStore

    return EmbeddedStore(where)


def base_transit(folder: Path, ns: str, data: bytes) -> TransitService:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "f.zip").write_bytes(data)
    return TransitService(Network([load_feed(folder / "f.zip", ns)]), threads=2)


def replica_b(kind: str, where: str, folder: str, ns: str, data: bytes, conn) -> None:
    """Replica B in its own process (its own interpreter, as on another host): follows the store and answers
    ``(origin, destination)`` probes with its first departure."""
    asyncio.run(_replica_b(kind, where, Path(folder), ns, data, conn))


async def _replica_b(kind: str, where: str, folder: Path, ns: str, data: bytes, conn) -> None:
    store = open_store(kind, where)
    transit = base_transit(folder / "base", ns, data)
    transit.model_for(DAY)
    clock = lambda: dt.datetime.combine(DAY, dt.time(7), TOKYO)  # noqa: E731
    b = FeedManager(FeedRegistry(folder / "feeds", store), transit, clock=clock)
    await b.start()
    follower = asyncio.create_task(b.follow())
    loop = asyncio.get_running_loop()
    when = dt.datetime.combine(DAY, dt.time(7, 30), TOKYO)
    conn.send("ready")
    try:
        while (msg := await loop.run_in_executor(None, conn.recv)) is not None:
            its = await loop.run_in_executor(None, transit.plan_sync, msg[0], msg[1], when)
            conn.send(its[0]["departure"])
    finally:
        follower.cancel()
        transit.close()
        await store.aclose()


async def measure(kind: str, where: str, ns: str, variants: list[bytes], runs: int, tmp: Path) -> None:
    import multiprocessing as mp

    ta = base_transit(tmp / kind / "A" / "base", ns, variants[0])
    store_a = open_store(kind, where)
    clock = lambda: dt.datetime.combine(DAY, dt.time(7), TOKYO)  # noqa: E731
    a = FeedManager(FeedRegistry(tmp / kind / "A" / "feeds", store_a), ta, clock=clock)
    origin, dest = probe(ta, ns)
    await a.start()
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe()
    proc = ctx.Process(target=replica_b, args=(kind, where, str(tmp / kind / "B"), ns, variants[0], there))
    proc.start()
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, here.recv) == "ready"

    async def b_departure() -> str:
        here.send((origin, dest))
        return await loop.run_in_executor(None, here.recv)

    publish_s, after_201, total = [], [], []
    try:
        for i in range(runs):
            data = variants[(i + 1) % 2]
            before = await b_departure()
            t0 = time.perf_counter()
            out = await a.publish(ns, data)
            t1 = time.perf_counter()
            assert out.accepted, out.report
            while await b_departure() == before:
                if time.perf_counter() - t1 > 60:
                    raise SystemExit(f"{kind}: B did not follow within 60 s")
                await asyncio.sleep(0.01)
            t2 = time.perf_counter()
            publish_s.append(t1 - t0)
            after_201.append(t2 - t1)
            total.append(t2 - t0)
            await asyncio.sleep(1.0)  # B settles (its follower's poll) before the next run
    finally:
        here.send(None)
        proc.join(30)
        ta.close()
        await store_a.aclose()

    def fig(xs: list[float]) -> str:
        return f"median {statistics.median(xs):6.3f} s  max {max(xs):6.3f} s"

    print(f"{kind:14s} A publish (upload → 201)      {fig(publish_s)}")
    print(f"{kind:14s} A 201 → B on the new version  {fig(after_201)}")
    print(f"{kind:14s} publish start → B on it       {fig(total)}   ({runs} runs)")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feed", choices=["tiny", "toei-rail"], default="tiny")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--redis", default=os.environ.get("MAAS_TEST_REDIS_URL"))
    ap.add_argument("--no-embedded", action="store_true", help="measure Redis only")
    ap.add_argument("--no-cluster", action="store_true", help="skip part 2 (replicas on a Redis Cluster)")
    ap.add_argument("--cluster-only", action="store_true", help="only part 2")
    ap.add_argument("--seconds", type=float, default=6.0, help="part 2: length of each load phase")
    args = ap.parse_args()
    if not args.no_cluster:
        await asyncio.to_thread(cluster_figures, args.seconds)
    if args.cluster_only:
        return
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        ns, data = feed_bytes(args.feed, tmp)
        variants = [data, shifted(data, 60)]
        print(f"feed {args.feed} ({len(data) / 1e6:.2f} MB zip), {args.runs} publishes alternating two versions")
        if args.redis:
            prefix = f"bench:{uuid.uuid4().hex}:"
            try:
                await measure("redis", f"{args.redis} {prefix}", ns, variants, args.runs, tmp)
            finally:
                store = open_store("redis", f"{args.redis} {prefix}")
                keys = [k async for k in store.r.scan_iter(match=prefix + "*", count=1000)]
                if keys:
                    await store.r.delete(*keys)
                await store.aclose()
        else:
            print("redis: skipped (no --redis URL and no MAAS_TEST_REDIS_URL)")
        if not args.no_embedded:
            await measure("embedded-file", str(tmp / "shared.sqlite3"), ns, variants, args.runs, tmp)

# -- part 2: replicas on a Redis Cluster ---------------------------------------------------------------------------
PLAN_PATH = "/v1/plan?from=toei-subway:P-tochomae&to=toei-subway:P-shinjuku-nishiguchi&num=1"
LOAD_KEY = "pk-bench"


def _load(bases: list[str], seconds: float, clients: int, one) -> tuple[int, int, list[float]]:
    """``clients`` threads calling ``one(base) -> bool`` round-robin over ``bases`` for ``seconds``: (ok, failed,
    latencies of the successful calls)."""
    import threading

    ok, failed, lat = [0], [0], []
    stop = threading.Event()

    def client(i: int) -> None:
        n = i
        while not stop.is_set():
            t = time.perf_counter()
            good = one(bases[n % len(bases)])
            n += 1
            if good:
                ok[0] += 1
                lat.append(time.perf_counter() - t)
            else:
                failed[0] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(60)
    return ok[0], failed[0], lat


def cluster_figures(seconds: float) -> None:
    import secrets
    import shutil

    if shutil.which("redis-server") is None:
        print("cluster part: skipped (redis-server is not installed; scripts/ensure-redis-cluster.sh installs it)")
        return
    from api_support_http import get, serve, try_booking, wait_ready
    from redis_support import PrivateCluster

    def plan(base: str) -> bool:
        try:
            return get(base + PLAN_PATH, LOAD_KEY)[0] == 200
        except OSError:
            return False

    def book(base: str) -> bool:
        return try_booking(base, LOAD_KEY)[0] == "ok"

    keys = {LOAD_KEY: {"role": "partner", "name": "bench", "rate": 100000, "burst": 100000}}
    env = {"MAAS_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:8]}:", "MAAS_TICKET_SIGNING_KEY": secrets.token_hex(24),
           "MAAS_CARD_FINGERPRINT_KEY": secrets.token_hex(24)}
    with tempfile.TemporaryDirectory() as tmpdir, PrivateCluster(Path(tmpdir) / "cluster") as cluster:
        tmp = Path(tmpdir)
        print(f"\nreplicas on a Redis Cluster (3 masters + 3 replicas, AOF always, WAIT 1 per master): "
              f"{seconds:g} s per phase, {os.cpu_count()} cores shared by everything")
        hosts = []
        try:
            rows = {}
            for n in (1, 2):
                hosts.append(serve(tmp / f"host{n}", ["--redis", cluster.url], keys, dev=False, env=env))
                wait_ready(hosts[-1], timeout=300)
                bases = [h.base for h in hosts]
                assert book(bases[-1]), "a first booking failed"
                p_ok, p_bad, p_lat = _load(bases, seconds, 4, plan)
                b_ok, b_bad, b_lat = _load(bases, seconds, 2, book)
                rows[n] = (p_ok / seconds, b_ok / seconds)
                print(f"  {n} replica(s): /v1/plan {p_ok / seconds:6.1f}/s (p50 {statistics.median(p_lat) * 1000:5.0f} ms,"
                      f" {p_bad} failed), bookings {b_ok / seconds:5.1f}/s (plan+offer+book, p50 "
                      f"{statistics.median(b_lat) * 1000:5.0f} ms, {b_bad} failed)")
            print(f"  2 vs 1 replica: plans x{rows[2][0] / rows[1][0]:.2f}, bookings x{rows[2][1] / rows[1][1]:.2f}")
            print("  RSS per replica (one worker, the built-in sample, 2 service days loaded): " +
                  ", ".join(f"{_rss_mb(h.proc.pid):.0f} MB" for h in hosts))
            failover_figures(cluster, [h.base for h in hosts], try_booking)
        finally:
            for h in hosts:
                h.stop()


def _rss_mb(pid: int) -> float:
    """Resident memory of a process (VmRSS), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def failover_figures(cluster, bases: list[str], try_booking) -> None:
    """kill -9 one master while 2 clients book on the replicas: promotion time, refusals, longest gap."""
    import signal
    import threading

    results: list[tuple[float, str]] = []
    stop = threading.Event()

    def booker(i: int) -> None:
        n = i
        while not stop.is_set():
            t = time.monotonic()
            results.append((t, try_booking(bases[n % len(bases)], LOAD_KEY)[0]))
            n += 1

    threads = [threading.Thread(target=booker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    time.sleep(3.0)
    victim = next(n for n in cluster.nodes() if "master" in n["flags"] and n["slots"])
    killed = time.monotonic()
    os.kill(cluster.pid(victim["port"]), signal.SIGKILL)
    promoted = None
    while promoted is None and time.monotonic() - killed < 60:
        live = [p for p in cluster.ports() if p != victim["port"]]
        if any(n["master"] == "-" and "master" in n["flags"] and "fail" not in n["flags"]
               and n["port"] != victim["port"] and victim["slots"][0] in n["slots"] for n in cluster.nodes(live[0])):
            promoted = time.monotonic() - killed
        time.sleep(0.05)
    time.sleep(6.0)
    stop.set()
    for t in threads:
        t.join(60)
    refused = [r for r in results if r[1] != "ok"]
    oks = sorted(t for t, outcome in results if outcome == "ok")
    gap = max((b - a for a, b in zip(oks, oks[1:]) if b > killed), default=float("nan"))
    kinds = sorted({o for _, o in refused})
    print(f"  failover (kill -9 of one master, cluster-node-timeout 1500 ms): replica promoted after "
          f"{promoted if promoted is None else round(promoted, 1)} s; {len(refused)} of {len(results)} bookings "
          f"refused {kinds}; longest time without a confirmed booking {gap:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
