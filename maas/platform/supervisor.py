"""Keep N worker processes alive: a worker that dies is restarted with exponential back-off while the others keep
serving; ``stop()`` (SIGTERM/SIGINT in the parent) asks every worker to drain and waits for them.

Back-off per slot: ``BASE_S`` after the first death, doubling up to ``MAX_S``; a worker that ran ``STABLE_S``
without dying resets its slot's back-off. When every slot has failed ``GIVE_UP_AFTER`` times in a row without
ever staying up (a configuration that cannot start: a busy port, an unreadable feed), the supervisor gives up
and returns 1 rather than restarting forever.
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


class Proc(Protocol):
    pid: int | None
    exitcode: int | None
    name: str

    def start(self) -> None: ...

    def is_alive(self) -> bool: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...

    def join(self, timeout: float | None = None) -> None: ...


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

    def _start(self, slot: Slot) -> None:
        slot.proc = self.make(slot.index)
        slot.proc.start()
        slot.started, slot.restart_at = self.clock(), None
        log.info("worker %d started", slot.index, extra={"fields": {"worker": slot.index, "pid": slot.proc.pid}})

    def stop(self) -> None:
        """Ask every worker to drain (SIGTERM, once each); ``run`` returns once they have exited."""
        self.stopping = True
        for slot in self.slots:
            if slot.proc is not None and slot.proc.is_alive() and slot.proc.pid not in self._terminated:
                self._terminated.add(slot.proc.pid)
                slot.proc.terminate()

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
            time.sleep(TICK_S)
        self.stop()  # also reaches a worker started while the signal arrived
        deadline = self.clock() + self.drain_s
        for slot in self.slots:
            if slot.proc is None:
                continue
            slot.proc.join(max(0.0, deadline - self.clock()))
            if slot.proc.is_alive():
                log.error("worker %d did not drain in time; killing it", slot.index)
                slot.proc.kill()
                slot.proc.join(5)
            self._exited(slot.proc)
        return status

    def _exited(self, proc: Proc) -> None:
        if self.on_exit is not None and proc.pid is not None:
            try:
                self.on_exit(proc.pid)
            except Exception:  # bookkeeping must never stop the supervision
                log.exception("on_exit hook failed for pid %s", proc.pid)
