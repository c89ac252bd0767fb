"""Load test of GET /v1/plan against `maas serve` on loopback (the built-in sample network, or --feed NS=PATH).

For 1 and 2 workers and client concurrency 1, 16 and 64: requests/s, p50/p95/p99 latency, error count, for each
query mix (``--mixes``): ``central``, trips between stations within 5 km of ``--near`` (short urban trips, the
cheapest plans), and ``citywide``, random pairs of any of the network's stations (as benchmarks/bench_plan.py
draws them: long trips, the costly plans), both departing 06:00-22:00. Baselines measured in the same run: the same
queries planned in-process, serially, with no HTTP (`TransitService.plan_sync`: the cost of the route search
alone), and GET /healthz (the cost of the HTTP stack alone). With ``--old-commit``
a server of that commit (its tree from `git archive`, kept in /tmp per sha so numba's cache there is reused, and
seeded from this tree's cache for kernel files that did not change) runs beside this tree's: every level is run
against both, alternating which goes first, ``--rounds`` times, medians and the new/old ratio printed, and the
first plan bodies of both are compared byte for byte (decompressed). Peak RSS of each
server worker comes from /proc (VmHWM). The load generator is an aiohttp client in this process, on the same
machine, so on a small box it competes with the server for CPU: the figures are a floor, not a ceiling. The server's
CPU milliseconds per request (its processes' user + system time over the level) hardly depend on that.

    .venv/bin/python benchmarks/bench_api.py [--seconds 4] [--levels 1,16,64] [--workers 1,2] [--redis URL]
        [--feed tokyo-rail=../shared/data/tokyo-rail-gtfs.zip] [--day 2026-12-01 (default today in Tokyo)] [--near 'LAT,LON;LAT,LON']
        [--mixes central,citywide] [--old-commit main --rounds 3] [--no-baseline]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KEY = "bench-key"
KEYS = {KEY: {"role": "partner", "name": "bench", "rate": 1_000_000, "burst": 1_000_000}}
# today in Tokyo: the day a server has built and warmed up before /readyz (another day is built on its first
# request, seconds on all-Tokyo: under load its first requests can time out, which measures the build, not plans)
DAY = dt.datetime.now(dt.timezone(dt.timedelta(hours=9))).date().isoformat()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def queries(station_ids: list[str], n: int = 400, seed: int = 7, day: str = DAY) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = rnd.sample(station_ids, 2)
        minute = rnd.randrange(6 * 60, 22 * 60)
        out.append({"from": a, "to": b, "depart_at": f"{day}T{minute // 60:02d}:{minute % 60:02d}:00+09:00"})
    return out


def pct(values: list[float]) -> dict:
    a = np.asarray(values) * 1000
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "p99": float(np.percentile(a, 99))}


async def load(base: str, path: str, params: list[dict], concurrency: int, seconds: float) -> dict:
    import aiohttp

    lat: list[float] = []
    errors = 0
    first_error: dict[str, str] = {}
    stop = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {KEY}"}
    conn = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(base, connector=conn, headers=headers) as session:
        async def user(k: int) -> None:
            nonlocal errors
            i = k
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                async with session.get(path, params=params[i % len(params)] if params else None) as r:
                    body = await r.read()
                    if r.status != 200:
                        errors += 1
                        first_error.setdefault("error", f"{r.status} {body[:300]!r}")
                lat.append(time.perf_counter() - t0)
                i += concurrency
        t0 = time.perf_counter()
        await asyncio.gather(*(user(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - t0
    if first_error:
        print(f"  {path} at concurrency {concurrency}: {errors} errors, first: {first_error['error']}")
    return {"rps": len(lat) / elapsed, "n": len(lat), "errors": errors, **pct(lat)}


def start_server(workers: int, tmp: Path, redis_url: str, feeds: list[str], tree: Path = ROOT,
                 tag: str = "new") -> tuple[subprocess.Popen, str]:
    """`maas serve` of ``tree`` on a free port, once every worker answers /readyz (``tag`` names its data folder
    and its Redis key prefix, so two servers side by side share nothing but the Redis server)."""
    port = free_port()
    keys = tmp / "keys.json"
    keys.write_text(json.dumps(KEYS))
    env = {**os.environ, "PYTHONPATH": str(tree), "MAAS_REDIS_PREFIX": f"bench-api-{tag}:"}
    proc = subprocess.Popen([sys.executable, "-m", "maas.cli", "serve", "--workers", str(workers), "--port",
                             str(port), "--keys", str(keys), "--data-dir", str(tmp / f"data-{tag}{workers}"), "--dev",
                             *[a for f in feeds for a in ("--feed", _abs_feed(f))],
                             # a benchmark accepts a Redis without AOF-always (its bookings are throwaway)
                             *(["--redis", redis_url, "--allow-volatile-redis"] if workers > 1 else [])],
                            cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    import urllib.request

    deadline = time.monotonic() + 900  # (a big feed is built and warmed up before /readyz; a cold numba cache)
    pids: set[int] = set()
    while time.monotonic() < deadline and len(pids) < workers:
        if proc.poll() is not None:
            raise SystemExit(f"maas serve ({tag}) exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(urllib.request.Request(f"{base}/readyz", headers={"Connection": "close"}),
                                        timeout=2) as r:
                pids.add(json.loads(r.read())["pid"])
        except OSError:
            time.sleep(0.3)
    return proc, base


def wait_ready(proc: subprocess.Popen, base: str, what: str) -> None:
    """Until ``base``/readyz answers (a big feed is built and warmed up first; a cold numba cache)."""
    import urllib.request

    deadline = time.monotonic() + 900
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the {what} server did not become ready (exit {proc.returncode})")
        try:
            urllib.request.urlopen(f"{base}/readyz", timeout=2).read()
            return
        except OSError:
            time.sleep(1)


def _abs_feed(spec: str) -> str:
    """A feed spec with an absolute path: an old tree's server runs in another folder."""
    ns, sep, path = spec.rpartition("=")
    return f"{ns}{sep}{Path(path).resolve()}" if Path(path).exists() else spec


