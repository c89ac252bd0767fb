"""Run the API: one process, or N worker processes sharing the port (SO_REUSEPORT) and the Redis store.

Before anything listens, the store's durability is checked (``maas.platform.startup``): a Redis that could lose
confirmed bookings is refused unless ``--allow-volatile-redis``. Each worker builds its own Services (the transit
model is per process; bookings, closures and rate limits are in the shared store when Redis is configured).

With ``--workers N`` the parent is a supervisor (``maas.platform.supervisor``): a worker that dies is restarted
with back-off while the others keep serving; SIGTERM/SIGINT are forwarded to every worker, which stops accepting
connections and finishes in-flight requests (up to ``SHUTDOWN_TIMEOUT_S``) before exiting. The supervisor gives the
workers a fresh ``PROMETHEUS_MULTIPROC_DIR``, so ``/metrics`` on any worker adds up the whole host. SIGHUP restarts
the workers one at a time (a rolling restart: re-reads the keys file; see the supervisor).

The parent opens the listening socket once and every worker accepts on that same socket: a worker that stops
(drained, killed, replaced) leaves the connections waiting in the accept queue to the others. A supervised worker
starts accepting only once its planner is warm, so a replacement never takes traffic it would answer slowly, and
then sets its ``ready`` event for the supervisor. (The socket also has SO_REUSEPORT: a second `maas serve` — new
code — can start on the same port beside the old one before the old one is stopped.)
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import shutil
import signal
import socket
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


WARM_BEFORE_LISTEN_S = 120.0  # a supervised worker listens after its warm-up, or after this long regardless
ACCEPTED_GRACE_S = 0.5  # a draining worker's wait for requests on connections it accepted just before (see below)


def run_worker(settings: Settings, reuse_port: bool = False, worker: int = 0, transit=None, sock=None,
               ready=None) -> None:
    """Build the services and serve until a signal: the body of one worker process (``transit``: the feeds and
    today's model the supervisor built before forking; ``sock``: the listening socket the supervisor shares;
    ``ready``: an event set once this worker is warm and accepting)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the supervisor's handlers a forked worker inherits
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    from api.app import create_app
    from maas.services import Services

    configure_logging()
    if reuse_port or sock is not None:
        _exit_with_parent()
    services = Services.build(settings, progress=False, transit=transit)
    app = create_app(services)
    app.on_startup.append(tune_worker_runtime)  # after the services' own start-up
    if sock is not None:
        async def warm_first(app: web.Application) -> None:
            """Readiness before traffic: the site starts accepting only after this hook."""
            await services.wait_warm(WARM_BEFORE_LISTEN_S)

        app.on_startup.append(warm_first)
        app.on_startup.append(_drain_without_dropping(sock))
    if ready is not None:
        async def say_ready(app: web.Application) -> None:
            async def later() -> None:
                await asyncio.sleep(0)  # run_app starts the site right after the start-up hooks
                ready.set()

            app[_READY_TASK] = asyncio.get_running_loop().create_task(later())

        app.on_startup.append(say_ready)
    log.info("worker %d serving on http://%s:%d", worker, settings.host, settings.port,
             extra={"fields": {"worker": worker, "pid": mp.current_process().pid}})
    where = dict(sock=sock) if sock is not None else dict(host=settings.host, port=settings.port,
                                                          reuse_port=reuse_port or None)
    web.run_app(app, print=None, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S,
                keepalive_timeout=KEEPALIVE_S, handle_signals=True, **where)


_READY_TASK = web.AppKey("ready_task", asyncio.Task)


def _drain_without_dropping(sock: socket.socket):
    """SIGTERM/SIGINT in a worker on the shared socket: stop accepting at once, and only ``ACCEPTED_GRACE_S`` later
    begin aiohttp's graceful exit.

    aiohttp's exit closes every connection that has no request yet. A client's request follows its connect by a
    moment (longer on a loaded machine), so a connection accepted just before the drain would be closed
    unanswered, and a rolling restart would fail a request. Once this worker stops accepting, the connections
    still queued go to the other workers, and those it has accepted send their requests within the grace and are
    answered (in-flight requests are then awaited as usual)."""
    async def install(app: web.Application) -> None:
        loop = asyncio.get_running_loop()

        def drain() -> None:
            loop.remove_reader(sock.fileno())  # (the asyncio server's accept callback; the site closes it later)
            loop.call_later(ACCEPTED_GRACE_S, _graceful_exit)

        for sig in (signal.SIGTERM, signal.SIGINT):  # (replaces run_app's handlers, installed before start-up)
            loop.add_signal_handler(sig, drain)

    return install


def _graceful_exit() -> None:
    raise web.GracefulExit()


def listening_socket(host: str, port: int) -> socket.socket:
    """The one socket every worker accepts on (SO_REUSEPORT too: a new `maas serve` may bind beside it)."""
    sock = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET,
                                backlog=2048, reuse_port=True)
    sock.setblocking(False)
    return sock


