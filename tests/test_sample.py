"""The built-in sample: deterministic, real stations, one connected network, loadable by our own loader."""
from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from feeds.sample import sample_feed_paths, sample_version, write_sample
from feeds.sample.generate import japanese_holidays, weekend_timetable_days
from routing.geo import haversine_m
from conftest import shared_file

NAMESPACES = ["toei-subway", "toei-bus", "shuttle-nishishinjuku", "shuttle-bayarea"]
SHUTTLES = ["shuttle-nishishinjuku", "shuttle-bayarea"]
WALK_M = 300.0


def secs(t: str) -> int:
    h, m, s = t.split(":")
    return int(h) * 3600 + int(m) * 60 + int(s)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict[str, Path]:
    return write_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module")
def tables(sample) -> dict[str, dict[str, pd.DataFrame]]:
    """Every file of every feed as string DataFrames (what a third-party GTFS reader would see)."""
    return {ns: {p.stem: pd.read_csv(p, dtype=str, keep_default_na=False) for p in sorted(folder.glob("*.txt"))}
            for ns, folder in sample.items()}


def all_platform_stops(tables) -> pd.DataFrame:
    frames = []
    for ns, t in tables.items():
        s = t["stops"]
        s = s[s["location_type"] == "0"].copy()
        s["node"] = ns + ":" + s["stop_id"]
        s["ns"] = ns
        frames.append(s)
    out = pd.concat(frames, ignore_index=True)
    out["lat"] = out["stop_lat"].astype(float)
    out["lon"] = out["stop_lon"].astype(float)
    return out


def weekday_daytime_pairs(t: dict[str, pd.DataFrame]) -> list[tuple[str, str]]:
    """Consecutive stop pairs of weekday trips leaving their first stop between 10:00 and 16:00."""
    trips = t["trips"][t["trips"]["service_id"] == "weekday"]
    st = t["stop_times"][t["stop_times"]["trip_id"].isin(trips["trip_id"])].copy()
    st["seq"] = st["stop_sequence"].astype(int)
    st = st.sort_values(["trip_id", "seq"])
    first = st.groupby("trip_id")["departure_time"].first().map(secs)
    day = set(first[(first >= 10 * 3600) & (first <= 16 * 3600)].index)
    st = st[st["trip_id"].isin(day)]
    pairs = set()
    for _, g in st.groupby("trip_id", sort=False):
        ids = g["stop_id"].tolist()
        pairs.update(zip(ids[:-1], ids[1:]))
    return sorted(pairs)


def test_writes_one_folder_per_operator(sample):
    assert list(sample) == NAMESPACES
    for ns, folder in sample.items():
        assert folder.name == ns
        for name in ("agency", "stops", "routes", "trips", "stop_times", "calendar", "calendar_dates",
                     "feed_info", "translations"):
            assert (folder / f"{name}.txt").is_file(), (ns, name)


def test_deterministic_and_fast(tmp_path, sample):
    start = time.perf_counter()
    again = write_sample(tmp_path / "again")
    elapsed = time.perf_counter() - start
    assert elapsed < 10.0, f"generation took {elapsed:.2f} s"  # ~1 s; a bound a loaded CI machine keeps too
    for ns, folder in sample.items():
        names = sorted(p.name for p in folder.glob("*.txt"))
        assert names == sorted(p.name for p in again[ns].glob("*.txt"))
        for name in names:
            assert (folder / name).read_bytes() == (again[ns] / name).read_bytes(), f"{ns}/{name} differs"


def test_agencies_timezone_language_and_version(tables):
    for ns, t in tables.items():
        ag = t["agency"]
        assert (ag["agency_timezone"] == "Asia/Tokyo").all() and (ag["agency_lang"] == "ja").all()
        assert t["feed_info"]["feed_version"].iloc[0] == f"sample-{sample_version()}"
    assert tables["toei-subway"]["agency"]["agency_name"].iloc[0] == "都営地下鉄"
    assert tables["toei-bus"]["agency"]["agency_name"].iloc[0] == "都営バス"


