"""Municipality polygons keyed by JMA area code, read from a GeoJSON FeatureCollection.

Each feature needs `properties.jma_code` (the 7-digit 市町村等 code; for Tokyo the 5-digit municipal code + "00"),
`name`, optionally `name_en`, and a Polygon or MultiPolygon geometry in lon/lat. The file is the platform
operator's (``../shared/data/tokyo-municipalities.geojson`` covers Tokyo's 62 municipalities); features for JMA's
split areas (横浜市北部 …) or regions can be added the same way and are then mapped like any other code.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

MAX_FILE_BYTES = 50_000_000
KIND_SUFFIX_EN = {"special_ward": " Ward", "city": " City", "town": " Town", "village": " Village"}


class AreaFileError(ValueError):
    """The municipality file is unusable (a configuration error, reported at start-up)."""


@dataclass(frozen=True)
class Municipality:
    jma_code: str
    code: str
    name: str
    name_en: str
    geometry: BaseGeometry  # Polygon or MultiPolygon, lon/lat


@dataclass(frozen=True)
class MunicipalityAreas:
    by_code: dict[str, Municipality]
    source: str

    def get(self, jma_code: str) -> Municipality | None:
        return self.by_code.get(jma_code)

    def __len__(self) -> int:
        return len(self.by_code)

    def prefectures(self) -> frozenset[str]:
        """2-digit prefecture codes the file covers (a whole-municipality code of one of them must be known)."""
        return frozenset(c[:2] for c in self.by_code)

    @classmethod
    def load(cls, path: str | Path) -> "MunicipalityAreas":
        p = Path(path)
        try:
            size = p.stat().st_size
        except OSError as e:
            raise AreaFileError(f"municipality file {p}: {e.strerror}") from None
        if size > MAX_FILE_BYTES:
            raise AreaFileError(f"municipality file {p} is too large ({size} bytes)")
        try:
            doc = orjson.loads(p.read_bytes())
        except orjson.JSONDecodeError as e:
            raise AreaFileError(f"municipality file {p} is not JSON: {e}") from None
        return cls.from_geojson(doc, str(p))

    @classmethod
    def from_geojson(cls, doc: dict, source: str = "geojson") -> "MunicipalityAreas":
        if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
            raise AreaFileError(f"{source}: expected a GeoJSON FeatureCollection")
        out: dict[str, Municipality] = {}
        for i, f in enumerate(doc.get("features") or []):
            props = (f or {}).get("properties") or {}
            code = str(props.get("jma_code") or "")
            if not code.isdigit():
                raise AreaFileError(f"{source}: feature {i} has no numeric properties.jma_code")
            if code in out:
                raise AreaFileError(f"{source}: jma_code {code} appears twice")
            try:
                geom = shape(f.get("geometry"))
            except (AttributeError, TypeError, ValueError, shapely.errors.GEOSException) as e:
                raise AreaFileError(f"{source}: feature {i} ({code}) has a bad geometry: {e}") from None
            if not isinstance(geom, (Polygon, MultiPolygon)) or geom.is_empty:
                raise AreaFileError(f"{source}: feature {i} ({code}) is not a Polygon or MultiPolygon")
            if not geom.is_valid:
                geom = shapely.make_valid(geom)
            name_en = str(props.get("name_en") or "")
            if name_en:  # 豊島区 and 利島村 are both "Toshima": the kind tells them apart
                name_en += KIND_SUFFIX_EN.get(str(props.get("kind") or ""), "")
            out[code] = Municipality(code, str(props.get("code") or code[:5]), str(props.get("name") or code),
                                     name_en, geom)
        if not out:
            raise AreaFileError(f"{source}: no features")
        return cls(out, source)
