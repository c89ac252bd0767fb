"""JMA warnings: telegram → effect on queries, plan latency with avoid areas, and the event loop during a big apply.

Figures (p50/p95/p99, ratios against a baseline in the same run):
  1. Tokyo-wide VPWW54 (all 62 municipalities) → effect: `ClosureService.accept` of the telegram (XML parse,
     policy, municipality polygons, store write, resolution in a worker thread) until the planner's masks (close
     and avoid) and the warnings index are ready for the next query. Two telegrams: all 62 under 大雨特別警報
     (close) and the official sample's state (暴風警報 in the 23 wards = avoid, 小笠原村 special warnings), each
     followed by an all-clear so every repetition is a real change. Aim ≤ 200 ms.
  2. Plan latency, random Toei + Tokyo Metro stop pairs at 08:00 (between stops outside the warned wards), through
     the WarningPlanner (the service's planning path): no warnings vs 10 municipality-sized `avoid` areas (10
     central wards under 大雨警報), and the planner before this change (restricted plan + a reference plan in
     another thread on every query). Interleaved per query, best of 3 each; wall and process-CPU times. Aim:
     within 30 % (judged on the median of per-query ratios; the p50 ratio is printed too).
  3. /healthz latency on a live aiohttp server (the test client shares its loop) while a 20,000-vertex area is
     applied: now (payload parsed in the child process), threads only (before), CPython's 5 ms switch, and the
     apply on the event loop (worker-thread hand-offs made synchronous). A warm worker: today's model built,
     planner warm, child started, then `tune_worker_runtime`. Aim < 10 ms.

    .venv/bin/python benchmarks/bench_warnings.py [--feed toei-metro|toei-rail|sample] [--queries 150] [--reps 20]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import datetime as dt
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from api.server import GIL_SWITCH_S, tune_worker_runtime  # noqa: E402
from feeds.feed import Network  # noqa: E402
from feeds.jma_areas import MunicipalityAreas  # noqa: E402
from jma_support import all_tokyo, warning_xml  # noqa: E402
from maas.disruptions.closures import ClosureService  # noqa: E402
from maas.disruptions.avoid import WarningPlanner  # noqa: E402
from maas.disruptions.jma_intake import JmaIntake  # noqa: E402
from maas.transit import TransitService  # noqa: E402
from routing.planner import PlanError, PlanOptions  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

JST = dt.timezone(dt.timedelta(hours=9))
REPEAT = 3  # plan-latency runs per query and variant (the best counts)
SHARED = ROOT.parent / "shared" / "data"
# ten wards with Toei lines through them; queries go between stops outside them, so plans must route around
WARDS = [("1310400", "新宿区"), ("1310500", "文京区"), ("1310600", "台東区"), ("1310700", "墨田区"),
         ("1310900", "品川区"), ("1311000", "目黒区"), ("1311300", "渋谷区"), ("1311600", "豊島区"),
         ("1311700", "北区"), ("1311800", "荒川区")]


def pct(xs) -> str:
    a = np.asarray(xs) * 1000
    return (f"p50 {np.percentile(a, 50):7.2f} ms  p95 {np.percentile(a, 95):7.2f} ms  "
            f"p99 {np.percentile(a, 99):7.2f} ms  max {a.max():7.2f} ms")


def transit_for(feed: str, day: dt.date) -> TransitService:
    if feed in ("toei-rail", "toei-metro") and (SHARED / "toei-rail-gtfs.zip").exists():
        from feeds.gtfs import load_feed

        feeds = [load_feed(SHARED / "toei-rail-gtfs.zip", "toei")]
        if feed == "toei-metro":
            feeds.append(load_feed(SHARED / "tokyo-metro-gtfs.zip", "metro"))
        network = Network(feeds)
    else:
        from maas.publishing.network import load_network

        network = load_network([], None, progress=False)
    t = time.perf_counter()
    transit = TransitService(network, threads=2)
    model = transit.model_for(day)
    print(f"{model.describe()} (built in {time.perf_counter() - t:.2f} s)")
    return transit


def sample_state(t: dt.datetime) -> str:
    """The official Tokyo VPWW54 sample's warnings, re-dated (its 2016 time would be older than our runs)."""
    raw = (SHARED / "jma" / "15_13_01_161226_VPWW54.xml").read_text()
    return raw.replace("2016-12-13T20:45:00+09:00", t.isoformat()).replace(
        "2016-12-13T11:47:23Z", t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))


