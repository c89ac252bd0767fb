"""JMA telegrams → closures through the ClosureService: municipality polygons, the policy table, continuation,
lifts (解除 and full-state omission), 取消, stale reports, unknown and split area codes; all-or-nothing."""
from __future__ import annotations

import datetime as dt

import orjson
import pytest
import shapely

from conftest import shared_file
from feeds.closure_json import ClosureError
from feeds.jma import parse_jma
from feeds.jma_areas import MunicipalityAreas
from jma_support import JST, SHINJUKU, landslide_xml, warning_xml
from maas.disruptions.closures import ClosureService
from maas.disruptions.jma_intake import JmaIntake
from maas.disruptions.policy import PolicyError, WarningPolicy, kind_english, warning_level

XML = "application/xml"
T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=JST)


@pytest.fixture(scope="module")
def tokyo_areas():
    return MunicipalityAreas.load(shared_file("tokyo-municipalities.geojson"))


@pytest.fixture
def svc(tokyo_areas):
    return ClosureService(jma=JmaIntake(tokyo_areas), clock=lambda: T0 + dt.timedelta(hours=1))


def ids(svc) -> set[str]:
    return {c.id for c in svc.list_all()}


def test_areas_file_maps_tochomae_to_shinjuku(tokyo_areas):
    assert len(tokyo_areas) == 62
    m = tokyo_areas.get("1310400")
    assert (m.name, m.name_en, m.code) == ("新宿区", "Shinjuku Ward", "13104")
    assert shapely.covers(m.geometry, shapely.Point(139.6925, 35.6906))  # Tochomae
    assert tokyo_areas.get("1336200").name_en == "Toshima Village" != tokyo_areas.get("1311600").name_en


def test_policy_grades_and_defaults():
    p = WarningPolicy()
    assert warning_level("warning", "大雨特別警報", "33") == 5 and p.action("warning", "33", 5) == "close"
    assert warning_level("warning", "大雨警報", "03") == 3 and p.action("warning", "03", 3) == "avoid"
    assert warning_level("warning", "雷注意報", "14") == 2 and p.action("warning", "14", 2) == "inform"
    assert warning_level("warning", "レベル４土砂災害危険警報", "49") == 4
    assert warning_level("warning", "レベル３大雨警報", "03") == 3
    assert warning_level("landslide", "警戒", "3") == 4 and p.action("landslide", "3", 4) == "close"
    assert warning_level("flood", "氾濫警戒情報", "30") == 3 and warning_level("flood", "氾濫危険情報", "40") == 4
    assert p.action("warning", "37", 5) == "inform"  # 波浪特別警報: the sea, not the streets
    assert kind_english("warning", "大雨特別警報") == "Heavy rain emergency warning"
    assert kind_english("warning", "レベル３大雨警報") == "Level 3 heavy rain warning"
    custom = WarningPolicy.from_dict({"levels": {"3": "close"}, "kinds": {"warning:05": "inform"}})
    assert custom.action("warning", "03", 3) == "close" and custom.action("warning", "05", 3) == "inform"
    with pytest.raises(PolicyError):
        WarningPolicy.from_dict({"levels": {"3": "shut"}})


async def test_tokyo_vpww53_sample_becomes_per_area_closures(svc):
    raw = shared_file("jma/15_13_01_161226_VPWW53.xml").read_bytes()
    res = await svc.accept(raw, XML)
    got = {c.id: c for c in res.accepted}
    # 23 wards with 暴風警報, 6 of them also 波浪警報, and six kinds for 小笠原村 (read from the XML)
    assert len(got) == 23 + 6 + 6 and res.unknown_areas == () and res.lifted == ()
    storm = got["jma:warn:130000:1310400:05"]
    assert (storm.strength, storm.severity, storm.blocking, storm.restricting) == ("avoid", "warning", False, True)
    assert storm.warning.kind == "暴風警報" and storm.warning.area_name == "新宿区" and storm.warning.level == 3
    assert storm.message_ja.startswith("新宿区に暴風警報") and storm.message_en.startswith("Storm warning: Shinjuku")
    assert storm.start == dt.datetime(2016, 12, 13, 20, 45, tzinfo=JST) and storm.end is None
    assert got["jma:warn:130000:1310200:07"].strength == "inform"  # 波浪警報
    oga = {k: got[f"jma:warn:130000:1342100:{k}"].strength for k in ("33", "04", "35", "37", "38", "14")}
    assert oga == {"33": "close", "04": "avoid", "35": "close", "37": "inform", "38": "close", "14": "inform"}
    assert got["jma:warn:130000:1342100:33"].blocking
    # the VPWW54 twin of the same report changes nothing but re-stores the same closures
    res54 = await svc.accept(shared_file("jma/15_13_01_161226_VPWW54.xml").read_bytes(), XML)
    assert {c.id for c in res54.accepted} == set(got) and res54.lifted == ()


