"""API keys and roles: who is calling, and what they may touch.

Keys come from a JSON file (``maas serve --keys FILE``) or the ``MAAS_API_KEYS`` variable, shaped
``{"KEY": {"role": "partner", "name": "..."}, "KEY2": {"role": "operator", "operator": "toei-bus"}}``.
Only SHA-256 digests of the keys are kept in memory, so a heap dump or a log line never shows a usable key.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Mapping

import orjson

ENV_VAR = "MAAS_API_KEYS"


class Role(StrEnum):
    PARTNER = "partner"  # a MaaS app: search, its own bookings and events
    OPERATOR = "operator"  # a transport operator: its own feeds and settlement only
    DISASTER = "disaster"  # a disaster-warning system: closures
    ADMIN = "admin"  # everything


class KeyConfigError(ValueError):
    """The keys file is malformed; raised at start-up so a bad file never serves with surprising permissions."""


class AuthError(Exception):
    """The request carries no usable credentials (401)."""


@dataclass(frozen=True, slots=True)
class RateOverride:
    rate: float  # requests per second, sustained
    burst: int  # bucket size


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller. ``owner`` is the stable identity that bookings and events are filed under."""

    key_id: str  # first 16 hex digits of the key's SHA-256: safe to log, stable across restarts
    role: Role
    name: str
    operator: str | None = None
    rate: RateOverride | None = None

    @property
    def owner(self) -> str:
        return f"{self.role.value}:{self.name}"

    def has_role(self, roles: frozenset[Role]) -> bool:
        return self.role is Role.ADMIN or self.role in roles

    def may_act_for_operator(self, operator_id: str) -> bool:
        return self.role is Role.ADMIN or (self.role is Role.OPERATOR and self.operator == operator_id)

    def may_see(self, owner: str | None) -> bool:
        """Ownership check for stored things (bookings, payments, events): admins see all, others their own."""
        return self.role is Role.ADMIN or (owner is not None and owner == self.owner)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _principal(key: str, spec: object) -> Principal:
    where = f"key {key[:4]}…"
    if not isinstance(spec, dict):
        raise KeyConfigError(f"{where}: expected an object like {{\"role\": \"partner\", \"name\": \"...\"}}")
    try:
        role = Role(spec.get("role"))
    except ValueError:
        raise KeyConfigError(f"{where}: role must be one of {[r.value for r in Role]}, got {spec.get('role')!r}")
    operator = spec.get("operator")
    if role is Role.OPERATOR and (not isinstance(operator, str) or not operator):
        raise KeyConfigError(f"{where}: an operator key needs \"operator\": the operator id, e.g. \"toei-bus\"")
    if operator is not None and not isinstance(operator, str):
        raise KeyConfigError(f"{where}: operator must be a string")
    digest = _digest(key)
    name = spec.get("name") or operator or digest[:16]
    if not isinstance(name, str):
        raise KeyConfigError(f"{where}: name must be a string")
    rate = None
    if "rate" in spec or "burst" in spec:
        r, b = spec.get("rate", 20), spec.get("burst", spec.get("rate", 20))
        if not isinstance(r, (int, float)) or isinstance(r, bool) or r <= 0:
            raise KeyConfigError(f"{where}: rate must be a positive number of requests per second")
        if not isinstance(b, int) or isinstance(b, bool) or b < 1:
            raise KeyConfigError(f"{where}: burst must be a positive integer")
        rate = RateOverride(float(r), b)
    return Principal(key_id=digest[:16], role=role, name=name, operator=operator, rate=rate)


@dataclass
class KeyRing:
    """The configured keys, looked up by digest.

    ``demo`` holds, per role, a key whose file entry says ``"demo": true`` (only the laptop keys in
    examples/dev-keys.json do): the map page offers those prefilled. Real keys are never kept in clear.
    """

    _by_digest: dict[str, Principal] = field(default_factory=dict)
    demo: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object]) -> "KeyRing":
        if not isinstance(mapping, Mapping):
            raise KeyConfigError("the keys document must be a JSON object mapping each key to its settings")
        ring: dict[str, Principal] = {}
        demo: dict[str, str] = {}
        for key, spec in mapping.items():
            if not isinstance(key, str) or not key.strip() or key != key.strip() or any(c.isspace() for c in key):
                raise KeyConfigError("keys must be non-empty strings without whitespace")
            who = ring[_digest(key)] = _principal(key, spec)
            if spec.get("demo") is True:
                demo.setdefault(who.role.value, key)
        return cls(ring, demo)

    @classmethod
    def from_json(cls, text: str | bytes) -> "KeyRing":
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise KeyConfigError(f"the keys document is not valid JSON: {exc}") from None
        return cls.from_mapping(data)

    @classmethod
    def load(cls, path: Path | None = None, environ: Mapping[str, str] | None = None) -> "KeyRing":
        """The keys file when given, else ``MAAS_API_KEYS``, else no keys (every protected call is refused)."""
        if path is not None:
            try:
                return cls.from_json(Path(path).read_bytes())
            except OSError as exc:
                raise KeyConfigError(f"cannot read the keys file {path}: {exc}") from None
        env = os.environ if environ is None else environ
        text = env.get(ENV_VAR)
        return cls.from_json(text) if text else cls()

    def __len__(self) -> int:
        return len(self._by_digest)

    def authenticate(self, authorization: str | None) -> Principal:
        """Resolve an ``Authorization: Bearer KEY`` header, raising AuthError with the reason."""
        if not authorization:
            raise AuthError("missing Authorization header; send 'Authorization: Bearer <API key>'")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("the Authorization header must be 'Bearer <API key>'")
        principal = self._by_digest.get(_digest(token.strip()))
        if principal is None:
            raise AuthError("unknown API key")
        return principal
