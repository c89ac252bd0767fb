"""What a thread's searches reuse instead of allocating: its Labels per timetable (views of one label store per
clock, which the service days' timetables share; with the `SearchRecords` a kernel call takes, per round count)
and the stop graph of each timetable, in small LRU pools (`_lru_get`); the thread's own in one thread-local
(`_POOL`), which `drop_thread_buffers` forgets. The lower bounds of recent target sets are kept per model for
every thread (`_bounds_for`).
"""
from __future__ import annotations

import threading

import numpy as np

from routing.raptor.arrays import _cached, clock_of
from routing.raptor.bounds import StopGraph, stop_graph
from routing.raptor.profile import SearchRecords, search_records
from routing.raptor.query import RaptorQuery
from routing.raptor.state import Labels, Timetable, clear_labels, new_labels


_POOL = threading.local()


# The Labels arrays with one row (or entry) per round: a search with fewer rounds runs on their first rows
_ROUND_FIELDS = frozenset(("ride_t", "ride_round", "ride", "walk_t", "walk_round", "walk_from", "board_t",
                           "board_round", "board_kind", "board_from", "res_t", "res_round", "res_stop", "res_kind",
                           "res_run", "board_hint"))


def _first_rounds(lab: Labels, rounds: int) -> Labels:
    """``lab`` cut to its first ``rounds`` rounds: views (the first rows of a C-ordered array are C-ordered, the
    same numba type), every other array shared."""
    if lab.ride_t.shape[0] == rounds:
        return lab
    return Labels(*(a[:rounds] if name in _ROUND_FIELDS else a for name, a in zip(Labels._fields, lab)))


def _labels_for(model, tt: Timetable, rounds: int) -> Labels:
    """`_labels_and_records`' Labels."""
    return _labels_and_records(model, tt, rounds)[0]


def _label_shapes(n_stops: int, n_patterns: int, n_trips: int, n_classes: int, rounds: int, n_links: int
                  ) -> tuple[tuple[int, ...], ...]:
    """The shape of each `Labels` array `new_labels` makes for these sizes (in field order)."""
    R, S = rounds, n_stops
    n_dom = n_patterns if n_links > 0 else 0
    n_seat = n_trips if n_links > 0 else 0
    per_stop_round = ((R, S),) * 2 + ((R, S, 6),) + ((R, S),) * 7
    return per_stop_round + ((R,),) * 5 + ((S,),) * 10 + ((n_patterns,),) * 3 + ((n_links + 1, 4),) + \
        ((n_seat,),) * 2 + ((n_dom,),) * 6 + ((n_classes + 1,), (n_patterns,), (R, n_patterns), (8,), (7,))


_PER_TIMETABLE = frozenset(("board_hint",))  # per timetable: each pattern's last boarded trip (a hint, never cleared)


class _LabelStore:
    """One thread's label arrays for every timetable of one clock (forward or reversed) of one stop set: sized for
    the largest of them (trips, patterns, in-seat links, rounds), each timetable's `Labels` views of their first
    entries (C-contiguous, so the same numba types), but for its own `_PER_TIMETABLE` arrays. Searches on one
    clock never nest (a paused search works its bound out on the other clock, `search._late_for`) and leave no
    state a later search reads but through the cleared stop rows and the ever-growing run and stamp counters
    (``scalars``, shared too), so the service days' timetables need one set, not one each (all-Tokyo: ~3.8 MiB a
    timetable and planner thread; the forward ones with and without in-seat links share it too)."""

    def __init__(self, dims: tuple[int, ...]):
        self.dims = dims  # (n_stops, n_patterns, n_trips, n_classes, rounds, n_links)
        self.base = new_labels(*dims)
        self.rounds = dims[4]  # rounds of the last search on any view (rows past them are clear)
        self.live = True  # False once a bigger store replaced it (its views are made again there)

    def fits(self, dims: tuple[int, ...]) -> bool:
        return dims[0] == self.dims[0] and all(a <= b for a, b in zip(dims[1:], self.dims[1:]))

    def view(self, dims: tuple[int, ...]) -> Labels:
        """A Labels of ``dims`` (rounds: the store's) on this store's arrays."""
        dims = dims[:4] + (self.dims[4],) + dims[5:]
        out = []
        for name, a, shape in zip(Labels._fields, self.base, _label_shapes(*dims)):
            if name in _PER_TIMETABLE:
                out.append(np.zeros(shape, a.dtype))
            elif a.shape == shape:
                out.append(a)
            elif len(shape) == 1 or a.shape[1:] == shape[1:]:
                out.append(a[:shape[0]])
            else:
                raise ValueError(f"label array {name} {a.shape} has no C-contiguous view of shape {shape}")
        return Labels(*out)


