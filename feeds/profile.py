"""Operator profiles (``operator.json`` in the feed zip, or ``PUT /v1/operators/{id}/profile``): how an operator
sells, as data. Parsed into a typed `OperatorProfile`; every problem is located by file and field (JSON path).

The schema is documented in docs/fares.md; in short::

    {"names": {"ja": "ちぃばす", "en": "Chii Bus"},
     "fares": {"source": "feed" | "flat" | "distance_bands",
               "feed_prices": "ic" | "ticket",            # what fare_attributes.price is (feed v1)
               "ticket_rounding": 10,                      # ticket = IC price rounded up to this many yen
               "child": {"percent": 50, "ic": {"step": 1, "round": "down"}, "ticket": {"step": 10, "round": "up"}},
               "flat": {"ic": 210, "ticket": 210},        # adult fares (source flat)
               "bands": [{"up_to_km": 4, "ic": 178}, ...]},  # adult IC fares (source distance_bands)
     "seats": {"inventory": true},                         # trips.seat_capacity is sold seat by seat
     "ticket": {"kind": "qr" | "ic_tap" | "paper", "valid_before_min": 30, "valid_after_min": 120},
     "cancellation": {"windows": [{"min_before_departure": 60, "refund_percent": 100, "fee": 0},
                                  {"min_before_departure": 0, "refund_percent": 50}]},
     "settlement": {"account": "acct-chiibus", "legal_name": "株式会社フジエクスプレス", "invoice_id": "T..."}}
"""
from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field

from feeds.problems import ValidationReport

PROFILE_FILE = "operator.json"
FARE_SOURCES = ("feed", "flat", "distance_bands")
TICKET_KINDS = ("qr", "ic_tap", "paper", "none")
MAX_PROFILE_BYTES = 64 * 1024
MAX_TEXT = 200  # characters of a display name or settlement field


