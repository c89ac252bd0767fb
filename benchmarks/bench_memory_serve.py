"""Memory of real `maas serve` processes, by mapping (/proc/PID/smaps): RSS, PSS, USS and anonymous bytes of each
worker after /readyz says ready and after N plans, grouped into libllvmlite, the other shared libraries, the
heap and anonymous mappings (arrays, malloc arenas, numba's loaded code) and the rest; for one or more trees,
alternating (the order too), several runs each (medians), on all-Tokyo rail by default; with the plans' median
latency (one at a time) and the workers' CPU time a plan. USS (unique set: pages no other process maps, private
clean + dirty) is what one more worker costs: with several workers the libraries' file pages are shared.

    .venv/bin/python benchmarks/bench_memory_serve.py [--old-tree /work/wt-base] [--runs 3] [--workers 1] [--plans 200]
        [--date 2026-12-03]

``--date``: the servers' clock is moved to that day (libfaketime, e.g. Debian's ``faketime`` package; the time
of day is now's), so they keep it and the next day built, and the plans are for it: a day whose next day's model
differs (Thursday, Friday, ...) shows what the second day costs; without it, today (on Wednesdays the next day's
model is the same, and shares its arrays).

``--workers 2`` needs a Redis (MAAS_TEST_REDIS_URL, e.g. via scripts/ensure-redis.sh run). numba's cache of every
tree must be warm (``python -m maas.platform.kernels`` with that tree's PYTHONPATH).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import DAY, KEY, start_server  # noqa: E402
from bench_memory import FEEDS, MiB, ROOT  # noqa: E402


def category(path: str) -> str:
    if not path:
        return "anonymous"
    if path.startswith("["):
        return path.split(":")[0]
    name = Path(path).name
    if "llvmlite" in name:
        return "libllvmlite"
    if ".so" in name or name.startswith("python"):
        return "other libraries"
    return "other files"


def smaps(pid: int) -> dict[str, dict[str, int]]:
    """Bytes by category: {category: {rss, pss, uss, anon}} plus a "total"."""
    out: dict[str, dict[str, int]] = {}
    cur = None
    with open(f"/proc/{pid}/smaps", encoding="utf-8", errors="replace") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                cur = out.setdefault(category(" ".join(head[5:])), {"rss": 0, "pss": 0, "uss": 0, "anon": 0})
                continue
            key = {"Rss:": "rss", "Pss:": "pss", "Private_Clean:": "uss", "Private_Dirty:": "uss",
                   "Anonymous:": "anon"}.get(head[0])
            if key and cur is not None:
                cur[key] += int(head[1]) * 1024
    out["total"] = {k: sum(v[k] for c, v in out.items() if c != "total") for k in ("rss", "pss", "uss", "anon")}
    return out


def stations(feed_spec: str) -> list[str]:
    ns, _, path = feed_spec.partition("=")
    with zipfile.ZipFile(path) as z, z.open("stops.txt") as f:
        rows = [ln.decode("utf-8-sig").split(",") for ln in f.read().splitlines()[1:]]
    return [f"{ns}:{r[0]}" for r in rows if len(r) > 4 and r[4] == "1"]


FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def clock_env(day: str) -> dict[str, str]:
    """Environment that moves a process's clock to ``day`` (the same time of day in Tokyo) with libfaketime."""
    if day == DAY:
        return {}
    if not Path(FAKETIME_LIB).exists():
        sys.exit(f"--date needs libfaketime ({FAKETIME_LIB}; Debian: apt-get install faketime)")
    shift = (dt.date.fromisoformat(day) - dt.date.fromisoformat(DAY)).days
    return {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": f"{shift:+d}d", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "FAKETIME_NO_CACHE": "1"}


def plans(base: str, ids: list[str], n: int, day: str = DAY) -> tuple[int, float]:
    """(answered, median seconds) of ``n`` random depart-at plans, one at a time."""
    rnd = random.Random(11)
    ok = 0
    lat = []
    for _ in range(n):
        a, b = rnd.sample(ids, 2)
        minute = rnd.randrange(6 * 60, 22 * 60)
        when = f"{day}T{minute // 60:02d}:{minute % 60:02d}:00+09:00"
        q = urllib.parse.urlencode({"from": a, "to": b, "depart_at": when})
        req = urllib.request.Request(f"{base}/v1/plan?{q}", headers={"Authorization": f"Bearer {KEY}"})
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                r.read()
                ok += r.status == 200
        except OSError:
            pass
        lat.append(time.perf_counter() - t0)
    return ok, statistics.median(lat) if lat else 0.0


def days_held(base: str) -> list[str]:
    """The service days the answering worker holds models of (/metrics), e.g. to tell a day built on the way."""
    try:
        with urllib.request.urlopen(f"{base}/metrics", timeout=30) as r:
            text = r.read().decode()
    except OSError:
        return []
    return [ln.split('service_date="')[1].split('"')[0] for ln in text.splitlines()
            if ln.startswith("maas_transit_model_bytes{") and "service_date=" in ln]


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pids(proc: subprocess.Popen, workers: int) -> list[int]:
    if workers <= 1:
        return [proc.pid]
    kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    return [int(k) for k in kids if "maas" in Path(f"/proc/{k}/cmdline").read_text()
            or "python" in Path(f"/proc/{k}/cmdline").read_text()]


def one(tree: Path, tag: str, feeds: list[str], workers: int, n_plans: int, day: str = DAY) -> dict:
    saved = dict(os.environ)
    os.environ.update(clock_env(day))  # (start_server hands the server this environment)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return _one(tree, tag, feeds, workers, n_plans, day, Path(tmp))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _one(tree: Path, tag: str, feeds: list[str], workers: int, n_plans: int, day: str, tmp: Path) -> dict:
    proc, base = start_server(workers, tmp, os.environ.get("MAAS_TEST_REDIS_URL", ""), feeds, tree, tag)
    try:
        time.sleep(1.0)
        pids = worker_pids(proc, workers)
        ready = {p: smaps(p) for p in pids}
        days = days_held(base)
        sup = smaps(proc.pid) if workers > 1 else None
        cpu0 = sum(cpu_s(p) for p in pids)
        ok, p50 = plans(base, stations(feeds[0]), n_plans, day)
        cpu = (sum(cpu_s(p) for p in pids) - cpu0) / max(n_plans, 1)
        after = {p: smaps(p) for p in pids}
        return {"ready": ready, "after": after, "supervisor": sup, "ok": ok, "p50": p50, "cpu": cpu,
                "days": (days, days_held(base))}
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", default="tokyo", choices=sorted(FEEDS))
    ap.add_argument("--old-tree", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--plans", type=int, default=200)
    ap.add_argument("--date", default=DAY, help="the servers' (moved) date and the plans' (default: today in Tokyo)")
    args = ap.parse_args()
    trees = {"new": ROOT} | ({"old": args.old_tree.resolve()} if args.old_tree else {})
    feeds = FEEDS[args.feeds]
    res: dict[str, list[dict]] = {t: [] for t in trees}
    for r in range(args.runs):
        for tag, tree in (list(trees.items()) if r % 2 == 0 else list(trees.items())[::-1]):  # order alternates
            got = one(tree, f"{tag}{r}", feeds, args.workers, args.plans, args.date)
            res[tag].append(got)
            w = next(iter(got["after"].values()))["total"]
            w0 = next(iter(got["ready"].values()))["total"]
            print(f"run {r} {tag}: days held at ready {','.join(got['days'][0])}, after the plans "
                  f"{','.join(got['days'][1])}; worker at ready RSS {w0['rss'] / MiB:.0f} PSS {w0['pss'] / MiB:.0f} "
                  f"USS {w0['uss'] / MiB:.0f}; "
                  f"after {args.plans} plans ({got['ok']} answered) RSS {w['rss'] / MiB:.0f} "
                  f"PSS {w['pss'] / MiB:.0f} USS {w['uss'] / MiB:.0f} anon {w['anon'] / MiB:.0f} MiB; "
                  f"/v1/plan p50 {got['p50'] * 1000:.1f} ms, "
                  f"worker CPU {got['cpu'] * 1000:.1f} ms a plan",
                  flush=True)
    cats = sorted({c for runs in res.values() for g in runs for m in g["after"].values() for c in m})
    cats.remove("total")
    for tag in trees:
        print(f"\n== {tag} ({trees[tag]}), {args.workers} worker(s), median of {args.runs} runs, MiB ==")
        print(f"{'':<18}" + "".join(f"{h:>10}" for h in ("RSS rdy", "PSS rdy", "USS rdy", "anon rdy", "RSS run",
                                                         "PSS run", "USS run", "anon run")))
        for c in cats + ["total"]:
            row = []
            for when in ("ready", "after"):
                for k in ("rss", "pss", "uss", "anon"):
                    row.append(statistics.median(m.get(c, {}).get(k, 0) for g in res[tag]
                                                 for m in g[when].values()) / MiB)
            print(f"{c:<18}" + "".join(f"{v:10.1f}" for v in row))
        print(f"/v1/plan p50 (one at a time) {statistics.median(g['p50'] for g in res[tag]) * 1000:.1f} ms, worker "
              f"CPU a plan {statistics.median(g['cpu'] for g in res[tag]) * 1000:.1f} ms")
        if args.workers > 1:
            print(f"supervisor PSS {statistics.median(g['supervisor']['total']['pss'] for g in res[tag]) / MiB:.1f}")
    if len(trees) == 2:
        for when in ("ready", "after"):
            for k in ("rss", "pss", "uss"):
                med = {t: statistics.median(m["total"][k] for g in res[t] for m in g[when].values()) for t in trees}
                print(f"{when} {k}: new {med['new'] / MiB:.0f} / old {med['old'] / MiB:.0f} MiB = "
                      f"{med['new'] / med['old']:.2f}")


if __name__ == "__main__":
    main()