async def tune_worker_runtime(app: web.Application | None = None) -> None:
    """Once start-up has loaded everything, keep the event loop answering while other threads compute.

    * `gc.freeze()`: what start-up loaded (feeds, models, closures) lives as long as the worker; out of the
      collector's full passes, whose pauses (150+ ms with a city's timetable in memory) stall the loop whichever
      thread triggers them.
    * `sys.setswitchinterval(GIL_SWITCH_S)`: a thread holding the GIL (parsing a 20,000-vertex area, encoding a
      big answer) hands it to the loop only every switch interval; at CPython's 5 ms a request that needs the GIL
      3-4 times waits up to ~20 ms, for ~1 % more switching in CPU-bound threads (the planner's kernel runs
      without the GIL). The switch interval cannot split a single C call (orjson on a 0.5 MB body, a polygon built
      from Python lists): on a busy machine the OS preempts the thread inside one and the loop waits, so big
      closure payloads are parsed in a child process (`maas.disruptions.closure_parse`) and the store encodes
      off the loop. With both, /healthz p99 stays under 10 ms during a 20,000-vertex apply.
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
    """Import the application, load the feeds, build today's and tomorrow's models (`keep_days`) and the name index
    and load the planner's kernels once in the supervisor (synchronously: no event loop, and the planner thread pool starts no thread
    before its first query); None (after one line on stderr) when a feed cannot be loaded."""
    import gc

    import api.app  # noqa: F401  (imported for the forked workers)
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
    from maas.platform.kernels import drop_linking_ir, ensure_kernels

    ensure_kernels()  # a cold numba cache is filled by a child: the supervisor and its workers only load kernels
    keep_days(transit, warm_all=True)
    drop_linking_ir()  # the loaded kernels' LLVM IR no caller will link
    release_memory()  # workers fork from here: freed heap handed back first, so no worker inherits it
    # and what this process loaded leaves the collector's generations: a worker's full collection (each
    # release_memory in its start-up, its warm-up) would otherwise write into the header of every inherited object
    # and so copy every page holding one (the worker freezes them after its own start-up as well, see
    # tune_worker_runtime; here they are frozen before the first worker exists)
    gc.freeze()
    return transit


def keep_days(transit, warm_all: bool = False, now=None) -> list:
    """The days the workers' day keepers keep (today's and tomorrow's models, see maas.publishing.day_keeper) built and
    warmed here, in the supervisor, before a worker is forked: it inherits them (shared pages) instead of building its
    own before ready. At start, and again before each (re)start of a worker, so one restarted weeks later does not
    inherit days long gone. ``warm_all``: warm every kept day, not only those built now (at start: today's model may
    come from the feed-loading child, built but never planned on); ``now``: the clock's time (aware). Returns the days
    built now."""
    from maas.publishing.day_keeper import DayKeeper
    from routing.raptor import drop_thread_buffers

    def warm(days) -> None:
        for planner in transit.planners_for(days):  # (one model serves today and tomorrow)
            try:  # load numba's kernels, the reversed timetables and the itinerary tables here, on this thread (no
                planner.warm_up()  # pool thread is started before the fork): the workers share them, not a copy each
            except Exception:  # a network without a plannable pair: each worker's own warm-up reports it
                log.exception("planner warm-up before forking the workers failed")

    keeper = DayKeeper(transit, warm, clock=(lambda: now) if now is not None else None)
    missing = keeper.step()
    if warm_all and not missing:  # (a step that built a day warmed them all)
        warm(keeper.wanted())
    drop_thread_buffers()  # this thread's search labels: no worker plans on its main thread
    return missing


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
    from maas.platform.memory import release_memory
    from maas.platform.supervisor import Supervisor

    transit = _preload(settings)
    if transit is None:
        return 2
    # Fork from this preloaded process (modules imported, feeds parsed, today's model built; no event loop and no
    # thread exist yet): a replacement worker serves in about a second instead of importing and building again.
    ctx = mp.get_context("fork")
    try:
        sock = listening_socket(settings.host, settings.port)
    except OSError as exc:
        print(f"maas serve: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2

    def make(i: int):
        try:
            if keep_days(transit):  # a worker restarted on a later day: that day's models built once, here
                release_memory()
        except Exception:  # the worker builds them itself before it says ready
            log.exception("building the service days before forking a worker failed")
        ready = ctx.Event()
        proc = ctx.Process(target=run_worker, args=(settings, True, i, transit, sock, ready),
                           name=f"maas-worker-{i}", daemon=False)
        proc.ready = ready
        return proc

    supervisor = Supervisor(make, settings.workers, drain_s=SHUTDOWN_TIMEOUT_S + 5,
                            on_exit=lambda pid: mark_worker_dead(pid, metrics_dir))
    signal.signal(signal.SIGTERM, lambda *_: supervisor.stop())
    signal.signal(signal.SIGINT, lambda *_: supervisor.stop())
    signal.signal(signal.SIGHUP, lambda *_: supervisor.restart_all())
    print(f"serving on http://{settings.host}:{settings.port} with {settings.workers} workers",
          file=sys.stderr, flush=True)
    return supervisor.run()