def test_real_station_count_per_line(tables):
    t = tables["toei-subway"]
    trips = t["trips"].set_index("trip_id")["route_id"]
    st = t["stop_times"].assign(route_id=lambda d: d["trip_id"].map(trips))
    codes = st.merge(t["stops"][["stop_id", "stop_code"]], on="stop_id")
    counts = codes.groupby("route_id")["stop_code"].nunique().to_dict()
    assert counts == {"A": 20, "I": 27, "S": 21, "E": 38}
    routes = t["routes"].set_index("route_id")
    assert routes.loc["A", "route_color"] == "E85298" and routes.loc["E", "route_color"] == "B6007A"
    assert (routes["route_type"] == "1").all()


def test_line_order_and_termini(tables):
    t = tables["toei-subway"]
    stops = t["stops"].set_index("stop_id")
    st = t["stop_times"].assign(seq=lambda d: d["stop_sequence"].astype(int)).sort_values(["trip_id", "seq"])
    first = st.groupby("trip_id").first()["stop_id"].map(stops["stop_code"])
    last = st.groupby("trip_id").last()["stop_id"].map(stops["stop_code"])
    assert first["A.weekday.0.000"] == "A-01" and last["A.weekday.0.000"] == "A-20"
    assert stops.loc["A-01", "stop_name"] == "西馬込" and stops.loc["A-20", "stop_name"] == "押上"
    assert first["I.weekday.0.000"] == "I-01" and last["I.weekday.0.000"] == "I-27"
    assert first["S.weekday.1.000"] == "S-21" and last["S.weekday.1.000"] == "S-01"
    # Oedo: Hikarigaoka → Tochomae → loop (E-01 … E-27) → Tochomae again, on a second platform.
    oedo = st[st["trip_id"] == "E.weekday.0.000"]["stop_id"].tolist()
    assert oedo[0] == "E-38" and oedo[10] == "E-28-1" and oedo[11] == "E-01" and oedo[-2] == "E-27"
    assert oedo[-1] == "E-28-2" and len(oedo) == 39
    assert stops.loc["E-28-1", "parent_station"] == stops.loc["E-28-2", "parent_station"] != ""


def test_no_trip_calls_twice_at_one_stop_and_times_advance(tables):
    for ns, t in tables.items():
        st = t["stop_times"].assign(seq=lambda d: d["stop_sequence"].astype(int)).sort_values(["trip_id", "seq"])
        assert not st.duplicated(["trip_id", "stop_id"]).any(), ns
        arr = st["arrival_time"].map(secs).to_numpy()
        dep = st["departure_time"].map(secs).to_numpy()
        same = (st["trip_id"].to_numpy()[1:] == st["trip_id"].to_numpy()[:-1])
        assert (dep >= arr).all(), ns
        assert (arr[1:][same] > dep[:-1][same]).all(), f"{ns}: time does not advance between stops"
        assert ((arr[1:] - dep[:-1])[same] >= 60).all(), f"{ns}: run shorter than one minute"


def test_service_hours_cross_midnight(tables):
    st = tables["toei-subway"]["stop_times"]
    t = st["departure_time"].map(secs)
    assert 5 * 3600 <= t.min() <= 5 * 3600 + 600
    assert (t >= 24 * 3600).sum() > 100, "late trips must run past 24:00 as 24:xx times"
    assert t.max() < 26 * 3600


def test_names_and_coordinates(tables):
    stops = all_platform_stops(tables)
    assert (stops["stop_name"].str.len() > 0).all()
    assert stops["lat"].between(35.50, 35.85).all() and stops["lon"].between(139.55, 139.95).all()
    for ns, t in tables.items():
        tr = t["translations"]
        en = tr[(tr["table_name"] == "stops") & (tr["language"] == "en")].set_index("record_id")["translation"]
        ids = t["stops"]["stop_id"]
        assert ids.isin(en.index).all(), f"{ns}: stops without an English name"
        assert (en.str.len() > 0).all()
        kana = tr[(tr["table_name"] == "stops") & (tr["language"] == "ja-Hrkt")]
        assert ids.isin(kana["record_id"]).all(), f"{ns}: stops without a kana reading"
        assert kana["translation"].str.fullmatch(r"[ぁ-ゖー]+").all()
        routes_en = tr[(tr["table_name"] == "routes") & (tr["language"] == "en")]
        assert t["routes"]["route_id"].isin(routes_en["record_id"]).all()