async def telegram_to_effect(transit, areas, day: dt.date, reps: int) -> None:
    model = transit.model_for(day)
    walker = transit.walker
    svc = ClosureService(None, lambda: model, clock=lambda: dt.datetime.combine(day, dt.time(4), JST),
                         jma=JmaIntake(areas))
    await svc.start()
    await svc.child_started()  # as a server that has had a big payload: its parser child spawned (a second of CPU)
    wp = WarningPlanner(transit, svc)
    t = time.perf_counter()
    svc.prepare(model, walker)
    print(f"one-off per model: hop geometry + STRtree {1000 * (time.perf_counter() - t):.1f} ms")
    areas_file = SHARED / "tokyo-municipalities.geojson"
    heavy = [("大雨特別警報", "33", "発表")]
    base = dt.datetime.combine(day, dt.time(0), JST)
    results: dict[str, list[float]] = {"all 62 大雨特別警報 (close)": [], "sample state (avoid + close)": []}
    clear: list[float] = []
    parse: list[float] = []
    for i in range(reps):
        for name in results:
            when = base + dt.timedelta(minutes=2 * (i * len(results) + list(results).index(name)))
            xml = (warning_xml(all_tokyo(heavy, areas_file), when, data_type="VPWW54") if name.startswith("all")
                   else sample_state(when))
            t0 = time.perf_counter()
            res = await svc.accept(xml.encode(), "application/xml")
            svc.mask_for(model, walker)
            svc.mask_for(model, walker, restricting=True)
            wp.touch_index(model, walker)
            results[name].append(time.perf_counter() - t0)
            t1 = time.perf_counter()
            svc.parse(xml.encode(), "application/xml")
            parse.append(time.perf_counter() - t1)
            assert res.accepted
            off = warning_xml(all_tokyo([], areas_file), when + dt.timedelta(minutes=1), data_type="VPWW54")
            t0 = time.perf_counter()
            await svc.accept(off.encode(), "application/xml")
            svc.mask_for(model, walker)
            wp.touch_index(model, walker)
            clear.append(time.perf_counter() - t0)
    for name, xs in results.items():
        ok = np.percentile(np.asarray(xs), 99) <= 0.2
        print(f"{name:32} telegram → masks ready  {pct(xs)}  (aim ≤ 200 ms: {'met' if ok else 'MISSED'})")
    print(f"{'all-clear (62 lifted)':32} telegram → masks ready  {pct(clear)}")
    print(f"{'XML parse alone':32}                        {pct(parse)}")
    await svc.aclose()


