"""The target bounds (`routing.raptor.bounds`) against plain references on random networks, and their cache
(`pools._bounds_for`): shared by threads, within its byte budget, never serving another timetable's."""
from __future__ import annotations

import heapq
import math
import threading
from collections import deque

import numpy as np
import pytest

from feeds.feed import Network
from routing.raptor import RaptorQuery, pools, range_raptor
from routing.raptor.arrays import reversed_timetable, timetable_of
from routing.raptor.bounds import fewest_rides, lower_bounds
from routing.raptor.profile import _rules_of
from routing.raptor.search import _NO_BOARD, _flat_rules, _walk_secs
from routing.raptor.state import INF, Cutter, walk_seconds
from routing.timetable import BuildSettings, build_model
from test_raptor import random_world
from test_timetable import DATE

FAR = 1 << 20  # fewest_rides' "no target reachable"


def _model(seed: int):
    feed, rng = random_world(seed)
    return build_model(Network([feed]), DATE, BuildSettings()), rng


def reference_bounds(tt, g, tgt, egress, speed: float, mt: int) -> np.ndarray:
    """Rows lb, lb_board, lb_walk by Dijkstra with a heap over (stop, arrived / ready), the rules of
    `lower_bounds`' docstring read edge by edge from the StopGraph."""
    n = len(g.in_start) - 1

    def walk(f: int) -> int:
        return max(math.ceil(float(tt.fp_dist[f]) / speed), int(tt.fp_fixed_s[f]))

    at_target = [INF] * n
    for s, e in zip(tgt.tolist(), egress.tolist()):
        at_target[s] = min(at_target[s], e)
    dist = {}
    heap = []

    def offer(state, d):
        if d < dist.get(state, INF):
            dist[state] = d
            heapq.heappush(heap, (d, state))

    for s in range(n):
        if at_target[s] < INF:
            offer((s, 0), at_target[s])
            for x in range(g.in_start[s], g.in_start[s + 1]):
                if g.in_fp[x] >= 0:
                    offer((int(g.in_from[x]), 0), at_target[s] + walk(int(g.in_fp[x])))
    done = set()
    while heap:
        d, (u, ready) = heapq.heappop(heap)
        if (u, ready) in done:
            continue
        done.add((u, ready))
        for x in range(g.in_start[u], g.in_start[u + 1]):
            v, f = int(g.in_from[x]), int(g.in_fp[x])
            if not ready and f == -1:  # a hop into u: ride on, or board there
                offer((v, 0), d + int(g.in_ride[x]))
                offer((v, 1), d + int(g.in_w[x]))
            elif ready and f == -2:  # an in-seat link into u
                offer((v, 0), d)
            elif ready and f >= 0:  # a walking change into u
                offer((v, 0), d + max(walk(f), mt))
        if ready:  # a change at u
            offer((u, 0), d + max(mt, int(tt.stop_min_transfer[u])))
    out = np.full((3, n), INF, np.int64)
    for (s, ready), d in dist.items():
        out[ready, s] = d
    out[2] = np.minimum(out[1], at_target)
    return out


def reference_rides(g, tgt) -> np.ndarray:
    """fewest_rides by a 0-1 breadth-first search over (stop, arrived / on board / boarding)."""
    n = len(g.in_start) - 1
    dist = {}
    todo: deque = deque()

    def offer(state, d, front):
        if d < dist.get(state, FAR):
            dist[state] = d
            (todo.appendleft if front else todo.append)((d, state))

    for s in set(tgt.tolist()):
        offer((s, 0), 0, True)
        for x in range(g.in_foot[s], g.in_start[s + 1]):
            offer((int(g.in_from[x]), 0), 0, True)
    while todo:
        d, (s, kind) = todo.popleft()
        if d > dist[(s, kind)]:
            continue
        if kind == 0:  # arrived: alighted there, on board before
            offer((s, 1), d, True)
        elif kind == 1:  # on board: one hop or in-seat link before, or boarding here (one ride more)
            for x in range(g.in_start[s], g.in_foot[s]):
                offer((int(g.in_from[x]), 1), d, True)
            offer((s, 2), d + 1, False)
        else:  # boarding: arrived here, or one footpath before
            offer((s, 0), d, True)
            for x in range(g.in_foot[s], g.in_start[s + 1]):
                offer((int(g.in_from[x]), 0), d, True)
    rides = np.full(n, FAR, np.int64)
    for (s, kind), d in dist.items():
        if kind == 2:
            rides[s] = d
    return rides