def test_interchanges_share_a_parent_and_have_transfer_times(tables):
    t = tables["toei-subway"]
    parent = t["stops"].set_index("stop_id")["parent_station"]
    platforms = t["stops"][t["stops"]["location_type"] == "0"]
    assert (platforms["parent_station"] != "").all()
    assert set(platforms["parent_station"]) <= set(t["stops"].loc[t["stops"]["location_type"] == "1", "stop_id"])
    for a, b in [("A-09", "E-20"), ("I-12", "E-07"), ("A-08", "I-04"), ("A-17", "E-11"), ("S-01", "E-27"),
                 ("S-11", "E-13"), ("I-10", "S-06")]:
        assert parent[a] == parent[b], (a, b)
    assert parent["A-01"] != parent["A-02"]
    tf = t["transfers"].assign(m=lambda d: d["min_transfer_time"].astype(int))
    pairs = set(zip(tf["from_stop_id"], tf["to_stop_id"]))
    assert {("A-09", "E-20"), ("E-20", "A-09"), ("I-12", "E-07"), ("E-28-1", "E-28-2")} <= pairs
    assert tf["m"].between(90, 900).all()
    wc = platforms["wheelchair_boarding"].value_counts().to_dict()
    assert wc.get("1", 0) > 90 and 0 < wc.get("2", 0) < 10


def headway_gaps(t: dict[str, pd.DataFrame], service: str, lo: int = 0, hi: int = 48 * 3600) -> dict:
    """Gaps (minutes) between successive departures from each route-direction's first stop in [lo, hi)."""
    trips = t["trips"][t["trips"]["service_id"] == service]
    st = t["stop_times"][t["stop_times"]["stop_sequence"] == "1"].merge(trips, on="trip_id")
    out = {}
    for (route, direction), g in st.groupby(["route_id", "direction_id"]):
        d = np.sort(g["departure_time"].map(secs).to_numpy())
        d = d[(d >= lo) & (d < hi)]
        out[(route, direction)] = np.diff(d) / 60
    return out


def test_subway_headways(tables):
    t = tables["toei-subway"]
    for key, gaps in headway_gaps(t, "weekday", 7 * 3600 + 1800, 9 * 3600).items():
        assert len(gaps) and gaps.min() >= 3 and gaps.max() <= 5, key
    for key, gaps in headway_gaps(t, "weekday", 10 * 3600, 16 * 3600).items():
        assert len(gaps) and gaps.min() >= 6 and gaps.max() <= 8, key
    for key, gaps in headway_gaps(t, "weekday").items():
        assert gaps.max() <= 10, key
    for key, gaps in headway_gaps(t, "weekend").items():
        assert gaps.min() >= 6 and gaps.max() <= 10, key


def test_bus_and_shuttle_headways(tables):
    for service in ("weekday", "weekend"):
        for key, gaps in headway_gaps(tables["toei-bus"], service).items():
            assert len(gaps) > 20 and gaps.min() >= 8 and gaps.max() <= 20, key
        for ns in SHUTTLES:
            t = tables[ns]
            for key, gaps in headway_gaps(t, service).items():
                assert gaps.min() >= 15 and gaps.max() <= 20, (ns, key)
            dep = t["stop_times"]["departure_time"].map(secs)
            assert dep.min() >= 10 * 3600 and dep.max() <= 18 * 3600, ns
    assert (tables["toei-bus"]["routes"]["route_type"] == "3").all()
    names = set(tables["toei-bus"]["routes"]["route_short_name"])
    assert {"都05-2", "都01", "宿75", "橋63", "海01"} <= names


