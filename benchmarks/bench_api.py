"""Load test of GET /v1/plan against `maas serve` on loopback (the built-in sample network, or --feed NS=PATH).

For 1 and 2 workers and client concurrency 1, 16 and 64: requests/s, p50/p95/p99 latency, error count. Baselines
measured in the same run: the same queries planned in-process, serially, with no HTTP (`TransitService.plan_sync`:
the cost of the route search alone), and GET /healthz (the cost of the HTTP stack alone). Peak RSS of each
server worker comes from /proc (VmHWM). The load generator is an aiohttp client in this process, on the same
machine, so on a small box it competes with the server for CPU: the figures are a floor, not a ceiling. The server's
CPU milliseconds per request (its processes' user + system time over the level) hardly depend on that.

    .venv/bin/python benchmarks/bench_api.py [--seconds 4] [--levels 1,16,64] [--workers 1,2] [--redis URL]
        [--feed tokyo-rail=../shared/data/tokyo-rail-gtfs.zip] [--day 2026-12-01 (default today in Tokyo)] [--near 'LAT,LON;LAT,LON']
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import resource
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


def start_server(workers: int, tmp: Path, redis_url: str, feeds: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    keys = tmp / "keys.json"
    keys.write_text(json.dumps(KEYS))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "maas.cli", "serve", "--workers", str(workers), "--port",
                             str(port), "--keys", str(keys), "--data-dir", str(tmp / f"data{workers}"), "--dev",
                             *[a for f in feeds for a in ("--feed", f)],
                             # a benchmark accepts a Redis without AOF-always (its bookings are throwaway)
                             *(["--redis", redis_url, "--allow-volatile-redis"] if workers > 1 else [])],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    import urllib.request

    deadline = time.monotonic() + 600  # (a big feed is built and warmed up before /readyz)
    pids: set[int] = set()
    while time.monotonic() < deadline and len(pids) < workers:
        if proc.poll() is not None:
            raise SystemExit(f"maas serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(urllib.request.Request(f"{base}/readyz", headers={"Connection": "close"}),
                                        timeout=2) as r:
                pids.add(json.loads(r.read())["pid"])
        except OSError:
            time.sleep(0.3)
    return proc, base


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


def in_process_baseline(qs: list[dict], seconds: float, feeds: list[str]) -> dict:
    """The same queries planned serially in this process: the route search with no HTTP at all."""
    from maas.platform.settings import Settings
    from maas.transit import TransitService

    transit = TransitService.from_settings(Settings(feeds=list(feeds)), progress=False)
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
    transit.close()
    return {"rps": len(lat) / elapsed, "n": len(lat), **pct(lat)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="duration of each load level")
    ap.add_argument("--levels", default="1,16,64")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--feed", action="append", default=[], help="NS=PATH feed to serve (default: the sample)")
    ap.add_argument("--day", default=DAY, help="service day of the queries (default: today in Tokyo)")
    ap.add_argument("--near", default="35.68,139.76",
                    help="'lat,lon;lat,lon…': the queries join stations within 5 km of these points (default: around "
                         "Tokyo Station, central trips; e.g. add Shinjuku 35.69,139.70, Tachikawa 35.70,139.41, "
                         "Kita-Senju 35.75,139.80, Kamata 35.56,139.72 for city-wide trips)")
    ap.add_argument("--redis", default=os.environ.get("MAAS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
                    help="Redis for the multi-worker runs (several workers share it)")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        qs: list[dict] = []
        for workers in (int(x) for x in args.workers.split(",")):
            t0 = time.perf_counter()
            proc, base = start_server(workers, tmp, args.redis, args.feed)
            startup = time.perf_counter() - t0
            try:
                if not qs:
                    import urllib.request

                    stops = []
                    for near in args.near.split(";"):
                        req = urllib.request.Request(f"{base}/v1/stops?near={near}&radius=5000&limit=200",
                                                     headers={"Authorization": f"Bearer {KEY}"})
                        stops += json.loads(urllib.request.urlopen(req).read())["stops"]
                    qs = queries(sorted({s["id"] for s in stops if s["type"] == "station"}), day=args.day)
                asyncio.run(load(base, "/v1/plan", qs, 4, 1.0))  # warm-up: numba, caches, connections
                for name, path, c in [("healthz", "/healthz", 16), *(("plan", "/v1/plan", c) for c in levels)]:
                    cpu = server_cpu_s(proc)
                    r = asyncio.run(load(base, path, qs if name == "plan" else [], c, args.seconds))
                    r["cpu_ms"] = (server_cpu_s(proc) - cpu) * 1000 / max(r["n"], 1)
                    rows.append((name, workers, c, r))
                rss = worker_rss_mb(proc)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
            print(f"workers={workers}: start-up {startup:.1f} s, peak RSS per serving process "
                  f"{', '.join(f'{m:.0f} MB' for m in rss)}")
        base_row = in_process_baseline(qs, args.seconds, args.feed)
    print()
    print(f"{'endpoint':9} {'workers':>7} {'conc':>5} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6} {'n':>7} {'server CPU ms/req':>17}")
    for name, w, c, r in rows:
        print(f"{name:9} {w:>7} {c:>5} {r['rps']:>9.1f} {r['p50']:>8.2f} {r['p95']:>8.2f} {r['p99']:>8.2f} "
              f"{r['errors']:>6} {r['n']:>7} {r['cpu_ms']:>17.2f}")
    print(f"{'in-proc':9} {'-':>7} {1:>5} {base_row['rps']:>9.1f} {base_row['p50']:>8.2f} {base_row['p95']:>8.2f} "
          f"{base_row['p99']:>8.2f} {'-':>6} {base_row['n']:>7}   (plan_sync, no HTTP: naive serial baseline)")
    best = max((r for name, _, _, r in rows if name == "plan"), key=lambda r: r["rps"])
    c1 = next((r for name, w, c, r in rows if name == "plan" and c == 1), None)
    print()
    print(f"best /v1/plan throughput {best['rps']:.0f} req/s = {best['rps'] / base_row['rps']:.2f}× the serial "
          f"in-process baseline" + (f"; HTTP cost at concurrency 1: {c1['p50'] - base_row['p50']:.2f} ms over the "
                                    f"{base_row['p50']:.2f} ms search (p50)" if c1 else ""))
    print(f"load generator peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
