"""Shared fixtures: where the real feeds live, and the Redis that `make test` started."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MAAS_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real feeds beside the project; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real feeds not found at {SHARED_DATA} (set MAAS_SHARED_DATA or place ../shared/data)")
    return SHARED_DATA


def shared_file(name: str) -> Path:
    """Path of one file in shared/data, skipping the calling test when it is missing."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} not found: the real-feed folder ../shared/data is absent")
    return path


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the test Redis (started by scripts/ensure-redis.sh under `make test`)."""
    url = os.environ.get("MAAS_TEST_REDIS_URL")
    if not url:
        pytest.skip("MAAS_TEST_REDIS_URL not set: run the suite with `make test`, which starts a Redis")
    return url


@pytest.fixture(scope="session")
def redis_cluster_url() -> str:
    """URL (``redis+cluster://``) of the test Redis Cluster (started by scripts/ensure-redis-cluster.sh under
    `make test`)."""
    url = os.environ.get("MAAS_TEST_REDIS_CLUSTER_URL")
    if not url:
        pytest.skip("MAAS_TEST_REDIS_CLUSTER_URL not set: run the suite with `make test`, which starts a 3-master "
                    "Redis Cluster (scripts/ensure-redis-cluster.sh)")
    return url


REDIS_KINDS = ["redis", "redis-cluster"]


def redis_url_of(request, kind: str) -> str | None:
    """The test server's URL for a store kind: ``redis`` (one server), ``redis-cluster``, else None (embedded)."""
    return {"redis": lambda: request.getfixturevalue("redis_url"),
            "redis-cluster": lambda: request.getfixturevalue("redis_cluster_url")}.get(kind, lambda: None)()


@pytest.fixture(params=REDIS_KINDS)
def any_redis_url(request) -> str:
    """Each test Redis in turn: the single server, then the 3-master cluster."""
    return redis_url_of(request, request.param)


@pytest.fixture(params=["embedded", *REDIS_KINDS])
async def store(request):
    """The booking store, embedded (SQLite in memory), on the test Redis and on the test Redis Cluster: one
    suite for all three."""
    from booking_support import drop_test_store, open_test_store

    s = await open_test_store(request.param, redis_url_of(request, request.param))
    yield s
    await drop_test_store(s)


@pytest.fixture(scope="session", autouse=True)
def isolated_data_dir(tmp_path_factory):
    """Every Settings() made by a test keeps its stores and published feeds in a temporary folder, never in the
    user's ~/.local/share/tokyo-maas (which `make run` serves from)."""
    previous = os.environ.get("MAAS_DATA_DIR")
    os.environ["MAAS_DATA_DIR"] = str(tmp_path_factory.mktemp("maas-data"))
    yield
    if previous is None:
        os.environ.pop("MAAS_DATA_DIR", None)
    else:
        os.environ["MAAS_DATA_DIR"] = previous


@pytest.fixture(scope="module")
def sample_transit(tmp_path_factory):
    """The built-in sample's transit service with the 2026-12-01 model built before any request (a loaded machine
    must not hit the 30 s request timeout building it)."""
    import datetime as dt

    from maas.publishing.network import load_network
    from maas.transit import TransitService

    t = TransitService(load_network([], cache_dir=tmp_path_factory.mktemp("sample"), progress=False))
    t.planner_for(dt.date(2026, 12, 1))
    yield t
    t.close()


HANG_DUMP_S = float(os.environ.get("MAAS_TEST_HANG_DUMP_S", "300"))


def _dump_asyncio_tasks(signum, frame) -> None:
    """SIGUSR2: every asyncio task of the loop running in the main thread, with the stack it waits in, and every
    thread's stack — what a hung async test is waiting for (the signal wakes the loop's ``select``)."""
    import asyncio
    import faulthandler
    import sys

    out = sys.__stderr__
    loop = asyncio._get_running_loop()
    print(f"\n===== test running for {HANG_DUMP_S:.0f} s: asyncio tasks =====", file=out)
    if loop is None:
        print("(no event loop running in the main thread)", file=out)
    else:
        for task in asyncio.all_tasks(loop):
            print(f"--- {task!r}", file=out)
            task.print_stack(file=out)
        handles = getattr(loop, "_scheduled", [])
        print(f"--- {len(handles)} timers; the next: {sorted(handles, key=lambda h: h.when())[:5]}", file=out)
    print("===== threads =====", file=out)
    faulthandler.dump_traceback(file=out, all_threads=True)
    out.flush()


class _HangWatch:
    """One daemon thread for the whole run: armed as each test starts, disarmed as it ends; SIGUSR2 to this
    process once a test has run ``seconds`` (a timer thread per test made some 1,600 threads a run)."""

    def __init__(self, seconds: float):
        import threading

        self.seconds = seconds
        self._cv = threading.Condition()
        self._deadline: float | None = None
        threading.Thread(target=self._watch, name="hang-dump", daemon=True).start()

    def arm(self) -> None:
        with self._cv:
            self._deadline = time.monotonic() + self.seconds
            self._cv.notify()

    def disarm(self) -> None:
        with self._cv:
            self._deadline = None
            self._cv.notify()

    def _watch(self) -> None:
        import signal

        with self._cv:
            while True:
                if self._deadline is None:
                    self._cv.wait()
                elif (left := self._deadline - time.monotonic()) > 0:
                    self._cv.wait(left)
                else:
                    self._deadline = None  # once per test
                    os.kill(os.getpid(), signal.SIGUSR2)


_HANG_WATCH = pytest.StashKey[_HangWatch]()


def pytest_configure(config):
    import signal

    if hasattr(signal, "SIGUSR2"):  # kept for the whole run: a dump firing as its test ends finds it still set
        signal.signal(signal.SIGUSR2, _dump_asyncio_tasks)
        config.stash[_HANG_WATCH] = _HangWatch(HANG_DUMP_S)


@pytest.fixture(autouse=True)
def _dump_when_hung(request):
    """A test still running after ``MAAS_TEST_HANG_DUMP_S`` (300 s) prints its asyncio tasks and threads once, so a
    hang that pytest-timeout later fails shows what it waited for, not only the event loop's ``select``."""
    watch = request.config.stash.get(_HANG_WATCH, None)
    if watch is None:
        yield
        return
    watch.arm()
    try:
        yield
    finally:
        watch.disarm()
