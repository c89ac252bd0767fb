"""Truthful readiness: today's and tomorrow's models are built and warm before /readyz says ready, kept built as the
days roll over (maas/publishing/day_keeper.py), and a model build never holds up plans for other days (maas/transit.py)."""
from __future__ import annotations

import asyncio
import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest

from api_support import client_for, services_for
from feeds.feed import Network
from feeds.gtfs import load_feed
from gtfs_builders import minimal_feed_tables, write_gtfs
from maas.publishing.day_keeper import DayKeeper, required_days, seconds_to_next_look, wanted_days
from maas.transit import TransitService

JST = ZoneInfo("Asia/Tokyo")
NY = ZoneInfo("America/New_York")
DAY = dt.date(2026, 11, 24)  # a Tuesday: the weekday service runs today and tomorrow


def _transit(tmp_path, zone: str = "Asia/Tokyo", **kw) -> TransitService:
    tables = minimal_feed_tables()
    tables["agency"][0]["agency_timezone"] = zone
    return TransitService(Network([load_feed(write_gtfs(tmp_path / "feed", tables), "tiny")]), threads=2, **kw)


class Clock:
    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def _count_builds(transit: TransitService) -> list[dt.date]:
    """Every model build of ``transit`` from now on, by date."""
    built: list[dt.date] = []
    real = transit._build

    def counted(network, date, walker):
        built.append(date)
        return real(network, date, walker)

    transit._build = counted
    return built


class HeldBuilds:
    """Wraps ``transit._build``: records each build's (network, date); the builds ``hold(n, date)`` picks (n: the
    build's number from 1) set ``started`` and wait for ``release``, then raise ``fail`` when given."""

    def __init__(self, transit: TransitService, hold, fail: BaseException | None = None):
        self.calls: list[tuple[object, dt.date]] = []
        self.started, self.release = threading.Event(), threading.Event()
        real = transit._build

        def build(network, date, walker):
            self.calls.append((network, date))
            if hold(len(self.calls), date):
                self.started.set()
                assert self.release.wait(60)
                if fail is not None:
                    raise fail
            return real(network, date, walker)

        transit._build = build

    @property
    def dates(self) -> list[dt.date]:
        return [d for _, d in self.calls]


@pytest.fixture
def transit(tmp_path):
    t = _transit(tmp_path)
    yield t
    t.close()


def test_warm_up_builds_and_keeps_tomorrow(transit):
    services = services_for(transit, clock=Clock(dt.datetime(2026, 11, 24, 10, 0, tzinfo=JST)))
    ready, detail = services.readiness()
    assert not ready and detail["waiting_for"] == ["2026-11-24", "2026-11-25"]
    services.warm_up()
    assert transit.cached_dates() == [DAY, DAY + dt.timedelta(days=1)]
    ready, detail = services.readiness()
    assert detail["service_days"] == ["2026-11-24", "2026-11-25"] and detail["waiting_for"] == []
    assert detail["planner"] == "warm"
    ids = transit.model_for(DAY).trip_ids  # the trip-id lookup's orders made before ready, not by a first booking
    assert ids._order is not None and ids.names._order is not None and ids.names._hashes is not None
    builds = _count_builds(transit)
    for day in (DAY, DAY + dt.timedelta(days=1)):
        a, b, dep, _ = transit.planner_for(day).sample_trip()
        assert transit.plan_sync(a, b, dep)
    assert builds == []
    assert len(transit.cached_models()) == 1  # today's model serves tomorrow too
    # other days asked for do not push the kept one out of the LRU (max_models 3)
    for k in range(2, 8):
        transit.planner_for(DAY + dt.timedelta(days=k))
    assert {DAY, DAY + dt.timedelta(days=1)} <= set(transit.cached_dates()) and len(transit.cached_models()) == 3


async def test_a_plan_for_tomorrow_after_ready_builds_no_model(transit):
    services = services_for(transit, clock=Clock(dt.datetime(2026, 11, 24, 10, 0, tzinfo=JST)))
    async with client_for(services) as client:
        for _ in range(3000):
            r = await client.get("/readyz")
            body = await r.json()
            if r.status == 200:
                break
            assert body["planner"] == "warming" and body["status"] == "starting"
            await asyncio.sleep(0.05)
        assert r.status == 200 and body["service_days"] == ["2026-11-24", "2026-11-25"]
        assert body["waiting_for"] == []
        builds = _count_builds(transit)
        a, b, _, _ = transit.planner_for(DAY).sample_trip()
        r = await client.get("/v1/plan", params={"from": a, "to": b, "depart_at": "2026-11-25T07:00:00+09:00"},
                             headers={"Authorization": "Bearer pk-alpha"})
        assert r.status == 200, await r.text()
        assert (await r.json())["itineraries"]
        assert builds == []  # tomorrow's model was built before ready


