"""Plain-HTTP helpers for tests that run `maas serve` as a real process (stdlib only: they also run in threads and
subprocesses): GET/POST with a key, wait until ready, book a journey on the built-in sample."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest

JST = dt.timezone(dt.timedelta(hours=9))


def _headers(key: str | None, extra: dict | None = None) -> dict:
    h = {"Connection": "close", **(extra or {})}
    if key:
        h["Authorization"] = f"Bearer {key}"
    return h


def get(url: str, key: str | None = None, timeout: float = 30.0, *, with_headers: bool = False):
    """(status, JSON body) — or (status, body, headers) with ``with_headers``."""
    req = urllib.request.Request(url, headers=_headers(key))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            out = resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as err:
        out = err.code, json.loads(err.read()), dict(err.headers)
    return out if with_headers else out[:2]


def post(url: str, body: dict, key: str, idem: str | None = None, timeout: float = 30.0) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=_headers(key, {
        "Content-Type": "application/json", "Idempotency-Key": idem or uuid.uuid4().hex}))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def wait_ready(proc: subprocess.Popen, base: str, timeout: float = 120.0, pids: int = 1) -> set[int]:
    """Wait until ``pids`` different worker pids have answered /readyz 200; fail with the server's output if it
    exits first."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < pids:
        if proc.poll() is not None:
            out = (proc.stderr.read() if proc.stderr else "") or ""
            pytest.fail(f"maas serve exited with {proc.returncode}: {out[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"maas serve not ready after {timeout:g} s")
        try:
            status, body = get(f"{base}/readyz", timeout=2)
            if status == 200:
                seen.add(body["pid"])
                continue
        except OSError:
            pass
        time.sleep(0.2)
    return seen


def sample_itinerary(base: str, key: str) -> dict:
    """An itinerary on the built-in sample tomorrow at 10:00 (Tochomae to near Shinjuku)."""
    tomorrow = (dt.datetime.now(JST) + dt.timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    status, body = get(f"{base}/v1/plan?from=toei-subway:P-tochomae&to=35.697957,139.707434"
                       f"&depart_at={tomorrow.isoformat().replace('+', '%2B')}&num=1", key)
    assert status == 200, body
    if not body["itineraries"]:
        pytest.skip("the sample has no itinerary for this pair")
    return body["itineraries"][0]


def book_on_sample(base: str, key: str, card: str = "4242424242424242") -> dict:
    """Plan → offer → book with a test card through the API; returns the booking (asserts 201s)."""
    itinerary = sample_itinerary(base, key)
    status, offer = post(f"{base}/v1/offers", {"itinerary": itinerary}, key)
    assert status == 201, offer
    status, booking = post(f"{base}/v1/bookings", {"offer_id": offer["id"], "payment": {"card_number": card}}, key)
    assert status == 201, booking
    return booking
