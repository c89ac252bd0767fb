"""maas package."""
