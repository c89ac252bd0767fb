"""The fare engine: pure functions pricing a journey's legs from typed fare tables (feeds/fares.py) and operator
profiles (feeds/profile.py). One computation for plans, offers, bookings, refunds and settlement.

Per operator the profile says where fares come from: the feed (GTFS fares v2 when the feed has leg rules or
distance bands, else GTFS fares v1), a flat fare, or distance bands. Then fare_transfer_rules of every operator
(so cross-operator rules such as the Toei ↔ Tokyo Metro discount apply) adjust consecutive legs. Each rider
category is priced on its own; amounts are integer JPY. How a transfer product is split between two operators for
settlement is documented in docs/fares.md (in proportion to each leg's own fare).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from feeds.fares import ALL_LEGS, IC_MEDIA_TYPES, TICKET_MEDIA_TYPES, FareLegRule, FareTables, FareTransferRule
from feeds.profile import OperatorProfile
from operators.base import LegPrice, LegRef, Passengers
from operators.money import round_up

MEDIA = ("ic", "ticket")
RIDERS = ("adult", "child")


class FareUnknown(Exception):
    """No fare can be computed for a leg; ``reason`` says why (shown as ``fare_unknown`` in plans)."""

    def __init__(self, reason: str, leg_index: int | None = None):
        super().__init__(reason)
        self.reason, self.leg_index = reason, leg_index


@dataclass(frozen=True)
class OperatorFares:
    """What prices one operator's legs."""

    profile: OperatorProfile
    tables: FareTables

    @property
    def operator(self) -> str:
        return self.profile.operator


@dataclass
class _Leg:
    """One leg priced for one rider category: ``amount`` after transfers, ``own`` before."""

    leg: LegRef
    own: int
    basis: str
    product: str
    groups: frozenset[str]
    amount: int = 0
    included_in: int | None = None  # index (in the journey) of the leg whose through fare covers this one


@dataclass(frozen=True)
class TransferApplied:
    from_leg: int
    to_leg: int
    rule: str
    amount: int  # what the transfer product adds (negative: a discount), for one rider
    split: dict[str, int]  # operator → share of ``amount``


@dataclass
class RiderFare:
    legs: list[_Leg]
    transfers: list[TransferApplied] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(x.amount for x in self.legs)


# --------------------------------------------------------------------------- one leg

def _medium_price(of: OperatorFares, price: int, ic_price: int | None, medium: str) -> int:
    """A v1 fare attribute in ``medium``, by the profile's reading of ``price``."""
    spec = of.profile.fares
    if spec.feed_prices == "ic":
        return price if medium == "ic" else round_up(price, spec.ticket_rounding)
    return price if medium != "ic" or ic_price is None else ic_price


def _child(of: OperatorFares, adult: int, medium: str) -> int:
    if adult < 0:
        return -of.profile.fares.child.child(-adult, medium)
    return of.profile.fares.child.child(adult, medium)


def _flat(of: OperatorFares, leg: LegRef, rider: str, medium: str) -> tuple[int, str, str]:
    spec = of.profile.fares
    adult = spec.flat.get(medium)
    if adult is None:
        raise FareUnknown(f"{of.operator} states no flat {medium} fare", leg.index)
    if rider == "adult":
        return adult, "flat fare", "flat"
    child = spec.flat_child.get(medium)
    return (child if child is not None else _child(of, adult, medium)), "flat fare", "flat"


def _bands(of: OperatorFares, leg: LegRef, rider: str, medium: str) -> tuple[int, str, str]:
    return _band_fare(of, leg.distance_m, leg.index, rider, medium)


