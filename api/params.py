"""Query-parameter parsing that names the offending field: every bad value becomes a 422, never a 500."""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Mapping

from api.problems import invalid
from feeds.feed import TOKYO
from maas.platform.bounds import EARLIEST_DATE as EARLIEST, LATEST_DATE as LATEST

_COORD = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")
_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
# 'lat,lon' within range, as a pattern the OpenAPI document can state (the parser checks the same)
COORD_PATTERN = (r"^\s*-?(90(\.0+)?|[1-8]?[0-9](\.[0-9]+)?)\s*,"
                 r"\s*-?(180(\.0+)?|(1[0-7][0-9]|[1-9]?[0-9])(\.[0-9]+)?)\s*$")
# Dates and times a request may name (EARLIEST..LATEST), as patterns the OpenAPI document states, so every
# string the schema allows is one the parsers accept (29 February aside, which is accepted but not promised).
_YEAR = "(20[0-9]{2}|2100)"
_MONTH_DAY = "((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))"
DATE_PATTERN = f"^{_YEAR}-{_MONTH_DAY}$"
DATE_TIME_PATTERN = (f"^{_YEAR}-{_MONTH_DAY}T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{{1,6}})?)?"
                     "(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])?$")
DATE_SCHEMA = {"type": "string", "pattern": DATE_PATTERN, "description": "YYYY-MM-DD, 2000-2100",
               "examples": ["2026-11-24"]}
DATE_TIME_SCHEMA = {"type": "string", "pattern": DATE_TIME_PATTERN,
                    "description": "ISO-8601 date-time, 2000-2100; without an offset, Tokyo time",
                    "examples": ["2026-11-24T08:30:00+09:00"]}
TRUE, FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


@dataclass(frozen=True, slots=True)
class Place:
    """A trip end: coordinates or a stop/station id (the planner resolves ids)."""

    text: str  # what the planner receives: "lat,lon" or the id
    lat: float | None = None
    lon: float | None = None

    @property
    def is_coord(self) -> bool:
        return self.lat is not None


def coord(text: str, name: str) -> tuple[float, float]:
    m = _COORD.match(text)
    if not m:
        raise invalid(name, f"{name} must be 'lat,lon' in decimal degrees, e.g. 35.6896,139.6917; got {text!r}")
    lat, lon = float(m.group(1)), float(m.group(2))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise invalid(name, f"{name}: latitude must be within ±90 and longitude within ±180; got {lat},{lon}")
    return lat, lon


def place(query: Mapping[str, str], name: str) -> Place:
    text = query.get(name)
    if text is None or not text.strip():
        raise invalid(name, f"{name} is required: 'lat,lon' or a stop/station id such as toei-subway:E01")
    text = text.strip()
    if _COORD.match(text):
        lat, lon = coord(text, name)
        return Place(f"{lat},{lon}", lat, lon)
    if not _ID.match(text):
        raise invalid(name, f"{name} is neither 'lat,lon' nor a valid stop id (1-200 printable characters)")
    return Place(text)


def datetime_param(query: Mapping[str, str], name: str) -> dt.datetime | None:
    text = query.get(name)
    if text is None:
        return None
    if len(text) > 64:
        raise invalid(name, f"{name} must be an ISO-8601 date-time like 2026-11-24T08:30:00+09:00")
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise invalid(name, f"{name} must be an ISO-8601 date-time like 2026-11-24T08:30:00+09:00; got {text!r}")
    if not EARLIEST <= when.date() <= LATEST:
        raise invalid(name, f"{name} {text!r} is outside {EARLIEST.year}..{LATEST.year}")
    when = when if when.tzinfo else when.replace(tzinfo=TOKYO)
    return when.astimezone(TOKYO)


def date_param(query: Mapping[str, str], name: str, default: dt.date | None = None) -> dt.date:
    text = query.get(name)
    if text is None:
        if default is None:
            raise invalid(name, f"{name} is required (YYYY-MM-DD)")
        return default
    if len(text) > 32:
        raise invalid(name, f"{name} must be a date YYYY-MM-DD")
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise invalid(name, f"{name} must be a date YYYY-MM-DD; got {text!r}") from None
    if not EARLIEST <= day <= LATEST:
        raise invalid(name, f"{name} {text!r} is outside {EARLIEST.year}..{LATEST.year}")
    return day


