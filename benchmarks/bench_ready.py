"""Is the first /v1/plan after /readyz as fast as the hundredth, for today and for tomorrow?

Starts `maas serve --dev` (one process; the built-in sample network, or ``--feed NS=PATH``), times process start →
/readyz 200 (start-up), reads the server's resident memory (VmRSS) once ready, then sends, one at a time on fresh
connections: for today (in the feed's zone), a first plan, ``--n`` more plans of other random station pairs, and
the first query again; then the same for tomorrow. Prints per day the first plan's time, the median of the next
``--n``, the first query repeated, and first/median; the server's RSS at the end (after tomorrow's plans: the cost
of a second service day's model where the server built it on demand). With ``--old-tree DIR`` (a worktree of
another commit, its numba cache warmed) a server of that tree runs too, alternating which goes first, ``--rounds``
times; medians over the rounds and new/old ratios are printed.

    .venv/bin/python benchmarks/bench_ready.py [--old-tree ../wt-base] [--rounds 3] [--n 30]
        [--feed tokyo-rail=../shared/data/tokyo-rail-gtfs.zip] [--zone Asia/Tokyo]
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
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.bench_api import KEY, KEYS, _abs_feed, free_port  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of the process and its waited-for children (the kernel check's, the feed
    loader's): start-up's cost, which unlike its wall time hardly depends on what else the machine runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def get(base: str, path: str, params: dict | None = None, timeout: float = 120) -> tuple[int, bytes]:
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {KEY}", "Connection": "close"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def start(tree: Path, tmp: Path, feeds: list[str], tag: str) -> tuple[subprocess.Popen, str, float, dict]:
    """A server of ``tree``; returns it, its base URL, seconds from start to /readyz 200, and that answer."""
    port = free_port()
    keys = tmp / "keys.json"
    keys.write_text(json.dumps(KEYS))
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "maas.cli", "serve", "--port", str(port), "--keys", str(keys),
                             "--data-dir", str(tmp / f"data-{tag}"), "--dev",
                             *[a for f in feeds for a in ("--feed", _abs_feed(f))]],
                            cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"maas serve ({tag}) exited with {proc.returncode}")
        try:
            status, body = get(base, "/readyz", timeout=2)
            if status == 200:
                return proc, base, time.perf_counter() - t0, json.loads(body)
        except OSError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"maas serve ({tag}) not ready after 900 s")


def pairs(base: str, n: int, seed: int = 11) -> list[tuple[str, str]]:
    status, body = get(base, "/v1/stops", {"limit": 200})
    ids = [s["id"] for s in json.loads(body)["stops"]]
    rnd = random.Random(seed)
    return [tuple(rnd.sample(ids, 2)) for _ in range(n)]


def timed_plans(base: str, day: dt.date, zone: ZoneInfo, qs: list[tuple[str, str]], seed: int) -> list[float]:
    """Milliseconds of each plan of ``qs`` on ``day``, in order, then the first query again."""
    rnd = random.Random(seed)
    minutes = [rnd.randrange(7 * 60, 21 * 60) for _ in qs]
    out = []
    for (a, b), minute in zip(qs + qs[:1], minutes + minutes[:1]):
        when = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), zone).isoformat()
        t = time.perf_counter()
        status, body = get(base, "/v1/plan", {"from": a, "to": b, "depart_at": when})
        out.append((time.perf_counter() - t) * 1000)
        if status != 200:
            raise SystemExit(f"/v1/plan {a}→{b} {when}: {status} {body[:200]!r}")
    return out


def one_run(tree: Path, tmp: Path, feeds: list[str], tag: str, n: int, zone: ZoneInfo) -> dict:
    proc, base, ready_s, ready = start(tree, tmp, feeds, tag)
    try:
        rss_ready, cpu_ready = rss_mb(proc.pid), cpu_s(proc.pid)
        qs = pairs(base, n + 1)
        today = dt.datetime.now(zone).date()
        row = {"ready_s": ready_s, "cpu_ready": cpu_ready, "rss_ready": rss_ready, "readyz": ready}
        for label, day, seed in (("today", today, 1), ("tomorrow", today + dt.timedelta(days=1), 2)):
            ms = timed_plans(base, day, zone, qs, seed)
            row[label] = {"first": ms[0], "median": statistics.median(ms[1:-1]), "again": ms[-1]}
        row["rss_end"] = rss_mb(proc.pid)
        return row
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def med(rows: list[dict], *keys: str) -> float:
    vals = []
    for r in rows:
        v = r
        for k in keys:
            v = v[k]
        vals.append(v)
    return statistics.median(vals)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-tree", type=Path, help="a worktree of the baseline commit (numba cache warmed)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=30, help="plans after the first, per day")
    ap.add_argument("--feed", action="append", default=[], help="NS=PATH (default: the built-in sample)")
    ap.add_argument("--zone", default="Asia/Tokyo", help="the feeds' time zone (today and tomorrow are its dates)")
    args = ap.parse_args()
    zone = ZoneInfo(args.zone)
    trees = {"new": ROOT} | ({"old": args.old_tree.resolve()} if args.old_tree else {})
    rows: dict[str, list[dict]] = {k: [] for k in trees}
    with tempfile.TemporaryDirectory(prefix="bench-ready-") as tmp:
        for r in range(args.rounds):
            order = list(trees) if r % 2 == 0 else list(reversed(trees))
            for tag in order:
                row = one_run(trees[tag], Path(tmp), args.feed, f"{tag}{r}", args.n, zone)
                rows[tag].append(row)
                print(f"round {r} {tag}: ready {row['ready_s']:.2f} s ({row['cpu_ready']:.2f} s CPU), RSS {row['rss_ready']:.0f} → "
                      f"{row['rss_end']:.0f} MiB; " + "; ".join(
                          f"{d} first {row[d]['first']:.1f} ms, median {row[d]['median']:.1f}, "
                          f"again {row[d]['again']:.1f}" for d in ("today", "tomorrow")), flush=True)
        print(f"\nmedians over {args.rounds} rounds ({', '.join(args.feed) or 'built-in sample'}; {args.n} plans "
              f"after the first, each on a new connection):")
        print(f"{'':6} {'ready s':>8} {'CPU s':>6} {'RSS ready':>10} {'RSS end':>8}  "
              f"{'today first':>11} {'median':>7} {'again':>6} {'first/med':>9}  "
              f"{'tmrw first':>10} {'median':>7} {'again':>6} {'first/med':>9}")
        for tag, rs in rows.items():
            cells = []
            for d in ("today", "tomorrow"):
                f, m, a = med(rs, d, "first"), med(rs, d, "median"), med(rs, d, "again")
                ratios = [r[d]["first"] / r[d]["median"] for r in rs]
                cells.append(f"{f:11.1f} {m:7.1f} {a:6.1f} {statistics.median(ratios):9.2f}")
            print(f"{tag:6} {med(rs, 'ready_s'):8.2f} {med(rs, 'cpu_ready'):6.2f} {med(rs, 'rss_ready'):10.0f} {med(rs, 'rss_end'):8.0f}  "
                  + "  ".join(cells))
        if "old" in rows:
            print("new/old: start-up %.2f× (CPU %.2f×), RSS ready %+.0f MiB, RSS end %+.0f MiB, today first %.2f×, tomorrow "
                  "first %.3f×" % (med(rows["new"], "ready_s") / med(rows["old"], "ready_s"),
                                   med(rows["new"], "cpu_ready") / med(rows["old"], "cpu_ready"),
                                   med(rows["new"], "rss_ready") - med(rows["old"], "rss_ready"),
                                   med(rows["new"], "rss_end") - med(rows["old"], "rss_end"),
                                   med(rows["new"], "today", "first") / med(rows["old"], "today", "first"),
                                   med(rows["new"], "tomorrow", "first") / med(rows["old"], "tomorrow", "first")))
        print("readyz (new):", json.dumps(rows["new"][-1]["readyz"]))


if __name__ == "__main__":
    main()