def test_weekend_service_differs_from_weekday(tables):
    for ns, t in tables.items():
        trips = t["trips"]
        first = t["stop_times"][t["stop_times"]["stop_sequence"] == "1"].merge(trips, on="trip_id")
        wd = set(zip(first.loc[first["service_id"] == "weekday", "route_id"],
                     first.loc[first["service_id"] == "weekday", "departure_time"]))
        we = set(zip(first.loc[first["service_id"] == "weekend", "route_id"],
                     first.loc[first["service_id"] == "weekend", "departure_time"]))
        assert wd and we and wd != we, ns
        assert (trips["service_id"] == "weekday").sum() > (trips["service_id"] == "weekend").sum(), ns


def test_japanese_holidays_2026():
    expected = ["01-01", "01-12", "02-11", "02-23", "03-20", "04-29", "05-03", "05-04", "05-05", "05-06",
                "07-20", "08-11", "09-21", "09-22", "09-23", "10-12", "11-03", "11-23"]
    assert [d.strftime("%m-%d") for d in japanese_holidays(2026)] == expected
    assert dt.date(2025, 11, 24) in japanese_holidays(2025)  # substitute for Sunday Nov 23


def test_calendar_moves_holidays_to_weekend_service(tables):
    for ns, t in tables.items():
        cal = t["calendar"].set_index("service_id")
        assert cal.loc["weekday", ["monday", "friday", "saturday"]].tolist() == ["1", "1", "0"]
        assert cal.loc["weekend", ["monday", "saturday", "sunday"]].tolist() == ["0", "1", "1"]
        assert cal["start_date"].le("20250101").all() and cal["end_date"].ge("20271231").all()
        cd = t["calendar_dates"]
        for day in ("20260211", "20260505", "20260922", "20261103"):
            rows = set(zip(cd.loc[cd["date"] == day, "service_id"], cd.loc[cd["date"] == day, "exception_type"]))
            assert rows == {("weekday", "2"), ("weekend", "1")}, (ns, day)
        assert "20260503" not in set(cd["date"])  # a Sunday: already weekend service


def test_holidays_match_the_converted_toei_feed():
    """Weekdays on the holiday timetable in 2026–2027 agree with the Toei feed converted from Mini Tokyo 3D."""
    path = shared_file("toei-rail-gtfs/calendar_dates.txt")
    cd = pd.read_csv(path, dtype=str)
    theirs = {dt.datetime.strptime(d, "%Y%m%d").date()
              for d in cd.loc[(cd["service_id"] == "SaturdayHoliday") & (cd["exception_type"] == "1"), "date"]}
    theirs = {d for d in theirs if d.weekday() < 5}
    ours = {d for d in weekend_timetable_days() if 2026 <= d.year <= 2027}  # the years the feed covers
    assert len(ours) > 30 and ours == theirs


def test_shuttles_are_seated_and_bookable(tables):
    for ns in SHUTTLES:
        t = tables[ns]
        cap = t["trips"]["seat_capacity"].astype(int)
        assert cap.between(8, 20).all(), ns
        rules = t["booking_rules"]
        assert (rules["booking_type"] == "1").all()
        assert rules["prior_notice_duration_min"].astype(int).between(10, 30).all()
        assert (rules["message"].str.len() > 0).all()
        tr = t["translations"]
        assert set(rules["booking_rule_id"]) <= set(
            tr.loc[(tr["table_name"] == "booking_rules") & (tr["language"] == "en"), "record_id"])
        st = t["stop_times"]
        assert st["pickup_booking_rule_id"].isin(rules["booking_rule_id"]).all()
        assert st["drop_off_booking_rule_id"].isin(rules["booking_rule_id"]).all()
    for ns in ("toei-subway", "toei-bus"):
        assert "seat_capacity" not in tables[ns]["trips"].columns


