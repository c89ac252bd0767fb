"""Closure parsers: our JSON, CAP 1.2 and GTFS-RT Alerts, including malformed and hostile input."""
from __future__ import annotations

import datetime as dt

import orjson
import pytest
from google.transit import gtfs_realtime_pb2 as pb

from feeds.cap import cap_closure_id, parse_cap
from feeds.closure_json import (MAX_PAYLOAD_BYTES, ClosureError, closure_from_dict, closure_to_json,
                                parse_closure_json)
from feeds.gtfsrt_alerts import alerts_feed, alerts_feed_json, parse_gtfsrt_alerts
from routing.geo import haversine_m

DAIMON = (35.65687, 139.754679)  # lat, lon
SQUARE = [[139.750, 35.654], [139.759, 35.654], [139.759, 35.660], [139.750, 35.660], [139.750, 35.654]]


def _json(**kw) -> bytes:
    body = {"id": "c1", "targets": {"stops": ["toei-subway:A-09"]}, "start": "2026-11-24T07:00:00+09:00"}
    body.update(kw)
    return orjson.dumps(body)


# ------------------------------------------------------------------------------------------------ our JSON

def test_json_round_trip_all_target_kinds():
    body = {"id": "x-1", "source": "tokyo-dmp", "start": "2026-11-24T07:00:00+09:00",
            "end": "2026-11-24T12:00:00+09:00", "severity": "warning", "cause": "weather", "effect": "NO_SERVICE",
            "message": {"ja": "大門駅付近立入禁止", "en": "Daimon area closed"},
            "targets": {"stops": ["a:1"], "stations": ["a:P1"], "routes": ["a:R"],
                        "segments": [{"route": "a:R", "from_stop": "a:1", "to_stop": "a:2"}],
                        "areas": [{"type": "Polygon", "coordinates": [SQUARE]},
                                  {"type": "Circle", "center": [139.75, 35.65], "radius_m": 300}],
                        "walk_areas": [{"type": "MultiPolygon", "coordinates": [[SQUARE]]}]}}
    (c,) = parse_closure_json(orjson.dumps(body))
    assert c.stops == ("a:1",) and c.stations == ("a:P1",) and c.routes == ("a:R",)
    assert c.segments[0].to_stop == "a:2" and c.cause == "WEATHER" and c.severity == "warning"
    assert [a.streets_only for a in c.areas] == [False, False, True]
    assert c.areas[1].circle is not None and c.areas[1].circle.radius_m == 300
    assert c.end - c.start == dt.timedelta(hours=5)
    again = closure_from_dict(orjson.loads(orjson.dumps(closure_to_json(c))))
    assert again == c


def test_circle_polygon_contains_the_circle():
    (c,) = parse_closure_json(_json(targets={"areas": [{"type": "Circle", "center": [139.75, 35.65],
                                                         "radius_m": 500}]}))
    ring = list(c.areas[0].geometry.exterior.coords)
    d = [haversine_m(35.65, 139.75, lat, lon) for lon, lat in ring]
    assert min(d) >= 499.0 and max(d) < 505.0  # circumscribed: never smaller than the circle


def test_naive_time_is_tokyo_and_end_must_follow_start():
    (c,) = parse_closure_json(_json(start="2026-11-24T07:00:00"))
    assert c.start.utcoffset() == dt.timedelta(hours=9)
    with pytest.raises(ClosureError) as e:
        parse_closure_json(_json(end="2026-11-24T06:00:00+09:00"))
    assert e.value.field == "end"


