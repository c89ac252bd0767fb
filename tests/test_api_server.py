"""`maas serve --workers 2 --redis URL` as a real process tree: both workers answer on one port (SO_REUSEPORT),
each with its own Services over the built-in sample, sharing bookings through Redis; SIGTERM ends open event
streams cleanly and exits 0. Several workers without Redis are refused."""
from __future__ import annotations

import datetime as dt

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KEYS = {"adm-key": {"role": "admin", "name": "root"}, "pk-key": {"role": "partner", "name": "p"}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, key: str | None = None, timeout: float = 30.0) -> tuple[int, dict]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}", "Connection": "close"} if key
                                 else {"Connection": "close"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def post(url: str, body: dict, key: str, idem: str) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json", "Idempotency-Key": idem,
        "Connection": "close"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def server(tmp_path, redis_url):
    yield from serve(tmp_path, ["--redis", redis_url])


@pytest.fixture
def redis_server(tmp_path, redis_url):
    yield from serve(tmp_path, ["--redis", redis_url])


def serve(tmp_path: Path, extra: list[str], keys: dict | None = None, log: Path | None = None):
    """``log``: write the server's output there instead of a pipe nobody drains (busy tests log a lot)."""
    port = free_port()
    key_file = tmp_path / "keys.json"
    key_file.write_text(json.dumps(keys or KEYS))
    env = {**os.environ, "MAAS_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "maas.cli", "serve", "--workers", "2", "--port", str(port),
                             "--keys", str(key_file), "--data-dir", str(tmp_path / "data"), *extra],
                            cwd=ROOT, env=env, stdout=open(log, "wb") if log else subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    pids: set[int] = set()
    while time.monotonic() < deadline and len(pids) < 2:
        if proc.poll() is not None:
            out = log.read_bytes() if log else proc.stdout.read()
            pytest.fail(f"maas serve exited early: {out.decode()[-3000:]}")
        try:
            status, body = get(f"{base}/readyz", timeout=1)
            if status == 200:
                pids.add(body["pid"])
        except OSError:
            time.sleep(0.3)
    try:
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the supervisor stops its workers (SIGKILL would orphan them)
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def test_two_workers_share_the_port_and_stop_gracefully(server):
    proc, base = server
    pids = {get(f"{base}/readyz")[1]["pid"] for _ in range(40)}
    assert len(pids) == 2 and proc.pid not in pids  # two worker processes, fresh connections spread over both
    status, body = get(f"{base}/v1/stops?q=tochomae", "pk-key")
    assert status == 200 and body["stops"][0]["name_en"] == "Tochomae"
    status, body = get(f"{base}/v1/plan?from=toei-subway:P-tochomae&to=toei-subway:P-tochomae", "pk-key")
    assert status in (200, 422)
    status, body = get(f"{base}/v1/plan?from=nowhere", "pk-key")
    assert status == 422 and body["field"] == "to"

    stream = urllib.request.urlopen(urllib.request.Request(f"{base}/v1/events",
                                                           headers={"Authorization": "Bearer pk-key"}), timeout=60)
    assert stream.readline() == b"retry: 3000\n"
    proc.send_signal(signal.SIGTERM)
    rest = stream.read().decode()  # the stream ends (not cut) once the worker shuts down
    assert "event: shutdown" in rest
    assert proc.wait(60) == 0
    logs = proc.stdout.read().decode().splitlines()
    access = [json.loads(line) for line in logs if line.startswith("{") and '"maas.access"' in line]
    assert access and all(len(rec["request_id"]) == 32 and "duration_ms" in rec for rec in access)


def test_two_workers_share_bookings_through_redis(redis_server):
    """A booking made through one worker is readable through both: the store, not the process, holds it."""
    import uuid

    proc, base = redis_server
    jst = dt.timezone(dt.timedelta(hours=9))
    tomorrow = (dt.datetime.now(jst) + dt.timedelta(days=1)).replace(hour=10, minute=0, second=0,
                                                                      microsecond=0).isoformat()
    status, body = get(f"{base}/v1/plan?from=toei-subway:P-tochomae&to=35.697957,139.707434"
                       f"&depart_at={tomorrow.replace('+', '%2B')}&num=1", "pk-key")
    assert status == 200, body
    if not body["itineraries"]:
        pytest.skip("the sample has no itinerary for this pair")
    itinerary = body["itineraries"][0]
    idem = uuid.uuid4().hex
    status, offer = post(f"{base}/v1/offers", {"itinerary": itinerary}, "pk-key", idem)
    assert status == 201, offer
    status, booking = post(f"{base}/v1/bookings", {"offer_id": offer["id"],
                                                   "payment": {"card_number": "4242424242424242"}}, "pk-key", idem)
    assert status == 201, booking
    seen = {get(f"{base}/readyz")[1]["pid"] for _ in range(30)}
    assert len(seen) == 2
    for _ in range(10):
        status, got = get(f"{base}/v1/bookings/{booking['id']}", "pk-key")
        assert status == 200 and got["state"] == "CONFIRMED"


def test_several_workers_need_redis(tmp_path):
    out = subprocess.run([sys.executable, "-m", "maas.cli", "serve", "--workers", "2", "--port", str(free_port()),
                          "--data-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode != 0 and "--redis" in out.stderr
