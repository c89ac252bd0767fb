"""Process memory: what a worker holds (RSS, PSS, anonymous) and handing freed heap back to the system.

Loading a feed and building a service day's model allocate several times what they keep (the raw string tables,
pandas temporaries); glibc keeps those freed pages in its arenas (one per thread that allocated) unless asked to
trim, so without `release_memory` a process serving all-Tokyo sat at ~950 MiB for ~400 MiB of live data, and a
supervisor's workers forked with those pages. Measured in benchmarks/bench_memory.py.

LLVM (numba's compiler, libllvmlite: 80 MiB of code) is only run to compile or load a kernel, yet numba's import
alone maps ~95 MiB of its pages and loading the kernels more: ~105 MiB of an all-Tokyo server's ~400 MiB resident
set were pages of LLVM's code it never runs again. `release_memory` unmaps them from the process (`drop_clean_pages`)
after every big build and after the warm-up; the file stays in the page cache, and a later compile maps back the
pages it runs. Measured in benchmarks/bench_memory_serve.py.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import re
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


# Shared libraries a serving process runs only to compile or load numba kernels (see the module's docstring)
COMPILER_LIBRARIES = ("libllvmlite",)
_MADV_DONTNEED = 4  # (Linux)
_MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")


def release_memory() -> bool:
    """Collect garbage, then return the freed heap to the OS (glibc ``malloc_trim``; elsewhere only the collect),
    and unmap the compiler's code pages (`drop_clean_pages`). Call after a big build (feed load, a model, a network
    swap) and after loading kernels, not per request. True when trimmed."""
    gc.collect()
    lib = _libc()
    if lib is None:
        return False
    lib.malloc_trim(0)
    drop_clean_pages()
    return True


def drop_clean_pages(libraries: tuple[str, ...] = COMPILER_LIBRARIES) -> int:
    """Unmap from this process the resident pages of the named shared libraries' read-only mappings holding no
    page of their own (``Anonymous: 0`` in /proc/self/smaps: every page is the file's, unchanged), with
    ``madvise(MADV_DONTNEED)``: a later access maps the same bytes back from the file, so nothing is lost, only
    the resident set shrinks (the pages stay in the page cache, shared). Writable mappings and any holding a
    private page (relocated data) are left alone. Returns the bytes that were resident there; 0 off Linux."""
    lib = _libc()
    if lib is None or not libraries:
        return 0
    dropped = 0
    for start, end, rss in _clean_mappings(libraries):
        if lib.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), _MADV_DONTNEED) == 0:
            dropped += rss
    return dropped


def _clean_mappings(libraries: tuple[str, ...]) -> list[tuple[int, int, int]]:
    """(start, end, resident bytes) of each read-only mapping of one of ``libraries`` with no private page."""
    out: list[tuple[int, int, int]] = []
    cur = None
    try:
        with open(f"/proc/{os.getpid()}/smaps", encoding="utf-8", errors="replace") as f:
            for line in f:
                m = _MAPPING.match(line)
                if m:
                    perms, path = m.group(3), os.path.basename(m.group(4))
                    cur = None
                    if "w" not in perms and any(path.startswith(n) for n in libraries):
                        cur = [int(m.group(1), 16), int(m.group(2), 16), 0, None]
                        out.append(cur)
                elif cur is not None:
                    key, _, rest = line.partition(":")
                    if key == "Rss":
                        cur[2] = int(rest.split()[0]) * 1024
                    elif key == "Anonymous":
                        cur[3] = int(rest.split()[0])
    except OSError:
        return []
    return [(s, e, rss) for s, e, rss, anon in out if anon == 0 and rss]


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