async def test_landslide_issue_continue_lift_and_cancel(svc):
    await svc.accept(landslide_xml([SHINJUKU + ("発表",), ("1310100", "千代田区", "なし")], T0), XML)
    cid = "jma:dosha:130000:1310400:3"
    c = svc.get(cid)
    assert ids(svc) == {cid} and c.blocking and c.strength == "close" and c.start == T0
    assert c.warning.headline_ja == "新宿区に土砂災害警戒情報" and c.warning.headline_en == "Landslide alert: Shinjuku Ward"
    # continuation an hour later keeps it (and its start), and adds 千代田区
    later = T0 + dt.timedelta(hours=1)
    await svc.accept(landslide_xml([SHINJUKU + ("継続",), ("1310100", "千代田区", "発表")], later, serial=2), XML)
    assert ids(svc) == {cid, "jma:dosha:130000:1310100:3"} and svc.get(cid).start == T0
    assert svc.get(cid).warning.status == "継続"
    # 解除 lifts only what it names
    res = await svc.accept(landslide_xml([SHINJUKU + ("解除",), ("1310100", "千代田区", "継続")],
                                         later + dt.timedelta(hours=1), serial=3), XML)
    assert res.lifted == (cid,) and ids(svc) == {"jma:dosha:130000:1310100:3"}
    assert [c.id for c in res.removed] == [cid]
    # an older report (a late duplicate) is refused, state unchanged
    with pytest.raises(ClosureError, match="older than the one in force"):
        await svc.accept(landslide_xml([SHINJUKU + ("発表",)], T0), XML)
    assert ids(svc) == {"jma:dosha:130000:1310100:3"}
    # 取消 withdraws the series
    res = await svc.accept(landslide_xml([], later + dt.timedelta(hours=2), serial=4, info_type="取消"), XML)
    assert res.lifted == ("jma:dosha:130000:1310100:3",) and ids(svc) == set()
    # … and a 取消 of a telegram not in force is refused
    with pytest.raises(ClosureError, match="取消 of a telegram that is not in force"):
        await svc.accept(landslide_xml([], later + dt.timedelta(hours=3), serial=5, info_type="取消"), XML)


async def test_full_state_report_lifts_omitted_kinds(svc):
    await svc.accept(warning_xml([(*SHINJUKU, [("大雨警報", "03", "発表"), ("雷注意報", "14", "発表")])], T0), XML)
    assert ids(svc) == {"jma:warn:130000:1310400:03", "jma:warn:130000:1310400:14"}
    # the next report lists 新宿区 with only 雷注意報 (continuing): 大雨警報 is gone
    res = await svc.accept(warning_xml([(*SHINJUKU, [("雷注意報", "14", "継続")])], T0 + dt.timedelta(hours=1)), XML)
    assert res.lifted == ("jma:warn:130000:1310400:03",) and ids(svc) == {"jma:warn:130000:1310400:14"}
    res = await svc.accept(warning_xml([(*SHINJUKU, [])], T0 + dt.timedelta(hours=2)), XML)
    assert ids(svc) == set() and res.lifted == ("jma:warn:130000:1310400:14",)


@pytest.mark.parametrize("xml,needle", [
    (landslide_xml([("1399900", "架空村", "発表")], T0), "unknown area code 1399900"),
    (landslide_xml([SHINJUKU + ("発表",), ("1399900", "架空村", "発表")], T0), "unknown area code 1399900"),
    (landslide_xml([SHINJUKU + ("発表",)], T0).replace("<Status>通常</Status>", "<Status>訓練</Status>"), "drill"),
])
async def test_refused_telegrams_change_nothing(svc, xml, needle):
    await svc.accept(landslide_xml([("1310100", "千代田区", "発表")], T0 - dt.timedelta(hours=1)), XML)
    before = (ids(svc), svc.version)
    with pytest.raises(ClosureError, match=needle):
        await svc.accept(xml, XML)
    assert (ids(svc), svc.version) == before


