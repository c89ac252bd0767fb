"""Where the planner's numba kernels spend their cycles, by machine instruction: `perf record` on a worker planning
the bench queries, each sample's address mapped into the JIT code of the entry kernels, the code disassembled.

perf cannot name numba's code (no symbols, no perf map), and a kernel's code holds everything inlined or linked into
it (`range_search_flat` holds `raptor_run` and its phases). So the worker, after its warm-up, copies each entry
kernel's code region out of its own memory (the mapping holding the function's address, /proc/self/maps) and this
process disassembles it (``objdump -b binary --adjust-vma``) and prints the hottest instructions with the code
before them: a load that misses shows as the instruction after it (the sample's skid). Which array a load reads is
in its base register's stack slot (``mov 0x3a0(%rsp),%rdx`` ... ``movslq (%rdx,%rax,4)``): match the slots with the
index arithmetic against the source. Only the cpu-clock event where the machine has no hardware counters (VMs).

    .venv/bin/python benchmarks/profile_kernels.py [--feed tokyo] [--queries 150] [--seconds 25] [--top 20]
        [--model-cache /tmp/models] [--context 12]

Measured on all-Tokyo (9865d30): 76 % of the worker's samples in range_search_flat, 10 % in late_bounds_flat;
top single instructions: the ride's arrival read in `scan_routes` (5.9 %), the departure of the trip before j
read by the look for an earlier trip (3.7 %), the first reads of the in-seat links at a route's end (~8 % in all).
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRIES = ("range_search_flat", "late_bounds_flat")

_WORKER = r'''
import sys, ctypes, datetime as dt, gc, os
from pathlib import Path
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[1] + "/benchmarks")
from bench_plan import plan_queries
from bench_plan_tail import model_for
from routing.planner import Planner
from routing.walking import StraightLineWalker
import routing.raptor.profile as P
out = Path(sys.argv[2])
m = model_for(sys.argv[3], Path(sys.argv[4]) if sys.argv[4] else None)
p = Planner(m, StraightLineWalker(m.stop_lat, m.stop_lon))
p.warm_up()
qs = plan_queries(m, int(sys.argv[5]))
for q in qs[:20]:  # (every kernel variant the queries use compiled or loaded)
    p.plan(q[0], q[1], dt.datetime.fromisoformat(q[2]), arrive_by=q[3])
gc.collect(); gc.freeze()
maps = [tuple(int(x, 16) for x in line.split()[0].split("-")) for line in open("/proc/self/maps")]
with open(out / "regions.txt", "w") as f:
    for name in sys.argv[6].split(","):
        for i, cres in enumerate(getattr(P, name).overloads.values()):
            addr = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
            lo, hi = next((lo, hi) for lo, hi in maps if lo <= addr < hi)
            (out / f"{name}.{i}.bin").write_bytes(ctypes.string_at(lo, hi - lo))
            f.write(f"{lo:x} {hi:x} {name}.{i}\n")
(out / "ready").write_text(str(os.getpid()))
while True:
    for q in qs:
        p.plan(q[0], q[1], dt.datetime.fromisoformat(q[2]), arrive_by=q[3])
'''


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feed", default="tokyo")
    ap.add_argument("--queries", type=int, default=150)
    ap.add_argument("--seconds", type=float, default=25.0)
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--context", type=int, default=12, help="instructions shown before each hot one")
    ap.add_argument("--model-cache", default="")
    a = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="kprof-"))
    w = subprocess.Popen([sys.executable, "-c", _WORKER, str(ROOT), str(out), a.feed, a.model_cache,
                          str(a.queries), ",".join(ENTRIES)], env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        while not (out / "ready").exists():
            if w.poll() is not None:
                raise SystemExit("worker failed")
            time.sleep(0.5)
        subprocess.run(["perf", "record", "-F", "4000", "-p", str(w.pid), "-o", str(out / "perf.data"), "--",
                        "sleep", str(a.seconds)], check=True, capture_output=True)
    finally:
        w.kill()
        w.wait()
    ips = subprocess.run(["perf", "script", "-i", str(out / "perf.data"), "-F", "ip"], capture_output=True,
                         text=True).stdout.split()
    regions = [(int(lo, 16), int(hi, 16), name) for lo, hi, name in
               (line.split() for line in (out / "regions.txt").read_text().splitlines())]
    hits: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for ip in map(lambda x: int(x, 16), ips):
        for lo, hi, name in regions:
            if lo <= ip < hi:
                hits[name][ip - lo] += 1
                break
    total = len(ips)
    print(f"{total} samples in {out}; per kernel code region:")
    for name, c in sorted(hits.items(), key=lambda kv: -sum(kv[1].values())):
        print(f"  {name:24s} {100 * sum(c.values()) / total:5.1f} %")
    for name, c in hits.items():
        asm = subprocess.run(["objdump", "-D", "-b", "binary", "-m", "i386:x86-64", str(out / f"{name}.bin")],
                             capture_output=True, text=True).stdout.splitlines()
        at = {int(m.group(1), 16): n for n, line in enumerate(asm) if (m := re.match(r"\s*([0-9a-f]+):", line))}
        for off, v in c.most_common(a.top):
            if 100 * v / total < 0.3:
                break
            print(f"\n== {name} +0x{off:x}: {100 * v / total:.2f} % of samples")
            n = at.get(off)
            for line in asm[max(0, n - a.context):n + 2] if n is not None else []:
                m = re.match(r"\s*([0-9a-f]+):", line)
                share = c.get(int(m.group(1), 16), 0) if m else 0
                print(f"{100 * share / total:5.2f} " if share else "      ", line)


if __name__ == "__main__":
    main()