def test_a_build_does_not_block_plans_for_other_days(transit):
    """While one day's model is being built (held here on an event), a plan for a built day and the build of a
    third day both finish; a second request for the day being built waits for that build, not a second one."""
    transit.planner_for(DAY)  # (serving tomorrow too)
    slow = DAY + dt.timedelta(days=2)
    other = DAY + dt.timedelta(days=4)  # (the day after the slow one waits for it: its model serves both)
    held = HeldBuilds(transit, lambda n, date: date == slow)
    started, release = held.started, held.release
    got: dict[str, object] = {}

    def ask(name: str, date: dt.date) -> None:
        got[name] = transit.planner_for(date)

    first = threading.Thread(target=ask, args=("slow", slow))
    first.start()
    assert started.wait(60)
    same = threading.Thread(target=ask, args=("slow again", slow))
    same.start()
    a, b, dep, _ = transit.planner_for(DAY).sample_trip()  # answered while the build is held
    assert transit.plan_sync(a, b, dep)
    third = threading.Thread(target=ask, args=("other", other))
    third.start()
    third.join(60)
    assert not third.is_alive() and got["other"].model.service_date == other
    assert "slow" not in got and "slow again" not in got  # still building
    release.set()
    first.join(60)
    same.join(60)
    assert got["slow"] is got["slow again"]
    assert sorted(held.dates) == [slow, other]  # one build of the slow day, for both requests


def test_a_failed_build_is_raised_to_every_waiter_and_retried(transit):
    day = DAY + dt.timedelta(days=1)
    held = HeldBuilds(transit, lambda n, date: n == 1, fail=RuntimeError("feed unreadable"))
    started, release = held.started, held.release
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            transit.planner_for(day)
        except RuntimeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    threads[0].start()
    assert started.wait(60)
    threads[1].start()
    release.set()
    for t in threads:
        t.join(60)
    assert len(errors) == 2 and held.dates == [day]
    assert transit.planner_for(day).model.service_date == day  # the next request builds it again


def test_the_keeper_builds_the_new_tomorrow_as_days_change(transit):
    clock = Clock(dt.datetime(2026, 11, 24, 10, 0, tzinfo=JST))
    warmed: list[list[dt.date]] = []

    def warm(dates):
        warmed.append(list(dates))
        transit.warm_days(dates)

    keeper = DayKeeper(transit, warm, clock=clock)
    assert keeper.step() == [DAY, DAY + dt.timedelta(days=1)]
    assert keeper.step() == []
    clock.now = dt.datetime(2026, 11, 24, 23, 30, tzinfo=JST)  # within the lead: the day after tomorrow too
    assert keeper.step() == [DAY + dt.timedelta(days=2)]
    clock.now = dt.datetime(2026, 11, 25, 0, 0, 5, tzinfo=JST)  # the date changed: tomorrow is built already
    assert keeper.step() == []
    assert keeper.required() == [DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)]
    for k in range(3, 6):  # the old days are no longer kept: other days push them out
        transit.planner_for(DAY + dt.timedelta(days=k))
    assert {DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)} <= set(transit.cached_dates())
    assert DAY not in transit.cached_dates()
    # the models serving the wanted days: today's, then within the lead tomorrow's too (today's warmed again)
    assert warmed == [[DAY, DAY + dt.timedelta(days=1)], [DAY + dt.timedelta(days=k) for k in range(3)]]
    assert [m.service_date for m in transit.cached_models()][:1] == [DAY + dt.timedelta(days=1)]


def test_without_a_lead_the_keeper_builds_tomorrow_after_midnight(transit):
    clock = Clock(dt.datetime(2026, 11, 24, 23, 59, tzinfo=JST))
    keeper = DayKeeper(transit, transit.warm_days, clock=clock, lead=dt.timedelta(0))
    assert keeper.step() == [DAY, DAY + dt.timedelta(days=1)]
    clock.now = dt.datetime(2026, 11, 25, 0, 1, tzinfo=JST)
    assert keeper.step() == [DAY + dt.timedelta(days=2)]


