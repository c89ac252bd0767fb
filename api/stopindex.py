"""Stop and station look-up by name (Japanese, kana or English) and by position, built once from the feeds.

Names are normalised (NFKC, case-folded, katakana folded to hiragana, spaces and separators dropped) and joined
into one string, so a query is a handful of C-level ``str.find`` calls plus a ``searchsorted`` instead of a Python
loop over every stop.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

from feeds.feed import Network
from routing.geo import haversine_m

_DROP = re.compile(r"[\s・･·\-‐－'’`.,、。()（）]+")
_KATA = {c: c - 0x60 for c in range(0x30A1, 0x30F7)}  # ァ..ヶ → ぁ..ゖ
SEP = "\x1f"


def normalise(text: str) -> str:
    """The comparable form of a name: 'Tochōmae', 'とちょうまえ' and 'トチョウマエ' each match themselves widely."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    text = text.translate(_KATA)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c) or c in "\u3099\u309a")
    return _DROP.sub("", unicodedata.normalize("NFKC", text))


@dataclass(frozen=True, slots=True)
class StopMatch:
    index: int
    score: int  # lower is better: 0 exact, 1 prefix, 2 substring
    distance_m: float | None = None


class StopIndex:
    """Stops (location_type 0) and stations (1) of the whole network."""

    def __init__(self, stops: pd.DataFrame):
        def col(name: str, default="") -> list:
            return stops[name].fillna(default).tolist() if name in stops else [default] * len(stops)

        lt = pd.to_numeric(stops["location_type"], errors="coerce").fillna(0).astype(int) \
            if "location_type" in stops else pd.Series(np.zeros(len(stops), int))
        keep = lt.isin([0, 1]).to_numpy()
        stops = stops[keep].reset_index(drop=True)
        self.ids: list[str] = stops["stop_id"].astype(str).tolist()
        self.names: list[str] = [str(x) for x in col("stop_name")]
        self.names_en: list[str] = [str(x) for x in col("stop_name_en")]
        self.names_kana: list[str] = [str(x) for x in col("stop_name_kana")]
        self.parent: list[str] = [str(x) for x in col("parent_station")]
        self.location_type = lt[keep].to_numpy(np.int8)
        self.lat = pd.to_numeric(stops["stop_lat"], errors="coerce").to_numpy(np.float64)
        self.lon = pd.to_numeric(stops["stop_lon"], errors="coerce").to_numpy(np.float64)
        self._pos = {s: i for i, s in enumerate(self.ids)}
        keys = [SEP.join((normalise(a), normalise(b), normalise(c)))
                for a, b, c in zip(self.names, self.names_en, self.names_kana)]
        self._keys = keys
        self._haystack = "\n".join(keys)
        lens = np.fromiter((len(k) + 1 for k in keys), np.int64, len(keys))
        self._starts = np.concatenate([[0], np.cumsum(lens)[:-1]]) if len(keys) else np.zeros(0, np.int64)

    @classmethod
    def from_network(cls, network: Network) -> "StopIndex":
        return cls(network.table("stops"))

    def __len__(self) -> int:
        return len(self.ids)

    def position(self, stop_id: str) -> int | None:
        return self._pos.get(stop_id)

    def search(self, query: str, limit: int) -> list[StopMatch]:
        q = normalise(query)
        if not q:
            return []
        hits: set[int] = set()
        at = self._haystack.find(q)
        while at >= 0:
            i = int(np.searchsorted(self._starts, at, side="right")) - 1
            hits.add(i)
            # jump to the next stop: one hit per stop is enough
            nxt = self._starts[i + 1] if i + 1 < len(self._starts) else len(self._haystack)
            at = self._haystack.find(q, int(nxt))
        out = []
        for i in hits:
            parts = self._keys[i].split(SEP)
            score = 0 if q in parts else 1 if any(p.startswith(q) for p in parts) else 2
            out.append(StopMatch(i, score))
        # best match first; stations before their platforms; then shorter (more specific) names
        out.sort(key=lambda m: (m.score, -int(self.location_type[m.index]), len(self.names[m.index]),
                                self.ids[m.index]))
        return out[:limit]

    def near(self, lat: float, lon: float, radius_m: float, limit: int,
             among: list[StopMatch] | None = None) -> list[StopMatch]:
        idx = np.array([m.index for m in among], np.int64) if among is not None else np.arange(len(self.ids))
        if not len(idx):
            return []
        d = haversine_m(lat, lon, self.lat[idx], self.lon[idx])
        ok = np.flatnonzero(d <= radius_m)
        order = ok[np.argsort(d[ok], kind="stable")][:limit]
        score = {m.index: m.score for m in among} if among is not None else {}
        return [StopMatch(int(idx[j]), score.get(int(idx[j]), 0), float(d[j])) for j in order]

    def to_dict(self, m: StopMatch) -> dict:
        i = m.index
        out = {"id": self.ids[i], "name": self.names[i], "name_en": self.names_en[i] or None,
               "name_kana": self.names_kana[i] or None, "lat": float(self.lat[i]), "lon": float(self.lon[i]),
               "type": "station" if self.location_type[i] == 1 else "stop",
               "parent_station": self.parent[i] or None, "operator": self.ids[i].split(":", 1)[0]}
        if m.distance_m is not None:
            out["distance_m"] = round(m.distance_m, 1)
        return out
