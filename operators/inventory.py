"""What operators need from storage, as a protocol: `maas.store.base.Store` provides it, and operators never import
maas (dependencies point down: maas → operators)."""
from __future__ import annotations

from typing import Any, Protocol


class OperatorStore(Protocol):
    """Key-value records (holds, tickets) and atomic seat holds per trip and stop range."""

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, *, ttl_s: float | None = None, nx: bool = False) -> bool: ...

    async def delete(self, key: str) -> bool: ...

    async def reserve_seats(self, resource: str, capacity: int, start: int, end: int, count: int,
                            hold_id: str, expires_at: float, now: float) -> Any:
        """Returns an object with ``ok`` and ``available``."""

    async def commit_seats(self, resource: str, hold_id: str, now: float) -> bool: ...

    async def release_seats(self, resource: str, hold_id: str) -> bool: ...
