"""Where one server process's resident memory goes, step by step, on one network (default all-Tokyo rail): RSS
after the libraries' imports (numpy, numba, aiohttp, pandas, the app), after the feeds are loaded, after today's
model, after the warm-up plans on every planner thread (which load numba's kernels from its cache); then the
sizes of what stays: the feeds' tables (per table), the model's arrays and cached timetables, each planner thread's
pooled labels and buffers, and (``--tracemalloc``, a second run: tracing costs memory itself) the Python objects
allocated after the imports, by file.

    .venv/bin/python benchmarks/bench_memory_where.py [--feeds tokyo|toei|sample] [--tracemalloc] [--threads 2]
        [--date 2026-12-03 --days 2 [--share]]

With ``--days 2`` also what the second day adds, array by array; ``--share``: how much of its stop times could
point into the first day's bytes, pattern block by block (the case for and against sharing blocks across days).

numba's cache must be warm (run ``python -m maas.platform.kernels`` once), or the load step measures a compile.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import FEEDS, MiB, ROOT  # noqa: E402  (the same feeds and units as bench_memory)

_CHILD = r"""
import datetime as dt, gc, json, sys, tempfile, threading
import numpy as np, pandas as pd
from pathlib import Path
spec = json.loads(sys.argv[1])
if spec["trace"]:
    import tracemalloc
from maas.platform.memory import process_memory
steps = []
def step(name):
    gc.collect()
    steps.append({"step": name, **process_memory()})
step("interpreter")
import numpy, pandas  # noqa: F401
step("numpy + pandas")
import numba  # noqa: F401
step("numba")
import aiohttp  # noqa: F401
step("aiohttp")
from api.app import create_app
from maas.platform.settings import Settings
from maas.services import Services
from maas.transit import TransitService
step("api.app and maas (all modules)")
from maas.platform import kernels
kernels.numba_without_blas()
step("numba's target (no BLAS)")
if spec["trace"]:
    tracemalloc.start(1)
settings = Settings(feeds=spec["feeds"], data_dir=Path(tempfile.mkdtemp()), cache_dir=Path(tempfile.mkdtemp()),
                    planner_threads=spec["threads"])
transit = TransitService.from_settings(settings)
step("feeds loaded")
today = dt.date.fromisoformat(spec["date"]) if spec["date"] else transit.local_date(dt.datetime.now(dt.timezone.utc))
days = [today + dt.timedelta(days=i) for i in range(spec["days"])]
transit.keep(days)
transit.planner_for(today)
step("today's model")
for d in days[1:]:
    transit.planner_for(d)
    step(f"model of {d}")
services = Services.build(settings, progress=False, transit=transit)
app = create_app(services)
transit.names
step("services + app + names")
transit.warm_up(days)
gc.freeze()
step("planner warm (kernels loaded)")
shared = [{k: bool(v is getattr(transit.model_for(days[0]), k, None)) for k, v in vars(transit.model_for(d)).items()
           if isinstance(v, np.ndarray)} for d in days[1:]]
sigs = {n: len(d.signatures) for n, d in kernels.kernels().items()}
from feeds.feed import TABLES
from maas.platform.memory import arrays_nbytes
from routing.raptor.pools import _POOL
from routing.raptor.state import Timetable
from feeds.feed import PackedTable
tables = {}
for f in transit.network.feeds:
    for name in TABLES:
        df = f.__dict__[name]  # as held: a packed table by its compressed bytes
        held = len(df.blob) if isinstance(df, PackedTable) else int(df.memory_usage(index=True, deep=True).sum())
        tables[name] = tables.get(name, 0) + held
cols = {}
st = transit.network.feeds[0].stop_times  # (unpacked here, if packed)
for c in st.columns:
    cols[f"{c} ({st[c].dtype})"] = int(st[c].memory_usage(index=False, deep=True))
model = transit.model_for(today)
arrays = sorted(((k, v.nbytes) for k, v in vars(model).items() if isinstance(v, np.ndarray)), key=lambda x: -x[1])
cached = {k: arrays_nbytes(v) if hasattr(v, "_fields") else 0 for k, v in vars(model).items() if k.startswith("_")}

def pools():  # each planner thread's pooled buffers, by name (bytes), without dropping them
    out = {}
    def count(v, seen):
        if isinstance(v, np.ndarray):
            b = v.base if isinstance(v.base, np.ndarray) else v
            if id(b) in seen: return 0
            seen.add(id(b)); return b.nbytes
        if isinstance(v, (tuple, list)) and not isinstance(v, Timetable):
            return sum(count(x, seen) for x in v)
        if isinstance(v, dict):
            return sum(count(x, seen) for x in v.values())
        return 0
    seen = set()
    return {k: count(v, seen) for k, v in vars(_POOL).items()}, \
        {k: (len(v) if isinstance(v, dict) else None) for k, v in vars(_POOL).items()}
