"""Integer yen arithmetic (shared by operators and maas): every amount in the booking and payment path is an ``int`` of JPY, never a float."""
from __future__ import annotations

CURRENCY = "JPY"
MAX_AMOUNT = 10_000_000  # one journey never costs ten million yen; larger values are bad input, not a fare


def yen(value: object) -> int:
    """Check that ``value`` is an integer amount of yen (bool and float refused) and return it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"amount must be an int of JPY, got {type(value).__name__}")
    if value < 0 or value > MAX_AMOUNT:
        raise ValueError(f"amount {value} outside 0..{MAX_AMOUNT} JPY")
    return value


def round_up(amount: int, step: int) -> int:
    """Round up to a multiple of ``step`` yen (paper tickets round up to 10 yen)."""
    return -(-amount // step) * step


def half_up_to(amount: int, step: int) -> int:
    """Child fare from an adult fare: half, rounded up to ``step`` yen (Toei tickets: step 10)."""
    return round_up(-(-amount // 2), step)


def half_down(amount: int) -> int:
    """Child IC fare: half, rounded down to 1 yen."""
    return amount // 2


def percent_of(amount: int, basis_points: int) -> int:
    """``amount × bp / 10000`` rounded down: commissions and partial refunds stay integral."""
    return amount * basis_points // 10_000
