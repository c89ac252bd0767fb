"""Payment-provider interface and the built-in sandbox provider.

The booking service speaks only ``PaymentProvider`` (authorize → capture | void, refund), with an idempotency key
on every call and a ``find(reference)`` lookup — what Stripe, Adyen or GMO offer — so a crash between "ask the
provider" and "record the answer" can always be resolved by the recovery pass.

Like real providers, the sandbox charges **payment tokens**, never card numbers: the booking service and every
store only ever see ``tok_…`` strings. Fixed test tokens (Stripe's names) behave as follows:

==========================================  ========================================
tok_visa, tok_mastercard, tok_amex, tok_jcb  approved
tok_chargeDeclined                          declined (``card_declined``)
tok_insufficientFunds                       declined (``insufficient_funds``)
tok_processingError                         provider failure (``processing_error``)
tok_captureDeclined                         authorizes, then capture is declined
==========================================  ========================================

``tokenize(card_number)`` is the provider's card vault (Stripe.js does it in the browser); the API calls it at
the edge when a sandbox client sends a raw test card. The test numbers (4242424242424242, 4000000000000002, …)
map to the tokens above; any other Luhn-valid number becomes ``tok_`` + an HMAC of the number under the
deployment's card-fingerprint key — deterministic, so a retried request carries the same token, and useless to
anyone without the key. The vault keeps only brand and last four digits. Amounts are int JPY.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from operators.money import yen
from maas.store.base import Store
from operators.base import asdict

TOKEN_RE = re.compile(r"^tok_[A-Za-z0-9_]{1,64}$")


@dataclass(frozen=True)
class TestCard:
    brand: str
    last4: str
    outcome: str = "approved"  # approved | card_declined | insufficient_funds | processing_error | capture_declined


TEST_TOKENS = MappingProxyType({
    "tok_visa": TestCard("visa", "4242"), "tok_mastercard": TestCard("mastercard", "4444"),
    "tok_amex": TestCard("amex", "0005"), "tok_jcb": TestCard("jcb", "0505"),
    "tok_chargeDeclined": TestCard("visa", "0002", "card_declined"),
    "tok_insufficientFunds": TestCard("visa", "9995", "insufficient_funds"),
    "tok_processingError": TestCard("visa", "0119", "processing_error"),
    "tok_captureDeclined": TestCard("visa", "0341", "capture_declined")})
TEST_CARD_NUMBERS = MappingProxyType({
    "4242424242424242": "tok_visa", "5555555555554444": "tok_mastercard", "378282246310005": "tok_amex",
    "3566002020360505": "tok_jcb", "4000000000000002": "tok_chargeDeclined",
    "4000000000009995": "tok_insufficientFunds", "4000000000000119": "tok_processingError",
    "4000000000000341": "tok_captureDeclined"})
DECLINES = frozenset({"card_declined", "insufficient_funds"})


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


def brand_of(number: str) -> str:
    first2, first4 = int(number[:2]), int(number[:4])
    if number[0] == "4":
        return "visa"
    if 51 <= first2 <= 55 or 2221 <= first4 <= 2720:
        return "mastercard"
    if first2 in (34, 37):
        return "amex"
    if 3528 <= first4 <= 3589:
        return "jcb"
    return "card"


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
    async def authorize(self, amount: int, payment: dict, *, reference: str,
                        idempotency_key: str) -> Authorization:
        """Authorize ``amount`` on ``payment`` = ``{"token": "tok_…"}``."""

    async def capture(self, auth_id: str, amount: int, *, idempotency_key: str) -> Authorization: ...

    async def void(self, auth_id: str, *, idempotency_key: str) -> Authorization: ...

    async def refund(self, auth_id: str, amount: int, *, idempotency_key: str) -> Authorization: ...

    async def find(self, reference: str) -> Authorization | None: ...

    async def get(self, auth_id: str) -> Authorization | None: ...


class SandboxProvider:
    """A provider that behaves like a real one (state machine, idempotency, declines) without moving money."""

    def __init__(self, store: Store, *, name: str = "sandbox", card_key: bytes | None = None):
        self.store = store
        self.name = name
        self._card_key = card_key or secrets.token_bytes(32)  # the deployment's card-fingerprint HMAC key

    async def tokenize(self, card_number: str) -> str:
        """The vault: a token for a card number (see the module docstring); the number itself is not kept."""
        number = card_number.replace(" ", "")
        if not luhn_ok(number):
            raise InvalidCard("card number is not a valid card number", "invalid_number")
        if number in TEST_CARD_NUMBERS:
            return TEST_CARD_NUMBERS[number]
        token = "tok_" + hmac.new(self._card_key, number.encode(), hashlib.sha256).hexdigest()[:32]
        card = TestCard(brand_of(number), number[-4:])
        await self.store.set(f"psp:token:{token}", json.dumps(asdict(card)), nx=True)
        return token

    async def _card(self, payment: dict) -> TestCard:
        token = payment.get("token") if isinstance(payment, dict) else None
        if not isinstance(token, str) or not TOKEN_RE.match(token):
            raise InvalidCard("payment.token must be a payment token such as tok_visa", "invalid_token")
        if token in TEST_TOKENS:
            return TEST_TOKENS[token]
        raw = await self.store.get(f"psp:token:{token}")
        if raw is None:
            raise InvalidCard(f"no such payment token {token!r}", "invalid_token")
        return TestCard(**json.loads(raw))

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

    async def authorize(self, amount: int, payment: dict, *, reference: str, idempotency_key: str) -> Authorization:
        yen(amount)
        if (done := await self._replay(idempotency_key)) is not None:
            return done
        card = await self._card(payment)
        if card.outcome == "processing_error":
            raise PaymentFailed("the payment provider could not process the card", card.outcome)
        if card.outcome in DECLINES:
            raise PaymentDeclined(f"the card was declined ({card.outcome})", card.outcome)
        auth_id = "auth_" + hashlib.sha256(f"{self.name}|{idempotency_key}".encode()).hexdigest()[:20]
        auth = Authorization(auth_id, reference, amount, "authorized", card_last4=card.last4)
        if card.outcome == "capture_declined":
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


