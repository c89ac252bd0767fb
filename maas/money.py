"""Integer yen arithmetic, re-exported from `operators.money` (where operators, below maas, can use it too)."""
from operators.money import CURRENCY, MAX_AMOUNT, half_down, half_up_to, percent_of, round_up, yen

__all__ = ["CURRENCY", "MAX_AMOUNT", "half_down", "half_up_to", "percent_of", "round_up", "yen"]
