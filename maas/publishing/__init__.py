"""Operators publishing into the running service: feeds (maas/feed_registry.py, maas/feed_swap.py) and profiles."""