async def test_the_keepers_loop_looks_again_at_the_lead_and_at_midnight(transit):
    """`DayKeeper.run` with a clock that the injected sleep moves on: it builds the day after tomorrow when the
    lead before midnight starts, and looks again just after midnight."""
    clock = Clock(dt.datetime(2026, 11, 24, 20, 0, tzinfo=JST))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += dt.timedelta(seconds=seconds)
        if len(slept) == 3:
            raise asyncio.CancelledError

    keeper = DayKeeper(transit, transit.warm_days, clock=clock, sleep=sleep, period_s=30 * 3600)
    with pytest.raises(asyncio.CancelledError):
        await keeper.run()
    assert slept == [3 * 3600, 3600 + 1, 24 * 3600 - 3600 - 1]
    # tomorrow's model, built within the lead, serves the new today and tomorrow; the old one went at midnight
    assert set(transit.cached_dates()) == {DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)}
    assert [m.service_date for m in transit.cached_models()] == [DAY + dt.timedelta(days=1)]


def test_days_on_the_feeds_own_clock(tmp_path):
    """A feed in America/New_York: at 03:00 UTC on 25 November it is still the 24th there (the 25th in Tokyo)."""
    transit = _transit(tmp_path, "America/New_York")
    try:
        now = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.timezone.utc)
        services = services_for(transit, clock=Clock(now.astimezone(JST)))
        services.warm_up()
        assert transit.cached_dates() == [DAY, DAY + dt.timedelta(days=1)]
        assert services.readiness()[1]["waiting_for"] == []
        assert transit.planner_for(DAY).model.timezone == "America/New_York"
        assert wanted_days(now.astimezone(NY)) == [DAY, DAY + dt.timedelta(days=1)]
        # 23:30 in New York (04:30 UTC): within the lead before its midnight, not Tokyo's
        late = dt.datetime(2026, 11, 25, 4, 30, tzinfo=dt.timezone.utc)
        assert wanted_days(late.astimezone(NY))[-1] == DAY + dt.timedelta(days=2)
        assert wanted_days(late.astimezone(JST)) == required_days(late.astimezone(JST))
    finally:
        transit.close()


def test_next_look_across_a_daylight_saving_change():
    """1 November 2026, New York: clocks go back at 02:00, so that day has 25 hours."""
    now = dt.datetime(2026, 11, 1, 0, 30, tzinfo=NY)
    assert seconds_to_next_look(now, lead=dt.timedelta(hours=1), period_s=1e9) == 24.5 * 3600 - 3600


def test_a_swap_keeps_the_kept_days_built(transit):
    transit.keep([DAY, DAY + dt.timedelta(days=1)])
    transit.warm_days([DAY, DAY + dt.timedelta(days=1)])
    network = transit.network
    transit.swap_network(Network(list(network.feeds)), dates=[DAY])  # a publish asking for today only
    assert transit.network is not network
    assert set(transit.cached_dates()) == {DAY, DAY + dt.timedelta(days=1)}
    builds = _count_builds(transit)
    transit.planner_for(DAY + dt.timedelta(days=1))
    assert builds == []


def test_a_build_started_before_a_swap_is_not_cached(transit):
    """A day being built on the old network when a publish installs the new one is built again on the new."""
    day = DAY + dt.timedelta(days=1)
    held = HeldBuilds(transit, lambda n, date: n == 1)
    started, release = held.started, held.release
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("p", transit.planner_for(day)))
    t.start()
    assert started.wait(60)
    old = transit.network
    transit.install(transit.build_network(Network(list(old.feeds)), dates=[DAY]))
    release.set()
    t.join(60)
    assert held.calls[0][0] is old and held.calls[-1][0] is transit.network
    assert transit.planner_for(day) is got["p"]


def test_a_day_asked_for_while_the_kept_days_fill_the_cache_stays_cached(transit):
    """In the hour before midnight three days are kept, by two models: a day asked for besides (a plan for
    yesterday) is cached beside them, not built again for every request, until another day is asked for."""
    kept = [DAY + dt.timedelta(days=k) for k in range(3)]
    transit.keep(kept)
    builds = _count_builds(transit)
    for d in kept:
        transit.planner_for(d)
    assert builds == [DAY, DAY + dt.timedelta(days=1)]  # the day after tomorrow by tomorrow's model (kept)
    yesterday = DAY - dt.timedelta(days=1)
    first = transit.planner_for(yesterday)
    assert transit.planner_for(yesterday) is first and builds[2:] == [yesterday]
    assert set(transit.cached_dates()) == {yesterday, *kept}
    transit.planner_for(DAY + dt.timedelta(days=5))  # the next other day: yesterday's model goes
    assert set(transit.cached_dates()) == {DAY + dt.timedelta(days=5), DAY + dt.timedelta(days=6), *kept}
    assert transit.model_for(yesterday).day_of(yesterday) == -1  # its trips still found, in today's model
    assert builds[3:] == [DAY + dt.timedelta(days=5)]


