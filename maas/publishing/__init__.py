"""Operators publishing into the running service (feeds, profiles) and what the platform publishes about its
network for others to look at (map layers)."""