per_thread = [transit.executor.submit(pools).result() for _ in range(1)]
def day_sizes():
    seen, out = set(), []
    for d in days:  # what each day adds beyond the days before it (arrays shared with an earlier day counted there)
        m = transit.model_for(d)
        own = arrays_nbytes([v for k, v in vars(m).items() if not k.startswith("_")], seen)
        cached = arrays_nbytes([v for k, v in vars(m).items() if k.startswith("_")], seen)
        out.append((d.isoformat(), own, cached))
    return out
def day_arrays(d):  # what day d adds beyond the first day, per array (its fields, its cached timetables' fields)
    first, m = transit.model_for(days[0]), transit.model_for(d)
    seen = set()
    arrays_nbytes([v for k, v in vars(first).items()], seen)  # (the first day's, cached ones included)
    out = []
    def add(name, v):
        if isinstance(v, tuple) and hasattr(v, "_fields"):
            for f, x in zip(v._fields, v):
                add(f"{name}.{f}", x)
        elif isinstance(v, (tuple, list)) and v and not isinstance(v[0], str):
            for i, x in enumerate(v):
                add(f"{name}[{i}]", x)
        elif isinstance(v, dict):
            for x in v.values():
                add(f"{name}{{}}", x[-1] if isinstance(x, tuple) else x)
        elif isinstance(v, np.ndarray) or hasattr(v, "__slots__") or hasattr(v, "__dict__"):
            n = arrays_nbytes([v], seen) if not hasattr(v, "__dict__") or isinstance(v, np.ndarray) \
                else arrays_nbytes(v, seen)
            if n:
                out.append((name, n))
    for k, v in vars(m).items():
        add(k, v)
    return sorted(out, key=lambda x: -x[1])

def shareable(a, b):
    # of b's stop times, how many lie in a pattern block identical to one of a's (route, stops, times, flags;
    # times on each day's own clock), and how many in the longest run of consecutive trips of each pattern found
    # consecutive in a's pattern of the same stops, on b's own clock and on a's (b's times + 86400 per day)
    def rows(m, shift):
        pss, pts, ptm = m.pattern_stops_start, m.pattern_trips_start, np.asarray(m.pattern_times_start)
        by = {}
        for p in range(m.n_patterns):
            L, n, o = int(pss[p + 1] - pss[p]), int(pts[p + 1] - pts[p]), int(ptm[p])
            deps = m.dep_by_pos[o:o + n * L].reshape(L, n).T.ravel()  # (kept by position)
            t = np.stack([m.st_arr[o:o + n * L] + shift, deps + shift,
                          m.st_pickup[o:o + n * L], m.st_dropoff[o:o + n * L]]).reshape(4, n, L)
            key = (int(m.pattern_route[p]), m.pattern_stops[pss[p]:pss[p + 1]].tobytes())
            by.setdefault(key, []).append(([t[:, j].tobytes() for j in range(n)], L))
        return by
    gap = (dt.date.fromisoformat(b.date) - dt.date.fromisoformat(a.date)).days * 86400
    ra, out = rows(a, 0), {"stop_times": len(b.st_arr)}
    for label, shift in (("own clock", 0), ("first day's clock", gap)):
        whole = run = 0
        for key, blocks in rows(b, shift).items():
            for trips, L in blocks:
                best = 0
                for other, _ in ra.get(key, []):
                    whole += len(trips) * L if (other == trips and shift == 0 and not best) else 0
                    pos, cur, prev = {r: i for i, r in enumerate(other)}, 0, None
                    for r in trips:
                        i = pos.get(r)
                        cur = cur + 1 if (i is not None and prev is not None and i == prev + 1) else int(i is not None)
                        prev = i
                        best = max(best, cur * L)
                run += best
        if shift == 0:
            out["identical blocks"] = whole
        out[f"one run per pattern, {label}"] = run
    return out

out = {"days": day_sizes(), "shared": shared,
       "day_arrays": [(d.isoformat(), day_arrays(d)) for d in days[1:]],
       "shareable": [(d.isoformat(), shareable(transit.model_for(days[0]), transit.model_for(d))) for d in days[1:]]
       if spec["share"] else [], "steps": steps, "tables": tables, "stop_times_columns": cols,
       "model_arrays": arrays[:25],
       "model_arrays_total": sum(b for _, b in arrays), "model_cached": cached,
       "model_all": arrays_nbytes(model), "pools": per_thread, "n_stops": model.n_stops,
       "n_trips": model.n_trips, "signatures": sigs, "n_patterns": model.n_patterns, "n_stop_times": len(model.st_arr)}