def test_every_feed_touches_another_within_a_short_walk(tables):
    stops = all_platform_stops(tables)
    lat, lon = stops["lat"].to_numpy(), stops["lon"].to_numpy()
    d = haversine_m(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    ns = stops["ns"].to_numpy()
    other = ns[:, None] != ns[None, :]
    for name in ("toei-bus", *SHUTTLES):
        rows = ns == name
        assert (d[rows][:, ns == "toei-subway"] <= WALK_M).any() or (d[rows] * other[rows] <= WALK_M).any()
    np.fill_diagonal(d, np.inf)
    lonely = stops.loc[(ns == "toei-bus") & ~(d <= WALK_M).any(1), "stop_id"].tolist()
    assert not lonely, f"bus stops with no other stop within {WALK_M} m: {lonely}"
    bus = tables["toei-bus"]
    pole_route = bus["stop_times"].merge(bus["trips"], on="trip_id")[["stop_id", "route_id"]].drop_duplicates()
    subway = stops["ns"] == "toei-subway"
    near_subway = set(stops.loc[(stops["ns"] == "toei-bus").to_numpy() & (d[:, subway.to_numpy()] <= WALK_M).any(1),
                                "stop_id"])
    for route, g in pole_route.groupby("route_id"):
        assert set(g["stop_id"]) & near_subway, f"bus route {route} meets no subway station within {WALK_M} m"


def test_one_strongly_connected_network_on_a_weekday(tables):
    """Every stop reaches every other by weekday daytime trips plus walks of at most 300 m (no planner needed)."""
    g = nx.DiGraph()
    stops = all_platform_stops(tables)
    g.add_nodes_from(stops["node"])
    for ns, t in tables.items():
        g.add_edges_from((f"{ns}:{a}", f"{ns}:{b}") for a, b in weekday_daytime_pairs(t))
    lat, lon = stops["lat"].to_numpy(), stops["lon"].to_numpy()
    d = haversine_m(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    nodes = stops["node"].to_numpy()
    i, j = np.nonzero((d <= WALK_M) & ~np.eye(len(nodes), dtype=bool))
    g.add_edges_from(zip(nodes[i], nodes[j]))
    assert g.number_of_nodes() == len(stops)
    comps = list(nx.strongly_connected_components(g))
    assert len(comps) == 1, f"{len(comps)} components; smallest: {sorted(min(comps, key=len))[:5]}"
    assert nx.has_path(g, "shuttle-nishishinjuku:NS-03", "shuttle-bayarea:BA-01")


def test_sample_feed_paths_caches_by_version(tmp_path):
    cache = tmp_path / "cache"
    paths = sample_feed_paths(cache)
    assert list(paths) == NAMESPACES and all(p.parent == cache for p in paths.values())
    stop_times = paths["toei-subway"] / "stop_times.txt"
    mtime = stop_times.stat().st_mtime_ns
    assert sample_feed_paths(cache) == paths
    assert stop_times.stat().st_mtime_ns == mtime, "an up-to-date cache must not be rewritten"
    (cache / "SAMPLE_VERSION").write_text("0-stale\n")
    stop_times.write_text("broken")
    assert sample_feed_paths(cache) == paths
    assert stop_times.read_bytes().startswith(b"trip_id,")
    assert (cache / "SAMPLE_VERSION").read_text().strip() == sample_version()
    assert not list(tmp_path.glob(".cache.*")), "temporary folders left behind"


def test_default_cache_folder_is_versioned(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    paths = sample_feed_paths()
    assert paths["toei-bus"].parent == tmp_path / "tokyo-maas" / f"sample-{sample_version()}"


def test_each_folder_loads_with_our_loader(sample):
    gtfs = pytest.importorskip("feeds.gtfs", reason="feeds/gtfs.py not written yet")
    for ns, folder in sample.items():
        feed = gtfs.load_feed(folder, ns)
        assert feed.report.errors == [], feed.report.format()
        assert feed.namespace == ns and feed.timezone == "Asia/Tokyo"
        assert len(feed.trips) and len(feed.stop_times)
        assert (feed.stops["stop_name_en"] != "").all()
        weekday = feed.service_ids_on(dt.date(2026, 11, 24))
        holiday = feed.service_ids_on(dt.date(2026, 11, 23))
        assert weekday == {f"{ns}:weekday"} and holiday == {f"{ns}:weekend"}
        if ns in SHUTTLES:
            assert (feed.trips["seat_capacity"] > 0).all()
            assert (feed.stop_times["pickup_booking_rule_id"] != "").all()
        else:
            assert (feed.trips["seat_capacity"] == -1).all()
