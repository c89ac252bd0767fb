"""The grid neighbour queries (feeds/neighbours.py) answer exactly what a brute-force comparison of every pair
does: random clustered and spread points, radii from below to above the spacing, points on cell borders."""
from __future__ import annotations

import numpy as np
import pytest

from feeds.neighbours import isolated, pairs_within, within


def _points(rng, n, dims=2):
    centres = rng.uniform(-5000, 5000, (4, dims))
    pts = centres[rng.integers(0, 4, n)] + rng.normal(0, 300, (n, dims))
    pts[: n // 10] = rng.uniform(-20000, 20000, (n // 10, dims))  # a sparse scatter around the clusters
    pts[-3:] = np.round(pts[-3:] / 100) * 100  # exactly on grid lines
    return pts


def _d2(pts):
    return ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(axis=2)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("r", [1.0, 100.0, 450.0, 4000.0])
def test_pairs_within_and_within_match_brute_force(seed, r):
    rng = np.random.default_rng(seed)
    pts = _points(rng, 300)
    d2 = _d2(pts)
    want_i, want_j = np.nonzero(np.triu(d2 <= r * r, k=1))
    i, j = pairs_within(pts[:, 0], pts[:, 1], r)
    assert i.tolist() == want_i.tolist() and j.tolist() == want_j.tolist()
    for q in pts[:20]:
        got = within(pts[:, 0], pts[:, 1], q[0] + 7.5, q[1] - 3.0, r)
        assert got.tolist() == np.flatnonzero(((pts - q - [7.5, -3.0]) ** 2).sum(axis=1) <= r * r).tolist()


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("r", [50.0, 800.0, 3000.0])
def test_isolated_matches_brute_force(dims, r):
    rng = np.random.default_rng(dims * 7 + int(r))
    pts = _points(rng, 250, dims)
    d2 = _d2(pts)
    np.fill_diagonal(d2, np.inf)
    assert isolated(pts, r).tolist() == (d2.min(axis=1) > r * r).tolist()
    assert isolated(pts[:1], r).tolist() == [True]


def test_empty_and_single_inputs():
    e = np.empty(0)
    assert within(e, e, 0.0, 0.0, 10.0).size == 0
    assert all(a.size == 0 for a in pairs_within(e, e, 10.0))
    assert all(a.size == 0 for a in pairs_within(np.zeros(1), np.zeros(1), 10.0))
