"""Memory of a server process: resident (RSS), anonymous and proportional (PSS) bytes after each step of a
`maas serve` start-up (imports, feeds loaded, today's model, services and app, planner warm-up), then per extra
cached service day, then the realtime operator indexes and the models' trip indexes (what the first realtime message
and the first booking build), and with 2 workers forked from a preloaded parent (PSS splits the pages they share). Each
case runs in a fresh process, for this tree and (``--old-commit``) the tree before the memory work, on the same
feeds: the built-in sample, Toei rail and all-Tokyo rail from ../shared/data.

    .venv/bin/python benchmarks/bench_memory.py [--feeds sample,toei,tokyo] [--old-commit 2ed0303] [--no-workers]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MAAS_SHARED_DATA", ROOT.parent / "shared" / "data"))
FEEDS = {"sample": [], "toei": [f"toei-subway={DATA / 'toei-rail-gtfs.zip'}"],
         "tokyo": [f"tokyo-rail={DATA / 'tokyo-rail-gtfs.zip'}"]}
MiB = 2 ** 20

# One case, in its own process, against the tree at argv[1] (this one or an old commit's): only APIs both have.
_CHILD = r"""
import dataclasses, datetime as dt, gc, json, multiprocessing as mp, os, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
spec = json.loads(sys.argv[2])

def mem():
    out = {}
    names = {"VmRSS": "rss", "RssAnon": "anon", "RssFile": "file", "Pss": "pss"}
    for path, keys in (("/proc/self/status", ("VmRSS", "RssAnon", "RssFile")), ("/proc/self/smaps_rollup", ("Pss",))):
        try:
            for line in open(path):
                k, _, v = line.partition(":")
                if k in keys:
                    out[names[k]] = int(v.split()[0]) * 1024
        except OSError:
            pass
    return out

# Where the resident bytes are: the interpreter with its libraries (at the imports step: file-backed code and the
# modules' objects), the feeds' tables, each cached day's model arrays (with its cached timetables), and the rest
# (names index, walker, numba's compiled kernels and typing state, search labels, allocator slack).
def feed_bytes(network):
    # the tables' arrays, plus each string object once (pandas' deep count counts an id shared by several
    # tables once per table)
    import pandas as pd
    from feeds.feed import TABLES
    try:
        from feeds.feed import PackedTable  # a table kept packed counts its compressed bytes
    except ImportError:
        PackedTable = ()
    seen, total = set(), 0
    for f in network.feeds:
        for name in TABLES:
            df = f.__dict__[name]
            if isinstance(df, PackedTable):
                total += len(df.blob)
                continue
            total += int(df.memory_usage(index=True, deep=False).sum())
            for c in df.columns:
                col = df[c]
                vals = col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype) else col
                if vals.dtype == object or str(vals.dtype) == "str":
                    for v in vals.tolist():
                        if isinstance(v, str) and id(v) not in seen:
                            seen.add(id(v))
                            total += sys.getsizeof(v)
    return total

def breakdown(transit, imports):
    from maas.platform.memory import arrays_nbytes
    now = mem()
    feeds = feed_bytes(transit.network)
    models = sum(arrays_nbytes(transit.model_for(d)) for d in transit.cached_dates())
    return {"libs_file": imports.get("file", 0), "libs_anon": imports["rss"] - imports.get("file", 0),
            "feed_tables": feeds, "model_arrays": models,
            "other": now["rss"] - imports["rss"] - feeds - models, "rss": now["rss"]}

def model_bytes(m):
    seen, total = set(), 0
    def add(v):
        nonlocal total
        import numpy as np
        if isinstance(v, np.ndarray):
            b = v.base if isinstance(v.base, np.ndarray) else v
            if id(b) not in seen:
                seen.add(id(b)); total += b.nbytes
        elif isinstance(v, tuple) and v and not isinstance(v[0], str):
            for x in v: add(x)
    for v in vars(m).values(): add(v)
    return total

steps = []
def step(name, **extra):
    steps.append({"step": name, **mem(), **extra})

step("interpreter")
import api.app  # noqa: F401
from api.app import create_app
from maas.platform.settings import Settings
from maas.services import Services
from maas.transit import TransitService
step("imports")
imported = dict(steps[-1])
data = Path(tempfile.mkdtemp(prefix="bench-memory-"))
settings = Settings(feeds=spec["feeds"], data_dir=data, cache_dir=Path(spec["cache"]))

