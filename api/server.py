"""Run the API: one process, or N worker processes sharing the port (SO_REUSEPORT) and the Redis store.

Each worker builds its own Services (the transit model is per process; bookings, closures and rate limits are in
the shared store when Redis is configured). SIGTERM/SIGINT stop accepting connections and finish in-flight
requests (up to ``SHUTDOWN_TIMEOUT_S``) before exiting; the parent forwards them to every worker.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
import time

from aiohttp import web

from api.observe import configure_logging
from maas.settings import Settings

log = logging.getLogger("maas.server")
SHUTDOWN_TIMEOUT_S = 10.0
KEEPALIVE_S = 75.0


def run_worker(settings: Settings, reuse_port: bool = False, worker: int = 0) -> None:
    """Build the services and serve until a signal: the body of one worker process."""
    from api.app import create_app
    from maas.services import Services

    configure_logging()
    if reuse_port:
        _exit_with_parent()
    services = Services.build(settings, progress=False)
    app = create_app(services)
    app.on_startup.append(_freeze_heap)  # after the services' own start-up
    log.info("worker %d serving on http://%s:%d", worker, settings.host, settings.port,
             extra={"fields": {"worker": worker, "pid": mp.current_process().pid}})
    web.run_app(app, host=settings.host, port=settings.port, reuse_port=reuse_port or None, print=None,
                access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S, keepalive_timeout=KEEPALIVE_S,
                handle_signals=True)


async def _freeze_heap(app: web.Application) -> None:
    """What start-up loaded (feeds, models, closures) lives as long as the worker: keep it out of the collector's
    full passes, whose pauses (150+ ms with a city's timetable in memory) stall the event loop whichever thread
    triggers them (benchmarks/bench_warnings.py, part 3)."""
    import gc

    gc.freeze()


def _exit_with_parent() -> None:
    """A worker whose supervisor died (even by SIGKILL, which it cannot forward) shuts itself down gracefully
    instead of lingering as an orphan holding the port."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve(settings: Settings) -> None:
    configure_logging()
    if settings.workers <= 1:
        print(f"serving on http://{settings.host}:{settings.port}", file=sys.stderr, flush=True)
        run_worker(settings)
        return
    if not settings.redis_url:
        # The embedded store is one process's: its SQLite files and in-process event hub are not made for
        # several writers (a worker was seen stalling on them), and rate limits would not be shared.
        raise SystemExit(f"--workers {settings.workers} needs --redis URL: workers share bookings, closures, "
                         "events and rate limits through Redis; the embedded store serves one process")
    ctx = mp.get_context("spawn")  # a fresh interpreter per worker: no forked event loops or thread pools
    procs = [ctx.Process(target=run_worker, args=(settings, True, i), name=f"maas-worker-{i}", daemon=False)
             for i in range(settings.workers)]
    for p in procs:
        p.start()
    print(f"serving on http://{settings.host}:{settings.port} with {settings.workers} workers",
          file=sys.stderr, flush=True)
    stopping = False

    def _stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.is_alive() and p.pid:
                p.terminate()  # SIGTERM: the worker finishes its in-flight requests

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    status = 0
    while any(p.is_alive() for p in procs):
        for p in procs:
            if not p.is_alive() and p.exitcode not in (0, None) and not stopping:
                log.error("worker %s exited with %s; stopping the others", p.name, p.exitcode)
                status = 1
                _stop(signal.SIGTERM, None)
        time.sleep(0.2)
    deadline = time.monotonic() + SHUTDOWN_TIMEOUT_S + 5
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
    if status:
        raise SystemExit(status)
