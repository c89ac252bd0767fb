"""One example per model, shown in the OpenAPI document beside the schema (tests decode each into its model)."""
from __future__ import annotations

from api.models import feeds, ops, search

_ROUTE = {"id": "toei-subway:E", "short_name": "E", "long_name": "大江戸線", "color": "B6007A",
          "text_color": "FFFFFF", "type": 1}
_GEOMETRY = {"type": "LineString", "coordinates": [[139.692677, 35.690607], [139.7019, 35.6862],
                                                   [139.754855, 35.656455]]}
_LEG = {
    "mode": "SUBWAY", "operator": "toei-subway", "agency": {"id": "toei-subway:toei", "name": "東京都交通局"},
    "route": _ROUTE, "trip_id": "toei-subway:E-WD-0812-1", "service_date": "2026-11-24", "headsign": "両国",
    "from": {"lat": 35.690607, "lon": 139.692677, "stop_id": "toei-subway:E-28-1", "name": "都庁前",
             "name_en": "Tochomae", "sequence": 1},
    "to": {"lat": 35.656455, "lon": 139.754855, "stop_id": "toei-subway:E-20-1", "name": "大門",
           "name_en": "Daimon", "sequence": 9},
    "departure": "2026-11-24T08:12:00+09:00", "arrival": "2026-11-24T08:31:00+09:00",
    "intermediate_stops": [{"stop_id": "toei-subway:E-27-1", "name": "新宿西口", "name_en": "Shinjuku-nishiguchi",
                            "lat": 35.6932, "lon": 139.6991, "arrival": "2026-11-24T08:14:00+09:00",
                            "departure": "2026-11-24T08:14:30+09:00"}],
    "distance_m": 9870, "duration_s": 1140, "booking_required": False, "geometry": _GEOMETRY,
}
_ITINERARY = {"id": "3f1c2a9b8d7e6f50", "departure": "2026-11-24T08:12:00+09:00",
              "arrival": "2026-11-24T08:31:00+09:00", "duration_s": 1140, "transfers": 0, "walk_distance_m": 0,
              "walking": "straight_line", "legs": [_LEG]}
_STOP = {"id": "toei-subway:P-tochomae", "name": "都庁前", "name_en": "Tochomae", "name_kana": "とちょうまえ",
         "name_romaji": "tochoumae", "lat": 35.690607, "lon": 139.692677, "type": "station",
         "parent_station": None, "operator": "toei-subway", "match": "exact"}
_DEPARTURE = {"departure": "2026-11-24T08:12:00+09:00", "stop_id": "toei-subway:E-28-1",
              "trip_id": "toei-subway:E-WD-0812-1", "headsign": "両国", "mode": "SUBWAY", "operator": "toei-subway",
              "route": {k: v for k, v in _ROUTE.items() if k != "type"}, "booking_required": False,
              "status": "scheduled", "closure": None}
_TRIP_STOP = {"stop_id": "toei-subway:E-28-1", "name": "都庁前", "name_en": "Tochomae", "lat": 35.690607,
              "lon": 139.692677, "sequence": 1, "arrival": "2026-11-24T08:12:00+09:00",
              "departure": "2026-11-24T08:12:00+09:00", "pickup": True, "drop_off": True}

EXAMPLES: dict[type, dict] = {
    search.Itinerary: _ITINERARY,
    search.Leg: _LEG,
    search.PlanResponse: {"itineraries": [_ITINERARY],
                          "page": {"earlier": "earlier:1795477800", "later": "later:1795479180"}, "notices": []},
    search.Stop: _STOP,
    search.StopsResponse: {"stops": [_STOP]},
    search.Departure: _DEPARTURE,
    search.DeparturesResponse: {"stop_id": "toei-subway:P-tochomae", "at": "2026-11-24T08:00:00+09:00",
                                "departures": [_DEPARTURE], "closed": False,
                                "page": {"later": "later:1795478520.1"}, "notices": []},
    search.Trip: {"trip_id": "toei-subway:E-WD-0812-1", "service_date": "2026-11-24", "mode": "SUBWAY",
                  "operator": "toei-subway", "agency": {"id": "toei-subway:toei", "name": "東京都交通局"},
                  "route": _ROUTE, "headsign": "両国", "booking_required": False,
                  "departure": "2026-11-24T08:12:00+09:00", "arrival": "2026-11-24T08:31:00+09:00",
                  "distance_m": 9870, "stops": [_TRIP_STOP], "geometry": _GEOMETRY},
}

_VERSION = {"operator": "toei-bus", "version": "20261124T063000Z-3f1c2a9b", "sha256": "9" * 64,
            "created": "2026-11-24T06:30:00+00:00", "errors": 0, "warnings": 1, "active": True, "size": 759908}
_REPORT = {"feed": "toei-bus", "ok": True, "errors": 0, "warnings": 1, "problems": [
    {"severity": "warning", "file": "translations.txt", "row": None, "field": "stop_name",
     "message": "12 of 3695 stops and stations have an English name: stop_name_en is empty for them"}]}