def start(transit, settings):
    services = Services.build(settings, progress=False, transit=transit)
    app = create_app(services)
    return services, app

if spec["mode"] == "single":
    transit = TransitService.from_settings(settings)
    step("feeds loaded")
    today = transit.local_date(dt.datetime.now(dt.timezone.utc))
    transit.planner_for(today)
    step("today's model")
    transit.names
    services, app = start(transit, settings)
    step("services + app (names index)")
    transit.warm_up(today)
    gc.freeze()
    step("planner warm", days=1, model_bytes=sum(model_bytes(transit.model_for(d)) for d in transit.cached_dates()),
         breakdown=breakdown(transit, imported))
    for k in (1, 2):
        transit.planner_for(today + dt.timedelta(days=k))
        step(f"+{k} cached service day", days=len(transit.cached_dates()),
             model_bytes=sum(model_bytes(transit.model_for(d)) for d in transit.cached_dates()),
             breakdown=breakdown(transit, imported))
    # what the first realtime message (an operator index per feed) and the first booking or realtime lookup of a
    # trip (each cached model's trip index) add
    from maas.disruptions.realtime import NetworkIndexes
    by_feed = NetworkIndexes(transit)  # as the realtime service builds them
    indexes = [by_feed(f.namespace) for f in transit.network.feeds]
    for d in transit.cached_dates():
        m = transit.model_for(d)
        m.trip_index(m.trip_ids[0])
    gc.collect()
    step("+ realtime and trip indexes", days=len(transit.cached_dates()),
         model_bytes=sum(model_bytes(transit.model_for(d)) for d in transit.cached_dates()))
    print(json.dumps({"steps": steps, "network_days": [d.isoformat() for d in transit.cached_dates()]}))
    transit.close()
else:  # 2 workers forked from the preloaded parent, as `maas serve --workers 2` does
    from api.server import _preload
    transit = _preload(settings)
    step("parent preloaded")
    today = transit.local_date(dt.datetime.now(dt.timezone.utc))
    ctx = mp.get_context("fork")
    q, go = ctx.Queue(), ctx.Event()

    def worker(i):
        s = dataclasses.replace(settings, data_dir=data / f"w{i}")
        services, app = start(transit, s)
        gc.freeze()
        transit.warm_up(today)
        for k in (1,):  # a second service day, as a worker answering for tomorrow builds it
            transit.planner_for(today + dt.timedelta(days=k))
        q.put({"worker": i, **mem(), "days": len(transit.cached_dates())})
        go.wait(120)

    procs = [ctx.Process(target=worker, args=(i,)) for i in range(2)]
    for p in procs:
        p.start()
    got = [q.get(timeout=900) for _ in procs]
    step("parent with 2 workers")
    go.set()
    for p in procs:
        p.join(30)
    print(json.dumps({"steps": steps, "workers": sorted(got, key=lambda w: w["worker"])}))
"""


def tree_of(commit: str | None) -> str | None:
    """This tree, or ``commit``'s extracted once under .cache/ (kept: numba's cache of its kernels lives there,
    so its start-up loads compiled kernels like a deployed server instead of compiling them)."""
    if commit is None:
        return str(ROOT)
    tree = ROOT / ".cache" / "bench-memory" / commit
    if not (tree / "api").is_dir():
        arch = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True)
        if arch.returncode:
            print(f"git archive {commit} failed: {arch.stderr.decode().strip()}")
            return None
        tree.mkdir(parents=True, exist_ok=True)
        subprocess.run(["tar", "-x", "-C", str(tree)], input=arch.stdout, check=True)
    return str(tree)


def compile_kernels(tree: str, cache: str) -> None:
    """One untimed start-up, so the measured ones load numba's cached kernels (compiling holds ~400 MiB more)."""
    if not list((Path(tree) / "routing" / "__pycache__").glob("*.nbi")):
        print(f"  (compiling the kernels of {tree} once, not measured)", flush=True)
        run_case(tree, [], "single", cache)


def run_case(tree: str, feeds: list[str], mode: str, cache: str) -> dict | None:
    spec = json.dumps({"feeds": feeds, "mode": mode, "cache": cache})
    env = {**os.environ, "PYTHONPATH": tree}
    run = subprocess.run([sys.executable, "-c", _CHILD, tree, spec], capture_output=True, text=True, env=env,
                         timeout=1800)
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    if run.returncode or not lines:
        print(f"  failed ({run.returncode}): {run.stderr.strip().splitlines()[-1:] if run.stderr else ''}")
        return None
    return json.loads(lines[-1])