if spec["trace"]:
    snap = tracemalloc.take_snapshot()
    stats = snap.statistics("filename")
    out["trace_total"] = sum(s.size for s in stats)
    out["trace_top"] = [(str(s.traceback[0].filename).replace(spec["root"], ""), s.size, s.count) for s in stats[:20]]
print(json.dumps(out))
transit.close()
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", default="tokyo", choices=sorted(FEEDS))
    ap.add_argument("--tracemalloc", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--date", default="", help="the first service day (default: today on the feeds' clock)")
    ap.add_argument("--share", action="store_true", help="with --days 2+: how much of each later day's stop times "
                    "could share the first day's bytes, pattern block by block (slow: a minute on all-Tokyo)")
    ap.add_argument("--days", type=int, default=1, help="service days kept from --date on (2: with tomorrow, as a "
                    "server keeps them)")
    args = ap.parse_args()
    spec = {"feeds": FEEDS[args.feeds], "trace": args.tracemalloc, "threads": args.threads, "root": str(ROOT),
            "date": args.date, "days": args.days, "share": args.share}
    run = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(spec)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=1800)
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    if run.returncode or not lines:
        sys.exit(f"failed ({run.returncode}): {run.stderr[-2000:]}")
    r = json.loads(lines[-1])
    prev = 0
    for s in r["steps"]:
        print(f"  {s['step']:<34} RSS {s['rss'] / MiB:6.0f} MiB (+{(s['rss'] - prev) / MiB:4.0f})  "
              f"anon {s.get('anon', 0) / MiB:5.0f}")
        prev = s["rss"]
    sigs = r["signatures"]
    print(f"numba kernels loaded: {sum(sigs.values())} compiled variants of {len(sigs)} kernels "
          f"({sum(1 for v in sigs.values() if v > 1)} with more than one)")
    print(f"model: {r['n_stops']} stops, {r['n_patterns']} patterns, {r['n_trips']} trips, "
          f"{r['n_stop_times']} stop times")
    tables = sorted(r["tables"].items(), key=lambda x: -x[1])
    print(f"feed tables as held {sum(r['tables'].values()) / MiB:.1f} MiB (deep, strings counted per table): "
          + ", ".join(f"{k} {v / MiB:.1f}" for k, v in tables if v > MiB / 10))
    print("  stop_times columns (unpacked): "
          + ", ".join(f"{k} {v / MiB:.1f}" for k, v in r["stop_times_columns"].items()))
    print(f"model arrays {r['model_arrays_total'] / MiB:.1f} MiB (with cached timetables "
          f"{r['model_all'] / MiB:.1f}): " + ", ".join(f"{k} {v / MiB:.1f}" for k, v in r["model_arrays"][:12]))
    print("  cached: " + ", ".join(f"{k} {v / MiB:.1f}" for k, v in r["model_cached"].items() if v))
    for i, (sizes, counts) in enumerate(r["pools"]):
        print(f"planner thread pool {sum(sizes.values()) / MiB:.1f} MiB: " + ", ".join(
            f"{k} {v / MiB:.1f}" + (f" ({counts[k]} entries)" if counts.get(k) is not None else "")
            for k, v in sizes.items()))
    for d, own, cached in r["days"]:
        print(f"day {d}: model arrays {own / MiB:.1f} MiB, cached timetables etc. {cached / MiB:.1f} MiB "
              "(beyond the days before)")
    for sh in r["shared"]:
        print("  arrays shared with the first day: " + (", ".join(k for k, v in sh.items() if v) or "none"))
    for d, sizes in r["day_arrays"]:
        print(f"day {d} beyond the first, {sum(n for _, n in sizes) / MiB:.1f} MiB: " + ", ".join(
            f"{k} {v / MiB:.1f}" for k, v in sizes if v >= MiB / 10))
    for d, sh in r["shareable"]:
        n = sh.pop("stop_times")
        print(f"day {d}: of its {n} stop times, " + ", ".join(f"{k}: {v} ({100 * v / n:.0f} %)" for k, v in sh.items()))
    if "trace_total" in r:
        print(f"tracemalloc after the imports: {r['trace_total'] / MiB:.1f} MiB live")
        for f, size, count in r["trace_top"]:
            print(f"  {size / MiB:7.1f} MiB {count:9d} blocks  {f}")


if __name__ == "__main__":
    main()
