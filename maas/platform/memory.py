"""Process memory: what a worker holds (RSS, PSS, anonymous) and handing freed heap back to the system.

Loading a feed and building a service day's model allocate several times what they keep (the raw string tables,
pandas temporaries); glibc keeps those freed pages in its arenas (one per thread that allocated) unless asked to
trim, so without `release_memory` a process serving all-Tokyo sat at ~950 MiB for ~400 MiB of live data, and a
supervisor's workers forked with those pages. Measured in benchmarks/bench_memory.py.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return lib if lib is not None and hasattr(lib, "malloc_trim") else None


def release_memory() -> bool:
    """Collect garbage, then return the freed heap to the OS (glibc ``malloc_trim``; elsewhere only the collect).
    Call after a big build (feed load, a model, a network swap), not per request. True when trimmed."""
    gc.collect()
    lib = _libc()
    if lib is None:
        return False
    lib.malloc_trim(0)
    return True


def _kib_fields(path: str, names: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in names:
                    out[key] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return out


def process_memory() -> dict[str, int]:
    """This process's memory in bytes: ``rss`` (resident), ``anon`` (resident and not file-backed: heap, arrays),
    ``pss`` (proportional set size: shared pages split between the processes sharing them, the fair per-worker
    figure after a fork; absent without /proc/self/smaps_rollup). Empty off Linux."""
    st = _kib_fields("/proc/self/status", ("VmRSS", "RssAnon", "RssFile", "RssShmem"))
    out = {}
    if "VmRSS" in st:
        out["rss"] = st["VmRSS"]
    if "RssAnon" in st:
        out["anon"] = st["RssAnon"]
    roll = _kib_fields("/proc/self/smaps_rollup", ("Pss",))
    if "Pss" in roll:
        out["pss"] = roll["Pss"]
    return out


def arrays_nbytes(obj, seen: set[int] | None = None) -> int:
    """Bytes of the numpy arrays an object holds in its attributes (and in tuples/dicts of them, one level of
    named tuples or slotted objects deep: a model's cached timetables, its `PatternColumn`s), each array counted
    once."""
    seen = set() if seen is None else seen
    total = 0
    items = vars(obj).values() if hasattr(obj, "__dict__") else obj
    for v in items:
        if isinstance(v, np.ndarray):
            base = v.base if isinstance(v.base, np.ndarray) else v
            if id(base) not in seen:
                seen.add(id(base))
                total += base.nbytes
        elif isinstance(v, (tuple, list)) and v and not isinstance(v[0], str):
            total += arrays_nbytes(v, seen)
        elif hasattr(v, "_fields"):
            total += arrays_nbytes(tuple(v), seen)
        elif hasattr(type(v), "__slots__") and not isinstance(v, (str, bytes, tuple, list, dict)):
            total += arrays_nbytes([getattr(v, n) for n in type(v).__slots__], seen)  # e.g. a PatternColumn
    return total
