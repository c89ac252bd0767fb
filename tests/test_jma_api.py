"""JMA warnings over HTTP on a real-coordinate Tokyo network: a landslide alert over 新宿区 moves plans off Tochomae
and its hops, its lift restores them; an `avoid` warning is routed around, or entered (flagged) when it must be;
answers carry the warnings; hostile telegrams are refused with problem+json and change nothing."""
from __future__ import annotations

import datetime as dt

import msgspec
import pytest
import shapely

from api.models.problem import Problem
from api.models.search import DeparturesResponse, PlanResponse
from api_support import auth
from conftest import shared_file
from feeds.jma_areas import MunicipalityAreas
from jma_support import JST, SHINJUKU, jma_client, landslide_xml, warning_xml
from tokyo_mini import SLOW, STOPS, mini_transit

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
D = auth("dis-jma")
P = auth("pk-alpha")
XML = {**D, "Content-Type": "application/xml"}
T0 = dt.datetime(2026, 11, 24, 7, 0, tzinfo=JST)
TRIP = {"from": "mini:SBY", "to": "mini:IKB", "depart_at": "2026-11-24T08:00:00+09:00"}
TO_TCM = {"from": "mini:SBY", "to": "mini:TCM", "depart_at": "2026-11-24T08:00:00+09:00"}
LANDSLIDE = "jma:dosha:130000:1310400:3"


@pytest.fixture(scope="module")
def areas_file():
    return shared_file("tokyo-municipalities.geojson")


@pytest.fixture(scope="module")
def transit(tmp_path_factory, areas_file):
    shinjuku = MunicipalityAreas.load(areas_file).get("1310400").geometry
    lon_lat = {k: (lon, lat) for k, (_, lat, lon) in STOPS.items()}
    # the network is what the tests say it is: Tochomae in 新宿区, the slow route never touching it
    assert shapely.covers(shinjuku, shapely.Point(lon_lat["TCM"]))
    slow = shapely.LineString([lon_lat[s] for s, _ in SLOW])
    assert not slow.intersects(shinjuku)
    t = mini_transit(tmp_path_factory.mktemp("jma-api"))
    yield t
    t.close()


@pytest.fixture
async def client(transit, areas_file):
    async with jma_client(transit, areas_file) as c:
        yield c


async def plan(client, params=TRIP) -> tuple[int, dict]:
    """The answer, checked against the declared response models (no undeclared warning field)."""
    r = await client.get("/v1/plan", params=params, headers=P)
    body = await r.json()
    msgspec.convert(body, PlanResponse if r.status == 200 else Problem)
    return r.status, body


def routes(body) -> list[str]:
    return [",".join(leg["route"]["id"] for leg in it["legs"] if leg["mode"] != "WALK") for it in body["itineraries"]]


async def closures(client) -> tuple[list[str], int]:
    body = await (await client.get("/v1/closures", headers=P)).json()
    return sorted(c["id"] for c in body["closures"]), body["version"]