EXAMPLES.update({
    feeds.Published: {"version": _VERSION, "report": _REPORT, "swap_s": 2.314, "disrupted": 0},
    feeds.FeedList: {"feeds": [{"operator": "toei-bus", "live": True, "active_version": _VERSION,
                                "source": "published", "validation": {"errors": 0, "warnings": 1}},
                               {"operator": "toei-subway", "live": True, "active_version": None,
                                "source": "configured", "validation": {"errors": 0, "warnings": 0}}]},
    feeds.VersionList: {"operator": "toei-bus", "versions": [_VERSION]},
})
EXAMPLES.update({
    ops.Health: {"status": "ok"},
    ops.Readiness: {"status": "ready", "feeds": ["toei-subway", "toei-bus", "shuttle-nishishinjuku"], "keys": 7,
                    "pid": 4242, "planner": "warm", "service_days": ["2026-12-01", "2026-12-02"], "waiting_for": [],
                    "bookings": True, "closures": True},
})

# ---- reservations ------------------------------------------------------------------------------------------
from api.models import bookings  # noqa: E402

_RIDE = {"trip_id": "toei-subway:E-WD-0812-1", "service_date": "2026-11-24", "route_id": "toei-subway:E",
         "from": {"stop_id": "toei-subway:E-28-1", "sequence": 1}, "to": {"stop_id": "toei-subway:E-20-1",
                                                                          "sequence": 9},
         "departure": "2026-11-24T08:12:00+09:00", "arrival": "2026-11-24T08:31:00+09:00", "distance_m": 9870}
_OFFER = {"id": "off_08eec3e8b121ba484ad4", "itinerary_id": "3f1c2a9b8d7e6f50",
          "created_at": "2026-11-24T08:00:00+09:00", "expires_at": "2026-11-24T08:05:00+09:00",
          "passengers": {"adult": 1, "child": 1},
          "quote": {"total": 420, "currency": "JPY", "per_operator": {"toei-subway": 420},
                    "legs": [{"index": 0, "operator": "toei-subway", "mode": "SUBWAY", "adult_fare": 280,
                              "child_fare": 140, "amount": 420, "medium": "ticket", "basis": "distance band 10 km",
                              "ride": _RIDE}]}}
_TICKET = {"ticket_id": "toei-subway-41956F1386490CBF", "operator": "toei-subway",
           "hold_id": "bk_3b1066772fd31201bb78e66a:0", "validation_code": "210457",
           "qr_payload": "MAAS1:YT0xfGM9MXxkYXRl….XMdtpUcSyDiKMywM", "valid_from": "2026-11-24T07:42:00+09:00",
           "valid_until": "2026-11-24T10:31:00+09:00", "fare": 420}
_BOOKING = {"id": "bk_3b1066772fd31201bb78e66a", "state": "CONFIRMED", "offer_id": "off_08eec3e8b121ba484ad4",
            "reason": None, "created_at": "2026-11-24T08:00:10+09:00", "updated_at": "2026-11-24T08:00:11+09:00",
            "total": 420, "currency": "JPY", "per_operator": {"toei-subway": 420},
            "passengers": {"adult": 1, "child": 1}, "payment": {"status": "captured", "captured": 420, "refunded": 0},
            "legs": [{"index": 0, "operator": "toei-subway", "state": "confirmed", "amount": 420,
                      "departure": "2026-11-24T08:12:00+09:00", "ticket": _TICKET, "refund": None}],
            "cancellations": []}
EXAMPLES.update({
    bookings.OfferRequest: {"itinerary": {"legs": [{"mode": "SUBWAY", "trip_id": "toei-subway:E-WD-0812-1",
                                                    "service_date": "2026-11-24", "from": {"sequence": 1},
                                                    "to": {"sequence": 9}}]},
                            "passengers": {"adult": 1, "child": 1}, "medium": "ticket"},
    bookings.Offer: _OFFER,
    bookings.BookingRequest: {"offer_id": "off_08eec3e8b121ba484ad4", "payment": {"token": "tok_visa"}},
    bookings.Booking: _BOOKING,
    bookings.BookingPage: {"bookings": [_BOOKING], "next_cursor": None},
    bookings.CancelRequest: {"leg_index": None},
    bookings.Payment: {"id": "auth_4e4d98959f23e2ba778d", "reference": "bk_3b1066772fd31201bb78e66a", "amount": 420,
                       "status": "captured", "captured": 420, "refunded": 0, "card_last4": "4242",
                       "booking_id": "bk_3b1066772fd31201bb78e66a", "currency": "JPY"},
    bookings.Settlement: {"operator": "toei-subway", "date": "2026-11-24", "currency": "JPY", "sales": 420,
                          "refunds": 0, "commission": 21, "payable": 399},
})

# ---- closures ----------------------------------------------------------------------------------------------
from api.models import closures  # noqa: E402

