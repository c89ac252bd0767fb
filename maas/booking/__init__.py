"""Offers, bookings, payments, the ledger and crash recovery: the money path."""