async def test_landslide_closes_shinjuku_and_the_lift_restores(client):
    status, body = await plan(client)
    assert status == 200 and routes(body)[0] == "mini:FAST"
    assert body["itineraries"][0]["warnings"] == [] and body["itineraries"][0]["avoided"] == []
    r = await client.post("/v1/closures", data=landslide_xml([SHINJUKU + ("発表",)], T0).encode(), headers=XML)
    assert r.status == 201, await r.text()
    assert [c["id"] for c in (await r.json())["accepted"]] == [LANDSLIDE]
    status, body = await plan(client)
    assert status == 200 and set(routes(body)) == {"mini:SLOW"}  # off Tochomae and the hops through 新宿区
    it = body["itineraries"][0]
    assert [w["id"] for w in it["avoided"]] == [LANDSLIDE]
    w = it["avoided"][0]
    assert (w["kind"], w["strength"], w["severity"], w["area"]["name"]) == ("土砂災害警戒情報", "close", "severe", "新宿区")
    assert w["headline"] == {"ja": "新宿区に土砂災害警戒情報", "en": "Landslide alert: Shinjuku Ward"}
    assert w["valid_until"] is None and w["valid_from"] == T0.isoformat()
    # going *to* Tochomae is impossible now: the problem names the closure
    status, prob = await plan(client, TO_TCM)
    assert status == 409 and prob["type"].endswith("closed-by-closure")
    assert [c["id"] for c in prob["closures"]] == [LANDSLIDE] and LANDSLIDE in prob["detail"]
    assert prob["closures"][0]["area"]["code"] == "1310400"
    # departures at Tochomae are closed and marked
    dep = await (await client.get("/v1/stops/mini:TCM/departures", params={"at": "2026-11-24T08:00:00+09:00"},
                                  headers=P)).json()
    msgspec.convert(dep, DeparturesResponse)
    assert dep["affected"] and dep["closed"] and [w["id"] for w in dep["warnings"]] == [LANDSLIDE]
    assert all(d["warnings"] == [LANDSLIDE] for d in dep["departures"])
    # the GTFS-RT alerts feed carries it with Japanese and English text
    feed = await (await client.get("/v1/alerts", headers={**P, "Accept": "application/json"})).json()
    ent = next(e for e in feed["entity"] if e["id"] == LANDSLIDE)
    head = {t.get("language"): t["text"] for t in ent["alert"]["header_text"]["translation"]}
    desc = {t.get("language"): t["text"] for t in ent["alert"]["description_text"]["translation"]}
    assert head == {"ja": "新宿区に土砂災害警戒情報", "en": "Landslide alert: Shinjuku Ward"}
    assert "土砂災害がいつ発生してもおかしくない" in desc["ja"] and "Japan Meteorological Agency" in desc["en"]
    assert {"stop_id": "mini:TCM"} in ent["alert"]["informed_entity"]
    # the lift (解除) restores the fast route
    r = await client.post("/v1/closures", data=landslide_xml([SHINJUKU + ("解除",)], T0 + dt.timedelta(hours=0.5),
                                                             serial=2).encode(), headers=XML)
    assert r.status == 201 and (await r.json())["lifted"] == [LANDSLIDE]
    status, body = await plan(client)
    assert routes(body)[0] == "mini:FAST" and body["itineraries"][0]["avoided"] == []


async def test_avoid_warning_is_routed_around_or_entered_flagged(client):
    xml = warning_xml([(*SHINJUKU, [("大雨警報", "03", "発表")])], T0)
    assert (await client.post("/v1/closures", data=xml.encode(), headers=XML)).status == 201
    cid = "jma:warn:130000:1310400:03"
    status, body = await plan(client)
    # 10 minutes slower is not "much worse": only the avoiding itineraries
    assert status == 200 and set(routes(body)) == {"mini:SLOW"}
    assert all(not it.get("enters_warning_area") for it in body["itineraries"])
    assert [w["id"] for w in body["itineraries"][0]["avoided"]] == [cid]
    assert body["itineraries"][0]["avoided"][0]["strength"] == "avoid"
    # to Tochomae there is no way round: the entering itinerary, flagged, with the warning on its leg and stop
    status, body = await plan(client, TO_TCM)
    assert status == 200 and len(body["itineraries"]) == 1
    it = body["itineraries"][0]
    assert it["enters_warning_area"] is True and [w["id"] for w in it["entered"]] == [cid]
    leg = next(leg for leg in it["legs"] if leg["mode"] != "WALK")
    assert [w["id"] for w in leg["warnings"]] == [cid] and leg["to"]["warnings"] == [cid]
    assert leg["warnings"][0]["headline"]["ja"] == "新宿区に大雨警報"
    assert "warnings" not in leg["from"]  # Shibuya is not in the warned area


async def test_advisory_only_informs(client):
    xml = warning_xml([(*SHINJUKU, [("雷注意報", "14", "発表")])], T0)
    assert (await client.post("/v1/closures", data=xml.encode(), headers=XML)).status == 201
    status, body = await plan(client)
    it = body["itineraries"][0]
    assert routes(body)[0] == "mini:FAST" and not it.get("enters_warning_area")
    assert [(w["kind"], w["strength"], w["severity"]) for w in it["warnings"]] == [("雷注意報", "inform", "info")]


MB = 1024 * 1024


