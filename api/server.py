"""Run the API: one process, or N worker processes sharing the port (SO_REUSEPORT) and the Redis store.

Before anything listens, the store's durability is checked (``maas.platform.startup``): a Redis that could lose
confirmed bookings is refused unless ``--allow-volatile-redis``. Each worker builds its own Services (the transit
model is per process; bookings, closures and rate limits are in the shared store when Redis is configured).

With ``--workers N`` the parent is a supervisor (``maas.platform.supervisor``): a worker that dies is restarted
with back-off while the others keep serving; SIGTERM/SIGINT are forwarded to every worker, which stops accepting
connections and finishes in-flight requests (up to ``SHUTDOWN_TIMEOUT_S``) before exiting. The supervisor gives the
workers a fresh ``PROMETHEUS_MULTIPROC_DIR``, so ``/metrics`` on any worker adds up the whole host.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

from aiohttp import web

from api.observe import configure_logging
from maas.platform.settings import Settings

log = logging.getLogger("maas.server")
SHUTDOWN_TIMEOUT_S = 10.0
KEEPALIVE_S = 75.0
GIL_SWITCH_S = 0.001  # see tune_worker_runtime


def run_worker(settings: Settings, reuse_port: bool = False, worker: int = 0, transit=None) -> None:
    """Build the services and serve until a signal: the body of one worker process (``transit``: the feeds and
    today's model the supervisor built before forking)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the supervisor's handlers a forked worker inherits
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from api.app import create_app
    from maas.services import Services

    configure_logging()
    if reuse_port:
        _exit_with_parent()
    services = Services.build(settings, progress=False, transit=transit)
    app = create_app(services)
    app.on_startup.append(tune_worker_runtime)  # after the services' own start-up
    log.info("worker %d serving on http://%s:%d", worker, settings.host, settings.port,
             extra={"fields": {"worker": worker, "pid": mp.current_process().pid}})
    web.run_app(app, host=settings.host, port=settings.port, reuse_port=reuse_port or None, print=None,
                access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S, keepalive_timeout=KEEPALIVE_S,
                handle_signals=True)


async def tune_worker_runtime(app: web.Application | None = None) -> None:
    """Once start-up has loaded everything, keep the event loop answering while other threads compute.

    * `gc.freeze()`: what start-up loaded (feeds, models, closures) lives as long as the worker; out of the
      collector's full passes, whose pauses (150+ ms with a city's timetable in memory) stall the loop whichever
      thread triggers them.
    * `sys.setswitchinterval(GIL_SWITCH_S)`: a thread holding the GIL (parsing a 20,000-vertex area, encoding a
      big answer) hands it to the loop only every switch interval; at CPython's 5 ms a request that needs the GIL
      3-4 times waits up to ~20 ms. At 1 ms /healthz stays under 10 ms during such an apply, for ~1 % more
      switching in CPU-bound threads (the planner's kernel runs without the GIL).
    Figures: benchmarks/bench_warnings.py, part 3."""
    import gc

    sys.setswitchinterval(GIL_SWITCH_S)
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


def _preload(settings: Settings):
    """Import the application, load the feeds, build today's model and the name index and load the planner's
    kernels once in the supervisor (synchronously: no event loop, and the planner thread pool starts no thread
    before its first query); None (after one line on stderr) when a feed cannot be loaded."""
    import datetime as dt

    import api.app  # noqa: F401  (imported for the forked workers)
    from feeds.feed import TOKYO
    from maas.platform.memory import release_memory
    from feeds.problems import FeedRejected
    from maas.transit import TransitService

    try:
        transit = TransitService.from_settings(settings)
    except FeedRejected as rej:
        print(f"maas serve: {rej}", file=sys.stderr)
        return None
    except (OSError, ValueError) as exc:
        print(f"maas serve: cannot load the feeds: {exc}", file=sys.stderr)
        return None
    planner = transit.planner_for(transit.local_date(dt.datetime.now(TOKYO)))
    try:  # load numba's kernels and the reversed timetable here, on this thread (no pool thread is started
        planner.warm_up()  # before the fork): the workers share them instead of each loading its own copy
    except Exception:  # a network without a plannable pair: each worker's own warm-up reports it
        log.exception("planner warm-up before forking the workers failed")
    release_memory()  # workers fork from here: freed heap handed back first, so no worker inherits it
    return transit


def serve(settings: Settings) -> int:
    """Check the store, then serve (one process, or a supervisor of ``settings.workers``). Returns the exit code:
    2 when the configuration is refused (one line on stderr), 0 after a clean shutdown."""
    from maas.platform.startup import StartupRefused, check_store

    configure_logging()
    try:
        check_store(settings)
    except StartupRefused as exc:
        print(f"maas serve: {exc}", file=sys.stderr, flush=True)
        return 2
    if settings.workers <= 1:
        print(f"serving on http://{settings.host}:{settings.port}", file=sys.stderr, flush=True)
        run_worker(settings)
        return 0
    if not settings.redis_url:
        # The embedded store is one process's: its SQLite files and in-process event hub are not made for
        # several writers (a worker was seen stalling on them), and rate limits would not be shared.
        print(f"maas serve: --workers {settings.workers} needs --redis URL: workers share bookings, closures, "
              "events and rate limits through Redis; the embedded store serves one process", file=sys.stderr)
        return 2
    metrics_dir, own_dir = _metrics_dir()  # before anything imports prometheus_client: workers add up there
    try:
        return _supervise(settings, metrics_dir)
    finally:
        if own_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _metrics_dir() -> tuple[str, bool]:
    """A fresh folder for the workers' metric files (``PROMETHEUS_MULTIPROC_DIR``): the operator's, emptied of
    a previous run's files, or a new temporary one (removed at exit: True)."""
    from api.observe import MULTIPROC_ENV

    given = os.environ.get(MULTIPROC_ENV)
    if given:
        os.makedirs(given, exist_ok=True)
        for name in os.listdir(given):
            if name.endswith(".db"):
                os.unlink(os.path.join(given, name))
        return given, False
    made = tempfile.mkdtemp(prefix="maas-metrics-")
    os.environ[MULTIPROC_ENV] = made
    return made, True


def _supervise(settings: Settings, metrics_dir: str) -> int:
    from api.observe import mark_worker_dead
    from maas.platform.supervisor import Supervisor

    transit = _preload(settings)
    if transit is None:
        return 2
    # Fork from this preloaded process (modules imported, feeds parsed, today's model built; no event loop and no
    # thread exist yet): a replacement worker serves in about a second instead of importing and building again.
    ctx = mp.get_context("fork")
    supervisor = Supervisor(lambda i: ctx.Process(target=run_worker, args=(settings, True, i, transit),
                                                  name=f"maas-worker-{i}", daemon=False),
                            settings.workers, drain_s=SHUTDOWN_TIMEOUT_S + 5,
                            on_exit=lambda pid: mark_worker_dead(pid, metrics_dir))
    signal.signal(signal.SIGTERM, lambda *_: supervisor.stop())
    signal.signal(signal.SIGINT, lambda *_: supervisor.stop())
    print(f"serving on http://{settings.host}:{settings.port} with {settings.workers} workers",
          file=sys.stderr, flush=True)
    return supervisor.run()
