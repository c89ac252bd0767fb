"""Which JMA warnings close, which are avoided and which only inform: the platform operator's policy table.

Every warning kind gets a grade (`warning_level`): 2 注意報 (advisory), 3 警報 (warning), 4 危険警報 and
土砂災害警戒情報 (警戒レベル4 相当), 5 特別警報 (emergency warning); names that carry their level (the 2026
"レベル３大雨警報" style) use it. The table maps a kind ("family:code", e.g. ``warning:07`` 波浪警報) or else its
grade to an action: ``close`` (never board, alight, ride or walk through the area), ``avoid`` (plans stay out of the
area unless that is impossible or much worse) or ``inform`` (listed with the itineraries that touch it).

The default: grades 4–5 close, 3 avoids, 2 informs; sea-only kinds (波浪) inform whatever their grade, and record
short-time heavy rain (VPOA50, no grade of its own) avoids. An operator overrides it with a JSON file
``{"levels": {"3": "close"}, "kinds": {"warning:05": "inform"}}`` (settings `jma_policy`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import orjson

ACTIONS = ("close", "avoid", "inform")
DEFAULT_LEVELS = {1: "inform", 2: "inform", 3: "avoid", 4: "close", 5: "close"}
DEFAULT_KINDS = {"warning:07": "inform", "warning:37": "inform", "warning:16": "inform", "rain:1": "avoid"}
FLOOD_LEVELS = {"20": 2, "30": 3, "40": 4, "41": 4, "50": 5, "53": 5}
_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
HAZARD_EN = {"大雨": "heavy rain", "洪水": "flood", "暴風雪": "snowstorm", "暴風": "storm", "大雪": "heavy snow",
             "波浪": "high waves", "高潮": "storm surge", "雷": "thunderstorm", "強風": "strong wind",
             "風雪": "wind and snow", "濃霧": "dense fog", "乾燥": "dry air", "なだれ": "avalanche",
             "低温": "low temperature", "霜": "frost", "着氷": "icing", "着雪": "snow accretion",
             "融雪": "snowmelt", "土砂災害": "landslide"}
GRADE_EN = (("特別警報", "emergency warning"), ("危険警報", "danger warning"), ("警報", "warning"),
            ("注意報", "advisory"))
FLOOD_EN = {"氾濫注意情報": "river flood advisory", "氾濫警戒情報": "river flood warning",
            "氾濫危険情報": "river flood danger warning", "氾濫発生情報": "river flooding occurring"}


class PolicyError(ValueError):
    """A policy file we cannot use (configuration error)."""


def _level_in_name(name: str) -> int | None:
    m = re.search(r"レベル([0-9０-９])", name)
    return int(m.group(1).translate(_DIGITS)) if m else None


def warning_level(family: str, name: str, code: str) -> int:
    """The grade of one JMA kind (see the module docstring)."""
    named = _level_in_name(name)
    if named is not None:
        return named
    if family == "landslide":
        return 4
    if family == "flood":
        return FLOOD_LEVELS.get(code, 3)
    if family == "rain":
        return 4
    for suffix, level in (("特別警報", 5), ("危険警報", 4), ("警報", 3), ("注意報", 2)):
        if name.endswith(suffix):
            return level
    return 2


def kind_english(family: str, name: str) -> str:
    """An English name for a JMA kind (JMA publishes Japanese only)."""
    if family == "landslide":
        return "Landslide alert"
    if family == "rain":
        return "Record short-time heavy rain"
    if family == "flood":
        return next((en for ja, en in FLOOD_EN.items() if ja in name), "River flood forecast").capitalize()
    bare = re.sub(r"^レベル[0-9０-９]", "", name)
    for suffix, grade in GRADE_EN:
        if bare.endswith(suffix):
            hazard = bare[: -len(suffix)]
            level = _level_in_name(name)
            text = f"{HAZARD_EN.get(hazard, hazard)} {grade}".capitalize()
            return f"Level {level} {text[0].lower()}{text[1:]}" if level else text
    return name


@dataclass(frozen=True)
class WarningPolicy:
    levels: dict[int, str] = field(default_factory=lambda: dict(DEFAULT_LEVELS))
    kinds: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_KINDS))

    def action(self, family: str, code: str, level: int) -> str:
        hit = self.kinds.get(f"{family}:{code}")
        if hit is not None:
            return hit
        return self.levels.get(level, "close" if level >= 4 else "inform")

    def to_dict(self) -> dict:
        return {"levels": {str(k): v for k, v in sorted(self.levels.items())}, "kinds": dict(sorted(self.kinds.items()))}

    @classmethod
    def from_dict(cls, doc: dict, source: str = "policy") -> "WarningPolicy":
        if not isinstance(doc, dict) or set(doc) - {"levels", "kinds"}:
            raise PolicyError(f"{source}: expected {{\"levels\": {{...}}, \"kinds\": {{...}}}}")
        levels, kinds = dict(DEFAULT_LEVELS), dict(DEFAULT_KINDS)
        for k, v in (doc.get("levels") or {}).items():
            if str(k) not in ("1", "2", "3", "4", "5") or v not in ACTIONS:
                raise PolicyError(f"{source}: levels.{k} must map a grade 1–5 to one of {', '.join(ACTIONS)}")
            levels[int(k)] = v
        for k, v in (doc.get("kinds") or {}).items():
            if not re.fullmatch(r"(warning|landslide|flood|rain):[0-9]{1,3}", str(k)) or v not in ACTIONS:
                raise PolicyError(f"{source}: kinds.{k} must be 'family:code' (warning|landslide|flood|rain) → "
                                  f"one of {', '.join(ACTIONS)}")
            kinds[str(k)] = v
        return cls(levels, kinds)

    @classmethod
    def load(cls, path: str | Path | None) -> "WarningPolicy":
        if path is None:
            return cls()
        try:
            return cls.from_dict(orjson.loads(Path(path).read_bytes()), str(path))
        except (OSError, orjson.JSONDecodeError) as e:
            raise PolicyError(f"policy file {path}: {e}") from None