def plan_latency(transit, areas, day: dt.date, queries: int) -> None:
    model = transit.model_for(day)
    clock = lambda: dt.datetime.combine(day, dt.time(4), JST)  # noqa: E731
    import shapely

    rng = random.Random(11)
    lon, lat = np.asarray(model.stop_lon), np.asarray(model.stop_lat)
    warned = shapely.union_all([areas.get(c).geometry for c, _ in WARDS])
    outside = np.flatnonzero(~shapely.intersects_xy(warned, lon, lat))
    print(f"{len(outside)} of {model.n_stops} stops lie outside the 10 warned wards")
    pairs = []
    while len(pairs) < queries:
        o, d = int(rng.choice(outside)), int(rng.choice(outside))
        if o != d and np.hypot(lon[o] - lon[d], lat[o] - lat[d]) > 0.02:  # > ~2 km: rides, not walks
            pairs.append((model.stop_ids[o], model.stop_ids[d]))
    when = dt.datetime.combine(day, dt.time(8), JST)

    none_svc = ClosureService(None, lambda: model, clock=clock, jma=JmaIntake(areas))
    svc = ClosureService(None, lambda: model, clock=clock, jma=JmaIntake(areas))
    xml = warning_xml([(c, n, [("大雨警報", "03", "発表")]) for c, n in WARDS], clock() - dt.timedelta(hours=1))
    asyncio.run(svc.accept(xml.encode(), "application/xml"))
    assert all(c.strength == "avoid" for c in svc.list_all())
    pool = ThreadPoolExecutor(max_workers=2)
    planners = {"no warnings": (none_svc, WarningPlanner(transit, none_svc).plan_sync),
                "10 wards under 大雨警報 (avoid)": (svc, WarningPlanner(transit, svc).plan_sync),
                "  before: two plans per query": (svc, lambda o, d, w: two_plans(transit, svc, pool, o, d, w))}
    times: dict[str, list[float]] = {k: [] for k in planners}
    cpu: dict[str, list[float]] = {k: [] for k in planners}  # process CPU seconds: steadier on a shared machine
    counts: dict[str, list[int]] = {k: [0, 0, 0] for k in planners}
    for i, (o, d) in enumerate(pairs[:10] + pairs):  # the first 10 warm numba and caches
        order = list(planners.items())
        best = {name: (np.inf, np.inf) for name in planners}
        answers: dict[str, list] = {}
        for rep in range(REPEAT):  # best of REPEAT per query: the machine is shared, preemption is not ours
            for name, (s, plan) in (order if (i + rep) % 2 else order[::-1]):  # interleaved: drift hits all
                transit.mask_provider = s.mask_for
                t, c0 = time.perf_counter(), time.process_time()
                try:
                    its = plan(o, d, when)
                except PlanError:
                    its = []
                wall, used = time.perf_counter() - t, time.process_time() - c0
                best[name] = (min(best[name][0], wall), min(best[name][1], used))
                answers[name] = its
        if i >= 10:
            for name in planners:
                times[name].append(best[name][0])
                cpu[name].append(best[name][1])
                c, its = counts[name], answers[name]
                c[0] += bool(its)
                c[1] += any(it.get("avoided") for it in its)
                c[2] += any(it.get("enters_warning_area") for it in its)
    transit.mask_provider = None
    pool.shutdown()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; interleaved, same queries, best of "
          f"{REPEAT} per query")
    base = times["no warnings"]
    for name, xs in times.items():
        a, avo, ent = counts[name]
        print(f"{name:32} {pct(xs)}  answered {a}/{len(pairs)}  routed around {avo}, entering offered {ent}")
        if xs is not base:
            ratio = np.median(xs) / np.median(base)
            paired = np.median(np.asarray(xs) / np.asarray(base))
            c_ratio = np.median(cpu[name]) / np.median(cpu["no warnings"])
            print(f"{'':32} p50 ratio {ratio:.2f}, p95 ratio {np.percentile(xs, 95) / np.percentile(base, 95):.2f}, "
                  f"mean ratio {np.mean(xs) / np.mean(base):.2f}, median of per-query ratios {paired:.2f}; "
                  f"CPU p50 ratio {c_ratio:.2f} (aim ≤ 1.30 on the per-query median, the figure a shared machine's "
                  f"drift moves least: {'met' if paired <= 1.3 else 'MISSED'})")


def two_plans(transit, svc, pool, origin, destination, when) -> list[dict]:
    """The planner before this change, for comparison: the restricted plan and, in another thread, an unmasked
    reference plan on every query (then the same much-worse rule)."""
    from maas.disruptions.avoid import _best, much_worse

    planner = transit.live_planner_for(when.date())
    model, walker = planner.model, planner.walker
    wp = WarningPlanner(transit, svc)
    ti = wp.touch_index(model, walker)
    restrict = svc.mask_for(model, walker, restricting=True)

    def run(mask, num=None):
        o = PlanOptions() if num is None else PlanOptions(num_itineraries=num, range_window_s=0)
        return [it.to_dict() for it in planner.plan(origin, destination, when, options=o, mask=mask)]

    ref = pool.submit(run, None, 1)
    main = run(restrict)
    reference = _best(ref.result(), False)
    hits = ti.touched_closures(reference) if reference else []
    out = [ti.annotate(it, [c for c in hits if c.restricting]) for it in main]
    if reference is not None and any(c.strength == "avoid" for c in hits) and much_worse(_best(main, False),
                                                                                          reference, False):
        ti.annotate(reference)
        reference["enters_warning_area"] = True
        out.append(reference)
    return out