@pytest.mark.parametrize("payload,status,needle", [
    (landslide_xml([SHINJUKU + ("発表",)], T0).replace('<?xml version="1.0" encoding="UTF-8"?>',
     '<?xml version="1.0"?><!DOCTYPE Report [<!ENTITY x "xxxxxxxxxxxxxxxx">]>').replace("東京都土砂災害警戒情報</Title>",
                                                                                     "&x;</Title>"), 422, "DTD"),
    (landslide_xml([SHINJUKU + ("発表",)], T0).replace('<?xml version="1.0" encoding="UTF-8"?>',
     '<?xml version="1.0"?><!DOCTYPE Report SYSTEM "file:///etc/passwd">'), 422, "DTD"),
    (landslide_xml([SHINJUKU + ("発表",)], T0).replace('xmlns="http://xml.kishou.go.jp/jmaxml1/" ', ""), 422,
     "not a JMA XML report"),
    ('<Report xmlns="http://example.org/jma-lookalike/"><Control/></Report>', 422, "CAP"),
    (landslide_xml([("1399900", "架空村", "発表")], T0), 422, "unknown area code 1399900"),
    (landslide_xml([], T0, info_type="取消").replace("<EventID>東京都土砂災害警戒情報", "<EventID>未発表の情報"), 422,
     "取消 of a telegram that is not in force"),
    ("shared:jma/17_03_07_190529_VXWW50.xml", 422, "none of the telegram's"),  # read when the test runs
])
async def test_hostile_telegrams_are_refused_and_change_nothing(client, payload, status, needle):
    if payload.startswith("shared:"):  # a real telegram: skips with the reason when ../shared/data is absent
        payload = shared_file(payload.removeprefix("shared:")).read_bytes().decode()
    await client.post("/v1/closures", data=landslide_xml([("1310100", "千代田区", "発表")], T0).encode(), headers=XML)
    before = await closures(client)
    r = await client.post("/v1/closures", data=payload.encode(), headers=XML)
    assert r.status == status and r.content_type == "application/problem+json"
    prob = await r.json()
    assert needle in prob["detail"], prob
    assert await closures(client) == before


async def test_fifty_megabytes_are_refused(client):
    before = await closures(client)
    big = landslide_xml([SHINJUKU + ("発表",)], T0).encode() + b"<!--" + b"x" * (50 * MB) + b"-->"
    r = await client.post("/v1/closures", data=big, headers=XML)
    assert r.status == 413 and r.content_type == "application/problem+json"
    assert await closures(client) == before


async def test_tokyo_sample_reports_every_closure_and_cap_still_works(client):
    raw = shared_file("jma/15_13_01_161226_VPWW54.xml").read_bytes()
    r = await client.post("/v1/closures", data=raw, headers=XML)
    body = await r.json()
    assert r.status == 201 and len(body["accepted"]) == 35 and "unknown_areas" not in body
    cap = ('<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x1</identifier><sender>s</sender>'
           "<sent>2026-11-24T06:00:00+09:00</sent><status>Actual</status><msgType>Alert</msgType>"
           "<info><severity>Severe</severity><area><areaDesc>a</areaDesc><circle>35.7317,139.7286 0.1</circle>"
           "</area></info></alert>")
    r = await client.post("/v1/closures", data=cap.encode(), headers=XML)
    assert r.status == 201 and (await r.json())["accepted"][0]["id"] == "cap:s:x1"


def test_cli_imports_into_the_store(tmp_path, areas_file, capsys):
    from maas.cli import main

    f = tmp_path / "dosha.xml"
    f.write_text(landslide_xml([SHINJUKU + ("発表",)], T0))
    assert main(["closures", "import", str(f), "--data-dir", str(tmp_path / "d"), "--areas", str(areas_file)]) == 0
    out = capsys.readouterr().out.strip()
    assert out == "applied: 1 closure(s) stored, 0 lifted (version 1)"
    from maas.disruptions.closure_store import SqliteClosureStore
    import asyncio

    stored = asyncio.run(SqliteClosureStore(tmp_path / "d" / "closures.sqlite3").load())
    assert list(stored) == [LANDSLIDE] and stored[LANDSLIDE]["warning"]["area_name"] == "新宿区"
    bad = tmp_path / "bad.xml"
    bad.write_text(landslide_xml([("1399900", "架空村", "発表")], T0))
    assert main(["closures", "import", str(bad), "--data-dir", str(tmp_path / "d"), "--areas", str(areas_file)]) == 1
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and line.startswith("REJECTED (Body/Warning/Item[0]/Area/Code): unknown area code 1399900")
    assert list(asyncio.run(SqliteClosureStore(tmp_path / "d" / "closures.sqlite3").load())) == [LANDSLIDE]
