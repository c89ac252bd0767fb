"""The CPU of GET /v1/plan outside the planner's kernels, this tree against an old one, interleaved.

bench_api's servers spend ~85 % of a request in the RAPTOR kernels, whose cost moves with the machine's load more
than an API change moves the rest: a 5 % cut of the request path is lost in it. Here each server (one process, as
one worker of `maas serve`) records each kernel call (`range_search_flat`, `late_bounds_flat`) by its inputs the
first time it meets it and replays the recorded outputs after, so once the queries have been seen a request costs
what HTTP, auth, rate limit, validation, the planner's Python, itineraries, fares, JSON, compression, logging and
metrics cost, and nothing else. Both servers are loaded in turn (the order alternating each round) with the same
city-wide queries; per round each server's CPU per request (from /proc: the event loop's thread and the others,
planner threads), and the medians of the per-round new/old ratios (a pair of adjacent runs shares the machine's
load). The bodies of both are compared (decompressed) first.

    .venv/bin/python benchmarks/bench_api_path.py --old-tree /work/wt-base
        [--feed tokyo-rail=../shared/data/tokyo-rail-gtfs.zip] [--rounds 10] [--seconds 3] [--concurrency 8]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
DEFAULT_FEED = "tokyo-rail=../shared/data/tokyo-rail-gtfs.zip"


def serve(tree: str, port: int, keys: str, data: str, feed: str) -> None:
    """The child: this tree's server with the kernels recorded, then replayed (see the module docstring)."""
    sys.path.insert(0, tree)
    import numpy as np

    import routing.raptor.search as search
    from api.server import run_worker
    from maas.platform.settings import Settings
    from routing.raptor.state import Rules

    at = {name: i for i, name in enumerate(Rules._fields)}  # (the flat rules are a plain tuple in Rules' order)
    search_flat, late_flat = search.range_search_flat, search.late_bounds_flat
    searches: dict = {}
    lates: dict = {}

    def range_search(recs, rules, seg, out, src, acc, tgt, egr, known, t0, t1, bound, resume, tune):
        # the inputs that decide the output (rules: the horizon on its clock, which tells the clocks apart, speed,
        # wheelchair, change time, the late bound's shape, the patterns allowed); the bounds are the same whether
        # worked out or kept
        key = (src.tobytes(), acc.tobytes(), tgt.tobytes(), egr.tobytes(), int(t0), int(t1), int(bound), bool(resume),
               int(rules[at["ride_until"]]), float(rules[at["walk_speed"]]), bool(rules[at["wheelchair"]]),
               int(rules[at["min_transfer_s"]]), rules[at["late"]].shape, id(rules[at["pattern_allowed"]]))
        hit = searches.get(key)
        if hit is None:
            got = search_flat(recs, rules, seg, out, src, acc, tgt, egr, known, t0, t1, bound, resume, tune)
            o = out if got[1] is None else got[1]
            n_j, n_l = o[2].tolist()
            searches[key] = (got[2:], o[0][:n_j].copy(), o[1][:n_l].copy(), o[2].copy())
            return got
        rest, journeys, legs, used = hit
        grown = None
        if len(journeys) > out[0].shape[0] or len(legs) > out[1].shape[0]:
            from routing.raptor.journeys import Output

            out = grown = Output(np.empty((2 * len(journeys), 8), np.int64), np.empty((2 * len(legs), 10), np.int64),
                                 np.zeros(2, np.int64))
        out[0][:len(journeys)], out[1][:len(legs)], out[2][:] = journeys, legs, used
        return (None, grown, *rest)

    def late_bounds(recs, rules, seg, tgt, egr, org, acc, res_t, rides, t_start, late, known):
        key = (tgt.tobytes(), egr.tobytes(), org.tobytes(), acc.tobytes(), res_t.tobytes(), int(t_start), late.shape)
        hit = lates.get(key)
        if hit is None:
            got = late_flat(recs, rules, seg, tgt, egr, org, acc, res_t, rides, t_start, late, known)
            lates[key] = late.copy()
            return got
        late[...] = hit
        return seg

    search.range_search_flat, search.late_bounds_flat = range_search, late_bounds
    run_worker(Settings(feeds=[feed], port=port, keys_file=Path(keys), data_dir=Path(data), dev=True))


def thread_cpu_s(pid: int) -> tuple[float, float]:
    """(CPU seconds of the process's main thread: the event loop; of its other threads)."""
    loop = other = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks = int(fields[11]) + int(fields[12])
        if int(tid) == pid:
            loop += ticks
        else:
            other += ticks
    tick = os.sysconf("SC_CLK_TCK")
    return loop / tick, other / tick