@pytest.mark.parametrize("seed", range(12))
def test_bounds_are_the_references_on_random_networks(seed):
    """Both clocks, with and without in-seat links, random targets, egress, walking speed and change time."""
    m, rng = _model(seed)
    for reverse in (False, True):
        for inseat in (False, True):
            tt = reversed_timetable(m, inseat)[0] if reverse else timetable_of(m, inseat)
            g = pools._graph_of(m, tt)
            for _ in range(4):
                tgt = np.array(rng.sample(range(m.n_stops), rng.randint(1, min(4, m.n_stops))), np.int64)
                egress = np.array([rng.choice([0, 0, 45, 300]) for _ in tgt], np.int64)
                speed, mt = rng.choice([0.7, 1.2, 2.0]), rng.choice([0, 60, 300])
                q = RaptorQuery(tgt, egress, tgt, egress, 3, walk_speed=speed, min_transfer_s=mt, inseat=inseat)
                lb = np.full((4, m.n_stops), -7, np.int64)
                rules = _rules_of(_flat_rules(m, q, reverse, lb, Cutter(np.int64(0), _NO_BOARD)))
                lower_bounds(tt, rules, g, tgt, egress, lb[0], lb[2], lb[3])
                fewest_rides(g, tgt, lb[1])
                assert (lb[[0, 2, 3]] == reference_bounds(tt, g, tgt, egress, speed, mt)).all()
                assert (lb[1] == reference_rides(g, tgt)).all()


def test_bounds_kept_for_every_thread_within_the_budget(monkeypatch):
    """A target set's bounds worked out by one thread's search serve another's (same journeys); a budget
    smaller than one set keeps none; a kept set is never served for another timetable."""
    m, rng = _model(3)
    shared = pools._shared_bounds(m)
    shared.clear()
    tgt = np.array([m.n_stops - 1], np.int64)
    q = RaptorQuery(np.array([0], np.int64), np.array([0], np.int64), tgt, np.array([30], np.int64), 4)
    made = []
    keep = pools._keep_bounds
    monkeypatch.setattr("routing.raptor.search._keep_bounds", lambda *a: (made.append(a[-1]), keep(*a)))

    def plan(out):
        out.append(range_raptor(m, q, 7 * 3600, 3600).journeys)

    first: list = []
    plan(first)
    other: list = []
    th = threading.Thread(target=plan, args=(other,))
    th.start()
    th.join(60)
    assert len(made) == 1 and other == first
    key = pools._bounds_key(timetable_of(m, q.inseat), q, tgt, np.array([30], np.int64))
    assert shared.items[key][1] is made[0] and shared.bytes == made[0].nbytes
    assert shared.get(key, reversed_timetable(m, q.inseat)[0]) is None and not shared.items  # another owner
    monkeypatch.setattr(pools, "BOUNDS_CACHE_BYTES", made[0].nbytes - 1)
    plan(other)
    assert len(made) == 2 and not shared.items and shared.bytes == 0
    monkeypatch.setattr(pools, "BOUNDS_CACHE_BYTES", 2 * made[0].nbytes)
    for s in range(3):  # three sets, room for two: the least recently used goes
        range_raptor(m, RaptorQuery(q.src_stops, q.src_times, np.array([s], np.int64), np.array([0], np.int64),
                                    4), 7 * 3600, 600)
    assert len(shared.items) == 2 and shared.bytes == 2 * made[0].nbytes
    shared.clear()


def test_walk_seconds_are_the_scalar_rule_and_cached_per_speed():
    """Each footpath's seconds (`walk_seconds`, what the kernels read) are ceil(distance / speed) in float64, never
    under the feed's time, as the scalar rule gives; `_walk_secs` keeps one array per timetable and speed."""
    rng = np.random.default_rng(3)
    dist = np.concatenate([rng.uniform(0, 3000, 2000), [0.0, 1.2, 2.4, 119.99999, 600.0]]).astype(np.float32)
    fixed = rng.choice([0, 0, 0, 60, 300, 900], len(dist)).astype(np.int32)
    for speed in (0.3, 0.7, 1.2, 4 / 3, 3.0):
        want = [max(math.ceil(float(d) / speed), int(f)) for d, f in zip(dist.tolist(), fixed.tolist())]
        got = walk_seconds(dist, fixed, speed)
        assert got.dtype == np.int32 and got.tolist() == want
    m, _ = _model(11)
    tt = timetable_of(m, True)
    a, b = _walk_secs(m, tt, 1.2), _walk_secs(m, tt, 0.7)
    assert _walk_secs(m, tt, 1.2) is a and a is not b
    assert a.tolist() == walk_seconds(tt.fp_dist, tt.fp_fixed_s, 1.2).tolist()