def fmt(m: dict) -> str:
    parts = [f"RSS {m['rss'] / MiB:6.0f}", f"anon {m.get('anon', 0) / MiB:5.0f}", f"file {m.get('file', 0) / MiB:5.0f}"]
    if "pss" in m:
        parts.append(f"PSS {m['pss'] / MiB:6.0f}")
    return "  ".join(parts) + " MiB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", default="sample,toei,tokyo")
    ap.add_argument("--old-commit", default="2ed0303", help="the tree to compare with ('' to skip)")
    ap.add_argument("--no-workers", action="store_true", help="skip the 2-worker case")
    args = ap.parse_args()
    cache = tempfile.mkdtemp(prefix="bench-memory-cache-")
    trees = [("this tree", tree_of(None))]
    if args.old_commit:
        trees.append((f"at {args.old_commit}", tree_of(args.old_commit)))
    for _, tree in trees:
        if tree is not None:
            compile_kernels(tree, cache)
    results: dict[tuple[str, str, str], dict] = {}
    for key in args.feeds.split(","):
        feeds = FEEDS[key]
        if feeds and not all(Path(f.split("=", 1)[1]).exists() for f in feeds):
            print(f"{key}: feeds not found under {DATA}, skipped")
            continue
        for label, tree in trees:
            if tree is None:
                continue
            for mode in ("single",) + (() if args.no_workers else ("workers",)):
                print(f"== {key} · {label} · {'one process' if mode == 'single' else '2 forked workers'}",
                      flush=True)
                res = run_case(tree, feeds, mode, cache)
                if res is None:
                    continue
                results[(key, label, mode)] = res
                for s in res["steps"]:
                    extra = ""
                    if "days" in s:
                        extra = f"   {s['days']} day(s), models {s['model_bytes'] / MiB:.1f} MiB"
                    print(f"  {s['step']:<30} {fmt(s)}{extra}")
                    if "breakdown" in s:
                        b = s["breakdown"]
                        print("      = " + " + ".join(f"{k.replace('_', ' ')} {b[k] / MiB:.0f}" for k in
                                                    ("libs_file", "libs_anon", "feed_tables", "model_arrays",
                                                     "other")) + " MiB")
                for w in res.get("workers", []):
                    print(f"  worker {w['worker']} ({w['days']} days)          {fmt(w)}")
    print("\n== summary (after warm-up, today's model only; workers: PSS each, 2 service days)")
    for key in args.feeds.split(","):
        row = []
        for label, _ in trees:
            single = results.get((key, label, "single"))
            if single:
                warm = next(s for s in single["steps"] if s["step"] == "planner warm")
                last = [s for s in single["steps"] if s["step"].endswith("cached service day")][-1]
                per_day = (last["rss"] - warm["rss"]) / max(1, last["days"] - warm["days"])
                idx = next((s for s in single["steps"] if s["step"].startswith("+ realtime")), None)
                row.append(f"{label}: RSS {warm['rss'] / MiB:.0f} MiB (+{per_day / MiB:.0f} MiB per extra day"
                           + (f", +{(idx['rss'] - last['rss']) / MiB:.0f} MiB realtime and trip indexes" if idx
                              else "") + ")")
            workers = results.get((key, label, "workers"))
            if workers and all("pss" in w for w in workers["workers"]):
                parent = workers["steps"][-1]
                host = parent.get("pss", 0) + sum(w["pss"] for w in workers["workers"])
                row.append(f"workers PSS {'/'.join(str(round(w['pss'] / MiB)) for w in workers['workers'])} MiB "
                           f"(RSS {'/'.join(str(round(w['rss'] / MiB)) for w in workers['workers'])}), "
                           f"parent + workers PSS {host / MiB:.0f} MiB")
        if row:
            print(f"  {key:<7} " + "; ".join(row))
    if len(trees) == 2:
        for key in args.feeds.split(","):
            new, old = results.get((key, trees[0][0], "single")), results.get((key, trees[1][0], "single"))
            if new and old:
                n = next(s for s in new["steps"] if s["step"] == "planner warm")["rss"]
                o = next(s for s in old["steps"] if s["step"] == "planner warm")["rss"]
                print(f"  {key}: after warm-up this tree / old = {n / o:.2f}")


if __name__ == "__main__":
    main()
