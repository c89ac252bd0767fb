"""A server's big feeds are parsed in a child process (maas/publishing/network.py): the network handed back is
the one loading here gives, ids still one object across tables, and a bad feed raises here as before."""
from __future__ import annotations

import pandas as pd
import pytest
from gtfs_builders import minimal_feed_tables, write_gtfs

from feeds.problems import FeedRejected
from maas.publishing.network import load_network


def test_a_feed_loaded_in_a_child_is_the_one_loaded_here(tmp_path):
    tables = minimal_feed_tables()
    tables["transfers"] = [{"from_stop_id": "A", "to_stop_id": "B", "transfer_type": "4", "from_trip_id": "T1",
                            "to_trip_id": "T2"}]
    spec = [f"x={write_gtfs(tmp_path / 'f', tables)}"]
    here = load_network(spec, progress=False)
    child = load_network(spec, progress=False, isolate_min_bytes=0)
    assert [f.namespace for f in child.feeds] == ["x"]
    for name in ("stops", "routes", "trips", "stop_times", "calendar", "transfers"):
        pd.testing.assert_frame_equal(getattr(child.feeds[0], name), getattr(here.feeds[0], name))
    assert child.feeds[0].timezone == here.feeds[0].timezone
    assert child.feeds[0].report.to_dict() == here.feeds[0].report.to_dict()
    trip = {v: v for v in child.feeds[0].trips["trip_id"].tolist()}["x:T1"]
    assert child.feeds[0].transfers.loc[0, "from_trip_id"] is trip


def test_a_rejected_feed_raises_here_when_loaded_in_a_child(tmp_path):
    tables = minimal_feed_tables()
    tables["stop_times"][0]["stop_id"] = "nowhere"
    with pytest.raises(FeedRejected):
        load_network([f"x={write_gtfs(tmp_path / 'f', tables)}"], progress=False, isolate_min_bytes=0)