async def test_models_the_cache_drops_are_freed_as_days_roll(transit):
    """A server running for weeks builds a model a day: once the cache drops one, the closures' index, the
    warning planner's touch index and the realtime overlays forget it too, so it is freed (each held its model)."""
    import gc
    import weakref

    from maas.disruptions.closure_store import MemoryClosureStore
    from maas.platform.settings import Settings
    from maas.services import closure_service

    clock = Clock(dt.datetime(2026, 11, 24, 10, 0, tzinfo=JST))
    services = services_for(transit, clock=clock,
                            closures=closure_service(Settings(), transit, store=MemoryClosureStore()))
    await services.start()
    try:
        await services.wait_warm(300)
        dropped: list[int] = []
        transit.drop_listeners.append(lambda m: dropped.append(id(m)))
        first = weakref.ref(transit.model_for(DAY))
        assert services.warnings._touch and services.closures._indexes  # the warm-up planned through the hook
        for k in range(1, 5):  # the keeper moves on a day at a time
            clock.now += dt.timedelta(days=1)
            await asyncio.get_running_loop().run_in_executor(None, services.days.step)
            assert DAY + dt.timedelta(days=k + 1) in transit.cached_dates()
        assert len(dropped) >= 3
        gc.collect()
        assert first() is None
        live = {id(m) for m in (transit.model_for(d) for d in transit.cached_dates())}
        assert {v[0]() and id(v[0]()) for v in services.closures._indexes.values()} <= live
        assert {v[0]() and id(v[0]()) for v in services.warnings._touch.values()} <= live
    finally:
        await services.aclose()


def test_days_the_same_but_for_their_date_share_arrays_and_timetables(transit, tmp_path):
    """Tuesday's and Wednesday's models (weekdays around both) differ only in their date: Wednesday's uses
    Tuesday's arrays and timetables, and plans as a service that built only Wednesday's; Friday's (Saturday's
    trips after it) keeps its own."""
    from routing.raptor import reversed_timetable, timetable_of

    tue, wed, fri = DAY, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=3)
    m_tue, (planner,) = transit.planner_for(tue).model, transit.planners_for([wed])  # (Wednesday's own model)
    m_wed = planner.model
    assert m_wed.dep_by_pos is m_tue.dep_by_pos and m_wed.trip_ids is m_tue.trip_ids
    assert (m_tue.service_date, m_wed.service_date) == (tue, wed)
    assert timetable_of(m_wed) is timetable_of(m_tue)
    assert reversed_timetable(m_wed, True)[0] is reversed_timetable(m_tue, True)[0]
    m_fri = transit.planner_for(fri).model
    assert m_fri.dep_by_pos is not m_tue.dep_by_pos and m_fri.n_trips != m_tue.n_trips
    # what Friday holds equal to the day built before it is that day's (`share_equal_fields`)
    assert m_fri.stop_lat is m_wed.stop_lat and m_fri.fp_to is m_wed.fp_to and m_fri.stop_ids is m_wed.stop_ids
    fresh = _transit(tmp_path / "fresh")
    try:
        a, b, dep, arr = planner.sample_trip()
        for when, arrive_by in ((dep, False), (arr, True), (dep - dt.timedelta(hours=1), False)):
            ours = transit.plan_sync(a, b, when, arrive_by=arrive_by)
            assert ours and any(it["departure"].startswith("2026-11-25T08:00") for it in ours)
            assert ours == fresh.plan_sync(a, b, when, arrive_by=arrive_by)
        fresh_fri = fresh.planner_for(fri).model
        assert fresh_fri.stop_lat is not m_fri.stop_lat
        for when, arrive_by in ((dt.datetime(2026, 11, 27, 8, tzinfo=JST), False),
                                (dt.datetime(2026, 11, 27, 23, 30, tzinfo=JST), True)):
            assert transit.plan_sync(a, b, when, arrive_by=arrive_by) == fresh.plan_sync(a, b, when,
                                                                                         arrive_by=arrive_by)
    finally:
        fresh.close()