@dataclass(frozen=True)
class Rounding:
    step: int = 1
    round: str = "down"  # "up" | "down" | "nearest"

    def apply(self, num: int, den: int = 1) -> int:
        """Round the exact yen value ``num / den`` to a multiple of ``step`` yen, integers only."""
        unit = den * self.step
        if self.round == "up":
            return -(-num // unit) * self.step
        if self.round == "nearest":
            return ((2 * num + unit) // (2 * unit)) * self.step
        return (num // unit) * self.step


@dataclass(frozen=True)
class ChildRule:
    """Child fare from the adult fare: ``percent`` of it, rounded per medium (Toei: half; paper tickets up to
    10 yen, IC down to 1 yen)."""

    percent: int = 50
    ic: Rounding = Rounding(1, "down")
    ticket: Rounding = Rounding(10, "up")

    def child(self, adult: int, medium: str) -> int:
        return (self.ic if medium == "ic" else self.ticket).apply(adult * self.percent, 100)


@dataclass(frozen=True)
class Band:
    up_to_km: int
    ic: int
    ticket: int | None = None


@dataclass(frozen=True)
class FareSpec:
    source: str = "feed"
    feed_prices: str = "ic"
    ticket_rounding: int = 1
    child: ChildRule = ChildRule()
    flat: dict[str, int] = field(default_factory=dict)  # medium → adult fare
    flat_child: dict[str, int] = field(default_factory=dict)  # medium → child fare (else the child rule)
    bands: tuple[Band, ...] = ()


@dataclass(frozen=True)
class RefundWindow:
    min_before_departure: int
    refund_percent: int
    fee: int = 0


@dataclass(frozen=True)
class OperatorProfile:
    operator: str
    names: dict[str, str] = field(default_factory=dict)
    fares: FareSpec = FareSpec()
    seat_inventory: bool = False
    default_prior_notice_min: int = 0
    ticket_kind: str = "qr"
    ticket_valid_before_min: int = 30
    ticket_valid_after_min: int = 120
    refund_windows: tuple[RefundWindow, ...] = (RefundWindow(0, 100),)  # full refund until departure
    settlement: dict[str, str] = field(default_factory=dict)
    source: str = "default"  # "operator.json" | "api" | "built-in" | "default"

    def to_dict(self) -> dict:
        f = self.fares
        fares: dict = {"source": f.source, "feed_prices": f.feed_prices, "ticket_rounding": f.ticket_rounding,
                       "child": {"percent": f.child.percent,
                                 "ic": {"step": f.child.ic.step, "round": f.child.ic.round},
                                 "ticket": {"step": f.child.ticket.step, "round": f.child.ticket.round}}}
        if f.flat:
            fares["flat"] = dict(f.flat)
        if f.flat_child:
            fares["flat_child"] = dict(f.flat_child)
        if f.bands:
            fares["bands"] = [{"up_to_km": b.up_to_km, "ic": b.ic, **({"ticket": b.ticket} if b.ticket else {})}
                              for b in f.bands]
        return {"operator": self.operator, "names": dict(self.names), "fares": fares,
                "seats": {"inventory": self.seat_inventory, "default_prior_notice_min": self.default_prior_notice_min},
                "ticket": {"kind": self.ticket_kind, "valid_before_min": self.ticket_valid_before_min,
                           "valid_after_min": self.ticket_valid_after_min},
                "cancellation": {"windows": [{"min_before_departure": w.min_before_departure,
                                              "refund_percent": w.refund_percent, "fee": w.fee}
                                             for w in self.refund_windows]},
                "settlement": dict(self.settlement), "source": self.source}


class _P:
    """Reads a JSON object with located problems (field = JSON path)."""

    def __init__(self, report: ValidationReport, file: str):
        self.report, self.file = report, file

    def err(self, path: str, message: str) -> None:
        self.report.error(self.file, message, None, path)

    def obj(self, d: dict, key: str, path: str) -> dict:
        v = d.get(key, {})
        if not isinstance(v, dict):
            self.err(f"{path}{key}", f"{path}{key} must be an object")
            return {}
        return v

    def int(self, d: dict, key: str, path: str, default: int | None, lo: int = 0, hi: int = 10_000_000) -> int | None:
        v = d.get(key, default)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            self.err(f"{path}{key}", f"{path}{key} must be a whole number {lo}..{hi} (got {v!r})")
            return default
        return v

    def choice(self, d: dict, key: str, path: str, options: tuple[str, ...], default: str) -> str:
        v = d.get(key, default)
        if v not in options:
            self.err(f"{path}{key}", f"{path}{key} must be one of {list(options)} (got {v!r})")
            return default
        return v

    def text(self, value: object, path: str) -> bool:
        """A display or identity string: non-empty, at most MAX_TEXT characters, no control characters."""
        if not isinstance(value, str) or not value.strip():
            self.err(path, f"{path} must be a non-empty string")
        elif len(value) > MAX_TEXT:
            self.err(path, f"{path} has {len(value)} characters; at most {MAX_TEXT}")
        elif any(unicodedata.category(c) == "Cc" for c in value):
            self.err(path, f"{path} contains a control character")
        else:
            return True
        return False

    def unknown(self, d: dict, allowed: set[str], path: str) -> None:
        for k in sorted(set(d) - allowed):
            self.err(f"{path}{k}", f"unknown field {path}{k} (known: {', '.join(sorted(allowed))})")


def parse_profile_bytes(raw: bytes, operator: str, report: ValidationReport, *, file: str = PROFILE_FILE,
                        source: str = PROFILE_FILE) -> OperatorProfile | None:
    if len(raw) > MAX_PROFILE_BYTES:
        report.error(file, f"{file} is larger than {MAX_PROFILE_BYTES} bytes")
        return None
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        report.error(file, f"{file} is not UTF-8")
        return None
    except json.JSONDecodeError as exc:
        report.error(file, f"{file} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        return None
    return parse_profile(data, operator, report, file=file, source=source)


def parse_profile(data: object, operator: str, report: ValidationReport, *, file: str = PROFILE_FILE,
                  source: str = PROFILE_FILE) -> OperatorProfile | None:
    """The typed profile, or None when it has errors (all of them in ``report``)."""
    p = _P(report, file)
    before = len(report.errors)
    if not isinstance(data, dict):
        p.err("", f"{file} must be a JSON object")
        return None
    p.unknown(data, {"operator", "names", "fares", "seats", "ticket", "cancellation", "settlement"}, "")
    if "operator" in data and data["operator"] != operator:
        p.err("operator", f"operator {data['operator']!r} does not match the operator id {operator!r}")
    names = p.obj(data, "names", "")
    for lang, name in names.items():
        if lang not in ("ja", "en", "ja-Hrkt", "zh", "ko"):
            p.err(f"names.{lang}", f"names.{lang}: languages are ja, en, ja-Hrkt, zh, ko")
        else:
            p.text(name, f"names.{lang}")
    if names and not ({"ja", "en"} <= set(names)):
        p.err("names", "names needs both ja and en display names")
    fares = _fares(p, p.obj(data, "fares", ""))
    seats = p.obj(data, "seats", "")
    p.unknown(seats, {"inventory", "default_prior_notice_min"}, "seats.")
    inventory = seats.get("inventory", False)
    if not isinstance(inventory, bool):
        p.err("seats.inventory", "seats.inventory must be true or false")
        inventory = False
    notice = p.int(seats, "default_prior_notice_min", "seats.", 0, 0, 60 * 24 * 60)
    ticket = p.obj(data, "ticket", "")
    p.unknown(ticket, {"kind", "valid_before_min", "valid_after_min"}, "ticket.")
    kind = p.choice(ticket, "kind", "ticket.", TICKET_KINDS, "qr")
    vb = p.int(ticket, "valid_before_min", "ticket.", 30, 0, 24 * 60)
    va = p.int(ticket, "valid_after_min", "ticket.", 120, 0, 7 * 24 * 60)
    windows = _windows(p, p.obj(data, "cancellation", ""))
    settlement = p.obj(data, "settlement", "")
    p.unknown(settlement, {"account", "legal_name", "invoice_id"}, "settlement.")
    for k, v in settlement.items():
        p.text(v, f"settlement.{k}")
    if len(report.errors) > before:
        return None
    return OperatorProfile(operator, {k: v.strip() for k, v in names.items()}, fares, inventory, notice or 0, kind,
                           vb, va, windows, {k: v.strip() for k, v in settlement.items()}, source)


def _rounding(p: _P, d: object, path: str, default: Rounding) -> Rounding:
    if d is None:
        return default
    if not isinstance(d, dict):
        p.err(path, f"{path} must be an object like {{\"step\": 10, \"round\": \"up\"}}")
        return default
    p.unknown(d, {"step", "round"}, path + ".")
    step = p.int(d, "step", path + ".", default.step, 1, 1000)
    return Rounding(step or 1, p.choice(d, "round", path + ".", ("up", "down", "nearest"), default.round))


def _fares(p: _P, d: dict) -> FareSpec:
    p.unknown(d, {"source", "feed_prices", "ticket_rounding", "child", "flat", "flat_child", "bands"}, "fares.")
    source = p.choice(d, "source", "fares.", FARE_SOURCES, "feed")
    feed_prices = p.choice(d, "feed_prices", "fares.", ("ic", "ticket"), "ic")
    ticket_rounding = p.int(d, "ticket_rounding", "fares.", 1, 1, 1000) or 1
    child_d = d.get("child", {})
    child = ChildRule()
    if not isinstance(child_d, dict):
        p.err("fares.child", "fares.child must be an object")
    else:
        p.unknown(child_d, {"percent", "ic", "ticket"}, "fares.child.")
        child = ChildRule(p.int(child_d, "percent", "fares.child.", 50, 0, 100) or 0,
                          _rounding(p, child_d.get("ic"), "fares.child.ic", Rounding(1, "down")),
                          _rounding(p, child_d.get("ticket"), "fares.child.ticket", Rounding(10, "up")))

    def media(key: str) -> dict[str, int]:
        v = d.get(key)
        if v is None:
            return {}
        if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 100_000:
            return {"ic": v, "ticket": v}
        if not isinstance(v, dict) or not v:
            p.err(f"fares.{key}", f"fares.{key} must be yen or an object {{\"ic\": 210, \"ticket\": 210}}")
            return {}
        p.unknown(v, {"ic", "ticket"}, f"fares.{key}.")
        out = {m: p.int(v, m, f"fares.{key}.", None, 0, 100_000) for m in ("ic", "ticket") if m in v}
        if len(out) == 1:
            out = {"ic": next(iter(out.values())), "ticket": next(iter(out.values()))}
        return {k: x for k, x in out.items() if x is not None}

    flat, flat_child = media("flat"), media("flat_child")
    if source == "flat" and not flat:
        p.err("fares.flat", "fares.source is flat: give fares.flat (adult yen, or {\"ic\": n, \"ticket\": n})")
    bands: list[Band] = []
    raw_bands = d.get("bands", [])
    if not isinstance(raw_bands, list):
        p.err("fares.bands", "fares.bands must be a list of {\"up_to_km\": n, \"ic\": yen}")
        raw_bands = []
    for i, b in enumerate(raw_bands):
        path = f"fares.bands[{i}]."
        if not isinstance(b, dict):
            p.err(path[:-1], f"{path[:-1]} must be an object")
            continue
        p.unknown(b, {"up_to_km", "ic", "ticket"}, path)
        km, ic = p.int(b, "up_to_km", path, None, 1, 1000), p.int(b, "ic", path, None, 0, 100_000)
        if km is None or ic is None:
            if "up_to_km" not in b or "ic" not in b:
                p.err(path[:-1], f"{path[:-1]} needs up_to_km and ic")
            continue
        if bands and km <= bands[-1].up_to_km:
            p.err(f"{path}up_to_km", f"{path}up_to_km {km} must be above the previous band's {bands[-1].up_to_km}")
            continue
        bands.append(Band(km, ic, p.int(b, "ticket", path, None, 0, 100_000)))
    if source == "distance_bands" and not bands:
        p.err("fares.bands", "fares.source is distance_bands: give fares.bands")
    return FareSpec(source, feed_prices, ticket_rounding, child, flat, flat_child, tuple(bands))


def _windows(p: _P, d: dict) -> tuple[RefundWindow, ...]:
    p.unknown(d, {"windows"}, "cancellation.")
    raw = d.get("windows")
    if raw is None:
        return (RefundWindow(0, 100),)
    if not isinstance(raw, list) or not raw:
        p.err("cancellation.windows", "cancellation.windows must be a non-empty list of "
                                      "{\"min_before_departure\": n, \"refund_percent\": n}")
        return (RefundWindow(0, 100),)
    out: list[RefundWindow] = []
    for i, w in enumerate(raw):
        path = f"cancellation.windows[{i}]."
        if not isinstance(w, dict):
            p.err(path[:-1], f"{path[:-1]} must be an object")
            continue
        p.unknown(w, {"min_before_departure", "refund_percent", "fee"}, path)
        before = p.int(w, "min_before_departure", path, None, 0, 60 * 24 * 365)
        pct = p.int(w, "refund_percent", path, None, 0, 100)
        fee = p.int(w, "fee", path, 0, 0, 100_000)
        if before is None or pct is None:
            if "min_before_departure" not in w or "refund_percent" not in w:
                p.err(path[:-1], f"{path[:-1]} needs min_before_departure and refund_percent")
            continue
        out.append(RefundWindow(before, pct, fee or 0))
    ordered = sorted(out, key=lambda w: -w.min_before_departure)
    if len({w.min_before_departure for w in out}) != len(out):
        p.err("cancellation.windows", "two cancellation windows start at the same min_before_departure")
    return tuple(ordered) or (RefundWindow(0, 100),)
