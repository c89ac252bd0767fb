"""`maas serve --workers 2 --redis URL` as a real process tree: both workers answer on one port (SO_REUSEPORT),
each with its own Services over the built-in sample, sharing bookings through Redis; SIGTERM ends open event
streams cleanly and exits 0. Several workers without Redis are refused."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from api_support_http import ROOT, book_on_sample, free_port, get, readyz_pids, serve, wait_ready
from redis_support import serve_redis_args

KEYS = {"adm-key": {"role": "admin", "name": "root"}, "pk-key": {"role": "partner", "name": "p"}}


@pytest.fixture
def server(tmp_path, redis_url):
    served = serve(tmp_path, ["--workers", "2", *serve_redis_args(redis_url)], KEYS)
    try:
        wait_ready(served, pids=2)
        yield served
    finally:
        served.stop()  # SIGTERM: the supervisor stops its workers (SIGKILL would orphan them)


def test_two_workers_share_the_port_and_stop_gracefully(server):
    proc, base = server.proc, server.base
    pids = set(readyz_pids(base, at_least=40))
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
    access = [rec for rec in server.records() if rec.get("logger") == "maas.access"]
    assert access and all(len(rec["request_id"]) == 32 and "duration_ms" in rec for rec in access)


def test_two_workers_share_bookings_through_redis(server):
    """A booking made through one worker is readable through both: the store, not the process, holds it."""
    base = server.base
    booking = book_on_sample(base, "pk-key")
    assert len(set(readyz_pids(base, at_least=30))) == 2
    for _ in range(10):
        status, got = get(f"{base}/v1/bookings/{booking['id']}", "pk-key")
        assert status == 200 and got["state"] == "CONFIRMED"


def test_several_workers_need_redis(tmp_path):
    out = subprocess.run([sys.executable, "-m", "maas.cli", "serve", "--workers", "2", "--port", str(free_port()),
                          "--data-dir", str(tmp_path), "--dev"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2 and "--redis" in out.stderr


def _requests_on(base: str, route: str) -> tuple[int, set[str]]:
    """(requests counted on ``route`` over every status, the pids of maas_process_info) from /metrics."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    count = sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                if line.startswith("maas_http_requests_total{") and f'route="{route}"' in line)
    pids = {line.split('pid="')[1].split('"')[0] for line in text.splitlines() if line.startswith("maas_process_info{")}
    return count, pids


def test_metrics_add_up_over_the_workers(server):
    """N requests spread over both workers: /metrics (answered by either) counts N, and a worker that dies keeps
    its counts while its process series goes."""
    base = server.base
    before, _ = _requests_on(base, "/readyz")
    pids = readyz_pids(base, at_least=60)
    n = len(pids)
    assert len(set(pids)) == 2
    for _ in range(4):  # whichever worker answers, the figure is the host's
        after, live = _requests_on(base, "/readyz")
        assert after - before == n
        assert live == {str(p) for p in set(pids)}
    victim = pids[0]
    os.kill(victim, signal.SIGKILL)
    seen = wait_ready(server, pids=2)  # the supervisor restarts it; readiness polls count too
    counted, live = _requests_on(base, "/readyz")
    assert counted >= after + len(seen) and str(victim) not in live and len(live) == 2