def old_tree(commit: str) -> Path:
    """The tree of ``commit`` (git archive) in /tmp/bench-api-SHA, reused by later runs. Kernel sources identical
    to this tree's get this tree's numba cache files and modification times (numba keys its cache on the source's
    mtime and size), so the old server loads the kernels instead of compiling them for minutes."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{commit}^{{commit}}"],
                         capture_output=True, text=True, check=True).stdout.strip()
    tree = Path(tempfile.gettempdir()) / f"bench-api-{sha}"
    if not (tree / "maas").is_dir():
        arch = subprocess.run(["git", "-C", str(ROOT), "archive", sha], capture_output=True, check=True)
        part = Path(tempfile.mkdtemp(prefix=tree.name + "."))
        subprocess.run(["tar", "-x", "-C", str(part)], input=arch.stdout, check=True)
        try:
            part.rename(tree)  # whole or not at all: another run may extract the same commit
        except OSError:
            shutil.rmtree(part, ignore_errors=True)
    for cache in ROOT.glob("*/__pycache__/*.nb[ic]"):
        src = ROOT / cache.parent.parent.name / (cache.name.split(".", 1)[0] + ".py")
        other = tree / src.relative_to(ROOT)
        if src.is_file() and other.is_file() and src.read_bytes() == other.read_bytes():
            (other.parent / "__pycache__").mkdir(exist_ok=True)
            if not (other.parent / "__pycache__" / cache.name).exists():
                shutil.copy2(cache, other.parent / "__pycache__" / cache.name)
            st = src.stat()
            os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    return tree


def worker_rss_mb(proc: subprocess.Popen) -> list[float]:
    """Peak RSS (VmHWM) of the serving processes: the server itself, or its worker children."""
    pids = [proc.pid]
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        pids = [int(p) for p in children] or pids
    except OSError:
        pass
    out = []
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    out.append(int(line.split()[1]) / 1024)
        except OSError:
            pass
    return out


def server_cpu_s(proc: subprocess.Popen) -> float:
    """CPU seconds (user + system) the server and its worker children have used so far: CPU per request does
    not depend on what else the machine runs, as requests/s does."""
    pids = [proc.pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    except OSError:
        pass
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def local_transit(feeds: list[str]):
    """The served network in this process (`TransitService`, as a server worker loads it): the in-process
    baseline's planner, and the station list of the city-wide mix."""
    from maas.platform.settings import Settings
    from maas.transit import TransitService

    return TransitService.from_settings(Settings(feeds=list(feeds)), progress=False)


def citywide_stations(transit, day: str) -> list[str]:
    """Every station of the network on ``day`` (the model's), for random city-wide pairs."""
    return list(transit.model_for(dt.date.fromisoformat(day)).station_ids)


def in_process_baseline(transit, qs: list[dict], seconds: float) -> dict:
    """The same queries planned serially in this process: the route search with no HTTP at all."""
    for q in qs[:20]:  # warm-up, untimed: the day's model build and numba's compile/cache load
        try:
            transit.plan_sync(q["from"], q["to"], dt.datetime.fromisoformat(q["depart_at"]))
        except ValueError:
            pass
    lat = []
    stop = time.perf_counter() + seconds
    i = 0
    t0 = time.perf_counter()
    while time.perf_counter() < stop:
        q = qs[i % len(qs)]
        s = time.perf_counter()
        try:
            transit.plan_sync(q["from"], q["to"], dt.datetime.fromisoformat(q["depart_at"]))
        except ValueError:
            pass
        lat.append(time.perf_counter() - s)
        i += 1
    elapsed = time.perf_counter() - t0
    return {"rps": len(lat) / elapsed, "n": len(lat), **pct(lat)}