async def healthz_during_apply(transit, reps: int, on_loop: bool, switch: float, child: bool = True
                               ) -> tuple[list[float], list[float], list[float]]:
    import orjson

    from api_support import auth, client_for, services_for
    from maas.disruptions.closure_store import MemoryClosureStore
    from maas.services import closure_service
    from maas.platform.settings import Settings
    from test_jma_offloop import big_polygon, healthz_latencies

    services = services_for(transit, closures=closure_service(Settings(), transit, store=MemoryClosureStore()))
    if not child:  # big payloads parsed in a worker thread like small ones (before the child process)
        services.closures.child = None
    during, idle, applies = [], [], []
    real_to_thread = asyncio.to_thread

    async def inline(fn, *a, **kw):
        return fn(*a, **kw)

    async with client_for(services) as client:
        # a warm worker: today's model (the closure checks' model) and its hop geometry are built, then start-up
        # ends with tune_worker_runtime (gc.freeze, switch interval), as api/server.py's workers do
        small = {"id": "warm", "targets": {"areas": [big_polygon(16)]}}
        await client.post("/v1/closures", json=small, headers=auth("dis-jma"))
        await services.wait_warm(600)
        await services.closures.child_started()
        await tune_worker_runtime()
        sys.setswitchinterval(switch)
        stop = asyncio.Event()
        poll = asyncio.create_task(healthz_latencies(client, stop))
        await asyncio.sleep(0.5)
        stop.set()
        idle += await poll
        if on_loop:
            asyncio.to_thread = inline
        try:
            for k in range(reps):
                body = orjson.dumps({"id": f"big{k % 3}", "targets": {"areas": [big_polygon()]}})
                stop = asyncio.Event()
                poll = asyncio.create_task(healthz_latencies(client, stop))
                await asyncio.sleep(0.03)
                t = time.perf_counter()
                r = await client.post("/v1/closures", data=body,
                                      headers={**auth("dis-jma"), "Content-Type": "application/json"})
                applies.append(time.perf_counter() - t)
                assert r.status == 201
                await asyncio.sleep(0.02)
                stop.set()
                during += await poll
        finally:
            asyncio.to_thread = real_to_thread
    transit.mask_provider = None
    return idle, during, applies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--feed", default="toei-metro", choices=["toei-metro", "toei-rail", "sample"])
    ap.add_argument("--date", default="2026-12-01")
    ap.add_argument("--queries", type=int, default=150)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--parts", default="123", help="which parts to run, e.g. 3")
    args = ap.parse_args()
    day = dt.date.fromisoformat(args.date)
    transit = transit_for(args.feed, day)
    areas = MunicipalityAreas.load(SHARED / "tokyo-municipalities.geojson")
    asyncio.run(tune_worker_runtime())  # as each server worker does once it has loaded everything (api/server.py)

    if "1" in args.parts:
        print("\n== 1. Tokyo-wide VPWW54 → effect on queries ==")
        asyncio.run(telegram_to_effect(transit, areas, day, args.reps))

    if "2" in args.parts:
        print(f"\n== 2. plan latency, {args.queries} random stop pairs (> 2 km) at 08:00 ==")
        plan_latency(transit, areas, day, args.queries)

    if "3" in args.parts:
        print("\n== 3. /healthz during a 20,000-vertex area apply (aiohttp server, same process) ==")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for label, on_loop, switch, child in (
                ("child process + threads, 1 ms switch (now)", False, GIL_SWITCH_S, True),
                ("worker threads only, 1 ms switch (before)", False, GIL_SWITCH_S, False),
                ("worker threads only, CPython's 5 ms switch", False, 0.005, False),
                ("apply on the event loop (long before)", True, GIL_SWITCH_S, False)):
            idle, during, applies = asyncio.run(healthz_during_apply(transit, max(3, args.reps // 2), on_loop,
                                                                      switch, child))
            print(f"{label:44} healthz {pct(during)}  n={len(during)}; apply {pct(applies)}")
            if child:
                print(f"{'idle server (same run)':44} healthz {pct(idle)}")
        sys.setswitchinterval(GIL_SWITCH_S)
    transit.close()
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
