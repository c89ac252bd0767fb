"""Prices for travellers: every planned itinerary carries its fare (operators/fare_engine.py)."""
