"""Numba's kernels for a server process: compiled in a child when numba's on-disk cache is cold, so the serving
process only loads them.

Compiling the planner's kernels (``routing.raptor``'s, ``@njit(nogil=True, cache=True)``) takes LLVM several hundred
MiB that glibc never hands back: a server started on a cold cache sat at ~820 MiB resident on all-Tokyo, against
~450 MiB for one that loaded the same kernels from the cache. So before the warm-up a server asks which kernels have
no cached code for this machine (`cold_kernels`); when some have none, a child process (a new interpreter: no copy of
this one's heap) compiles them on the built-in sample network and exits, and this process then loads what it wrote.
A child that fails or writes nothing changes nothing: the warm-up compiles here, as it always did, and readiness
still waits for every planner thread to have run a plan (`TransitService.warm_up`). Measured in
benchmarks/bench_memory.py.
"""
from __future__ import annotations

import datetime as dt
import importlib
import logging
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("maas.kernels")

# The modules whose kernels every server runs: the planner's (every module of routing.raptor that defines one), and
# the realtime decoder the realtime service warms at start (routing.streets' kernels only serve an OSM network,
# routing.realtime's only a realtime overlay)
KERNEL_MODULES = ("routing.raptor.state", "routing.raptor.bounds", "routing.raptor.rounds", "routing.raptor.journeys",
                  "routing.raptor.profile", "routing.raptor.arrays", "routing.planner", "feeds.gtfs_rt_wire")
# Kernels only Python calls (no kernel calls them), the biggest a server loads: numba keeps each loaded kernel's
# LLVM IR (the `_shared_module` of its code library) to link it into a caller compiled later, which these never
# have; `drop_linking_ir` frees it (all-Tokyo: ~12 MiB resident per process; the timetable builds' and the stop
# graph's, Python's too: ~1 MiB more)
ENTRY_KERNELS = ("routing.raptor.profile.range_search_flat", "routing.raptor.profile.late_bounds_flat",
                 "routing.raptor.profile.search_records", "routing.raptor.arrays._patterns_where",
                 "routing.raptor.arrays._reversed_times", "routing.raptor.bounds._hop_edges")
CHILD_TIMEOUT_S = 1800.0  # a cold compile of every kernel takes 5-10 min on a busy 2-core machine
_BLAS_MODULE = "scipy.linalg.cython_blas"
_ENSURING = threading.Lock()  # one check (and child) at a time: the realtime decoder's warm-up waits for the planner's


def kernels(modules: tuple[str, ...] = KERNEL_MODULES) -> dict[str, object]:
    """The cached numba dispatchers of ``modules`` by qualified name, but those always inlined into their callers
    (numba compiles and caches those only inside the kernels that call them)."""
    from numba.core.registry import CPUDispatcher

    out: dict[str, object] = {}
    for name in modules:
        mod = importlib.import_module(name)
        for attr, v in vars(mod).items():
            if isinstance(v, CPUDispatcher) and v._cache.__class__.__name__ != "NullCache" \
                    and v.targetoptions.get("inline", "never") == "never" and v.py_func.__module__ == name:
                out[f"{name}.{attr}"] = v
    return out


def drop_linking_ir(names: tuple[str, ...] = ENTRY_KERNELS) -> int:
    """Free the LLVM IR numba keeps of each loaded variant of the kernels ``names`` (see `ENTRY_KERNELS`) for
    linking them into a later caller: their machine code stays, calls are unchanged, and a new variant compiles
    with IR of its own. Returns the number of variants freed. Call after the warm-up has loaded them."""
    found = kernels(tuple(sorted({n.rpartition(".")[0] for n in names})))
    freed = 0
    for name in names:
        disp = found.get(name)
        for cres in (disp.overloads.values() if disp is not None else ()):
            lib = cres.library
            mod = getattr(lib, "_shared_module", None)
            if mod is not None:
                lib._shared_module = None
                mod.close()
                freed += 1
    return freed


def _cached_here(disp, loaded: bool = True) -> bool:
    """True when numba's cache holds code of ``disp`` for this source, this bytecode and this machine (the index
    key: signature, CPU and target features, bytecode hash), or (``loaded``) this process has it already."""
    if loaded and disp.signatures:
        return True
    try:
        cache = disp._cache
        index = cache._cache_file._load_index()
        codegen = disp.targetctx.codegen()
        return any(cache._index_key(key[0], codegen) == key for key in index)
    except Exception:  # an unreadable index is a cold one: numba would compile too
        return False


def cold_kernels(modules: tuple[str, ...] = KERNEL_MODULES, loaded: bool = True) -> list[str]:
    """The kernels of ``modules`` numba would compile (not load) on first use in this process (``loaded=False``:
    in a new process, whatever this one holds)."""
    return sorted(name for name, disp in kernels(modules).items() if not _cached_here(disp, loaded))


