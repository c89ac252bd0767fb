"""JMA XML parsing: every official sample in ../shared/data/jma parses to the areas, kinds, statuses and times the
XML says (expected values were written by reading the files), and hostile or foreign XML is refused."""
from __future__ import annotations

import datetime as dt

import pytest

from conftest import shared_file
from feeds.jma import JmaError, looks_like_jma, parse_jma

JST = dt.timezone(dt.timedelta(hours=9))
NONE_W = "発表警報・注意報はなし"


def load(name: str):
    return parse_jma(shared_file(f"jma/{name}").read_bytes())


def by_area(t) -> dict[str, list[tuple[str, str, str]]]:
    return {it.area_code: [(k.name, k.code, k.status) for k in it.kinds] for it in t.items}


WARDS_STORM = ["1310100", "1310400", "1310500", "1310600", "1310700", "1311000", "1311200", "1311300", "1311400",
               "1311500", "1311600", "1311700", "1311800", "1311900", "1312000", "1312100", "1312200"]
WARDS_STORM_WAVES = ["1310200", "1310300", "1310800", "1310900", "1311100", "1312300"]
TAMA_ISLANDS_NONE = ["1320100", "1320200", "1320300", "1320400", "1320500", "1320600", "1320700", "1320800",
                     "1320900", "1321000", "1321100", "1321200", "1321300", "1321400", "1321500", "1321800",
                     "1321900", "1322000", "1322100", "1322200", "1322300", "1322400", "1322500", "1322700",
                     "1322800", "1322900", "1330300", "1330500", "1330700", "1330800", "1336100", "1336200",
                     "1336300", "1336400", "1338100", "1338200", "1340100", "1340200"]
OGASAWARA = [("大雨特別警報", "33", "発表"), ("洪水警報", "04", "発表"), ("暴風特別警報", "35", "発表"),
             ("波浪特別警報", "37", "発表"), ("高潮特別警報", "38", "発表"), ("雷注意報", "14", "発表")]


@pytest.mark.parametrize("name,dtype", [("15_13_01_161226_VPWW53.xml", "VPWW53"),
                                        ("15_13_01_161226_VPWW54.xml", "VPWW54")])
def test_tokyo_weather_warnings(name, dtype):
    t = load(name)
    assert (t.data_type, t.family, t.info_type, t.control_status) == (dtype, "warning", "発表", "通常")
    assert t.title == "東京都気象警報・注意報"
    assert t.report_datetime == dt.datetime(2016, 12, 13, 20, 45, tzinfo=JST)
    assert t.control_datetime == dt.datetime(2016, 12, 13, 11, 47, 23, tzinfo=dt.timezone.utc)
    assert t.valid_datetime is None and t.event_id == "" and t.serial == ""
    assert (t.region_code, t.region_name) == ("130000", "東京都")
    assert t.series == "warn:130000"  # VPWW53 and 54 are one report in two formats: one series
    a = by_area(t)
    assert len(a) == 62  # the municipality level only, once each
    for code in WARDS_STORM:
        assert a[code] == [("暴風警報", "05", "発表")]
    for code in WARDS_STORM_WAVES:
        assert a[code] == [("暴風警報", "05", "発表"), ("波浪警報", "07", "発表")]
    for code in TAMA_ISLANDS_NONE:
        assert a[code] == [("", "", NONE_W)]
        assert not any(k.active or k.lifted for k in t.items[t.area_codes.index(code)].kinds)
    assert a["1342100"] == OGASAWARA
    assert next(it.area_name for it in t.items if it.area_code == "1310400") == "新宿区"


def test_nara_downgrades_and_lifts():
    t = load("15_08_04_160628_VPWW53.xml")
    assert t.report_datetime == dt.datetime(2011, 9, 5, 10, 26, tzinfo=JST)
    assert (t.region_code, t.series) == ("290000", "warn:290000")
    a = by_area(t)
    assert len(a) == 40
    assert a["2920100"] == [("大雨注意報", "10", "特別警報から注意報"), ("雷注意報", "14", "解除"),
                            ("強風注意報", "15", "解除"), ("洪水注意報", "18", "解除")]
    assert a["2920702"] == [("大雨特別警報", "33", "継続"), ("雷注意報", "14", "解除"), ("強風注意報", "15", "解除"),
                            ("洪水注意報", "18", "警報から注意報")]  # 五條市南部: a split municipality code
    assert a["2944900"] == [("大雨特別警報", "33", "継続"), ("洪水警報", "04", "継続"), ("雷注意報", "14", "解除"),
                            ("強風注意報", "15", "解除")]
    assert a["2934200"] == [("大雨注意報", "10", "解除"), ("雷注意報", "14", "解除"), ("強風注意報", "15", "解除")]
    statuses = [k.status for it in t.items for k in it.kinds]
    assert statuses.count("解除") == 115 and statuses.count("継続") == 17
    assert statuses.count("特別警報から注意報") == 16 and statuses.count("警報から注意報") == 8
    k = t.items[0].kinds
    assert k[0].active and not k[0].lifted and k[1].lifted and not k[1].active


