"""Two hosts on one Redis Cluster: two `maas serve` processes with separate data folders (nothing shared but the
cluster, the secrets and the key prefix) behave as one service. A feed published on A is planned on by B; a
closure posted on B is avoided by A; a booking made on A is read and cancelled on B; B's event stream carries
A's events; a partner's rate limit is one bucket across both."""
from __future__ import annotations

import json
import queue
import secrets
import threading
import time
import urllib.request
import uuid

import pytest

from api_support_http import book_on_sample, get, post, serve, wait_ready
from test_api_feeds import feed_zip

PARTNER, ADMIN, DISASTER, LIMITED = "pk-two", "adm-two", "dis-two", "pk-limited"
KEYS = {PARTNER: {"role": "partner", "name": "two-hosts", "rate": 10000, "burst": 10000},
        ADMIN: {"role": "admin", "name": "ops"},
        DISASTER: {"role": "disaster", "name": "tokyo-disaster-system"},
        LIMITED: {"role": "partner", "name": "limited", "rate": 0.01, "burst": 4}}
PLAN = "/v1/plan?from=test:A&to=test:C&depart_at=2026-11-24T07:50:00%2B09:00"
CLOSE_B = {"id": "flood-b", "start": "2026-11-24T00:00:00+09:00", "targets": {"stops": ["test:B"]},
           "message": {"ja": "冠水", "en": "Flooding"}, "cause": "WEATHER"}
FOLLOW_S = 10.0  # generous on a shared 2-core machine; the promise measured in benchmarks is 2 s


def _eventually(check, timeout: float = FOLLOW_S):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _bus_departures(base: str) -> list[str] | None:
    """Bus departures A→C on the tiny feed's day (None: the operator's feed is not there)."""
    status, body = get(base + PLAN, PARTNER)
    if status == 409 and body.get("type", "").endswith("closed-by-closure"):
        return []
    if status != 200:
        return None
    return sorted({leg["departure"][11:16] for it in body["itineraries"] for leg in it["legs"]
                   if leg["mode"] == "BUS"}) or None


def _publish(base: str, data: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(f"{base}/v1/feeds/test", data=data, method="POST", headers={
        "Authorization": f"Bearer {ADMIN}", "Content-Type": "application/zip", "Connection": "close"})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture(scope="module")
def hosts(tmp_path_factory, request):
    url = request.getfixturevalue("redis_cluster_url")
    env = {"MAAS_REDIS_PREFIX": f"two-{uuid.uuid4().hex[:8]}:", "MAAS_TICKET_SIGNING_KEY": secrets.token_hex(24),
           "MAAS_CARD_FINGERPRINT_KEY": secrets.token_hex(24)}
    root = tmp_path_factory.mktemp("two-hosts")
    a = serve(root / "a", ["--redis", url], KEYS, dev=False, env=env)
    b = serve(root / "b", ["--redis", url], KEYS, dev=False, env=env)
    try:
        wait_ready(a, timeout=180)
        wait_ready(b, timeout=180)
        yield a.base, b.base
    finally:
        a.stop()
        b.stop()


def test_a_publish_is_planned_on_by_b_and_a_closure_on_b_is_avoided_by_a(hosts):
    a, b = hosts
    status, body = _publish(a, feed_zip())
    assert status == 201, body
    assert _eventually(lambda: _bus_departures(b)), "B never planned on the feed A published"
    assert "08:00" in _bus_departures(b)
    assert _eventually(lambda: _bus_departures(a))
    status, body = post(f"{b}/v1/closures", CLOSE_B, DISASTER)
    assert status == 201, body
    assert _eventually(lambda: _bus_departures(a) == []), "A still plans buses through the stop B closed"
    status, listed = get(f"{a}/v1/closures", PARTNER)
    assert status == 200 and "flood-b" in [c["id"] for c in listed["closures"]], listed


def _stream(base: str, key: str, out: queue.Queue, stop: threading.Event) -> None:
    req = urllib.request.Request(f"{base}/v1/events", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        out.put(("open", None))
        while not stop.is_set():
            line = resp.readline()
            if not line:
                return
            if line.startswith(b"data:"):
                out.put(("data", json.loads(line[5:])))


def test_a_booking_is_read_and_cancelled_on_b_and_b_streams_a_events(hosts):
    a, b = hosts
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    reader = threading.Thread(target=_stream, args=(b, PARTNER, events, stop), daemon=True)
    reader.start()
    assert events.get(timeout=30)[0] == "open"
    time.sleep(0.5)  # B's worker subscription is live once the stream said so; a margin for the node connection
    booking = book_on_sample(a, PARTNER)
    assert booking["state"] == "CONFIRMED"
    status, seen = get(f"{b}/v1/bookings/{booking['id']}", PARTNER)
    assert status == 200 and seen["state"] == "CONFIRMED" and seen["id"] == booking["id"], seen
    status, cancelled = post(f"{b}/v1/bookings/{booking['id']}/cancel", {}, PARTNER)
    assert status == 200, cancelled
    status, after = get(f"{a}/v1/bookings/{booking['id']}", PARTNER)
    assert status == 200 and after["state"] == "CANCELLED", after
    states = []
    deadline = time.monotonic() + FOLLOW_S
    while time.monotonic() < deadline and not {"CONFIRMED", "CANCELLED"} <= set(states):
        try:
            kind, data = events.get(timeout=0.5)
        except queue.Empty:
            continue
        if kind == "data" and data.get("booking_id") == booking["id"]:
            states.append(data["state"])
    stop.set()
    assert "CONFIRMED" in states, f"B's stream did not carry A's confirmation: {states}"  # published by A
    assert "CANCELLED" in states, states


def test_rate_limit_is_one_bucket_across_hosts(hosts):
    a, b = hosts
    answers = [get(f"{base}/v1/closures", LIMITED, with_headers=True)[0] for base in (a, b, a, b, a, b)]
    assert answers[:4] == [200, 200, 200, 200] and answers[4:] == [429, 429], answers
