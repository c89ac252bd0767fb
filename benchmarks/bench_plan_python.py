"""The Python side of full plans alone: bench_plan's queries planned once with the kernels recorded
(`range_search_flat`, `late_bounds_flat`: their returns and what they wrote into the output arrays), then planned
again with the kernels replayed from the recording, so what is timed is the planner, the search's Python, the
itineraries and (separately) their JSON, without the kernels and without their cost varying with the load. The
replayed answers are checked against the recorded ones (a replay that misses a kernel's output fails loudly).

    .venv/bin/python benchmarks/bench_plan_python.py [--feed toei|tokyo|tokyo4] [--queries 300] [--passes 7]
        [--model-cache /tmp/models] [--tree /work/wt-base] [--profile tottime]

``--tree``: plan with that tree's code (this script's own by default), for a before/after on the same queries;
run both one after the other, a few times (the machine's load moves between runs). Figures: µs per plan, the
least and the median of the passes. Caveat: replayed, the Python finds its data in warm caches; between real
kernel calls (which sweep megabytes of labels) the same code costs more: all-Tokyo ~0.26 ms a plan replayed, ~0.7-0.85
ms as plan less kernel time with thread-time wrappers (its small helpers 5-15× their warm `timeit` figures).
"""
from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feed", default="toei")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--passes", type=int, default=7)
    ap.add_argument("--model-cache", type=Path, default=Path("/tmp/models"))
    ap.add_argument("--tree", type=Path, default=ROOT)
    ap.add_argument("--profile", default=None, help="a pstats sort key: cProfile one replayed pass")
    a = ap.parse_args()
    sys.path[:0] = [str(a.tree.resolve()), str(ROOT / "benchmarks")]
    from bench_plan import plan_queries
    from bench_plan_tail import model_for
    import routing.raptor.search as search
    from routing.planner import PlanOptions, Planner
    from routing.walking import StraightLineWalker

    m = model_for(a.feed, a.model_cache)
    planner = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
    planner.warm_up()
    opts = PlanOptions()
    queries = [(o, d, dt.datetime.fromisoformat(w), arrive) for o, d, w, arrive in plan_queries(m, a.queries)]

    def run(as_json: bool) -> list:
        out = []
        for o, d, when, arrive in queries:
            its = planner.plan(o, d, when, arrive_by=arrive, options=opts)
            if as_json:
                out.append([it.to_dict() for it in its])
        return out

    run(False)  # (pooled buffers grown, tables filled: the recording's output arrays are the ones replayed into)
    search_flat, late_flat = search.range_search_flat, search.late_bounds_flat
    tape: list = []
    late_tape: list = []

    def record_search(recs, rules, seg, out, *rest):
        r = search_flat(recs, rules, seg, out, *rest)
        o = out if r[1] is None else r[1]
        n_j, n_l = o[2].tolist()
        tape.append((r, o[0][:n_j].copy(), o[1][:n_l].copy(), o[2].copy()))
        return r

    def record_late(*args):
        r = late_flat(*args)
        late_tape.append((r, args[10].copy()))  # (``late``: what it fills)
        return r

    pos = [0, 0]

    def replay_search(recs, rules, seg, out, *rest):
        r, js, legs, used = tape[pos[0]]
        pos[0] += 1
        out[0][:len(js)], out[1][:len(legs)], out[2][:] = js, legs, used
        return r

    def replay_late(*args):
        r, late = late_tape[pos[1]]
        pos[1] += 1
        args[10][...] = late
        return r

    search.range_search_flat, search.late_bounds_flat = record_search, record_late
    expected = run(True)
    search.range_search_flat, search.late_bounds_flat = replay_search, replay_late

    def timed(as_json: bool) -> float:
        pos[:] = [0, 0]
        t = time.thread_time()
        got = run(as_json)
        spent = time.thread_time() - t
        if as_json and got != expected:
            raise SystemExit("the replayed plans differ from the recorded ones")
        return spent

    timed(True)
    gc.collect()
    gc.freeze()
    plans, jsons = [], []
    for _ in range(a.passes):
        plans.append(timed(False))
        jsons.append(timed(True))
    n = len(queries) / 1e6
    print(f"{a.feed} ({a.tree}): {len(queries)} plans, {len(tape)} searches, {len(late_tape)} late bounds replayed; "
          f"µs a plan, least / median of {a.passes} passes: plan {min(plans) / n:.1f} / "
          f"{statistics.median(plans) / n:.1f}; plan + to_dict {min(jsons) / n:.1f} / "
          f"{statistics.median(jsons) / n:.1f}")
    if a.profile:
        pos[:] = [0, 0]
        prof = cProfile.Profile()
        prof.enable()
        run(True)
        prof.disable()
        pstats.Stats(prof).sort_stats(a.profile).print_stats(30)


if __name__ == "__main__":
    main()