def same_bodies(bases: dict[str, str], qs: list[dict], n: int = 40) -> tuple[int, int, str]:
    """How many of the first ``n`` plan bodies the servers answer identically (decompressed bytes), of how many;
    and the first query that differs."""
    import aiohttp

    async def run() -> tuple[int, int, str]:
        same, first = 0, ""
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as session:
            for q in qs[:n]:
                bodies = set()
                for base in bases.values():
                    async with session.get(f"{base}/v1/plan", params=q) as r:
                        bodies.add((r.status, await r.read()))
                same += len(bodies) == 1
                if len(bodies) > 1 and not first:
                    first = json.dumps(q, ensure_ascii=False)
        return same, min(n, len(qs)), first

    return asyncio.run(run())


def median_row(results: list[dict]) -> dict:
    """The median of each figure over the rounds (errors and requests added up)."""
    out = {k: float(np.median([r[k] for r in results])) for k in ("rps", "p50", "p95", "p99", "cpu_ms")}
    out.update(errors=sum(r["errors"] for r in results), n=sum(r["n"] for r in results), rounds=len(results))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="duration of each load level")
    ap.add_argument("--levels", default="1,16,64")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--feed", action="append", default=[], help="NS=PATH feed to serve (default: the sample)")
    ap.add_argument("--day", default=DAY, help="service day of the queries (default: today in Tokyo)")
    ap.add_argument("--near", default="35.68,139.76",
                    help="'lat,lon;lat,lon…': the central mix joins stations within 5 km of these points (default: "
                         "around Tokyo Station, central trips; e.g. add Shinjuku 35.69,139.70, Tachikawa 35.70,139.41, "
                         "Kita-Senju 35.75,139.80, Kamata 35.56,139.72 for trips between these centres)")
    ap.add_argument("--mixes", default="central,citywide",
                    help="query mixes to load, each reported on its own: central (stations near --near), citywide "
                         "(random pairs of all the network's stations)")
    ap.add_argument("--redis", default=os.environ.get("MAAS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
                    help="Redis for the multi-worker runs (several workers share it)")
    ap.add_argument("--old-commit", default="", help="also serve this commit and compare, level by level")
    ap.add_argument("--rounds", type=int, default=1, help="times each level is run (per server); medians shown")
    ap.add_argument("--no-baseline", action="store_true", help="skip the in-process serial baseline")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    mixes = [m.strip() for m in args.mixes.split(",") if m.strip()]
    if not mixes or set(mixes) - {"central", "citywide"}:
        raise SystemExit(f"--mixes: central and/or citywide, not {args.mixes!r}")
    trees = {"new": ROOT}
    if args.old_commit:
        trees = {"old": old_tree(args.old_commit), "new": ROOT}
    runs: dict[tuple, list[dict]] = {}  # (tree, endpoint, workers, concurrency) -> one result per round
    print(f"load average at the start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    # the network in this process (before the servers start, so its load does not overlap theirs): the city-wide
    # mix's stations and the in-process baseline
    transit = local_transit(args.feed) if "citywide" in mixes or not args.no_baseline else None
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        qs: dict[str, list[dict]] = {}  # mix -> queries
        if "citywide" in mixes:
            qs["citywide"] = queries(citywide_stations(transit, args.day), day=args.day)
        for workers in (int(x) for x in args.workers.split(",")):
            procs: dict[str, subprocess.Popen] = {}
            bases: dict[str, str] = {}
            try:
                for tag, tree in trees.items():
                    t0 = time.perf_counter()
                    procs[tag], bases[tag] = start_server(workers, tmp, args.redis, args.feed, tree, tag)
                    print(f"{tag} server, workers={workers}: start-up {time.perf_counter() - t0:.1f} s", flush=True)
                if "central" in mixes and "central" not in qs:
                    import urllib.request

                    stops = []
                    for near in args.near.split(";"):
                        req = urllib.request.Request(f"{bases['new']}/v1/stops?near={near}&radius=5000&limit=200",
                                                     headers={"Authorization": f"Bearer {KEY}"})
                        stops += json.loads(urllib.request.urlopen(req).read())["stops"]
                    qs["central"] = queries(sorted({s["id"] for s in stops if s["type"] == "station"}),
                                            day=args.day)
                if len(bases) > 1:
                    for mix in mixes:
                        same, n, first = same_bodies(bases, qs[mix])
                        print(f"plan bodies identical old/new ({mix}): {same} of {n}"
                              + (f"; first differing: {first}" if first else ""), flush=True)
                for base in bases.values():
                    for mix in mixes:  # warm-up: numba, caches, connections
                        asyncio.run(load(base, "/v1/plan", qs[mix], 4, 1.0))
                for rnd in range(args.rounds):
                    order = list(trees) if rnd % 2 == 0 else list(reversed(trees))
                    for name, path, c in [("healthz", "/healthz", 16),
                                          *((f"plan {mix}", "/v1/plan", c) for mix in mixes for c in levels)]:
                        params = qs[name.split()[1]] if name != "healthz" else []
                        for tag in order:  # each level against each server back to back: the same machine load
                            cpu = server_cpu_s(procs[tag])
                            r = asyncio.run(load(bases[tag], path, params, c, args.seconds))
                            r["cpu_ms"] = (server_cpu_s(procs[tag]) - cpu) * 1000 / max(r["n"], 1)
                            runs.setdefault((tag, name, workers, c), []).append(r)
                for tag, proc in procs.items():
                    print(f"{tag} server, workers={workers}: peak RSS per serving process "
                          f"{', '.join(f'{m:.0f} MB' for m in worker_rss_mb(proc))}", flush=True)
            finally:
                for proc in procs.values():
                    proc.send_signal(signal.SIGTERM)
                for proc in procs.values():
                    proc.wait(60)
        base_rows = {} if args.no_baseline else {mix: in_process_baseline(transit, qs[mix], args.seconds)
                                                 for mix in mixes}
    if transit is not None:
        transit.close()
    rows = {key: median_row(rs) for key, rs in runs.items()}
    cores = os.cpu_count() or 1
    print()
    print(f"load average at the end {os.getloadavg()[0]:.1f} on {cores} cores (other work on the machine lowers "
          f"req/s; 'CPU cap' = {cores} cores / server CPU per request, the rate the server's own CPU would allow "
          f"with the machine to itself, client and Redis aside)")
    print(f"{'server':6} {'endpoint':16} {'workers':>7} {'conc':>5} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'p99 ms':>8} {'errors':>6} {'n':>7} {'server CPU ms/req':>17} {'CPU cap':>8}"
          + (f" {'req/s new/old':>13} {'CPU old/new':>11}" if len(trees) > 1 else ""))
    for (tag, name, w, c), r in rows.items():
        old = rows.get(("old", name, w, c))
        ratio = (f" {r['rps'] / old['rps']:>13.2f} {old['cpu_ms'] / max(r['cpu_ms'], 1e-9):>11.2f}"
                 if tag == "new" and old else (" " * 26 if len(trees) > 1 else ""))
        print(f"{tag:6} {name:16} {w:>7} {c:>5} {r['rps']:>9.1f} {r['p50']:>8.2f} {r['p95']:>8.2f} {r['p99']:>8.2f} "
              f"{r['errors']:>6} {r['n']:>7} {r['cpu_ms']:>17.2f} {cores * 1000 / max(r['cpu_ms'], 1e-9):>8.0f}"
              + ratio)
    for mix, base_row in base_rows.items():
        print(f"{'new':6} {'in-proc ' + mix:16} {'-':>7} {1:>5} {base_row['rps']:>9.1f} {base_row['p50']:>8.2f} "
              f"{base_row['p95']:>8.2f} {base_row['p99']:>8.2f} {'-':>6} {base_row['n']:>7}   (plan_sync, no HTTP: "
              "naive serial baseline)")
    print()
    for tag in trees:
        for mix in mixes:
            plans = [(w, c, r) for (t, name, w, c), r in rows.items() if t == tag and name == f"plan {mix}"]
            if not plans:
                continue
            w, c, best = max(plans, key=lambda x: x[2]["rps"])
            line = (f"{tag} ({mix}): best /v1/plan throughput {best['rps']:.0f} req/s (workers={w}, concurrency={c}, "
                    f"median of {best['rounds']}), p50 {best['p50']:.1f} ms, p99 {best['p99']:.1f} ms, server CPU "
                    f"{best['cpu_ms']:.2f} ms/req")
            base_row = base_rows.get(mix)
            if tag == "new" and base_row is not None:
                c1 = next((r for w2, c2, r in plans if c2 == 1), None)
                line += (f"; {best['rps'] / base_row['rps']:.2f}× the serial in-process baseline"
                         + (f"; HTTP cost at concurrency 1: {c1['p50'] - base_row['p50']:.2f} ms over the "
                            f"{base_row['p50']:.2f} ms search (p50)" if c1 else ""))
            print(line)
    print(f"load generator peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