def numba_without_blas() -> bool:
    """Initialise numba's CPU target with scipy's BLAS hidden. Loading numba's array functions
    (``numba.np.arraymath``, on the first compile or cache load) imports ``scipy.linalg.cython_blas`` to learn
    whether ``np.dot`` and friends can be compiled: all of scipy.linalg, ~18 MiB resident, for functions no kernel
    here uses (a kernel that did would fail to compile, in the tests' warm-ups). The block is lifted at once: code
    that imports scipy.linalg itself later still gets it. True when numba's target was initialised without it."""
    if "numba.np.arraymath" in sys.modules or _BLAS_MODULE in sys.modules:
        return False  # loaded already: nothing left to save
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.registry import cpu_target

    with global_compiler_lock:  # no other thread compiles or loads a kernel meanwhile
        if "numba.np.arraymath" in sys.modules:
            return False
        sys.modules[_BLAS_MODULE] = None  # type: ignore[assignment]  # `import` raises ImportError on a None entry
        try:
            cpu_target.target_context.refresh()  # imports numba.np.arraymath and friends, as a cache load does
        finally:
            if sys.modules.get(_BLAS_MODULE, 0) is None:
                del sys.modules[_BLAS_MODULE]
    return True


def compile_kernels() -> int:
    """Compile (or load) every kernel of `KERNEL_MODULES` by running what a server runs: a depart-at and an
    arrive-by plan on the built-in sample network, and the realtime decoder. Returns the itineraries found."""
    from feeds.feed import TOKYO
    from feeds.gtfs_rt_wire import warm
    from feeds.sample.generate import SERVICE_END, SERVICE_START
    from maas.publishing.network import load_network
    from maas.transit import TransitService

    numba_without_blas()
    day = min(max(dt.datetime.now(TOKYO).date(), SERVICE_START), SERVICE_END)  # a day the sample runs
    with tempfile.TemporaryDirectory(prefix="maas-kernels-") as tmp:
        transit = TransitService(load_network([], Path(tmp), progress=False), threads=1)
        try:
            found = transit.planner_for(day).warm_up()
        finally:
            transit.close()
    warm()
    return found


def _child(modules: tuple[str, ...]) -> None:
    found = compile_kernels()
    cold = cold_kernels(modules, loaded=False)  # written to the cache, not only compiled here
    if found == 0 or cold:
        print(f"kernel compile: {found} itineraries, still cold: {', '.join(cold) or '-'}", file=sys.stderr)
        sys.exit(3)


def compile_in_child(modules: tuple[str, ...] = KERNEL_MODULES, timeout_s: float = CHILD_TIMEOUT_S,
                     target: str = "maas.platform.kernels:_child") -> bool:
    """Run ``target`` ("module:function", called with ``modules``; default: compile the kernels into numba's
    cache) in a new interpreter with this one's import path. True when it exited 0; a child still running after
    ``timeout_s`` is killed. A new interpreter, not a multiprocessing child: spawn would run this program's main
    script again in the child (a script without a main guard starts its whole server there), fork would copy
    this process's heap."""
    mod, _, fn = target.partition(":")
    code = f"import importlib, sys; getattr(importlib.import_module({mod!r}), {fn!r})(tuple(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        run = subprocess.run([sys.executable, "-c", code, *modules], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        log.warning("kernel compile process still running after %.0f s: killed", timeout_s)
        return False
    except OSError as exc:
        log.warning("cannot start the kernel compile process: %s", exc)
        return False
    if run.returncode != 0:
        tail = run.stderr.decode(errors="replace").strip().splitlines()[-3:]
        log.warning("kernel compile process failed (exit code %s): %s", run.returncode, " | ".join(tail))
    return run.returncode == 0


@dataclass(frozen=True)
class KernelsReport:
    cold: tuple[str, ...]  # kernels with no cached code when asked
    child: bool | None  # the child compiled them (None: no child was needed)
    left: tuple[str, ...]  # still cold after the child: compiled in this process on first use


def ensure_kernels(modules: tuple[str, ...] = KERNEL_MODULES, timeout_s: float = CHILD_TIMEOUT_S,
                   target: str = "maas.platform.kernels:_child") -> KernelsReport:
    """Before a server's warm-up: numba's target without BLAS, and the kernels compiled in a child when the cache
    is cold, so this process only loads them. Blocking (a cold compile takes minutes): call it off the event loop.
    Never raises for a failed child: what is left cold compiles here on first use."""
    with _ENSURING:
        return _ensure(modules, timeout_s, target)


def _ensure(modules: tuple[str, ...], timeout_s: float, target: str) -> KernelsReport:
    numba_without_blas()
    cold = tuple(cold_kernels(modules))
    if not cold:
        return KernelsReport((), None, ())
    log.info("compiling %d numba kernels in a child process (cache cold)", len(cold))
    ok = compile_in_child(modules, timeout_s, target)
    left = tuple(cold_kernels(modules)) if ok else cold
    if left:
        log.warning("%d numba kernels left to compile in the serving process (more resident memory): %s",
                    len(left), ", ".join(left))
    return KernelsReport(cold, ok, left)


if __name__ == "__main__":  # `python -m maas.platform.kernels`: fill numba's cache (e.g. in an image build)
    logging.basicConfig(level=logging.INFO)
    report = ensure_kernels()
    print(report)
    sys.exit(1 if report.left else 0)