async def test_other_prefecture_sample_is_refused(svc):
    with pytest.raises(ClosureError, match="none of the telegram's 27 areas"):
        await svc.accept(shared_file("jma/17_03_07_190529_VXWW50.xml").read_bytes(), XML)
    assert ids(svc) == set()


async def test_split_designated_city_codes_are_reported_unknown():
    """Kanagawa sample with a file of square polygons for its whole-municipality codes: the split parts of
    横浜市, 川崎市 and 相模原市 have no polygon and come back as unknown areas; the three alerted towns close."""
    t = parse_jma(shared_file("jma/17_04_01_250630_VXWW50.xml").read_bytes())
    whole = [it for it in t.items if it.area_code.endswith("00")]
    feats = [{"type": "Feature", "properties": {"jma_code": it.area_code, "name": it.area_name},
              "geometry": shapely.geometry.mapping(shapely.box(139 + i * 0.01, 35, 139.005 + i * 0.01, 35.005))}
             for i, it in enumerate(whole)]
    areas = MunicipalityAreas.from_geojson({"type": "FeatureCollection", "features": feats})
    svc = ClosureService(jma=JmaIntake(areas), clock=lambda: dt.datetime(2024, 11, 2, 19, tzinfo=JST))
    res = await svc.accept(shared_file("jma/17_04_01_250630_VXWW50.xml").read_bytes(), XML)
    assert {c.warning.area_name for c in res.accepted} == {"小田原市", "真鶴町", "湯河原町"}
    unknown = {u["code"]: u["name"] for u in res.unknown_areas}
    assert unknown["1410011"] == "横浜市北部" and unknown["1415011"] == "相模原市西部"
    assert all(not code.endswith("00") for code in unknown)


async def test_jma_closures_survive_the_store_round_trip(svc):
    await svc.accept(landslide_xml([SHINJUKU + ("発表",)], T0), XML)
    body = await svc.store.load()
    other = ClosureService(store=svc.store)
    await other.reload()
    c = other.get("jma:dosha:130000:1310400:3")
    mine = svc.get("jma:dosha:130000:1310400:3")
    assert c.warning == mine.warning and (c.strength, c.start, c.end) == ("close", mine.start, None)
    assert c.areas[0].geometry.equals(mine.areas[0].geometry) and c.message_ja == mine.message_ja
    assert orjson.loads(orjson.dumps(body))[c.id]["warning"]["area_code"] == "1310400"


async def test_jma_refused_without_municipality_file():
    svc = ClosureService()
    with pytest.raises(ClosureError, match="no municipality file"):
        await svc.accept(landslide_xml([SHINJUKU + ("発表",)], T0), XML)


async def test_flood_forecast_maps_its_cities_and_is_full_state_per_event(svc):
    """The real 六角川 sample with its five CityCodes swapped for Tokyo wards: 氾濫警戒情報 (Kind 30, grade 3)
    avoids them; the next forecast of the same EventID (氾濫危険情報, Kind 40) replaces it and closes."""
    raw = shared_file("jma/16_02_02_220728_VXKOii.xml").read_text()
    wards = {"4120600": "1310400", "4120900": "1310100", "4142300": "1310200", "4142400": "1310300",
             "4142500": "1310500"}
    for saga, tokyo in wards.items():
        raw = raw.replace(f"<CityCode>{saga}</CityCode>", f"<CityCode>{tokyo}</CityCode>")
    res = await svc.accept(raw.encode(), XML)
    assert {c.id for c in res.accepted} == {f"jma:flood:890904000100:{w}:30" for w in wards.values()}
    c = svc.get("jma:flood:890904000100:1310400:30")
    assert (c.strength, c.warning.level, c.warning.kind) == ("avoid", 3, "六角川氾濫警戒情報")
    assert c.warning.kind_en == "River flood warning" and c.start == dt.datetime(2021, 8, 13, 15, 10, tzinfo=JST)
    danger = (raw.replace("<Name>氾濫警戒情報</Name>\n            <Code>30</Code>",
                          "<Name>氾濫危険情報</Name>\n            <Code>40</Code>")
              .replace("2021-08-13T15:10:00+09:00", "2021-08-13T16:10:00+09:00")
              .replace("<CityCode>1310500</CityCode>", "<CityCode>0000000</CityCode>"))
    res = await svc.accept(danger.encode(), XML)
    assert {c.id for c in res.accepted} == {f"jma:flood:890904000100:{w}:40" for w in list(wards.values())[:4]}
    assert set(res.lifted) == {f"jma:flood:890904000100:{w}:30" for w in wards.values()}
    assert all(c.strength == "close" for c in res.accepted)
    assert res.unknown_areas == ({"code": "0000000", "name": "白石町"},)


