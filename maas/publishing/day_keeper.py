"""The service days a server keeps built and warm ahead of the requests that ask for them.

A plan asks for a model serving its departure's service day (`TransitService.local_date`, on the feeds' own
clock); one model joins the trips of the days around its date (routing/timetable.py ``DAYS``) and answers the
plans of its day and the next (``SERVED_DAYS``), so plans for today and tomorrow need only today's model. Built on
first use, a day's first plan would wait for the build (the sample: ~1 s; all-Tokyo: seconds, in a child
process). So the model serving today and tomorrow is built and warmed before /readyz says ready, and `DayKeeper`
keeps it so while the server runs for weeks: from ``lead`` before midnight it builds tomorrow's too (serving
tomorrow and the day after), so when the date changes the new today and tomorrow are served already; the model
that served yesterday is dropped then (`TransitService.keep`).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Awaitable, Callable
from zoneinfo import ZoneInfo

from routing.timetable import model_timezone

log = logging.getLogger("maas.days")

DAYS_AHEAD = 1  # tomorrow
LEAD = dt.timedelta(hours=1)  # the day after tomorrow is built from this long before midnight
PERIOD_S = 600.0  # the keeper looks again at least this often (a clock that jumps, a build that failed)


def _next_midnight(now: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(0), now.tzinfo)


def required_days(now: dt.datetime, ahead: int = DAYS_AHEAD) -> list[dt.date]:
    """The days readiness waits for at ``now`` (a local time on the feeds' clock): today and the next ``ahead``."""
    return [now.date() + dt.timedelta(days=i) for i in range(ahead + 1)]


def wanted_days(now: dt.datetime, ahead: int = DAYS_AHEAD, lead: dt.timedelta = LEAD) -> list[dt.date]:
    """The days kept built at ``now``: `required_days`, and within ``lead`` of midnight the one they gain then."""
    days = required_days(now, ahead)
    if _next_midnight(now).astimezone(dt.timezone.utc) - now.astimezone(dt.timezone.utc) <= lead:
        days.append(days[-1] + dt.timedelta(days=1))
    return days


def seconds_to_next_look(now: dt.datetime, lead: dt.timedelta = LEAD, period_s: float = PERIOD_S) -> float:
    """Until the keeper's next look: when the lead before midnight starts, just after midnight, or ``period_s``,
    whichever comes first."""
    utc = now.astimezone(dt.timezone.utc)
    midnight = _next_midnight(now).astimezone(dt.timezone.utc)
    marks = [(midnight - lead - utc).total_seconds(), (midnight - utc).total_seconds() + 1.0, period_s]
    return max(1.0, min(s for s in marks if s > 0))


class DayKeeper:
    """Keeps `wanted_days` served and warm on a `TransitService`: ``warm(dates)`` builds and warms the models
    serving them (blocking; `Services.warm_days`: the models, every planner thread, the request path); ``clock``
    gives the time (aware)."""

    def __init__(self, transit, warm: Callable[[list[dt.date]], object], *,
                 clock: Callable[[], dt.datetime] | None = None, ahead: int = DAYS_AHEAD, lead: dt.timedelta = LEAD,
                 period_s: float = PERIOD_S, sleep: Callable[[float], Awaitable] = asyncio.sleep):
        self.transit = transit
        self.warm = warm
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self.ahead, self.lead, self.period_s, self.sleep = ahead, lead, period_s, sleep

    def now(self) -> dt.datetime:
        """The time on the feeds' own clock (the network's zone: another publish may change it)."""
        return self.clock().astimezone(ZoneInfo(model_timezone(self.transit.network)))

    def required(self) -> list[dt.date]:
        return required_days(self.now(), self.ahead)

    def wanted(self) -> list[dt.date]:
        return wanted_days(self.now(), self.ahead, self.lead)

    def step(self) -> list[dt.date]:
        """Keep the wanted days; when some are not served yet, build and warm the models serving them all (blocking:
        off the event loop; the models `TransitService.bases_for` chooses, the cached ones warmed again). Returns
        the days that were not served."""
        days = self.wanted()
        self.transit.keep(days)
        served = set(self.transit.cached_dates())
        missing = [d for d in days if d not in served]
        if missing:
            self.warm(days)
        return missing

    async def run(self) -> None:
        """Forever: a `step` off the event loop, then sleep until the next look (`seconds_to_next_look`)."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                built = await loop.run_in_executor(None, self.step)
                if built:
                    log.info("service days built ahead: %s", ", ".join(d.isoformat() for d in built))
            except Exception:  # retried at the next look; a day not built yet is built on its first request
                log.exception("building the next service days failed")
            await self.sleep(seconds_to_next_look(self.now(), self.lead, self.period_s))
