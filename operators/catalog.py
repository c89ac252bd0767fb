"""Operators as data: each feed's profile (an explicit one, the feed's ``operator.json``, a built-in profile file
in ``operators/profiles/``, or a default read off the feed) with its fare tables and seat rules.

No operator has code of its own: a newly published feed is priced and bookable as soon as it is live.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from feeds.fares import FareTables
from feeds.feed import Feed
from feeds.problems import ValidationReport
from feeds.profile import OperatorProfile, parse_profile
from operators.adapter import SeatRules
from operators.fare_engine import OperatorFares

BUILTIN_DIR = Path(__file__).parent / "profiles"

ProfileLookup = Callable[[str], "OperatorProfile | None"]


@dataclass(frozen=True)
class OperatorSetup:
    """Everything that prices and books one operator."""

    profile: OperatorProfile
    tables: FareTables
    seats: SeatRules = field(default_factory=SeatRules)

    @property
    def fares(self) -> OperatorFares:
        return OperatorFares(self.profile, self.tables)


def builtin_profile(operator: str) -> OperatorProfile | None:
    """A profile shipped as data in ``operators/profiles/{operator}.json`` (Toei subway, Toei bus)."""
    path = BUILTIN_DIR / f"{operator}.json"
    if not path.exists():
        return None
    report = ValidationReport(operator)
    profile = parse_profile(json.loads(path.read_text("utf-8")), operator, report, file=path.name,
                            source="built-in")
    if profile is None:
        raise ValueError(f"built-in profile {path} is invalid: {report.format()}")
    return profile


def default_profile(feed: Feed) -> OperatorProfile:
    """What a feed without a profile sells as: fares from the feed, seats when its trips state seat_capacity,
    a full refund until departure."""
    facts = feed.facts()
    name = facts.agency_name if facts.agency_name is not None else feed.namespace
    return OperatorProfile(feed.namespace, {"ja": name, "en": name}, seat_inventory=facts.seated, source="default")


def seat_rules(feed: Feed) -> SeatRules:
    """Seats per trip (trips.seat_capacity) and booking notice per trip (the booking rule of its first booked
    pickup, GTFS-Flex prior_notice_duration_min/max): `FeedFacts`."""
    facts = feed.facts()
    return SeatRules(facts.seat_capacities, facts.notice_min, facts.notice_max)


def setup_for_feed(feed: Feed, profile: OperatorProfile | None = None) -> OperatorSetup:
    profile = profile or feed.profile or builtin_profile(feed.namespace) or default_profile(feed)
    tables = feed.fares if feed.fares is not None else FareTables(feed.namespace)
    return OperatorSetup(profile, tables, seat_rules(feed) if profile.seat_inventory else SeatRules())


class FeedCatalog:
    """Setups of the live feeds, rebuilt only for a feed or profile that changed (feeds are swapped whole)."""

    def __init__(self, feeds: Callable[[], list[Feed]], profiles: ProfileLookup | None = None):
        self.feeds = feeds
        self.profiles = profiles or (lambda op: None)
        self._cache: dict[str, tuple[Feed, OperatorProfile | None, OperatorSetup]] = {}

    def __call__(self) -> dict[str, OperatorSetup]:
        out = {}
        for feed in self.feeds():
            explicit = self.profiles(feed.namespace)
            hit = self._cache.get(feed.namespace)
            if hit is None or hit[0] is not feed or hit[1] is not explicit:
                hit = (feed, explicit, setup_for_feed(feed, explicit))
                self._cache[feed.namespace] = hit
            out[feed.namespace] = hit[2]
        return out
