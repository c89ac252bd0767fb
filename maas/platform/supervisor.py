"""Keep N worker processes alive: a worker that dies is restarted with exponential back-off while the others keep
serving; ``stop()`` (SIGTERM/SIGINT in the parent) asks every worker to drain and waits for them.

Back-off per slot: ``BASE_S`` after the first death, doubling up to ``MAX_S``; a worker that ran ``STABLE_S``
without dying resets its slot's back-off. When every slot has failed ``GIVE_UP_AFTER`` times in a row without
ever staying up (a configuration that cannot start: a busy port, an unreadable feed), the supervisor gives up
and returns 1 rather than restarting forever.

Rolling restart (``restart_all``, SIGHUP in `maas serve`): the workers are replaced one at a time. A new worker
for slot i starts beside the old one; only once it is *ready* (a process whose ``ready`` event is set: it has
warmed its planner and listens) is the old one asked to drain (SIGTERM: it stops accepting, finishes what it has
in flight); the next slot starts once that old worker has exited. With the listening socket shared by every
worker (created once by the parent), a connection waiting in the accept queue is taken by whichever worker is
accepting, so no request is refused while one worker is swapped. A new worker that dies or does not become ready
within ``READY_TIMEOUT_S`` stops the roll and leaves the old worker serving.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Protocol

log = logging.getLogger("maas.supervisor")
BASE_S = 0.2
MAX_S = 30.0
STABLE_S = 30.0
GIVE_UP_AFTER = 6
TICK_S = 0.05
READY_TIMEOUT_S = 180.0


class Proc(Protocol):
    pid: int | None
    exitcode: int | None
    name: str

    def start(self) -> None: ...

    def is_alive(self) -> bool: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...

    def join(self, timeout: float | None = None) -> None: ...


def is_ready(proc: Proc) -> bool:
    """A live process whose ``ready`` event (if it has one) is set."""
    ready = getattr(proc, "ready", None)
    return proc.is_alive() and (ready is None or ready.is_set())


@dataclass
class Incoming:
    """The new worker of a rolling restart, not yet ready."""

    slot: int
    proc: Proc
    started: float


@dataclass
class Slot:
    index: int
    proc: Proc | None = None
    started: float = 0.0
    failures: int = 0  # deaths in a row without staying up STABLE_S
    restart_at: float | None = None
    restarts: int = 0


def backoff_s(failures: int) -> float:
    """Delay before restarting a slot that has died ``failures`` times in a row (≥ 1)."""
    return min(MAX_S, BASE_S * 2 ** max(0, failures - 1))


class Supervisor:
    def __init__(self, make: Callable[[int], Proc], workers: int, *, drain_s: float = 15.0,
                 clock: Callable[[], float] = time.monotonic, on_exit: Callable[[int], None] | None = None):
        self.make, self.drain_s, self.clock = make, drain_s, clock
        self.on_exit = on_exit  # called with a dead worker's pid (its live-only metrics stop counting)
        self.slots = [Slot(i) for i in range(workers)]
        self.stopping = False
        self._terminated: set[int | None] = set()
        self._roll: list[int] = []  # slots still to replace in a rolling restart
        self._incoming: Incoming | None = None
        self._draining: list[tuple[Proc, float]] = []  # replaced workers finishing their requests (since when)
        self.rolls_done = 0  # workers replaced by rolling restarts (tests, logs)

    def _start(self, slot: Slot) -> None:
        slot.proc = self.make(slot.index)
        slot.proc.start()
        slot.started, slot.restart_at = self.clock(), None
        log.info("worker %d started", slot.index, extra={"fields": {"worker": slot.index, "pid": slot.proc.pid}})

    def _terminate(self, proc: Proc) -> None:
        if proc.is_alive() and proc.pid not in self._terminated:
            self._terminated.add(proc.pid)
            proc.terminate()

    def stop(self) -> None:
        """Ask every worker to drain (SIGTERM, once each); ``run`` returns once they have exited."""
        self.stopping = True
        self._roll.clear()
        procs = [slot.proc for slot in self.slots] + [p for p, _ in self._draining]
        if self._incoming is not None:
            procs.append(self._incoming.proc)
        for proc in procs:
            if proc is not None:
                self._terminate(proc)

    def restart_all(self) -> None:
        """Start a rolling restart of every slot (ignored while one is running)."""
        if self.stopping or self._roll or self._incoming is not None:
            log.warning("rolling restart already in progress; ignored")
            return
        self._roll = [slot.index for slot in self.slots]
        log.info("rolling restart of %d workers", len(self._roll))

    def roll(self) -> None:
        """One step of a rolling restart (see the module docstring)."""
        now = self.clock()
        for proc, since in list(self._draining):
            if not proc.is_alive():
                proc.join(0)
                self._draining.remove((proc, since))
                self._exited(proc)
            elif now - since > self.drain_s:
                log.error("replaced worker pid %s did not drain in %.0f s; killing it", proc.pid, self.drain_s)
                proc.kill()
        inc = self._incoming
        if inc is None:
            if not self._roll or self._draining:
                return
            index = self._roll.pop(0)
            if self.slots[index].proc is None:  # dead, restarting by itself anyway
                return
            proc = self.make(index)
            proc.start()
            self._incoming = Incoming(index, proc, now)
            log.info("rolling restart: new worker %d started (pid %s)", index, proc.pid,
                     extra={"fields": {"worker": index, "pid": proc.pid}})
            return
        slot = self.slots[inc.slot]
        if not inc.proc.is_alive() or now - inc.started > READY_TIMEOUT_S:
            if inc.proc.is_alive():
                inc.proc.kill()
            inc.proc.join(1)
            self._exited(inc.proc)
            log.error("rolling restart stopped: the new worker %d (pid %s) %s; the old one keeps serving",
                      inc.slot, inc.proc.pid, "was not ready in time" if inc.proc.is_alive() else
                      f"exited with code {inc.proc.exitcode}")
            self._incoming, self._roll = None, []
            return
        if not is_ready(inc.proc):
            return
        old = slot.proc
        slot.proc, slot.started, slot.failures, slot.restart_at = inc.proc, now, 0, None
        self._incoming = None
        self.rolls_done += 1
        if old is not None:
            self._terminate(old)
            self._draining.append((old, now))
        log.info("rolling restart: worker %d replaced (pid %s -> %s)", inc.slot, getattr(old, "pid", None),
                 inc.proc.pid, extra={"fields": {"worker": inc.slot, "pid": inc.proc.pid}})
        if not self._roll:
            log.info("rolling restart finished")

    def check(self) -> bool:
        """One supervision step: notice deaths, schedule and perform restarts. False when giving up."""
        now = self.clock()
        for slot in self.slots:
            proc = slot.proc
            if proc is not None and not proc.is_alive():
                proc.join(0)
                self._exited(proc)
                slot.failures = 1 if now - slot.started >= STABLE_S else slot.failures + 1
                delay = backoff_s(slot.failures)
                slot.proc, slot.restart_at = None, now + delay
                log.error("worker %d (pid %s) died with exit code %s; restarting in %.1f s", slot.index, proc.pid,
                          proc.exitcode, delay, extra={"fields": {"worker": slot.index, "pid": proc.pid,
                                                                  "exitcode": proc.exitcode,
                                                                  "restart_in_s": delay}})
            if slot.proc is None and slot.restart_at is not None and now >= slot.restart_at:
                if all(s.failures >= GIVE_UP_AFTER and s.proc is None for s in self.slots):
                    return False
                slot.restarts += 1
                self._start(slot)
        return True

    def run(self) -> int:
        for slot in self.slots:
            self._start(slot)
        status = 0
        while not self.stopping:
            if not self.check():
                log.error("every worker keeps dying at start; giving up")
                status = 1
                self.stop()
                break
            self.roll()
            time.sleep(TICK_S)
        self.stop()  # also reaches a worker started while the signal arrived
        deadline = self.clock() + self.drain_s
        procs = [(slot.index, slot.proc) for slot in self.slots] + [(-1, p) for p, _ in self._draining]
        if self._incoming is not None:
            procs.append((self._incoming.slot, self._incoming.proc))
        for index, proc in procs:
            if proc is None:
                continue
            proc.join(max(0.0, deadline - self.clock()))
            if proc.is_alive():
                log.error("worker %d (pid %s) did not drain in time; killing it", index, proc.pid)
                proc.kill()
                proc.join(5)
            self._exited(proc)
        return status

    def _exited(self, proc: Proc) -> None:
        if self.on_exit is not None and proc.pid is not None:
            try:
                self.on_exit(proc.pid)
            except Exception:  # bookkeeping must never stop the supervision
                log.exception("on_exit hook failed for pid %s", proc.pid)