@pytest.mark.parametrize("payload,field,words", [
    (b"{not json", None, "not valid JSON"),
    (_json(targets={}), "targets", "at least one"),
    (_json(targets={"stops": "A-09"}), "targets.stops", "list of ids"),
    (_json(targets={"stops": ["bad id with spaces"]}), "targets.stops[0]", "not a valid id"),
    (_json(targets={"areas": [{"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}]}),
     "targets.areas[0]", "Self-intersection"),
    (_json(targets={"areas": [{"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0]]]}]}),
     "targets.areas[0].coordinates[0]", "at least 4"),
    (_json(targets={"areas": [{"type": "Polygon", "coordinates": [[[35.6, 139.7], [35.7, 139.7], [35.7, 139.8],
                                                                   [35.6, 139.7]]]}]}),
     "targets.areas[0].coordinates[0][0]", "lon, lat"),
    (_json(targets={"areas": [{"type": "Circle", "center": [139.7, 35.6], "radius_m": -5}]}),
     "targets.areas[0].radius_m", "radius_m"),
    (_json(targets={"areas": [{"type": "LineString", "coordinates": [[0, 0], [1, 1]]}]}),
     "targets.areas[0]", "unsupported area type"),
    (_json(severity="apocalyptic"), "severity", "one of"),
    (_json(start="yesterday"), "start", "ISO 8601"),
    (_json(targets={"segments": [{"route": "r", "from_stop": "a", "to_stop": "a"}]}), "targets.segments[0]",
     "two different stops"),
])
def test_json_bad_input_is_a_clear_error(payload, field, words):
    with pytest.raises(ClosureError) as e:
        parse_closure_json(payload)
    assert e.value.field == field
    assert words in e.value.detail


def test_json_huge_payload_and_too_many_vertices_refused():
    with pytest.raises(ClosureError, match="too large"):
        parse_closure_json(b" " * (MAX_PAYLOAD_BYTES + 1))
    ring = [[139.7 + i * 1e-6, 35.6] for i in range(30_000)] + [[139.7, 35.7], [139.7, 35.6]]
    with pytest.raises(ClosureError, match="too many vertices"):
        parse_closure_json(_json(targets={"areas": [{"type": "Polygon", "coordinates": [ring]}]}))


def test_json_list_reports_the_failing_item():
    bad = orjson.dumps({"closures": [orjson.loads(_json()), {"targets": {"stops": [1]}}]})
    with pytest.raises(ClosureError) as e:
        parse_closure_json(bad)
    assert e.value.field == "closures[1].targets.stops[0]"


# ------------------------------------------------------------------------------------------------ CAP 1.2

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"


def cap_xml(identifier: str, msg_type: str = "Alert", refs: str = "", area: str | None = None,
            expires: str | None = "2026-11-24T12:00:00+09:00", status: str = "Actual") -> str:
    exp = f"<expires>{expires}</expires>" if expires else ""
    area = area if area is not None else (
        "<polygon>35.654,139.750 35.654,139.759 35.660,139.759 35.660,139.750 35.654,139.750</polygon>")
    info = "" if msg_type == "Cancel" else f"""
  <info><language>ja-JP</language><category>Geo</category><event>地震</event><urgency>Immediate</urgency>
    <severity>Extreme</severity><certainty>Observed</certainty>
    <effective>2026-11-24T07:00:00+09:00</effective>{exp}
    <headline>大門駅周辺 立入禁止</headline><description>建物倒壊の恐れ</description>
    <area><areaDesc>大門</areaDesc>{area}</area></info>
  <info><language>en-US</language><category>Geo</category><event>Earthquake</event><urgency>Immediate</urgency>
    <severity>Extreme</severity><certainty>Observed</certainty>
    <effective>2026-11-24T07:00:00+09:00</effective>{exp}<headline>Daimon area closed</headline>
    <area><areaDesc>Daimon</areaDesc>{area}</area></info>"""
    references = f"<references>{refs}</references>" if refs else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="{CAP_NS}"><identifier>{identifier}</identifier><sender>bousai@metro.tokyo.jp</sender>
  <sent>2026-11-24T06:55:00+09:00</sent><status>{status}</status><msgType>{msg_type}</msgType>
  <scope>Public</scope>{references}{info}</alert>"""


def test_cap_alert_polygon_lat_lon_order_and_texts():
    m = parse_cap(cap_xml("EQ-1", expires=None))
    c = m.closure
    assert m.msg_type == "Alert" and c is not None and c.id == cap_closure_id("bousai@metro.tokyo.jp", "EQ-1")
    minx, miny, maxx, maxy = c.areas[0].geometry.bounds
    assert (minx, miny, maxx, maxy) == pytest.approx((139.750, 35.654, 139.759, 35.660))  # lon/lat after swap
    assert c.severity == "severe" and c.message_ja.startswith("大門駅周辺") and c.message_en == "Daimon area closed"
    assert c.start == dt.datetime(2026, 11, 24, 7, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert c.end is None  # no <expires>: open-ended


def test_cap_circle_in_km_and_update_cancel_references():
    m = parse_cap(cap_xml("EQ-2", "Update", refs="bousai@metro.tokyo.jp,EQ-1,2026-11-24T06:50:00+09:00",
                          area=f"<circle>{DAIMON[0]},{DAIMON[1]} 0.3</circle>"))
    assert m.references[0].identifier == "EQ-1" and m.closure.cap.supersedes == ("EQ-1",)
    circle = m.closure.areas[0].circle
    assert circle.lat == DAIMON[0] and circle.lon == DAIMON[1] and circle.radius_m == pytest.approx(300.0)
    cancel = parse_cap(cap_xml("EQ-3", "Cancel", refs="bousai@metro.tokyo.jp,EQ-2,2026-11-24T07:10:00+09:00"))
    assert cancel.closure is None and cancel.references[0].identifier == "EQ-2"


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol3;</identifier></alert>"""
XXE = """<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&x;</identifier></alert>"""


@pytest.mark.parametrize("xml,words", [
    ("<alert><unclosed></alert>", "not well-formed"),
    (BILLION_LAUGHS, "DTD"),
    (XXE, "DTD"),
    ("<alert xmlns='urn:example'/>", "not a CAP 1.2 alert"),
    (cap_xml("T", status="Test"), "only Actual"),
    (cap_xml("U", "Update"), "references"),
    (cap_xml("S", area="<polygon>35.654,139.750 35.660,139.759 35.654,139.759 35.660,139.750 "
                       "35.654,139.750</polygon>"), "Self-intersection"),
    (cap_xml("C", area="<circle>35.65,139.75</circle>"), "radius_km"),
    (cap_xml("P", area="<polygon>139.75,35.65 139.76,35.65 139.76,35.66 139.75,35.65</polygon>"), "latitude first"),
    (cap_xml("N", area=""), "no <area>"),
    (cap_xml("E", expires="2026-11-24T06:00:00+09:00"), "after start"),
])
def test_cap_malformed_or_hostile_is_a_clear_error(xml, words):
    with pytest.raises(ClosureError) as e:
        parse_cap(xml)
    assert words in str(e.value)


def test_cap_huge_payload_refused():
    with pytest.raises(ClosureError, match="too large"):
        parse_cap(b"<alert>" + b"x" * MAX_PAYLOAD_BYTES + b"</alert>")


# ------------------------------------------------------------------------------------------------ GTFS-RT

def _feed(*alerts: tuple[str, dict], incremental: bool = False) -> bytes:
    msg = pb.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    if incremental:
        msg.header.incrementality = pb.FeedHeader.DIFFERENTIAL
    for eid, spec in alerts:
        ent = msg.entity.add()
        ent.id = eid
        a = ent.alert
        for s in spec.get("stops", ()):
            a.informed_entity.add().stop_id = s
        for r in spec.get("routes", ()):
            a.informed_entity.add().route_id = r
        for t in spec.get("trips", ()):
            a.informed_entity.add().trip.trip_id = t
        for s, e in spec.get("periods", ()):
            p = a.active_period.add()
            p.start = s
            if e:
                p.end = e
        a.effect = spec.get("effect", pb.Alert.NO_SERVICE)
        tr = a.header_text.translation.add()
        tr.text, tr.language = "運転見合わせ", "ja"
    return msg.SerializeToString()


def test_gtfsrt_no_service_on_route_and_stop_with_namespace():
    t0 = 1_795_989_600  # 2026-11-24T07:00+09:00
    data = _feed(("r", {"routes": ["A"], "periods": [(t0, t0 + 3600)]}), ("s", {"stops": ["E-20"]}),
                 ("two", {"stops": ["I-04"], "periods": [(t0, t0 + 60), (t0 + 600, None)]}))
    up = parse_gtfsrt_alerts(data, namespace="toei-subway")
    by_id = {c.id: c for c in up.closures}
    r = by_id["gtfs-rt:toei-subway:r"]
    assert r.routes == ("toei-subway:A",) and r.blocking and r.end - r.start == dt.timedelta(hours=1)
    s = by_id["gtfs-rt:toei-subway:s"]
    assert s.stops == ("toei-subway:E-20",) and s.end is None and s.message_ja == "運転見合わせ"
    assert {"gtfs-rt:toei-subway:two/p0", "gtfs-rt:toei-subway:two/p1"} <= set(by_id)
    assert up.full_dataset


def test_gtfsrt_effects_detour_stop_moved_reduced():
    data = _feed(("d", {"stops": ["x"], "effect": pb.Alert.DETOUR}), ("m", {"stops": ["y"],
                 "effect": pb.Alert.STOP_MOVED}), ("r", {"routes": ["z"], "effect": pb.Alert.REDUCED_SERVICE}))
    got = {c.id.rsplit(":", 1)[1]: c for c in parse_gtfsrt_alerts(data).closures}
    assert got["d"].blocking and got["m"].blocking and not got["r"].blocking
    assert got["r"].effect == "REDUCED_SERVICE"


@pytest.mark.parametrize("payload,words", [
    (b"\x00\xff garbage \x12\x34", "not a GTFS-Realtime FeedMessage"),
    (pb.TripUpdate(trip=pb.TripDescriptor(trip_id="t")).SerializeToString(), "not a GTFS-Realtime"),
    (b"", "missing required fields"),
    (_feed(("e", {})), "names no stop"),
    (_feed(("b", {"stops": ["bad id"]})), "not a valid id"),
    (b"\x0a" * (MAX_PAYLOAD_BYTES + 1), "too large"),
])
def test_gtfsrt_wrong_protobuf_is_a_clear_error(payload, words):
    with pytest.raises(ClosureError) as e:
        parse_gtfsrt_alerts(payload)
    assert words in str(e.value)


def test_alerts_feed_round_trips_through_parser_and_json():
    (c,) = parse_closure_json(_json(end="2026-11-24T12:00:00+09:00",
                                    message={"ja": "大門駅閉鎖", "en": "Daimon closed"},
                                    targets={"stops": ["toei-subway:A-09"], "routes": ["toei-subway:E"]}))
    msg = alerts_feed([c], timestamp=1_795_990_000)
    back = parse_gtfsrt_alerts(msg.SerializeToString(), source="ours").closures[0]
    assert back.stops == c.stops and back.routes == c.routes
    assert back.start == c.start and back.end == c.end and back.message_en.startswith("Daimon closed")
    js = alerts_feed_json(msg)
    assert js["header"]["incrementality"] == "FULL_DATASET"
    assert js["entity"][0]["alert"]["effect"] == "NO_SERVICE"
    assert {"stop_id": "toei-subway:A-09"} in js["entity"][0]["alert"]["informed_entity"]