def _band_fare(of: OperatorFares, distance_m: float, leg_index: int, rider: str, medium: str) -> tuple[int, str, str]:
    """The distance band fare for ``distance_m`` (a leg's, or a through run's summed)."""
    bands = of.profile.fares.bands
    km = max(1, -(-int(distance_m) // 1000))
    band = next((b for b in bands if km <= b.up_to_km), None)
    if band is None:
        raise FareUnknown(f"{of.operator}: {km} km is beyond its longest distance band ({bands[-1].up_to_km} km)",
                          leg_index)
    if medium == "ic":
        adult = band.ic
    else:
        adult = band.ticket if band.ticket is not None else round_up(band.ic, of.profile.fares.ticket_rounding)
    amount = adult if rider == "adult" else _child(of, adult, medium)
    return amount, f"distance band {km} km", f"band≤{band.up_to_km}km"


_RIDER_CACHE: dict[tuple[int, str], tuple[FareTables, frozenset[str]]] = {}
_MEMO: dict[int, tuple[FareTables, dict]] = {}
MEMO_SIZE = 50_000  # matches remembered per table (rider-independent); tables are swapped whole, never edited


def _memo(t: FareTables) -> dict:
    """A per-table memo of rule matches: the adult and child passes, and the itineraries of one plan, share the
    same legs."""
    hit = _MEMO.get(id(t))
    if hit is None or hit[0] is not t:
        if len(_MEMO) > 64:
            _MEMO.clear()
        hit = (t, {})
        _MEMO[id(t)] = hit
    if len(hit[1]) > MEMO_SIZE:
        hit[1].clear()
    return hit[1]


def _rider_ids(t: FareTables, rider: str) -> frozenset[str]:
    """Feed rider categories meaning ``rider``: ids ``adult``/``child`` (any case), the default category for
    adults, names with child / 小児 / こども for children. Computed once per table."""
    hit = _RIDER_CACHE.get((id(t), rider))
    if hit is not None and hit[0] is t:
        return hit[1]
    out = set()
    for cid, (name, is_default) in t.rider_categories.items():
        raw, low = cid.split(":", 1)[-1].lower(), name.lower()
        if rider == "adult" and (raw == "adult" or is_default or "大人" in name or low == "adult"):
            out.add(cid)
        if rider == "child" and (raw.startswith("child") or "child" in low or "小児" in name or "こども" in name):
            out.add(cid)
    if len(_RIDER_CACHE) > 256:
        _RIDER_CACHE.clear()
    _RIDER_CACHE[(id(t), rider)] = (t, frozenset(out))
    return frozenset(out)


def product_amount(of: OperatorFares, tables: FareTables, product_id: str, rider: str, medium: str,
                   leg_index: int | None = None) -> int:
    """A fare product's amount for a rider category and medium; a child without a child product pays the
    operator's child share of the adult (or everybody) amount. Remembered per table (`_memo`) with the profile
    it was worked out for (a child's share is the profile's): a plan's journeys ask for the same few products for
    every leg and rider, and each answer filters the product's rows again."""
    key = ("product", product_id, rider, medium)
    memo = _memo(tables)
    hit = memo.get(key)
    if hit is None or hit[0] is not of.profile:
        try:
            hit = (of.profile, _product_amount(of, tables, product_id, rider, medium), None)
        except FareUnknown as err:
            hit = (of.profile, None, err.reason)
        memo[key] = hit
    if hit[2] is not None:
        raise FareUnknown(hit[2], leg_index)
    return hit[1]


def _product_amount(of: OperatorFares, tables: FareTables, product_id: str, rider: str, medium: str) -> int:
    """`product_amount` worked out; its FareUnknown carries no leg (the answer is remembered per product, not per
    leg: `product_amount` raises it again with the caller's leg)."""
    rows = tables.products.get(product_id, [])
    types = IC_MEDIA_TYPES if medium == "ic" else TICKET_MEDIA_TYPES
    fitting = [p for p in rows if not p.fare_media_id or tables.media.get(p.fare_media_id) in types]
    if not fitting:
        raise FareUnknown(f"fare product {product_id} has no {medium} price")
    riders = _rider_ids(tables, rider)

    def best(cands):  # a specific medium beats "any medium"
        return min(cands, key=lambda p: (not p.fare_media_id, p.amount))

    mine = [p for p in fitting if p.rider_category_id in riders]
    if mine:
        return best(mine).amount
    general = [p for p in fitting if not p.rider_category_id]
    if rider == "adult":
        adults = general or [p for p in fitting if tables.rider_categories.get(p.rider_category_id, ("", False))[1]]
        if not adults:
            raise FareUnknown(f"fare product {product_id} has no adult price")
        return best(adults).amount
    base = general or [p for p in fitting if p.rider_category_id in _rider_ids(tables, "adult")]
    if not base:
        raise FareUnknown(f"fare product {product_id} has no child price")
    return _child(of, best(base).amount, medium)


def _in_timeframe(t: FareTables, group: str, when: dt.datetime) -> bool:
    """Timeframes are local times on service days of the feed's own zone (a New York feed's, not Tokyo's)."""
    local = when.astimezone(ZoneInfo(t.timezone))
    secs = local.hour * 3600 + local.minute * 60 + local.second
    return any(tf.start_s <= secs < tf.end_s and local.date() in t.service_dates.get(tf.service_id, ())
               for tf in t.timeframes.get(group, ()))


def matching_leg_rules(t: FareTables, leg: LegRef) -> list[FareLegRule]:
    """Fares v2 matching, then only the highest ``rule_priority``. With a rule_priority column an empty field
    matches anything; without it, per field the rules naming the leg's value win, else those leaving it empty."""
    if not t.leg_rules:
        return []
    key = ("leg", leg.route_id, leg.from_stop, leg.to_stop) + \
        ((leg.departure, leg.arrival) if t.timeframes else ())
    memo = _memo(t)
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = _matching_leg_rules(t, leg)
    return hit


def _matching_leg_rules(t: FareTables, leg: LegRef) -> list[FareLegRule]:
    net = t.route_network.get(leg.route_id, "")
    checks = [("network_id", lambda v: v == net),
              ("from_area_id", lambda v, a=t.areas_of(leg.from_stop): v in a),
              ("to_area_id", lambda v, a=t.areas_of(leg.to_stop): v in a),
              ("from_timeframe_group_id", lambda v: _in_timeframe(t, v, leg.departure)),
              ("to_timeframe_group_id", lambda v: _in_timeframe(t, v, leg.arrival))]
    rules = t.leg_rules
    for attr, hit in checks:
        if t.leg_rules_prioritised:
            rules = [r for r in rules if not getattr(r, attr) or hit(getattr(r, attr))]
        else:
            named = [r for r in rules if getattr(r, attr) and hit(getattr(r, attr))]
            rules = named or [r for r in rules if not getattr(r, attr)]
    if not rules:
        return []
    top = max(r.rule_priority for r in rules)
    return [r for r in rules if r.rule_priority == top]


def _v2(of: OperatorFares, leg: LegRef, rider: str, medium: str) -> tuple[int, str, str, frozenset[str]]:
    t = of.tables
    rules = matching_leg_rules(t, leg)
    if rules:
        options = []
        for r in rules:
            try:
                options.append((product_amount(of, t, r.fare_product_id, rider, medium, leg.index), r))
            except FareUnknown:
                continue
        if not options:
            raise FareUnknown(f"{of.operator}: no {rider} {medium} product among the matching fare_leg_rules",
                              leg.index)
        amount, rule = min(options, key=lambda o: o[0])
        groups = frozenset({rule.leg_group_id}) if rule.leg_group_id else frozenset()
        return amount, f"fare_leg_rules → {rule.fare_product_id}", rule.fare_product_id, groups
    if t.distance_bands:
        km = max(1, -(-int(leg.distance_m) // 1000))
        net = t.route_network.get(leg.route_id, "")
        bands = [b for b in t.distance_bands if b.network_id == net] or \
            [b for b in t.distance_bands if not b.network_id]
        band = next((b for b in bands if b.min_km <= km <= b.max_km), None)
        if band is not None:
            amount = product_amount(of, t, band.fare_product_id, rider, medium, leg.index)
            return amount, f"distance band {km} km → {band.fare_product_id}", band.fare_product_id, frozenset()
        raise FareUnknown(f"{of.operator}: no distance band covers {km} km", leg.index)
    raise FareUnknown(f"{of.operator}: no fare_leg_rule matches route {leg.route_id} from {leg.from_stop} to "
                      f"{leg.to_stop}", leg.index)


# --------------------------------------------------------------------------- GTFS fares v1 over a run of legs

@dataclass(frozen=True)
class _V1Fare:
    """One v1 fare's rules, indexed: (origin, destination) patterns ("" = any) of rows without a route and of
    rows naming routes, the routes named, the zones it must contain."""

    od_any_route: frozenset[tuple[str, str]]
    od_routed: frozenset[tuple[str, str]]
    routes: frozenset[str]
    contains: frozenset[str]


@dataclass(frozen=True)
class _V1Index:
    fares: dict[str, _V1Fare]
    by_od: dict[tuple[str, str], tuple[str, ...]]  # pattern → fares having it


_V1_CACHE: dict[int, tuple[FareTables, _V1Index]] = {}


def _v1_index(t: FareTables) -> _V1Index:
    """Built once per table (a feed is swapped whole, so a table never changes)."""
    hit = _V1_CACHE.get(id(t))
    if hit is not None and hit[0] is t:
        return hit[1]
    rows: dict[str, list] = {}
    for r in t.rules:
        rows.setdefault(r.fare_id, []).append(r)
    fares, by_od = {}, {}
    for fid, rs in rows.items():
        f = _V1Fare(frozenset((r.origin_id, r.destination_id) for r in rs if not r.route_id),
                    frozenset((r.origin_id, r.destination_id) for r in rs if r.route_id),
                    frozenset(r.route_id for r in rs if r.route_id),
                    frozenset(r.contains_id for r in rs if r.contains_id))
        fares[fid] = f
        for od in f.od_any_route | f.od_routed:
            by_od.setdefault(od, []).append(fid)
    index = _V1Index(fares, {k: tuple(v) for k, v in by_od.items()})
    if len(_V1_CACHE) > 64:
        _V1_CACHE.clear()
    _V1_CACHE[id(t)] = (t, index)
    return index


def _v1_candidates(t: FareTables, legs: list[LegRef]) -> list[str]:
    """v1 fares covering the consecutive legs: transfers and duration, origin zone of the first leg, destination
    zone of the last, every leg's route among the fare's routes (rows naming routes), the zones contained."""
    key = ("v1", int((legs[-1].departure - legs[0].departure).total_seconds())) + \
        tuple((x.route_id, x.from_stop, x.to_stop) for x in legs)
    memo = _memo(t)
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = _v1_candidates_uncached(t, legs)
    return hit


def _v1_candidates_uncached(t: FareTables, legs: list[LegRef]) -> list[str]:
    index = _v1_index(t)
    if not index.fares:  # fare_attributes without rules: each fare applies to every leg (GTFS v1)
        found = list(t.attributes)
    else:
        o, d = t.stop_zone.get(legs[0].from_stop, ""), t.stop_zone.get(legs[-1].to_stop, "")
        pats = ((o, d), (o, ""), ("", d), ("", ""))
        found = []
        seen: set[str] = set()
        for pat in pats:
            for fid in index.by_od.get(pat, ()):
                if fid in seen:
                    continue
                seen.add(fid)
                f = index.fares[fid]
                hit = any(p in f.od_any_route for p in pats) or \
                    (any(p in f.od_routed for p in pats) and all(x.route_id in f.routes for x in legs))
                if hit and f.contains:
                    zones = {t.stop_zone.get(s, "") for x in legs for s in (x.from_stop, x.to_stop)}
                    hit = zones == f.contains
                if hit:
                    found.append(fid)
    out = []
    for fid in found:
        attr = t.attributes[fid]
        if attr.transfers is not None and len(legs) - 1 > attr.transfers:
            continue
        if attr.transfer_duration is not None and len(legs) > 1 and \
                (legs[-1].departure - legs[0].departure).total_seconds() > attr.transfer_duration:
            continue
        out.append(fid)
    return out


def _v1_run(of: OperatorFares, run: list[LegRef], rider: str, medium: str) -> list[tuple[int, int, int, str, str]]:
    """Cheapest split of consecutive legs of one operator into v1 fares: (first, last, amount, basis, fare_id)."""
    t = of.tables
    n = len(run)
    costs: dict[str, int] = {}  # (each fare's cost once: the split asks again for every span that it covers)

    def cost(fid: str) -> int:
        hit = costs.get(fid)
        if hit is None:
            a = t.attributes[fid]
            adult = _medium_price(of, a.price, a.ic_price, medium)
            hit = costs[fid] = adult if rider == "adult" else _child(of, adult, medium)
        return hit

    best: list[tuple[int, list] | None] = [(0, [])] + [None] * n
    for j in range(1, n + 1):
        for i in range(j - 1, -1, -1):
            if best[i] is None:
                continue
            cands = _v1_candidates(t, run[i:j])
            if not cands:
                continue
            fid = min(cands, key=cost)
            c = best[i][0] + cost(fid)
            if best[j] is None or c < best[j][0]:
                o, d = t.stop_zone.get(run[i].from_stop, "?"), t.stop_zone.get(run[j - 1].to_stop, "?")
                basis = f"feed fare_rules {o.split(':', 1)[-1]}→{d.split(':', 1)[-1]}"
                best[j] = (c, best[i][1] + [(i, j - 1, cost(fid), basis, fid)])
    if best[n] is None:
        bad = next((k for k in range(n) if not _v1_candidates(t, [run[k]])), 0)
        leg = run[bad]
        raise FareUnknown(f"{of.operator}: no fare in fare_rules covers route {leg.route_id} from "
                          f"{leg.from_stop} to {leg.to_stop}", leg.index)
    return best[n][1]


# --------------------------------------------------------------------------- the journey

def _fallback_run(of: OperatorFares, run: list[LegRef], rider: str, medium: str, how) -> list[tuple]:
    """Profile fares over consecutive legs of one operator: a flat fare is paid per boarding; distance bands
    price the run's whole distance once (a through fare, as Toei charges by origin and destination)."""
    if how is _bands and len(run) > 1:
        # (the run's summed distance priced as the first leg's: no LegRef copy, dataclasses.replace is slow)
        amount, basis, product = _band_fare(of, sum(x.distance_m for x in run), run[0].index, rider, medium)
        return [(0, len(run) - 1, amount, basis, product)]  # (the caller names the legs it covers: `_through`)
    return [(m, m, *how(of, x, rider, medium)) for m, x in enumerate(run)]


def _runs(legs: list[LegRef]) -> list[list[int]]:
    runs: list[list[int]] = []
    for k, leg in enumerate(legs):
        if runs and legs[runs[-1][-1]].operator == leg.operator:
            runs[-1].append(k)
        else:
            runs.append([k])
    return runs


def unpriceable(of: OperatorFares | None, op: str) -> str | None:
    """Why no leg of operator ``op`` can be priced, whatever the leg (no fares known; fares from a feed without
    fare files and no profile fare to fall back on), or None. The first run of such an operator fails a journey."""
    if of is None:
        return f"no fares known for operator {op!r}"
    spec = of.profile.fares
    if spec.source == "feed" and not of.tables.has_v2 and not of.tables.has_v1 and not spec.flat and not spec.bands:
        return f"{op}: the profile takes fares from the feed, but the feed has no fare files"
    return None


def _price_legs(catalog: dict[str, OperatorFares], legs: list[LegRef], rider: str, medium: str) -> list[_Leg]:
    out: list[_Leg | None] = [None] * len(legs)
    for run in _runs(legs):
        op = legs[run[0]].operator
        of = catalog.get(op)
        why = unpriceable(of, op)
        if why is not None:
            raise FareUnknown(why, legs[run[0]].index)
        spec = of.profile.fares
        source = spec.source
        implicit = frozenset({f"{op}:{ALL_LEGS}"})
        fallback = _flat if spec.flat else _bands if spec.bands else None  # for what the feed does not price
        if source == "feed" and of.tables.has_v2:
            for k in run:
                try:
                    amount, basis, product, groups = _v2(of, legs[k], rider, medium)
                except FareUnknown:
                    if fallback is None:
                        raise
                    amount, basis, product = fallback(of, legs[k], rider, medium)
                    groups = frozenset()
                out[k] = _Leg(legs[k], amount, basis, product, groups | implicit)
        elif source == "feed":
            ride = [legs[k] for k in run]
            if of.tables.has_v1:
                try:
                    split = _v1_run(of, ride, rider, medium)
                except FareUnknown:
                    if fallback is None:
                        raise
                    split = _fallback_run(of, ride, rider, medium, fallback)
            else:  # no fare files (e.g. a converted feed): the profile's fares (`unpriceable`: there are some)
                split = _fallback_run(of, ride, rider, medium, fallback)
            _spread(out, legs, run, split, implicit)
        else:
            split = _fallback_run(of, [legs[k] for k in run], rider, medium, _flat if source == "flat" else _bands)
            _spread(out, legs, run, split, implicit)
    for x in out:
        x.amount = x.own
    return out  # type: ignore[return-value]


def _spread(out: list, legs: list[LegRef], run: list[int], split: list[tuple], implicit) -> None:
    """Each fare of ``split`` (first, last, amount, basis, product over positions of ``run``) on its first leg,
    the legs after it in the same fare included in it: one way for a feed's fare_rules and a profile's fares."""
    for first, last, amount, basis, product in split:
        head = run[first]
        out[head] = _Leg(legs[head], amount, basis + _through(legs, run, first, last), product, implicit)
        for m in range(first + 1, last + 1):
            out[run[m]] = _Leg(legs[run[m]], 0, f"included in leg {legs[head].index}'s fare", product, implicit,
                               included_in=head)


def _through(legs: list[LegRef], run: list[int], first: int, last: int) -> str:
    """What a fare's basis adds when it covers several legs (said once, whichever path priced them)."""
    return f" (through fare for legs {legs[run[first]].index}–{legs[run[last]].index})" if last > first else ""


def _window_ok(rule: FareTransferRule, a: LegRef, b: LegRef) -> bool:
    if rule.duration_limit is None:
        return True
    start = a.departure if rule.duration_limit_type in (0, 1) else a.arrival
    end = b.arrival if rule.duration_limit_type in (0, 3) else b.departure
    return (end - start).total_seconds() <= rule.duration_limit


def _area_ok(catalog: dict[str, OperatorFares], rule: FareTransferRule, a: LegRef, b: LegRef) -> bool:
    if not rule.transfer_area_id:
        return True

    def areas(stop: str, op: str) -> frozenset[str]:
        owner = catalog.get(rule.transfer_area_id.split(":", 1)[0])
        found = owner.tables.areas_of(stop) if owner else frozenset()
        own = catalog.get(op)
        parent = own.tables.stop_parent.get(stop) if own else None  # the area may list the station
        if parent and owner:
            found |= owner.tables.stop_areas.get(parent, frozenset())
        return found

    return rule.transfer_area_id in areas(a.to_stop, a.operator) and \
        rule.transfer_area_id in areas(b.from_stop, b.operator)


def _transfer_rules(catalog: dict[str, OperatorFares], legs: list[LegRef]) -> list:
    """Transfer rules that may apply: those of every operator, when the journey has two rides or more."""
    if len(legs) < 2:
        return []
    return [(of, r) for of in catalog.values() for r in of.tables.transfer_rules]


def _apply_transfers(catalog: dict[str, OperatorFares], priced: list[_Leg], rider: str, medium: str,
                     rules: list) -> list:
    applied: list[TransferApplied] = []
    if not rules:
        return applied
    chain: tuple[str, int] | None = None  # (leg group, transfers so far) of a same-group chain
    for k in range(1, len(priced)):
        a, b = priced[k - 1], priced[k]
        if b.included_in is not None:
            continue  # one through fare already covers this change
        best = None
        for of, r in rules:
            if r.from_leg_group_id and r.from_leg_group_id not in a.groups:
                continue
            if r.to_leg_group_id and r.to_leg_group_id not in b.groups:
                continue
            same = bool(r.from_leg_group_id) and r.from_leg_group_id == r.to_leg_group_id
            if same and r.transfer_count not in (None, -1):
                done = chain[1] if chain and chain[0] == r.from_leg_group_id else 0
                if done >= r.transfer_count:
                    continue
            if not _window_ok(r, a.leg, b.leg) or not _area_ok(catalog, r, a.leg, b.leg):
                continue
            try:
                ab = product_amount(of, of.tables, r.fare_product_id, rider, medium) if r.fare_product_id else 0
            except FareUnknown:
                continue  # e.g. the discount exists for IC cards only
            total = {0: a.amount + ab, 1: a.amount + ab + b.amount, 2: ab}[r.fare_transfer_type]
            if best is None or total < best[0]:
                best = (total, r, ab, same)
        if best is None or best[0] >= a.amount + b.amount:
            chain = None
            continue
        _, r, ab, same = best
        chain = (r.from_leg_group_id, (chain[1] + 1 if chain and chain[0] == r.from_leg_group_id else 1)) \
            if same else None
        split = _split(a, b, ab, r.fare_transfer_type)
        name = f"{r.from_leg_group_id or '*'} → {r.to_leg_group_id or '*'}" + \
            (f" ({r.fare_product_id})" if r.fare_product_id else "")
        applied.append(TransferApplied(a.leg.index, b.leg.index, name, ab, split))
    return applied


def _split(a: _Leg, b: _Leg, ab: int, kind: int) -> dict[str, int]:
    """Put the transfer product on the two legs (docs/fares.md): type 0 ``A + AB`` — B's fare becomes AB;
    type 1 ``A + AB + B`` — AB is shared in proportion to the legs' own fares (A's share rounded down);
    type 2 ``AB`` — AB replaces both fares, shared the same way. Returns each operator's change."""
    before = {id(a): a.amount, id(b): b.amount}
    weight = a.own + b.own
    if kind == 0:
        b.amount = ab
    elif kind == 1:
        share = (ab * a.own) // weight if weight else ab // 2
        a.amount, b.amount = a.amount + share, b.amount + ab - share
    else:
        share = (ab * a.own) // weight if weight else ab // 2
        a.amount, b.amount = share, ab - share
    out: dict[str, int] = {}
    for x in (a, b):
        out[x.leg.operator] = out.get(x.leg.operator, 0) + x.amount - before[id(x)]
    return out


def price_rider(catalog: dict[str, OperatorFares], legs: list[LegRef], rider: str, medium: str,
                rules: list | None = None) -> RiderFare:
    if medium not in MEDIA:
        raise ValueError(f"unknown fare medium {medium!r} (use 'ic' or 'ticket')")
    priced = _price_legs(catalog, legs, rider, medium)
    rules = _transfer_rules(catalog, legs) if rules is None else rules
    return RiderFare(priced, _apply_transfers(catalog, priced, rider, medium, rules))


@dataclass(frozen=True)
class JourneyFare:
    """The party's fare: per leg (after transfers) and the transfers applied, integer JPY."""

    medium: str
    passengers: Passengers
    prices: list[LegPrice]
    transfers: list[dict]

    @property
    def total(self) -> int:
        return sum(p.total for p in self.prices)

    def per_operator(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.prices:
            out[p.operator] = out.get(p.operator, 0) + p.total
        return out

    def to_dict(self) -> dict:
        return {"total": self.total, "currency": "JPY", "medium": self.medium,
                "riders": self.passengers.to_dict(), "per_operator": self.per_operator(),
                "legs": [{"index": p.leg_index, "operator": p.operator, "product": p.product, "basis": p.basis,
                          "adult_fare": p.adult_fare, "child_fare": p.child_fare, "amount": p.total}
                         for p in self.prices],
                "transfers": self.transfers}


def times_matter(catalog: dict[str, OperatorFares]) -> bool:
    """Whether any price can depend on a leg's departure or arrival: v2 timeframes, a v1 ``transfer_duration``
    or a transfer rule's ``duration_limit`` (transfer rules of every operator apply to every journey). Otherwise
    a journey's fares depend only on each ride's position, operator, route, stops and distance (see
    `price_riders`), which lets the plan path remember them."""
    for of in catalog.values():
        t = of.tables
        if t.timeframes or any(r.duration_limit is not None for r in t.transfer_rules) or \
                any(a.transfer_duration is not None for a in t.attributes.values()):
            return True
    return False


def price_riders(catalog: dict[str, OperatorFares], legs: list[LegRef],
                 medium: str) -> tuple[RiderFare, RiderFare | FareUnknown]:
    """The adult and the child fare of a journey (the child's failure returned, not raised: it matters only when a
    child travels); raises `FareUnknown` when the adult fare cannot be computed. Reads of each leg only its
    ``index``, ``operator``, ``route_id``, ``from_stop``, ``to_stop``, ``distance_m``, and its ``departure`` and
    ``arrival`` only when `times_matter`."""
    rules = _transfer_rules(catalog, legs)
    adult = price_rider(catalog, legs, "adult", medium, rules)
    try:
        child: RiderFare | FareUnknown = price_rider(catalog, legs, "child", medium, rules)
    except FareUnknown as err:
        child = err
    return adult, child


def party_fare(legs: list[LegRef], adult: RiderFare, child: RiderFare | FareUnknown, passengers: Passengers,
               medium: str) -> JourneyFare:
    """The party's fare from the riders' fares of `price_riders` (which are only read)."""
    if isinstance(child, FareUnknown):
        if passengers.child:
            raise FareUnknown(child.reason, child.leg_index)
        child = None  # nobody is a child: show no child fare rather than fail
    prices = []
    for k, leg in enumerate(legs):
        a = adult.legs[k]
        c = child.legs[k].amount if child else None
        prices.append(LegPrice(leg.operator, a.amount, c, a.amount * passengers.adult + (c or 0) * passengers.child,
                               medium, a.basis, product=a.product, leg_index=leg.index))
    transfers = []
    for t in adult.transfers:
        ct = next((x for x in (child.transfers if child else []) if (x.from_leg, x.to_leg) == (t.from_leg, t.to_leg)),
                  None)
        transfers.append({"from_leg": t.from_leg, "to_leg": t.to_leg, "rule": t.rule, "adult_amount": t.amount,
                          "child_amount": ct.amount if ct else None,
                          "amount": t.amount * passengers.adult + (ct.amount if ct else 0) * passengers.child,
                          "split": {op: v * passengers.adult + (ct.split.get(op, 0) if ct else 0) * passengers.child
                                    for op, v in t.split.items()}})
    return JourneyFare(medium, passengers, prices, transfers)


def price_journey(catalog: dict[str, OperatorFares], legs: list[LegRef], passengers: Passengers,
                  medium: str) -> JourneyFare:
    """Every ride leg of a journey priced for the party; raises `FareUnknown` when any leg cannot be priced."""
    if not legs:
        return JourneyFare(medium, passengers, [], [])
    return party_fare(legs, *price_riders(catalog, legs, medium), passengers, medium)
