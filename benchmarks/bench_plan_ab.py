"""Full plans of two trees interleaved query by query: one worker process per tree (its own code and numba cache),
the same queries (`bench_plan.plan_queries`) sent to each in turn, A then B and B then A on the next, so load hits
both alike; per plan wall and thread CPU time, JSON bodies compared. For a kernel change, which no in-process A/B
(`bench_plan_tail --ab`) can switch, where `bench_plan --old-commit` runs the old tree after the new one (on a
shared machine the load moves between them). Two processes of one tree differ too (~2 % on all-Tokyo):
run ``--new-tree`` = ``--old-tree`` once to see it.

    .venv/bin/python benchmarks/bench_plan_ab.py --old-tree /work/wt-base [--new-tree .] [--feed toei]
        [--queries 300] [--reps 3] [--warm] [--model-cache /tmp/models] [--old-model-cache DIR] [--both]

``--model-cache``: both workers load the model from there (`bench_plan_tail.model_for`, which this process fills
first when it is missing): the only way to run the tiled ``tokyo4``, and no build per run for the others.
Printed for all plans and per direction. ``--both``: every query asked both ways, so the arrive-by / depart-at ratio
compares the same pairs (bench_plan's mix asks 30 % of its queries arrive-by only: on all-Tokyo 150 queries, those
45 cost 1.2x the others as depart-at too, and their destinations have more arrivals than their origins departures,
i.e. more runs backwards; over the pairs both ways round the ratio is ~1.0).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

_WORKER = r'''
import sys, json, time, gc, hashlib, datetime as dt
sys.path.insert(0, sys.argv[1] + "/benchmarks")
from bench_plan import DATA, DATE, FEEDS, plan_queries
from feeds.feed import Network
from feeds.gtfs import load_feed
from routing.planner import Planner, PlanOptions
from routing.timetable import build_model
from routing.walking import StraightLineWalker
if sys.argv[5]:  # a model kept by bench_plan_tail.model_for (tokyo4 is only there: the tiled feed)
    from pathlib import Path
    from bench_plan_tail import model_for
    m = model_for(sys.argv[2], Path(sys.argv[5]))
else:
    fname, ns = FEEDS[sys.argv[2]]
    m = build_model(Network([load_feed(DATA / fname, ns)]), DATE)
p = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
p.warm_up()
gc.collect()
gc.freeze()
qs = plan_queries(m, int(sys.argv[3]))
opts = PlanOptions()
def one(q, arrive=None):
    arrive = q[3] if arrive is None else arrive
    return [it.to_dict() for it in p.plan(q[0], q[1], dt.datetime.fromisoformat(q[2]), arrive_by=arrive, options=opts)]
if sys.argv[4] == "1":  # an untimed pass first: places and itinerary tables filled, as in a server that has run
    for q in qs:
        one(q)
print("ready", flush=True)
for line in sys.stdin:
    i, way = line.split()
    q = qs[int(i)]
    arrive = q[3] if way == "-" else way == "1"
    t, c = time.perf_counter(), time.thread_time()
    its = one(q, arrive)
    w, c = time.perf_counter() - t, time.thread_time() - c
    print(json.dumps([w, c, hashlib.sha1(json.dumps(its, ensure_ascii=False).encode()).hexdigest(), arrive]),
          flush=True)
'''


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old-tree", required=True, type=Path)
    ap.add_argument("--new-tree", default=ROOT, type=Path)
    ap.add_argument("--feed", default="toei")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warm", action="store_true", help="an untimed pass over the queries first")
    ap.add_argument("--model-cache", type=Path, default=None)
    ap.add_argument("--old-model-cache", type=Path, default=None,
                    help="the old tree's models, built by its own code, when the change alters the model built "
                         "(e.g. stop numbering); default --model-cache")
    ap.add_argument("--both", action="store_true",
                    help="every query both ways (depart-at and arrive-by, the same pairs): per direction and the "
                         "arrive-by / depart-at p50 ratio like with like")
    a = ap.parse_args()
    if a.model_cache is not None:  # (filled here once, not by two workers at the same time)
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench_plan_tail import model_for
        a.model_cache.mkdir(parents=True, exist_ok=True)
        model_for(a.feed, a.model_cache)
    elif a.feed == "tokyo4":
        raise SystemExit("tokyo4 is the tiled network: give --model-cache DIR")
    caches = {"new": a.model_cache, "old": a.old_model_cache or a.model_cache}
    if a.old_model_cache is not None:  # (filled by the old tree's code, before either worker starts)
        tree = a.old_tree.resolve()
        a.old_model_cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(tree / ".venv" / "bin" / "python"), "-c",
                        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1] + '/benchmarks'); "
                        "from bench_plan_tail import model_for; model_for(sys.argv[2], Path(sys.argv[3]))",
                        str(tree), a.feed, str(a.old_model_cache.resolve())],
                       check=True, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)})
    procs = {}
    for name, tree in (("old", a.old_tree.resolve()), ("new", a.new_tree.resolve())):
        procs[name] = subprocess.Popen(
            [str(tree / ".venv" / "bin" / "python"), "-c", _WORKER, str(tree), a.feed, str(a.queries),
             "1" if a.warm else "0", str(caches[name].resolve()) if caches[name] else ""],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree)})
    for p in procs.values():
        if p.stdout.readline().strip() != "ready":
            raise SystemExit("a worker failed to start")
    res: dict[str, list] = {"old": [], "new": []}
    ways = ("0", "1") if a.both else ("-",)
    for rep in range(a.reps):
        for i, way in ((i, w) for i in range(a.queries) for w in ways):
            for name in (("old", "new") if (i + rep) % 2 == 0 else ("new", "old")):
                procs[name].stdin.write(f"{i} {way}\n")
                procs[name].stdin.flush()
                res[name].append(json.loads(procs[name].stdout.readline()))
    for p in procs.values():
        p.stdin.close()
        p.wait()
    same = sum(x[2] == y[2] for x, y in zip(res["old"], res["new"]))
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"{a.feed}: {len(res['old'])} plans ({a.queries} queries × {a.reps}{', warm pass' if a.warm else ''}), "
          f"bodies identical {same}; load average {load}")
    _summary("", res["old"], res["new"])
    for way, label in ((False, "depart-at"), (True, "arrive-by")):
        pick = [j for j, x in enumerate(res["old"]) if x[3] == way]
        print(f" {label}: {len(pick)} plans, bodies identical {sum(res['old'][j][2] == res['new'][j][2] for j in pick)}")
        _summary(f"{label} ", [res["old"][j] for j in pick], [res["new"][j] for j in pick])
    cpu = {(name, way): np.median([x[1] for x in res[name] if x[3] == way]) for name in res for way in (False, True)}
    print(f"  arrive-by / depart-at cpu p50{' (the same pairs both ways)' if a.both else ''}: old "
          f"{cpu['old', True] / cpu['old', False]:.2f} new {cpu['new', True] / cpu['new', False]:.2f}")
    # per plan asked (a query, and its way with --both): its median over the reps, new / old (above 1: slower)
    per_rep = len(res["old"]) // a.reps
    per_plan = {name: np.median(np.array([x[1] for x in r]).reshape(a.reps, per_rep), axis=0)
                for name, r in res.items()}
    ratio = per_plan["new"] / per_plan["old"]
    arrive = np.array([x[3] for x in res["old"][:per_rep]], bool)
    for label, sel in (("all", np.ones_like(arrive)), ("depart-at", ~arrive), ("arrive-by", arrive)):
        if sel.any():
            q = np.percentile(ratio[sel], [50, 95, 99])
            print(f"  cpu new/old per query (median of {a.reps} reps), {label} ({sel.sum()}): p50 {q[0]:.3f} "
                  f"p95 {q[1]:.3f} p99 {q[2]:.3f}; sum {per_plan['new'][sel].sum() / per_plan['old'][sel].sum():.3f}")


def _summary(label: str, old: list, new: list) -> None:
    """Wall and CPU percentiles of both trees' plans and their ratios, and the median of per-plan ratios."""
    if not old:
        return
    for k, what in ((0, "wall"), (1, "cpu")):
        o = np.array([x[k] for x in old]) * 1e3
        n = np.array([x[k] for x in new]) * 1e3
        po, pn = np.percentile(o, [50, 95, 99]), np.percentile(n, [50, 95, 99])
        print(f"  {label}{what} ms: old p50 {po[0]:.3f} p95 {po[1]:.2f} p99 {po[2]:.2f} | new p50 {pn[0]:.3f} p95 "
              f"{pn[1]:.2f} p99 {pn[2]:.2f} | old/new p50 {po[0] / pn[0]:.2f}x p95 {po[1] / pn[1]:.2f}x p99 "
              f"{po[2] / pn[2]:.2f}x; median of per-plan old/new {np.median(o / n):.3f}")


if __name__ == "__main__":
    main()
