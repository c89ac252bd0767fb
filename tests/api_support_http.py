"""Plain-HTTP helpers for tests that run `maas serve` as a real process (stdlib only: they also run in threads and
subprocesses): start one (``serve``, or ``maas_serve`` as `make run` does), GET/POST with a key, wait until ready,
book a journey on the built-in sample."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

JST = dt.timezone(dt.timedelta(hours=9))
ROOT = Path(__file__).resolve().parents[1]
DEV_KEYS = ROOT / "examples" / "dev-keys.json"
START_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """A `maas serve` process started by ``serve``: its base URL and log file (stderr; never a pipe nobody
    reads, which would block the server once 64 KB of access logs are waiting)."""

    def __init__(self, proc: subprocess.Popen, base: str, log: Path):
        self.proc, self.base, self.log = proc, base, log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.output().splitlines() if line.startswith("{")]

    def stop(self, timeout: float = 40.0) -> int:
        """SIGTERM (the supervisor drains its workers), SIGKILL if it does not exit in time; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def serve(tmp_path: Path, args: list[str], keys: dict | None = None, *, dev: bool = True,
          env: dict | None = None) -> Served:
    """Start ``maas serve ARGS`` on a free port with ``keys`` (a keys-file mapping), data and cache in
    ``tmp_path`` (and ``env`` added to the environment); not waited for (see ``wait_ready``)."""
    port = free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps(keys or {}))
    log = tmp_path / f"serve-{port}.log"
    env = {**os.environ, "MAAS_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT), **(env or {})}
    cmd = [sys.executable, "-m", "maas.cli", "serve", "--port", str(port), "--keys", str(keys_file),
           "--data-dir", str(tmp_path / "data"), *(["--dev"] if dev else []), *args]
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err, text=True)
    return Served(proc, f"http://127.0.0.1:{port}", log)


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


def readyz_pids(base: str, want: int = 2, *, clients: int = 8, at_least: int = 0, timeout: float = 60.0) -> list[int]:
    """The worker pid of every /readyz answer from ``clients`` concurrent clients, each request on a fresh
    connection, until ``want`` different pids have answered and ``at_least`` requests were made (or ``timeout``).

    Concurrent, not serial: the workers accept on one shared socket, and an idle worker that has just answered
    is the first woken for the next connection (epoll wakes the last waiter first), so serial requests may all
    land on one worker. Under concurrent load a busy worker leaves connections to the other."""
    import threading

    pids: list[int] = []
    lock = threading.Lock()
    deadline = time.monotonic() + timeout

    def enough() -> bool:
        return (len(set(pids)) >= want and len(pids) >= at_least) or time.monotonic() > deadline

    def client() -> None:
        while True:
            with lock:
                if enough():
                    return
            status, body = get(f"{base}/readyz", timeout=10)
            if status == 200:
                with lock:
                    pids.append(body["pid"])

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 15)
    return pids


def wait_ready(served: Served, timeout: float = 120.0, pids: int = 1) -> set[int]:
    """Wait until ``pids`` different worker pids have answered /readyz 200; fail with the server's output if it
    exits first."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    base = served.base
    while len(seen) < pids:
        if served.proc.poll() is not None:
            pytest.fail(f"maas serve exited with {served.proc.returncode}: {served.output()[-3000:]}")
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


def try_booking(base: str, key: str, card: str = "4242424242424242") -> tuple[str, dict | None]:
    """Plan -> offer -> book, no retries, never raising: ``("ok", booking)`` for a confirmed booking, else
    (what failed first — ``"offer 503"``, ``"book 503"``, ``"plan 500"``, ``"conn …"`` — and the problem body)."""
    from http.client import HTTPException

    try:
        tomorrow = (dt.datetime.now(JST) + dt.timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
        status, plan = get(f"{base}/v1/plan?from=toei-subway:P-tochomae&to=35.697957,139.707434"
                           f"&depart_at={tomorrow.isoformat().replace('+', '%2B')}&num=1", key)
        if status != 200 or not plan.get("itineraries"):
            return f"plan {status}", plan
        status, offer = post(f"{base}/v1/offers", {"itinerary": plan["itineraries"][0]}, key)
        if status != 201:
            return f"offer {status}", offer
        status, booking = post(f"{base}/v1/bookings", {"offer_id": offer["id"], "payment": {"card_number": card}},
                               key)
        if status != 201 or booking.get("state") != "CONFIRMED":
            return f"book {status}", booking
        return "ok", booking
    except (urllib.error.URLError, ConnectionError, HTTPException, OSError, ValueError) as exc:
        return f"conn {type(exc).__name__}", None


@contextlib.contextmanager
def maas_serve(data_dir: Path, *args: str):
    """`maas serve --dev` with examples/dev-keys.json (as `make run`) and ``ARGS``, data under ``data_dir``: waits
    until /readyz answers 200, yields the base URL, stops it (SIGTERM, then SIGKILL) afterwards."""
    served = serve(data_dir, list(args), json.loads(DEV_KEYS.read_text()))
    try:
        wait_ready(served, timeout=START_TIMEOUT_S)
        yield served.base
    finally:
        served.stop(20)
