"""The supervisor's preload (api/server.py `_preload`): what it loaded is out of the collector's generations before
the workers fork, so a worker's full collection (its start-up and warm-up call release_memory) does not write into
every inherited object and copy the pages that hold it (all-Tokyo, 2 workers: 228 -> 196 MiB PSS each)."""
from __future__ import annotations

import gc

from api.server import _preload
from maas.platform.settings import Settings


def test_preload_freezes_what_it_loaded(tmp_path):
    gc.unfreeze()
    try:
        transit = _preload(Settings(feeds=[], data_dir=tmp_path / "data", cache_dir=tmp_path / "cache"))
        assert transit is not None and transit.cached_dates()
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # the imported modules, the feeds' tables and the model's objects
        model = transit.model_for(transit.cached_dates()[0])
        assert not any(o is model for o in gc.get_objects())  # frozen objects are not in any generation
        transit.close()
    finally:
        gc.unfreeze()


def test_preload_builds_today_and_tomorrow_and_a_later_fork_the_days_then(tmp_path):
    """The workers fork with today's and tomorrow's models (their day keepers' days) built; a worker (re)started on
    a later day is forked after that day's models are built in the supervisor, not the days of its start."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from api.server import keep_days

    gc.unfreeze()
    try:
        transit = _preload(Settings(feeds=[], data_dir=tmp_path / "data", cache_dir=tmp_path / "cache"))
        today = dt.datetime.now(ZoneInfo("Asia/Tokyo")).date()
        assert {today, today + dt.timedelta(days=1)} <= set(transit.cached_dates())
        later = dt.datetime.combine(today + dt.timedelta(days=5), dt.time(12), ZoneInfo("Asia/Tokyo"))
        built = keep_days(transit, now=later)
        assert built == [today + dt.timedelta(days=5), today + dt.timedelta(days=6)]
        assert set(built) <= set(transit.cached_dates()) and len(transit.cached_dates()) <= transit.max_models
        assert keep_days(transit, now=later) == []
        transit.close()
    finally:
        gc.unfreeze()