async def test_record_rain_maps_regions_given_as_features():
    """VPOA50 names 府県予報区 subdivisions (石狩地方 016010): mapped when the area file has a feature for the code."""
    feats = [{"type": "Feature", "properties": {"jma_code": "016010", "name": "石狩地方", "name_en": "Ishikari"},
              "geometry": shapely.geometry.mapping(shapely.box(141.2, 43.0, 141.5, 43.2))}]
    areas = MunicipalityAreas.from_geojson({"type": "FeatureCollection", "features": feats})
    svc = ClosureService(jma=JmaIntake(areas), clock=lambda: dt.datetime(2019, 3, 28, 20, tzinfo=JST))
    res = await svc.accept(shared_file("jma/18_03_01_190412_VPOA50.xml").read_bytes(), XML)
    [c] = res.accepted
    assert c.id == "jma:rain:JPSP201903281834_201903281953:016010:1" and c.strength == "avoid"
    assert c.warning.kind == "記録的短時間大雨情報" and "札幌市中央区付近で約１００ミリ" in c.message_ja
    assert {u["code"] for u in res.unknown_areas} == {"016020", "016030"}


def test_landslide_closes_the_wards_walking_streets(tokyo_areas):
    """A landslide alert over 渋谷区 closes the OSM street edges inside the ward, so a walk between two points of
    the ward finds no open street."""
    import numpy as np

    from feeds.jma import parse_jma
    from jma_support import landslide_xml
    from maas.disruptions.closure_masks import ClosureIndex
    from routing.streets import StreetNetwork
    from test_closures import FakeModel

    lat, lon = np.array([35.6580, 35.6620]), np.array([139.7016, 139.7000])  # Shibuya, and 400 m north-west
    streets = StreetNetwork.from_osm_xml(shared_file("osm/tokyo-shibuya.osm"), lat, lon)
    day = dt.date(2026, 11, 24)
    m = FakeModel(stop_ids=["s:0", "s:1"], stop_lat=lat, stop_lon=lon, stop_station=np.array([0, 1], np.int32),
                  station_ids=["s:0", "s:1"], station_stops_start=np.array([0, 1, 2], np.int32),
                  station_stops=np.array([0, 1], np.int32), route_ids=["s:R"], pattern_route=np.array([0], np.int32),
                  pattern_stops_start=np.array([0, 2], np.int32), pattern_stops=np.array([0, 1], np.int32),
                  pattern_trips_start=np.array([0, 0], np.int32), service_date=day)
    shibuya = tokyo_areas.get("1311300").geometry
    assert all(shapely.covers(shibuya, shapely.Point(x, y)) for x, y in zip(lon, lat))
    tg = parse_jma(landslide_xml([("1311300", "渋谷区", "発表")], T0))
    [c] = JmaIntake(tokyo_areas).changes(tg, {}).puts
    mask = ClosureIndex(m, streets).mask([(c, 0)], day)
    assert mask.street_edge_closed is not None and set(np.flatnonzero(mask.stop_from != mask.stop_until)) == {0, 1}
    inside = streets.edges_within(shibuya)
    assert inside.sum() > 100 and (mask.street_edge_closed == inside).all()  # exactly the ward's edges
    before = streets.path(35.6580, 139.7016, 35.6620, 139.7000)
    after = streets.with_closed_edges(mask.street_edge_closed).path(35.6580, 139.7016, 35.6620, 139.7000)
    assert np.isfinite(before.distance_m) and not np.isfinite(after.distance_m)


async def test_valid_date_time_ends_the_closure(svc):
    """Head/ValidDateTime (set on some telegrams; none of the official samples has one) is the closure's end."""
    xml = landslide_xml([SHINJUKU + ("発表",)], T0).replace(
        "</TargetDateTime>", "</TargetDateTime><ValidDateTime>2026-11-24T15:00:00+09:00</ValidDateTime>", 1)
    assert parse_jma(xml).valid_datetime == dt.datetime(2026, 11, 24, 15, 0, tzinfo=JST)
    [c] = (await svc.accept(xml, XML)).accepted
    assert c.end == dt.datetime(2026, 11, 24, 15, 0, tzinfo=JST) and c.start == T0
    assert [x.id for x in svc.list_active(T0 + dt.timedelta(hours=5))] == [c.id]
    assert svc.list_active(T0 + dt.timedelta(hours=6, minutes=1)) == []