async def each_once(base: str, qs: list[dict], key: str) -> None:
    """Every query once (4 at a time): what the server records."""
    import aiohttp

    async with aiohttp.ClientSession(base, headers={"Authorization": f"Bearer {key}"}) as session:
        limit = asyncio.Semaphore(4)

        async def one(q: dict) -> None:
            async with limit, session.get("/v1/plan", params=q) as r:
                await r.read()

        await asyncio.gather(*(one(q) for q in qs))


def body(base: str, q: dict, key: str) -> bytes:
    import brotli

    req = urllib.request.Request(f"{base}/v1/plan?{urllib.parse.urlencode(q)}",
                                 headers={"Authorization": f"Bearer {key}", "Accept-Encoding": "br"})
    with urllib.request.urlopen(req) as r:
        raw = r.read()
        return brotli.decompress(raw) if r.headers.get("Content-Encoding") == "br" else raw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-tree", help="a checkout of the old commit (e.g. /work/wt-base)")
    ap.add_argument("--feed", default=DEFAULT_FEED)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=3.0, help="each server's load per round")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--serve", nargs=5, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        tree, port, keys, data, feed = a.serve
        serve(tree, int(port), keys, data, feed)
        return
    if not a.old_tree:
        ap.error("--old-tree is required")
    import bench_api

    feed = bench_api._abs_feed(a.feed)
    tmp = Path(tempfile.mkdtemp(prefix="bench-api-path-"))
    keys = tmp / "keys.json"
    keys.write_text(json.dumps(bench_api.KEYS))
    servers: dict[str, tuple[subprocess.Popen, str]] = {}
    try:
        for tag, tree in (("old", Path(a.old_tree).resolve()), ("new", ROOT)):
            port = bench_api.free_port()
            proc = subprocess.Popen([sys.executable, __file__, "--serve", str(tree), str(port), str(keys),
                                     str(tmp / f"data-{tag}"), feed], cwd=tree,
                                    env={**os.environ, "PYTHONPATH": str(tree)}, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            servers[tag] = (proc, f"http://127.0.0.1:{port}")
        for tag, (proc, base) in servers.items():
            bench_api.wait_ready(proc, base, tag)
        transit = bench_api.local_transit([feed])
        qs = bench_api.queries(bench_api.citywide_stations(transit, bench_api.DAY), n=a.queries)
        transit.close()
        for _, base in servers.values():
            asyncio.run(each_once(base, qs, bench_api.KEY))  # recorded
            asyncio.run(each_once(base, qs, bench_api.KEY))  # replayed: whatever first-use caches fill
        same = sum(body(servers["old"][1], q, bench_api.KEY) == body(servers["new"][1], q, bench_api.KEY)
                   for q in qs[:60])
        print(f"bodies identical (decompressed): {same} of 60")
        rows: list[dict] = []
        for r in range(a.rounds):
            row = {}
            for tag in (("old", "new") if r % 2 == 0 else ("new", "old")):
                proc, base = servers[tag]
                loop0, other0 = thread_cpu_s(proc.pid)
                got = asyncio.run(bench_api.load(base, "/v1/plan", qs, a.concurrency, a.seconds))
                loop1, other1 = thread_cpu_s(proc.pid)
                n = max(got["n"], 1)
                row[tag] = ((loop1 - loop0) * 1000 / n, (other1 - other0) * 1000 / n, got["errors"])
            rows.append(row)
            print(f"round {r}: " + "; ".join(f"{t} loop {row[t][0]:.3f} + planner threads {row[t][1]:.3f} = "
                                            f"{row[t][0] + row[t][1]:.3f} CPU ms a request, {row[t][2]} errors"
                                            for t in ("old", "new")), flush=True)
        for name, part in (("event loop", lambda x: x[0]), ("planner threads", lambda x: x[1]),
                           ("all", lambda x: x[0] + x[1])):
            old = statistics.median(part(row["old"]) for row in rows)
            new = statistics.median(part(row["new"]) for row in rows)
            ratio = statistics.median(part(row["new"]) / part(row["old"]) for row in rows)
            print(f"{name}: CPU ms a request, medians: old {old:.3f} new {new:.3f}; median of per-round new/old "
                  f"{ratio:.3f}")
    finally:
        for proc, _ in servers.values():
            proc.send_signal(signal.SIGTERM)
        for proc, _ in servers.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