_CLOSURE = {"id": "fire-2026-11-24-shinjuku", "source": "disaster:jma", "start": "2026-11-24T08:00:00+09:00",
            "end": "2026-11-24T12:00:00+09:00", "severity": "severe",
            "message": {"ja": "都庁前駅は閉鎖中です", "en": "Tochomae station is closed"}, "cause": "WEATHER",
            "effect": "NO_SERVICE", "targets": {"stations": ["toei-subway:P-tochomae"],
                                                "areas": [{"type": "Circle", "center": [139.6927, 35.6906],
                                                           "radius_m": 300.0}]}}
EXAMPLES.update({
    closures.ClosureIn: {k: v for k, v in _CLOSURE.items() if k != "source"},
    closures.Closure: _CLOSURE,
    closures.ClosureList: {"closures": [_CLOSURE], "version": 7},
    closures.Applied: {"accepted": [_CLOSURE], "lifted": [], "version": 8},
    closures.FeedMessage: {"header": {"gtfs_realtime_version": "2.0", "incrementality": "FULL_DATASET",
                                      "timestamp": "1795478400"},
                           "entity": [{"id": "fire-2026-11-24-shinjuku", "alert": {
                               "active_period": [{"start": "1795478400", "end": "1795492800"}],
                               "informed_entity": [{"stop_id": "toei-subway:E-28-1"}], "cause": "WEATHER",
                               "effect": "NO_SERVICE", "severity_level": "SEVERE",
                               "header_text": {"translation": [{"text": "都庁前駅は閉鎖中です", "language": "ja"},
                                                               {"text": "Tochomae station is closed",
                                                                "language": "en"}]}}}]},
})

CAP_EXAMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>TMG-2026-1124-001</identifier><sender>bousai@metro.tokyo.example</sender>
  <sent>2026-11-24T08:00:00+09:00</sent><status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
  <info>
    <language>ja</language><category>Fire</category><event>火災</event><urgency>Immediate</urgency>
    <severity>Severe</severity><certainty>Observed</certainty><expires>2026-11-24T12:00:00+09:00</expires>
    <headline>都庁前駅周辺 立入禁止</headline>
    <area><areaDesc>都庁前駅周辺</areaDesc><circle>35.6906,139.6927 0.3</circle></area>
  </info>
</alert>
"""

# ---- realtime ----------------------------------------------------------------------------------------------
from api.models import realtime  # noqa: E402

_REPORT = {"operator": "toei-train", "timestamp": 1790720570, "full_dataset": True, "accepted": True,
           "ignored_out_of_order": False, "streams": ["trip-updates"], "trip_updates": 118, "vehicles": 0,
           "deleted": 0, "matched_trip_updates": 117, "matched_vehicles": 0, "vehicles_at_stops": 0,
           "unmatched_count": 1, "unmatched": [{"entity_id": "100999H0", "kind": "trip_update",
                                                "trip_id": "toei-train:100999H0", "reason": "unknown trip_id"}],
           "version": 42, "stale_on_arrival": False, "detail": None}
_VEHICLE = {"id": "toei-train:100555H0", "operator": "toei-train", "vehicle_id": "100555H0", "label": None,
            "trip_id": "toei-train:100555H0", "route_id": "toei-train:1", "start_date": "20260930",
            "lat": 35.70856, "lon": 139.8044, "bearing": None, "speed": None, "current_status": "STOPPED_AT",
            "current_stop_sequence": 13, "stop": {"id": "toei-train:119", "name": "本所吾妻橋", "distance_m": 0.5},
            "timestamp": 1790720549}
_STATUS = {
    "operator": "toei-train", "known": True, "last_message_at": 1790720571.2, "stale": False,
    "max_age_s": 300.0, "streams": {"trip-updates": {"timestamp": 1790720570, "received_at": 1790720571.2,
                                                     "age_s": 12.0, "entities": 118, "unmatched": 1,
                                                     "stale": False}},
    "accepted": 12, "rejected": 0, "ignored_out_of_order": 1, "last_error": None, "last_report": _REPORT,
    "pulls": [{"url": "https://api.odpt.org/api/v4/gtfs/realtime/toei_odpt_train_trip_update?…",
               "interval_s": 30.0, "fetches": 13, "not_modified": 1, "failures": 0, "last_status": 200,
               "last_attempt": 1790720571.0, "last_success": 1790720571.2, "last_error": None,
               "next_in_s": 30.0}],
    "version": 42}
EXAMPLES.update({
    realtime.IngestReport: _REPORT,
    realtime.RealtimeStatus: _STATUS,
    realtime.RealtimeStatusList: {"operators": [_STATUS], "count": 1},
    realtime.VehicleList: {"vehicles": [_VEHICLE], "count": 1, "stale": [], "expired": 0, "version": 42},
    realtime.RealtimeFeedMessage: {
        "header": {"gtfs_realtime_version": "2.0", "incrementality": "FULL_DATASET", "timestamp": "1790720570"},
        "entity": [{"id": "toei-train:100555H0", "trip_update": {
            "trip": {"trip_id": "toei-train:100555H0", "start_date": "20260930"},
            "stop_time_update": [{"stop_sequence": 14, "arrival": {"time": "1790720640"},
                                  "departure": {"time": "1790720640"}}],
            "timestamp": "1790720553"}}]},
})
