"""Where the time of one `maas serve` worker goes under /v1/plan load: CPU per request, per part of the path.

Two ways, neither needing a profiler the venv lacks (``--mode``):

* ``cprofile`` (default): cProfile on the event loop's thread and on each planner thread, timed by the thread's
  own CPU clock (`time.thread_time`), so a thread waiting for the GIL or a socket costs nothing. A function's own
  time is charged to the part of the request path its file names (RAPTOR search, itinerary building, fares, JSON
  encoding, compression, middlewares, metrics, logging, auth and rate limit, validation, aiohttp, asyncio, the
  executor hand-off); a C function's (orjson, brotli, a socket send) to its caller's part. cProfile's own cost
  inflates code that makes many small calls: compare parts, not absolute figures, with other modes.
* ``sample``: every thread's stack every ``--interval-ms`` (`sys._current_frames()`), idle stacks dropped, each
  thread group's CPU seconds (from /proc) split by its samples. A sampled thread is one that let the GIL go, so
  syscalls (and the GIL waits after them) are over-represented: this shows where requests wait, not what costs CPU.

One server process (like one of `maas serve --workers N`: ``--redis`` gives it the same Redis rate limiter and
store, and the metrics in multiprocess mode), loaded by bench_api's client from this (parent) process:

    .venv/bin/python benchmarks/profile_api.py [--feed tokyo-rail=../shared/data/tokyo-rail-gtfs.zip] [--seconds 20]
        [--concurrency 16] [--redis URL] [--mode cprofile|sample] [--interval-ms 2] [--top 25]
        [--mix central|citywide]
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import pstats
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

# (path fragment, function or None): the innermost frame matching a rule names the part a sample is charged to
PARTS: list[tuple[str, tuple[str, str | None]]] = [
    ("json encode", ("api/respond.py", None)),
    ("compression", ("api/compress.py", None)),
    ("compression", ("brotli", None)),
    ("compression", ("gzip.py", None)),
    ("request id", ("uuid.py", None)),
    ("fares", ("maas/pricing/", None)),
    ("fares", ("operators/", None)),
    ("names/localise", ("routing/names.py", None)),
    ("itinerary build", ("routing/itinerary.py", None)),
    ("closures/warnings", ("maas/disruptions/", None)),
    ("search (RAPTOR + planner)", ("routing/", None)),
    ("numpy", ("numpy/", None)),
    ("metrics", ("prometheus_client/", None)),
    ("logging", ("logging/", None)),
    ("access log/observe", ("api/observe.py", None)),
    ("auth + rate limit", ("maas/platform/", None)),
    ("redis client", ("redis/", None)),
    ("validation/params", ("api/params.py", None)),
    ("validation/params", ("api/typed.py", None)),
    ("plan handler", ("api/search.py", None)),
    ("endpoint guard", ("api/endpoint.py", None)),
    ("middlewares (cors, problems)", ("api/", None)),
    ("transit service", ("maas/transit.py", None)),
    ("executor hand-off", ("concurrent/futures/", None)),
    ("aiohttp", ("aiohttp/", None)),
    ("asyncio loop", ("asyncio/", None)),
]
IDLE = {("selectors.py", "select"), ("threading.py", "wait"), ("queue.py", "get"), ("thread.py", "_worker")}


def part_of(stack: list[tuple[str, str]]) -> str:
    """The part of the request path ``stack`` (innermost first) is in."""
    for filename, func in stack:
        for name, (frag, fn) in PARTS:
            if frag in filename and (fn is None or fn == func):
                return name
    return "other"


def _stack(frame) -> list[tuple[str, str, int]]:
    out = []
    while frame is not None:
        out.append((frame.f_code.co_filename.replace("\\", "/"), frame.f_code.co_name, frame.f_lineno))
        frame = frame.f_back
    return out


def _idle(stack: list[tuple[str, str, int]]) -> bool:
    leaf = stack[0]
    return (os.path.basename(leaf[0]), leaf[1]) in IDLE


def thread_cpu_s() -> dict[int, float]:
    """CPU seconds (user + system) of each thread of this process, by native id."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/self/task"):
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            out[int(tid)] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return out


