"""Payment-provider interface and the built-in sandbox provider.

The booking service speaks only ``PaymentProvider`` (authorize → capture | void, refund), with an idempotency key
on every call and a ``find(reference)`` lookup — what Stripe, Adyen or GMO offer — so a crash between "ask the
provider" and "record the answer" can always be resolved by the recovery pass. The sandbox keeps its state in the
shared store (any worker and the recovery pass see it) and honours test card numbers:

===================  ==========================================
4242424242424242     approved
4000000000000002     declined (``card_declined``)
4000000000009995     declined (``insufficient_funds``)
4000000000000119     provider failure (``processing_error``)
4000000000000341     authorizes, then capture is declined
===================  ==========================================
Any other Luhn-valid number is approved. Amounts are int JPY.
"""
from __future__ import annotations

import hashlib
import json

from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from maas.money import yen
from maas.store.base import Store
from operators.base import asdict

DECLINE_CARDS = MappingProxyType({"4000000000000002": "card_declined", "4000000000009995": "insufficient_funds"})
FAIL_CARDS = MappingProxyType({"4000000000000119": "processing_error"})
CAPTURE_DECLINE_CARDS = MappingProxyType({"4000000000000341": "capture_declined"})


class PaymentError(Exception):
    code = "payment_error"

    def __init__(self, detail: str, reason: str = ""):
        super().__init__(detail)
        self.detail, self.reason = detail, reason


class PaymentDeclined(PaymentError):
    code = "payment_declined"


class PaymentFailed(PaymentError):
    """The provider failed (network, processing error): the outcome is not a decline and may be retried."""

    code = "payment_failed"


class InvalidCard(PaymentError):
    code = "invalid_card"


def luhn_ok(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@dataclass(frozen=True)
class Authorization:
    id: str
    reference: str
    amount: int
    status: str  # authorized | captured | voided | failed
    captured: int = 0
    refunded: int = 0
    card_last4: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class PaymentProvider(Protocol):
    async def authorize(self, amount: int, card: dict, *, reference: str, idempotency_key: str) -> Authorization: ...

    async def capture(self, auth_id: str, amount: int, *, idempotency_key: str) -> Authorization: ...

    async def void(self, auth_id: str, *, idempotency_key: str) -> Authorization: ...

    async def refund(self, auth_id: str, amount: int, *, idempotency_key: str) -> Authorization: ...

    async def find(self, reference: str) -> Authorization | None: ...

    async def get(self, auth_id: str) -> Authorization | None: ...


class SandboxProvider:
    """A provider that behaves like a real one (state machine, idempotency, declines) without moving money."""

    def __init__(self, store: Store, *, name: str = "sandbox"):
        self.store = store
        self.name = name

    async def _load(self, auth_id: str) -> Authorization:
        raw = await self.store.get(f"psp:auth:{auth_id}")
        if raw is None:
            raise PaymentFailed(f"unknown authorization {auth_id}", "unknown_authorization")
        return Authorization(**json.loads(raw))

    async def _save(self, auth: Authorization) -> None:
        await self.store.set(f"psp:auth:{auth.id}", json.dumps(auth.to_dict()))

    async def _replay(self, idempotency_key: str) -> Authorization | None:
        raw = await self.store.get(f"psp:idem:{idempotency_key}")
        return Authorization(**json.loads(raw)) if raw else None

    async def _remember(self, idempotency_key: str, auth: Authorization) -> Authorization:
        await self.store.set(f"psp:idem:{idempotency_key}", json.dumps(auth.to_dict()), nx=True)
        return auth

    async def authorize(self, amount: int, card: dict, *, reference: str, idempotency_key: str) -> Authorization:
        yen(amount)
        if (done := await self._replay(idempotency_key)) is not None:
            return done
        number = str(card.get("card_number", "")).replace(" ", "")
        if not luhn_ok(number):
            raise InvalidCard("card number is not a valid card number", "invalid_number")
        if number in FAIL_CARDS:
            raise PaymentFailed("the payment provider could not process the card", FAIL_CARDS[number])
        if number in DECLINE_CARDS:
            raise PaymentDeclined(f"the card was declined ({DECLINE_CARDS[number]})", DECLINE_CARDS[number])
        auth_id = "auth_" + hashlib.sha256(f"{self.name}|{idempotency_key}".encode()).hexdigest()[:20]
        auth = Authorization(auth_id, reference, amount, "authorized", card_last4=number[-4:])
        if number in CAPTURE_DECLINE_CARDS:
            await self.store.set(f"psp:capfail:{auth_id}", "1")
        await self.store.set(f"psp:ref:{reference}", auth_id)  # before the auth: find() never misses one
        await self._save(auth)
        return await self._remember(idempotency_key, auth)

    async def capture(self, auth_id: str, amount: int, *, idempotency_key: str) -> Authorization:
        yen(amount)
        if (done := await self._replay(idempotency_key)) is not None:
            return done
        auth = await self._load(auth_id)
        if auth.status == "captured":
            return auth
        if auth.status != "authorized":
            raise PaymentFailed(f"authorization {auth_id} is {auth.status}, cannot capture", "bad_state")
        if amount > auth.amount:
            raise PaymentFailed(f"capture {amount} exceeds authorized {auth.amount}", "amount_too_large")
        if await self.store.get(f"psp:capfail:{auth_id}"):
            raise PaymentDeclined("the issuer declined the capture", "capture_declined")
        auth = Authorization(**{**auth.to_dict(), "status": "captured", "captured": amount})
        await self._save(auth)
        return await self._remember(idempotency_key, auth)

    async def void(self, auth_id: str, *, idempotency_key: str) -> Authorization:
        if (done := await self._replay(idempotency_key)) is not None:
            return done
        auth = await self._load(auth_id)
        if auth.status == "captured":
            raise PaymentFailed(f"authorization {auth_id} is captured; refund instead", "bad_state")
        auth = Authorization(**{**auth.to_dict(), "status": "voided"})
        await self._save(auth)
        return await self._remember(idempotency_key, auth)

    async def refund(self, auth_id: str, amount: int, *, idempotency_key: str) -> Authorization:
        yen(amount)
        if (done := await self._replay(idempotency_key)) is not None:
            return done
        auth = await self._load(auth_id)
        if auth.status != "captured":
            raise PaymentFailed(f"authorization {auth_id} is {auth.status}, nothing to refund", "bad_state")
        if auth.refunded + amount > auth.captured:
            raise PaymentFailed(f"refund {amount} exceeds the {auth.captured - auth.refunded} JPY left",
                                "amount_too_large")
        auth = Authorization(**{**auth.to_dict(), "refunded": auth.refunded + amount})
        await self._save(auth)
        return await self._remember(idempotency_key, auth)

    async def find(self, reference: str) -> Authorization | None:
        auth_id = await self.store.get(f"psp:ref:{reference}")
        raw = await self.store.get(f"psp:auth:{auth_id}") if auth_id else None
        return Authorization(**json.loads(raw)) if raw else None

    async def get(self, auth_id: str) -> Authorization | None:
        raw = await self.store.get(f"psp:auth:{auth_id}")
        return Authorization(**json.loads(raw)) if raw else None

    async def authorizations(self) -> list[Authorization]:
        """Every authorization the sandbox holds (tests and reconciliation)."""
        out = []
        for key in await self.store.keys("psp:auth:"):
            raw = await self.store.get(key)
            if raw:
                out.append(Authorization(**json.loads(raw)))
        return out