def _labels_and_records(model, tt: Timetable, rounds: int) -> tuple[Labels, SearchRecords]:
    """A Labels for this model, timetable and round count, reused per thread (allocating and filling the
    per-round arrays costs more than a small search); `range_search` clears it first. The model's timetables of
    one clock share one `_LabelStore` per thread (the forward ones of every cached service day, with and without
    in-seat links; the reversed ones), with the most rounds asked for: a search with fewer rounds (a plan's proof
    runs) runs on its first rows (`_first_rounds`). A search clears only the rows it uses, of the stops the last
    one touched, so the rows beyond are kept clear: after a search with more rounds, the whole store is cleared
    before one with fewer rounds runs. With it the `SearchRecords` the kernel is called with (the timetable, its
    StopGraph and these labels); both kept per timetable and round count (a small LRU, `_lru_get`: a plan asks
    for the same few round counts again and again)."""
    pool = _pooled("labels", dict)
    hit = _lru_get(pool, id(tt), tt)  # [store, labels (the store's rounds), {rounds: (labels' view, records)}]
    if hit is None or not hit[0].live or hit[0].dims[4] < rounds:
        hit = _lru_put(pool, id(tt), _new_view(pool, model, tt, rounds), tt)
    store = hit[0]
    if rounds < store.rounds:
        clear_labels(store.base)  # every row of what the last search touched: rows past ``rounds`` stay clear
    store.rounds = rounds
    view = hit[2].get(rounds)
    if view is None:
        lab = _first_rounds(hit[1], rounds)
        view = hit[2][rounds] = (lab, search_records(tt, _graph_of(model, tt), lab))
    return view


def _new_view(pool: dict, model, tt: Timetable, rounds: int) -> list:
    """A pool entry for ``tt``: views of its clock's store, made (or grown, the old one's views dropped) when it
    has no room for the timetable's sizes or rounds."""
    dims = (model.n_stops, model.n_patterns, model.n_trips, int(tt.pattern_inseat_classes.sum()), rounds,
            len(tt.inseat_to_trip))
    clock = clock_of(model, tt)
    stores = _pooled("label_stores", dict)
    skey, owner = ((model.n_stops, clock), None) if clock is not None else ((model.n_stops, id(tt)), tt)
    store = _lru_get(stores, skey, owner)
    if store is None or not store.fits(dims):
        old = store
        store = _lru_put(stores, skey, _LabelStore(dims if old is None else tuple(map(max, dims, old.dims))),
                         owner, size=4)
        if old is not None:
            old.live = False
            for k in [k for k, v in pool.items() if v[1][0] is old]:  # its views go with it
                del pool[k]
    return [store, store.view(dims), {}]


def _graph_of(model, tt: Timetable) -> StopGraph:
    """The StopGraph of a timetable of this model (cached with it)."""
    cache = model.__dict__.get("_stop_graphs")
    if cache is None:
        cache = _cached(model, "_stop_graphs", lambda m: {})  # (one for models sharing their timetables)
    g = _lru_get(cache, id(tt), tt)
    if g is None:
        g = _lru_put(cache, id(tt), stop_graph(tt), tt)
    return g


# Bytes of lower bounds kept per model (`_bounds_for`; all-Tokyo 83 KB a target set, tokyo4 330 KB), read at
# each search. Shared by the planner threads: a popular destination is worked out once, not once a thread
BOUNDS_CACHE_BYTES = 4 << 20