def test_shimane_r06_heavy_rain():
    t = load("15_17_01_250630_VPWW55.xml")
    assert (t.data_type, t.series, t.info_kind_version) == ("VPWW55", "warn55:320000", "1.5_0")
    assert t.title == "島根県大雨警報・注意報"
    assert t.report_datetime == dt.datetime(2024, 11, 2, 11, 19, tzinfo=JST)
    a = by_area(t)
    assert len(a) == 19
    for code in ("3220100", "3220200", "3220300", "3220400", "3220500", "3220600", "3220700", "3220900",
                 "3250100", "3250500"):
        assert a[code] == [("レベル３大雨警報", "03", "継続")]
    for code in ("3234300", "3238600", "3244100", "3244800", "3244900"):
        assert a[code] == [("レベル２大雨注意報", "10", "継続")]
    for code in ("3252500", "3252600", "3252700"):
        assert a[code] == [("", "", NONE_W)]
    assert a["3252800"] == [("レベル２大雨注意報", "10", "解除")]


def test_landslide_first_issue():
    t = load("17_03_01_190529_VXWW50.xml")
    assert (t.data_type, t.family, t.event_id, t.serial) == ("VXWW50", "landslide", "岡山県土砂災害警戒情報", "1")
    assert (t.region_code, t.region_name, t.series) == ("330000", "岡山県", "dosha:330000")
    assert t.report_datetime == dt.datetime(2013, 9, 2, 15, 37, tzinfo=JST)
    assert "警戒レベル４相当情報［土砂災害］" in t.headline
    a = by_area(t)
    assert len(a) == 27
    assert a["3320900"] == [("警戒", "3", "発表")]  # 高梁市
    assert sum(1 for v in a.values() if v == [("なし", "0", "なし")]) == 26
    assert a["3310000"] == [("なし", "0", "なし")]  # 岡山市: a designated city under its whole-city code


def test_landslide_continuation_with_lifts():
    t = load("17_03_07_190529_VXWW50.xml")
    assert t.serial == "7" and t.report_datetime == dt.datetime(2013, 9, 4, 13, 20, tzinfo=JST)
    a = by_area(t)
    lifted = {"3320400", "3321600", "3342300", "3344500", "3358600"}  # 玉野市 浅口市 早島町 里庄町 新庄村
    assert {c for c, v in a.items() if v == [("解除", "1", "解除")]} == lifted
    assert {c for c, v in a.items() if v == [("警戒", "3", "継続")]} == set(a) - lifted
    assert len(a) == 27


def test_landslide_new_naming_and_split_cities():
    t = load("17_04_01_250630_VXWW50.xml")
    assert t.title == "神奈川県レベル４土砂災害危険警報" and t.series == "dosha:140000"
    assert t.report_datetime == dt.datetime(2024, 11, 2, 18, 50, tzinfo=JST)
    a = by_area(t)
    assert len(a) == 35
    assert {c for c, v in a.items() if v[0][2] == "発表"} == {"1420600", "1438300", "1438400"}  # 小田原 真鶴 湯河原
    assert a["1410011"] == [("なし", "0", "なし")] and a["1415011"] == [("なし", "0", "なし")]
    assert next(it.area_name for it in t.items if it.area_code == "1410011") == "横浜市北部"


def test_flood_forecast_real_river():
    t = load("16_02_02_220728_VXKOii.xml")
    assert (t.data_type, t.family, t.title) == ("VXKO", "flood", "六角川氾濫警戒情報")
    assert (t.event_id, t.series) == ("890904000100", "flood:890904000100")
    assert t.report_datetime == dt.datetime(2021, 8, 13, 15, 10, tzinfo=JST)
    assert [(it.area_code, it.area_name) for it in t.items] == [
        ("4120600", "武雄市"), ("4120900", "嬉野市"), ("4142300", "大町町"), ("4142400", "江北町"),
        ("4142500", "白石町")]
    k = t.items[0].kinds[0]
    assert (k.name, k.code, k.status, k.condition) == ("氾濫警戒情報", "30", "発表", "洪水警報（発表）")


def test_flood_forecast_placeholder():
    t = load("16_01_01_220728_VXKOii.xml")
    assert t.title == "○○川上流氾濫注意情報" and t.event_id == "830303020300"
    assert t.report_datetime == dt.datetime(2019, 5, 9, 20, 40, tzinfo=JST)
    assert [(it.area_code, it.area_name) for it in t.items] == [("0000000", "○○市")]  # one placeholder code
    k = t.items[0].kinds[0]
    assert (k.name, k.code, k.status) == ("氾濫注意情報", "20", "発表")


