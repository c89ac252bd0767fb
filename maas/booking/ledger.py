"""Double-entry ledger: what each operator earns and what the platform owes, always balanced.

Accounts
  ``psp_clearing``            asset: money the payment provider holds for us (debited on capture)
  ``operator_payable:{op}``   liability: what we owe operator ``op`` (credited with its fares less commission)
  ``platform_revenue``        income: our commission
A capture posts D psp_clearing = Σ C operator_payable + C platform_revenue; a refund reverses the refunded part.
Each transaction is appended atomically and at most once (its id is the idempotency key), so a retried or
recovered step never posts twice and the ledger balances after any crash.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from feeds.feed import TOKYO
from operators.money import percent_of, yen
from maas.store.base import Store

PSP = "psp_clearing"
REVENUE = "platform_revenue"


def payable(op: str) -> str:
    return f"operator_payable:{op}"


@dataclass(frozen=True)
class SettlementRow:
    operator: str
    day: str
    sales: int  # fares sold (captured)
    refunds: int  # fares given back
    commission: int  # platform commission kept, net of refunds
    payable: int  # what we owe the operator for the day: sales - refunds - commission

    def to_dict(self) -> dict:
        return self.__dict__.copy()


class LedgerImbalance(Exception):
    pass


class Ledger:
    def __init__(self, store: Store, *, commission_bp: int = 0):
        if not 0 <= commission_bp <= 10_000:
            raise ValueError("commission_bp must be within 0..10000")
        self.store = store
        self.commission_bp = commission_bp

    def _entries(self, txn_id: str, kind: str, booking_id: str, shares: dict[str, int], at: dt.datetime,
                 sign: int) -> list[dict]:
        """Entries of a capture (sign +1) or refund (sign −1) of ``shares`` (operator → JPY)."""
        day = at.astimezone(TOKYO).date().isoformat()
        base = {"txn": txn_id, "kind": kind, "booking": booking_id, "day": day, "at": at.isoformat()}
        debit, credit = ("D", "C") if sign > 0 else ("C", "D")
        total = sum(shares.values())
        out = [{**base, "account": PSP, "side": debit, "amount": total, "operator": None}]
        for op, amount in sorted(shares.items()):
            fee = percent_of(amount, self.commission_bp)
            out.append({**base, "account": payable(op), "side": credit, "amount": amount - fee, "operator": op,
                        "gross": amount})
            if fee:
                out.append({**base, "account": REVENUE, "side": credit, "amount": fee, "operator": op})
        return [e for e in out if e["amount"]]

    async def post_capture(self, booking_id: str, shares: dict[str, int], at: dt.datetime) -> bool:
        """Record a captured payment split per operator. False when already posted."""
        for v in shares.values():
            yen(v)
        txn = f"capture:{booking_id}"
        return await self.store.ledger_append(txn, self._entries(txn, "capture", booking_id, shares, at, +1))

    async def post_refund(self, booking_id: str, refund_id: str, shares: dict[str, int], at: dt.datetime) -> bool:
        for v in shares.values():
            yen(v)
        if not any(shares.values()):
            return False
        txn = f"refund:{booking_id}:{refund_id}"
        return await self.store.ledger_append(txn, self._entries(txn, "refund", booking_id, shares, at, -1))

    async def entries(self) -> list[dict]:
        return await self.store.ledger_entries()

    async def balances(self) -> dict[str, int]:
        """Debit-positive balance per account."""
        out: dict[str, int] = defaultdict(int)
        for e in await self.entries():
            out[e["account"]] += e["amount"] if e["side"] == "D" else -e["amount"]
        return dict(out)

    async def check_balanced(self) -> None:
        """Raise LedgerImbalance unless every transaction (hence the whole ledger) has debits == credits."""
        per_txn: dict[str, int] = defaultdict(int)
        for e in await self.entries():
            if not isinstance(e["amount"], int) or e["amount"] < 0:
                raise LedgerImbalance(f"entry with a non-integer or negative amount: {e}")
            per_txn[e["txn"]] += e["amount"] if e["side"] == "D" else -e["amount"]
        bad = {t: v for t, v in per_txn.items() if v}
        if bad:
            raise LedgerImbalance(f"unbalanced transactions: {bad}")

    async def settlement(self, day: str | None = None) -> list[SettlementRow]:
        """Per operator per day (Tokyo): sales, refunds, commission and the amount to pay out."""
        acc: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for e in await self.entries():
            op = e.get("operator")
            if not op or (day and e["day"] != day):
                continue
            row = acc[(op, e["day"])]
            if e["account"] == payable(op):
                gross = e.get("gross", e["amount"])
                if e["kind"] == "capture":
                    row[0] += gross
                    row[3] += e["amount"]
                else:
                    row[1] += gross
                    row[3] -= e["amount"]
            elif e["account"] == REVENUE:
                row[2] += e["amount"] if e["side"] == "C" else -e["amount"]
        return [SettlementRow(op, d, *v) for (op, d), v in sorted(acc.items())]
