"""The range searches of real plans replayed alone, kernel calls only: for comparing variants of the kernel in
alternating wall-clock runs, or under valgrind, without the planner around it.

    record: .venv/bin/python benchmarks/replay_searches.py record --feed tokyo --plans 200 --out /tmp/x
            (builds the model and saves it to /tmp/x/model, plans bench_plan's queries with the planner's
            `range_raptor` wrapped, pickles every call's arguments, counters and journeys to /tmp/x/calls.pkl)
    replay: .venv/bin/python benchmarks/replay_searches.py replay --dir /tmp/x --passes 3
            (loads the saved model, runs every call once to warm caches and bounds, checking its counters and
            journeys against the recording, then ``--passes`` more, timed: wall and CPU time per pass)

A variant that changes an answer fails the check loudly. Under valgrind (``--tool=callgrind``, ``--passes 0``
giving the set-up cost to subtract) numba sees another CPU and misses its cache: every kernel compiles again,
inside valgrind, for an hour. Fill the cache and replay with the same fixed target, e.g.
``NUMBA_CPU_NAME=haswell NUMBA_CPU_FEATURES=""`` for both (this VM has no hardware counters for ``perf stat``).
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import pickle
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_plan import DATA, DATE, FEEDS, plan_queries  # noqa: E402


def _digest(r) -> str:
    return hashlib.sha1(repr(r.journeys).encode()).hexdigest()


def record(a) -> None:
    from feeds.feed import Network
    from feeds.gtfs import load_feed
    import routing.planner as planner_module
    from routing.planner import PlanOptions, Planner
    from routing.raptor import range_raptor
    from routing.timetable import build_model
    from routing.walking import StraightLineWalker

    fname, ns = FEEDS[a.feed]
    m = build_model(Network([load_feed(DATA / fname, ns)]), DATE)
    out = Path(a.out)
    m.save(out / "model")
    planner = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
    planner.warm_up()
    calls = []

    def recording(model, q, *args, **kw):
        r = range_raptor(model, q, *args, **kw)
        calls.append((q, args, kw, r.counters, _digest(r)))
        return r

    planner_module.range_raptor = recording
    for x, y, when, arrive in plan_queries(m, a.plans):
        planner.plan(x, y, dt.datetime.fromisoformat(when), arrive_by=arrive, options=PlanOptions())
    planner_module.range_raptor = range_raptor
    (out / "calls.pkl").write_bytes(pickle.dumps(calls))
    print(f"{len(calls)} range searches of {a.plans} plans recorded in {out}")


def replay(a) -> None:
    from routing.raptor import range_raptor
    from routing.timetable import TransitModel

    d = Path(a.dir)
    if not (d / "calls.pkl").is_file():
        raise SystemExit(f"{d}: no recording here (make one with: replay_searches.py record --out {d})")
    m = TransitModel.load(d / "model")
    calls = pickle.loads((d / "calls.pkl").read_bytes())
    if a.limit:
        calls = calls[:a.limit]

    def one_pass(check: bool) -> tuple[float, float]:
        t, c = time.perf_counter(), time.process_time()
        for q, args, kw, counters, digest in calls:
            r = range_raptor(m, q, *args, **kw)
            if check and (r.counters != counters or _digest(r) != digest):
                raise SystemExit(f"different answer: {r.counters} != {counters}")
        return time.perf_counter() - t, time.process_time() - c

    one_pass(True)
    times = [one_pass(False) for _ in range(a.passes)]
    if times:  # (CPU time too: on a shared machine it moves less than the wall clock)
        wall, cpu = sorted(x for x, _ in times), sorted(x for _, x in times)
        print(f"{len(calls)} searches, {a.passes} passes: wall min {wall[0] * 1000:.1f} ms median "
              f"{wall[len(wall) // 2] * 1000:.1f} ms; CPU min {cpu[0] * 1000:.1f} ms median "
              f"{cpu[len(cpu) // 2] * 1000:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--feed", default="tokyo", choices=[k for k in FEEDS if k != "tokyo4"])
    r.add_argument("--plans", type=int, default=200)
    r.add_argument("--out", required=True)
    p = sub.add_parser("replay")
    p.add_argument("--dir", required=True)
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    if a.cmd == "record":
        if a.plans < 1:
            ap.error("--plans must be at least 1")
        record(a)
    else:
        replay(a)


if __name__ == "__main__":
    main()