def test_record_heavy_rain():
    t = load("18_03_01_190412_VPOA50.xml")
    assert (t.data_type, t.serial, t.event_id) == ("VPOA50", "2", "JPSP201903281834_201903281953")
    assert t.report_datetime == dt.datetime(2019, 3, 28, 19, 53, 22, tzinfo=JST)
    assert t.headline.startswith("１９時４０分北海道で記録的短時間大雨")
    assert by_area(t) == {"016010": [("記録的短時間大雨情報", "1", "発表")], "016020": [("なし", "0", "なし")],
                          "016030": [("記録的短時間大雨情報", "1", "発表")]}


def test_every_sample_is_sniffed_as_jma():
    for name in ("15_13_01_161226_VPWW54.xml", "17_04_01_250630_VXWW50.xml", "18_03_01_190412_VPOA50.xml"):
        assert looks_like_jma(shared_file(f"jma/{name}").read_bytes())
    assert not looks_like_jma(b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>')


# ---------------------------------------------------------------------------------------------- hostile input

MINI = """<?xml version="1.0" encoding="UTF-8"?>{doctype}
<Report xmlns="{ns}">
<Control><Title>{title}</Title><DateTime>2026-11-24T00:00:00Z</DateTime><Status>{status}</Status>
<EditorialOffice>気象庁本庁</EditorialOffice><PublishingOffice>気象庁</PublishingOffice></Control>
<Head xmlns="http://xml.kishou.go.jp/jmaxml1/informationBasis1/"><Title>東京都土砂災害警戒情報{ent}</Title>
<ReportDateTime>2026-11-24T09:00:00+09:00</ReportDateTime><TargetDateTime>2026-11-24T09:00:00+09:00</TargetDateTime>
<EventID>東京都土砂災害警戒情報</EventID><InfoType>{info}</InfoType><Serial>1</Serial><InfoKind>土砂災害警戒情報</InfoKind>
<InfoKindVersion>1.0_0</InfoKindVersion><Headline><Text/></Headline></Head>
<Body xmlns="http://xml.kishou.go.jp/jmaxml1/body/meteorology1/"><TargetArea><Name>東京都</Name><Code>130000</Code></TargetArea>
<Warning type="土砂災害警戒情報"><Item><Kind><Name>警戒</Name><Code>3</Code><Status>発表</Status></Kind>
<Area><Name>新宿区</Name><Code>{code}</Code></Area></Item></Warning></Body></Report>"""


def mini(**kw) -> str:
    d = {"doctype": "", "ns": "http://xml.kishou.go.jp/jmaxml1/", "title": "土砂災害警戒情報", "status": "通常",
         "ent": "", "info": "発表", "code": "1310400"}
    d.update(kw)
    return MINI.format(**d)


def test_minimal_telegram_parses():
    t = parse_jma(mini())
    assert [(it.area_code, [(k.name, k.status) for k in it.kinds]) for it in t.items] == [("1310400", [("警戒", "発表")])]


@pytest.mark.parametrize("kw,needle", [
    ({"doctype": '<!DOCTYPE Report [<!ENTITY a "aaaaaaaaaa">]>', "ent": "&a;"}, "DTD"),
    ({"doctype": '<!DOCTYPE Report SYSTEM "http://evil.example/x.dtd">'}, "DTD"),
    ({"ns": "http://example.com/not-jma/"}, "not a JMA XML report"),
    ({"title": "震源・震度に関する情報"}, "unsupported JMA telegram"),
    ({"info": "遅延"}, "InfoType"),
    ({"status": "本番"}, "Control/Status"),
    ({"code": "13104'00"}, "not a JMA numeric code"),
])
def test_hostile_or_foreign_xml_is_refused(kw, needle):
    with pytest.raises(JmaError) as e:
        parse_jma(mini(**kw))
    assert needle in str(e.value)


def test_billion_laughs_is_refused_before_expansion():
    lol = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
           + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
           + ']><Report xmlns="http://xml.kishou.go.jp/jmaxml1/">&lol9;</Report>')
    with pytest.raises(JmaError, match="DTD"):
        parse_jma(lol)


def test_oversized_and_broken_xml():
    with pytest.raises(JmaError, match="too large"):
        parse_jma(b"<Report>" + b" " * 2_000_000 + b"</Report>")
    with pytest.raises(JmaError, match="not well-formed"):
        parse_jma(mini()[:-20])


def test_cancellation_has_no_items():
    t = parse_jma(mini(info="取消"))
    assert t.info_type == "取消" and t.items == () and t.series == "dosha:130000"


def test_unknown_kind_status_is_refused():
    """A Kind status outside JMA's dictionary must not be read as 'not active' (which lifts the area's warning)."""
    with pytest.raises(JmaError) as e:
        parse_jma(mini().replace("<Status>発表</Status></Kind>", "<Status>謎</Status></Kind>"))
    assert e.value.field.endswith("Kind[0]/Status") and "unknown <Kind> status" in str(e.value)