def int_param(query: Mapping[str, str], name: str, default: int | None, lo: int, hi: int) -> int | None:
    text = query.get(name)
    if text is None:
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise invalid(name, f"{name} must be an integer in {lo}..{hi}; got {text!r}") from None
    if not lo <= value <= hi:
        raise invalid(name, f"{name} must be in {lo}..{hi}; got {value}")
    return value


def float_param(query: Mapping[str, str], name: str, default: float | None, lo: float, hi: float) -> float | None:
    text = query.get(name)
    if text is None:
        return default
    try:
        value = float(text.strip())
    except ValueError:
        raise invalid(name, f"{name} must be a number in {lo:g}..{hi:g}; got {text!r}") from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise invalid(name, f"{name} must be in {lo:g}..{hi:g}; got {text!r}")
    return value


def bool_param(query: Mapping[str, str], name: str, default: bool) -> bool:
    text = query.get(name)
    if text is None:
        return default
    low = text.strip().lower()
    if low in TRUE:
        return True
    if low in FALSE:
        return False
    raise invalid(name, f"{name} must be true or false; got {text!r}")


def enum_list(query: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> tuple[str, ...] | None:
    text = query.get(name)
    if text is None:
        return None
    items = tuple(dict.fromkeys(t.strip().upper() for t in text.split(",") if t.strip()))
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise invalid(name, f"{name} is a comma-separated list of {', '.join(allowed)}; unknown: {bad or [text]}")
    return items


def string_param(query: Mapping[str, str], name: str, *, required: bool = False, max_len: int = 200) -> str | None:
    text = query.get(name)
    if text is None or not text.strip():
        if required:
            raise invalid(name, f"{name} is required")
        return None
    text = text.strip()
    if len(text) > max_len or not _ID.match(text[:200]):
        raise invalid(name, f"{name} must be 1-{max_len} printable characters")
    return text


LANGUAGES = ("ja", "en")


def language(headers: Mapping[str, str]) -> str:
    """The language of names and headsigns from ``Accept-Language`` (RFC 9110 weights): "ja" (default) or "en".

    Unknown tags and malformed parts are skipped, never an error: the header is a preference, not a demand."""
    best, best_q = "ja", -1.0
    for i, part in enumerate((headers.get("Accept-Language") or "").split(",")):
        tag, _, rest = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES and primary != "*":
            continue
        q = 1.0
        rest = rest.strip()
        if rest.startswith("q="):
            try:
                q = float(rest[2:])
            except ValueError:
                continue
        if not (0 < q <= 1):
            continue
        q -= i * 1e-6  # equal weights: the first listed wins
        if q > best_q:
            best, best_q = ("ja" if primary == "*" else primary), q
    return best


CURSOR_PATTERN = r"^(earlier|later):[0-9]{1,11}(\.[0-9]{1,3})?$"
PLAN_CURSOR_PATTERN = r"^(earlier|later):[0-9]{1,11}$"  # the patterns the OpenAPI document states
BOARD_CURSOR_PATTERN = r"^later:[0-9]{1,11}(\.[0-9]{1,3})?$"
_CURSOR = re.compile(CURSOR_PATTERN)


@dataclass(frozen=True, slots=True)
class Cursor:
    """A page cursor: ``direction:epoch_seconds[.skip]`` — readable, and every string of that form is a valid
    page (``skip``: how many departures at exactly that second the previous page already showed)."""

    direction: str
    at: dt.datetime
    skip: int = 0


def make_cursor(direction: str, at: dt.datetime, skip: int = 0) -> str:
    return f"{direction}:{int(at.timestamp())}" + (f".{skip}" if skip else "")


def cursor_param(query: Mapping[str, str], name: str, directions: tuple[str, ...]) -> Cursor | None:
    text = query.get(name)
    if text is None:
        return None
    m = _CURSOR.match(text.strip())
    if not m or m.group(1) not in directions:
        raise invalid(name, f"{name} must be {' or '.join(d + ':EPOCH' for d in directions)} as given in page."
                            f"{directions[0]} of a previous answer; got {text!r}")
    direction, rest = text.strip().split(":", 1)
    seconds, _, skip = rest.partition(".")
    at = dt.datetime.fromtimestamp(min(int(seconds), 253_402_000_000), TOKYO)  # at most year 9999
    return Cursor(direction, at, int(skip or 0))