class _SharedBounds:
    """A model's recent lower bounds for every thread: an LRU by bytes under a lock (threads plan at once)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items: dict = {}  # key → (timetable, (4, n) array), least recently used first
        self.bytes = 0

    def get(self, key, owner) -> np.ndarray | None:
        with self.lock:
            hit = self.items.pop(key, None)
            if hit is None:
                return None
            if hit[0] is not owner:  # (see `_lru_get`)
                self.bytes -= hit[1].nbytes
                return None
            self.items[key] = hit
            return hit[1]

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.bytes = 0

    def put(self, key, owner, lb: np.ndarray, budget: int) -> None:
        with self.lock:
            old = self.items.pop(key, None)
            if old is not None:
                self.bytes -= old[1].nbytes
            while self.items and self.bytes + lb.nbytes > budget:
                self.bytes -= self.items.pop(next(iter(self.items)))[1].nbytes
            if lb.nbytes <= budget:
                self.items[key] = (owner, lb)
                self.bytes += lb.nbytes


def _shared_bounds(model) -> _SharedBounds:
    hit = model.__dict__.get("_bounds")
    return hit if hit is not None else _cached(model, "_bounds", lambda m: _SharedBounds())


def _bounds_for(model, tt: Timetable, q: RaptorQuery, tgt: np.ndarray, egress: np.ndarray
                ) -> tuple[np.ndarray, bool]:
    """The bounds for these targets, rows ``Rules.lb``, ``Rules.rides``, ``Rules.lb_board`` and ``Rules.lb_walk``,
    and whether they are filled already: recent ones are kept per model (`_SharedBounds`), since a plan searches
    the same targets in several windows and many plans go to the same few places (the bounds depend only on
    `_bounds_key`). A new array is filled by the search, then kept (`_keep_bounds`; read only from then on)."""
    lb = _shared_bounds(model).get(_bounds_key(tt, q, tgt, egress), tt)
    if lb is not None:
        return lb, True
    return np.empty((4, len(tt.fp_start) - 1), np.int64), False


def _keep_bounds(model, tt: Timetable, q: RaptorQuery, tgt: np.ndarray, egress: np.ndarray, lb: np.ndarray) -> None:
    _shared_bounds(model).put(_bounds_key(tt, q, tgt, egress), tt, lb, int(BOUNDS_CACHE_BYTES))


def _bounds_key(tt: Timetable, q: RaptorQuery, tgt: np.ndarray, egress: np.ndarray) -> tuple:
    """What the lower bounds depend on: the timetable, the targets with their egress, the walking speed and the
    least change time."""
    return id(tt), tgt.tobytes(), egress.tobytes(), float(q.walk_speed), int(q.min_transfer_s)


def _pooled(name: str, make):
    """This thread's reusable buffer ``name`` (made by ``make`` the first time)."""
    buf = getattr(_POOL, name, None)
    if buf is None:
        buf = make()
        setattr(_POOL, name, buf)
    return buf


def _lru_get(pool: dict, key, owner=None):
    """The value `_lru_put` stored under ``key`` with this very ``owner`` (a key holding an ``id()`` outlives
    its object: a new one may get the same id), now the most recently used; None when there is none."""
    hit = pool.pop(key, None)
    if hit is None or hit[0] is not owner:
        return None
    pool[key] = hit
    return hit[1]


def _lru_put(pool: dict, key, value, owner=None, size: int = 8):
    """Store ``value`` under ``key`` (see `_lru_get`), dropping the least recently used beyond ``size``: a
    small pool of what a thread or model reuses, where clearing it whole when full would make the next searches
    allocate again. Returns ``value``."""
    while len(pool) >= size:
        pool.pop(next(iter(pool)))
    pool[key] = (owner, value)
    return value


def drop_thread_buffers() -> int:
    """Forget this thread's pooled labels and buffers (all `_pooled`); returns the bytes of the
    arrays dropped. For a thread that planned once and will not plan again (a server's warm-up runs a plan on
    the calling thread first, then on every planner thread): on all-Tokyo its labels alone are tens of MiB. A
    later search on this thread simply allocates them again."""
    seen: set[int] = set()
    total = 0

    def count(v) -> None:
        nonlocal total
        if isinstance(v, np.ndarray):
            base = v.base if isinstance(v.base, np.ndarray) else v
            if id(base) not in seen:
                seen.add(id(base))
                total += base.nbytes
        elif isinstance(v, (tuple, list)) and not isinstance(v, Timetable):  # a timetable is the model's
            for x in v:
                count(x)
        elif isinstance(v, dict):
            for x in v.values():
                count(x)

    pool = vars(_POOL)
    for v in pool.values():
        count(v)
    pool.clear()
    return total