class Sampler:
    """Samples every thread's stack until stopped; ``start_window``/``stop_window`` bound what is counted."""

    def __init__(self, interval_s: float):
        self.interval_s = interval_s
        self.counting = False
        self.parts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.leaves: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.inclusive: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.busy: collections.Counter = collections.Counter()
        self.cpu0: dict[int, float] = {}
        self.cpu: dict[int, float] = {}
        self.t0 = self.t1 = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def start_window(self) -> None:
        self.cpu0, self.t0, self.counting = thread_cpu_s(), time.perf_counter(), True

    def stop_window(self) -> None:
        self.counting = False
        self.t1 = time.perf_counter()
        now = thread_cpu_s()
        self.cpu = {tid: now[tid] - self.cpu0.get(tid, 0.0) for tid in now}

    @staticmethod
    def group(thread: threading.Thread | None) -> str:
        if thread is None:
            return "other threads"
        if thread is threading.main_thread():
            return "event loop"
        if thread.name.startswith("planner"):
            return "planner threads"
        return "sampler" if thread.name == "sampler" else "other threads"

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(self.interval_s):
            if not self.counting:
                continue
            by_ident = {t.ident: t for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                stack = _stack(frame)
                if not stack or _idle(stack):
                    continue
                g = self.group(by_ident.get(ident))
                self.busy[g] += 1
                self.parts[g][part_of([(f, fn) for f, fn, _ in stack])] += 1
                leaf = stack[0]
                self.leaves[g][f"{_short(leaf[0])}:{leaf[2]} {leaf[1]}"] += 1
                for key in {f"{_short(f)} {fn}" for f, fn, _ in stack}:
                    self.inclusive[g][key] += 1

    def report(self, requests: int, top: int) -> dict:
        cpu_by_group = cpu_of_groups(self.cpu)
        groups = {}
        for g, n in self.busy.items():
            cpu_s = cpu_by_group.get(g, 0.0)
            groups[g] = {
                "cpu_s": cpu_s, "samples": n,
                "us_per_request": {p: cpu_s * c / n / max(requests, 1) * 1e6 for p, c in self.parts[g].most_common()},
                "leaves": self.leaves[g].most_common(top),
                "inclusive": [(k, c / n) for k, c in self.inclusive[g].most_common(top)],
            }
        return {"seconds": self.t1 - self.t0, "requests": requests, "cpu_by_group": dict(cpu_by_group),
                "groups": groups}

    def stop(self) -> None:
        self._stop.set()


def cpu_of_groups(cpu: dict[int, float]) -> collections.Counter:
    """Thread CPU seconds (by native id) summed per thread group (`Sampler.group`); threads gone: "other"."""
    names = {t.native_id: Sampler.group(t) for t in threading.enumerate()}
    out: collections.Counter = collections.Counter()
    for tid, sec in cpu.items():
        out[names.get(tid, "other threads")] += sec
    return out


def _short(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3", str(ROOT) + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


class ThreadProfiles:
    """cProfile on the loop's thread (enabled from a signal handler, which runs there) and on every executor
    thread (each work item run under that thread's profiler), all timed by thread CPU time."""

    def __init__(self):
        from concurrent.futures import thread as cf_thread

        self.on = False
        self.loop = cProfile.Profile(time.thread_time)
        self.workers: list[cProfile.Profile] = []
        self.cpu0: dict[int, float] = {}
        self.cpu: dict[int, float] = {}
        self.t0 = self.t1 = 0.0
        local = threading.local()
        run = cf_thread._WorkItem.run
        me = self

        def profiled(item):
            if not me.on:
                return run(item)
            prof = getattr(local, "prof", None)
            if prof is None:
                prof = local.prof = cProfile.Profile(time.thread_time)
                me.workers.append(prof)
            prof.enable()
            try:
                return run(item)
            finally:
                prof.disable()

        cf_thread._WorkItem.run = profiled

    def start(self) -> None:
        pass

    def start_window(self) -> None:
        self.cpu0, self.t0, self.on = thread_cpu_s(), time.perf_counter(), True
        self.loop.enable()

    def stop_window(self) -> None:
        self.loop.disable()
        self.on = False
        self.t1 = time.perf_counter()
        now = thread_cpu_s()
        self.cpu = {tid: now[tid] - self.cpu0.get(tid, 0.0) for tid in now}

    def report(self, requests: int, top: int) -> dict:
        cpu_by_group = cpu_of_groups(self.cpu)
        groups = {}
        for g, profs in (("event loop", [self.loop]), ("planner threads", self.workers)):
            if not profs:
                continue
            stats = pstats.Stats(profs[0])
            for prof in profs[1:]:
                stats.add(prof)
            groups[g] = profile_table(stats.stats, requests, top)
            groups[g]["cpu_s"] = cpu_by_group.get(g, 0.0)
        return {"seconds": self.t1 - self.t0, "requests": requests, "cpu_by_group": dict(cpu_by_group),
                "groups": groups}

    def stop(self) -> None:
        pass


def profile_table(stats: dict, requests: int, top: int) -> dict:
    """Per part and per function, CPU µs per request from pstats' raw table (own time; a C function's own time
    goes to its callers' parts)."""
    parts: collections.Counter = collections.Counter()
    for (filename, _, func), (_, _, tt, _, callers) in stats.items():
        if filename == "~":  # a C function: its callers' parts, in proportion to the time each call path took
            for (cfile, _, cfunc), (_, _, ctt, _) in callers.items():
                parts[part_of([(cfile.replace("\\", "/"), cfunc)])] += ctt
        else:
            parts[part_of([(filename.replace("\\", "/"), func)])] += tt
    per = 1e6 / max(requests, 1)
    own = sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]
    cum = sorted(stats.items(), key=lambda kv: -kv[1][3])[:top]
    label = lambda k: f"{_short(k[0])}:{k[1]} {k[2]}" if k[0] != "~" else k[2]  # noqa: E731
    return {"samples": 0, "us_per_request": {p: t * per for p, t in parts.most_common()},
            "own": [(label(k), v[2] * per, v[1] / max(requests, 1)) for k, v in own],
            "cum": [(label(k), v[3] * per, v[1] / max(requests, 1)) for k, v in cum]}


def serve(args: argparse.Namespace) -> None:
    """The child: one server worker with the sampler; SIGUSR1 opens the window, SIGUSR2 closes it and writes the
    report (the parent says how many requests were answered)."""
    from aiohttp import web

    from api.observe import MULTIPROC_ENV
    from maas.platform.settings import Settings

    if args.redis:
        os.environ.setdefault(MULTIPROC_ENV, tempfile.mkdtemp(prefix="maas-metrics-"))
    settings = Settings(feeds=args.feed, port=args.port, keys_file=Path(args.keys), data_dir=Path(args.data_dir),
                        dev=True, redis_url=args.redis or None, allow_volatile_redis=True)
    sampler = ThreadProfiles() if args.mode == "cprofile" else Sampler(args.interval_ms / 1000)
    sampler.start()

    def opened(*_):
        sampler.start_window()

    def closed(*_):
        sampler.stop_window()
        n = int(Path(args.report + ".n").read_text())
        Path(args.report).write_text(json.dumps(sampler.report(n, args.top)))

    signal.signal(signal.SIGUSR1, opened)
    signal.signal(signal.SIGUSR2, closed)
    from api.server import run_worker, tune_worker_runtime  # noqa: F401

    run_worker(settings)


def print_report(rep: dict, n: int, seconds: float) -> None:
    print(f"\n{n} requests in {seconds:.1f} s = {n / seconds:.1f} req/s; server CPU "
          f"{sum(rep['cpu_by_group'].values()) * 1000 / max(n, 1):.2f} ms per request "
          f"({', '.join(f'{g} {s * 1000 / max(n, 1):.2f}' for g, s in sorted(rep['cpu_by_group'].items()))})")
    for g, d in sorted(rep["groups"].items(), key=lambda kv: -kv[1]["cpu_s"]):
        if g == "sampler":
            continue
        print(f"\n== {g}: {d['cpu_s'] * 1000 / max(n, 1):.2f} CPU ms per request"
              + (f" ({d['samples']} busy samples)" if d["samples"] else " (parts: cProfile, thread CPU time)"))
        for p, us in d["us_per_request"].items():
            print(f"  {p:32} {us:8.0f} µs/request")
        if "own" in d:
            print("  -- functions by own CPU time: µs per request, calls per request")
            for k, us, calls in d["own"]:
                print(f"  {us:8.1f} {calls:7.1f}  {k}")
            print("  -- functions by cumulative CPU time")
            for k, us, calls in d["cum"]:
                print(f"  {us:8.1f} {calls:7.1f}  {k}")
            continue
        print("  -- innermost frames (share of busy samples)")
        for k, c in d["leaves"]:
            print(f"  {c / d['samples'] * 100:5.1f} %  {k}")
        print("  -- functions on the stack (share of busy samples)")
        for k, share in d["inclusive"]:
            print(f"  {share * 100:5.1f} %  {k}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feed", action="append", default=[])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--redis", default="", help="Redis URL: rate limits and store there, as with several workers")
    ap.add_argument("--mode", choices=("cprofile", "sample"), default="cprofile")
    ap.add_argument("--interval-ms", type=float, default=2.0, help="sampling interval (--mode sample)")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--day", default=None)
    ap.add_argument("--near", default="35.68,139.76", help="the central mix: stations within 5 km of these points")
    ap.add_argument("--mix", choices=("central", "citywide"), default="central",
                    help="query mix (bench_api --mixes): central, or random pairs of all the network's stations")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--keys", default="", help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", default="", help=argparse.SUPPRESS)
    ap.add_argument("--report", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args)
        return
    import bench_api

    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        port = bench_api.free_port()
        keys = tmp / "keys.json"
        keys.write_text(json.dumps(bench_api.KEYS))
        report = tmp / "report.json"
        cmd = [sys.executable, __file__, "--serve", "--port", str(port), "--keys", str(keys), "--data-dir",
               str(tmp / "data"), "--report", str(report), "--mode", args.mode, "--interval-ms", str(args.interval_ms), "--top",
               str(args.top), *[a for f in args.feed for a in ("--feed", f)],
               *(["--redis", args.redis] if args.redis else [])]
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            bench_api.wait_ready(proc, base, "profiled")
            day = args.day or bench_api.DAY
            if args.mix == "citywide":
                transit = bench_api.local_transit(args.feed)
                qs = bench_api.queries(bench_api.citywide_stations(transit, day), day=day)
                transit.close()
                del transit
            else:
                stops = []
                for near in args.near.split(";"):
                    req = urllib.request.Request(f"{base}/v1/stops?near={near}&radius=5000&limit=200",
                                                 headers={"Authorization": f"Bearer {bench_api.KEY}"})
                    stops += json.loads(urllib.request.urlopen(req).read())["stops"]
                qs = bench_api.queries(sorted({s["id"] for s in stops if s["type"] == "station"}), day=day)
            asyncio.run(bench_api.load(base, "/v1/plan", qs, 4, 2.0))  # warm-up
            proc.send_signal(signal.SIGUSR1)
            time.sleep(0.2)
            r = asyncio.run(bench_api.load(base, "/v1/plan", qs, args.concurrency, args.seconds))
            Path(str(report) + ".n").write_text(str(r["n"]))
            proc.send_signal(signal.SIGUSR2)
            deadline = time.monotonic() + 30
            while not report.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            print(f"concurrency {args.concurrency}: {r['rps']:.1f} req/s, p50 {r['p50']:.2f} ms, "
                  f"p99 {r['p99']:.2f} ms, errors {r['errors']}")
            print_report(json.loads(report.read_text()), r["n"], args.seconds)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)


if __name__ == "__main__":
    main()
